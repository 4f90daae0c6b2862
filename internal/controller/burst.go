package controller

import (
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Burst detection and merging of Pod-triggered syncs. A burst is more than
// burstThreshold Service syncs asked for by Pod changes within burstWindow
// (a rolling update, a node failure, a readiness storm): 100 per second. Below
// that, steady churn of a busy cluster included, every change syncs at once;
// the end-to-end fault test's churn (10 Pod changes a second, each syncing
// one or two Services) measured a p50 latency of 715 ms with a threshold of
// 25 a second, as its clusters of changes held syncs back for the max delay.
const (
	burstWindow    = 200 * time.Millisecond
	burstThreshold = 20
	// burstQuiet is the pause in Pod changes that ends a burst: then every
	// Service that changed during it is synced, once.
	burstQuiet = 100 * time.Millisecond
)

// burstBatcher merges the Pod-triggered syncs of a burst of Pod changes, so
// that a Service whose Pods change several times during the burst is written
// once, without delaying a lone change. Outside a burst a sync is queued at
// once. During one, the Services to sync are collected and queued together
// when Pod changes pause for burstQuiet, or maxDelay after the first of
// them, whichever comes first: a long burst still publishes at least every
// maxDelay.
type burstBatcher struct {
	maxDelay time.Duration
	clock    clock.WithDelayedExecution

	mu sync.Mutex
	// Counts of syncs asked for in the current and the previous half of
	// burstWindow, the current half starting at bucketStart.
	bucketStart   time.Time
	current, prev int
	// The batch being collected, since batchStart; lastAdd is its newest.
	pending    map[reconcile.Request]struct{}
	batchStart time.Time
	lastAdd    time.Time
	queue      workqueue.TypedRateLimitingInterface[reconcile.Request]
	armed      bool
	// firing counts timer callbacks that have not finished, for tests.
	firing int
}

func newBurstBatcher(maxDelay time.Duration, clk clock.WithDelayedExecution) *burstBatcher {
	return &burstBatcher{maxDelay: maxDelay, clock: clk, pending: make(map[reconcile.Request]struct{})}
}

// add queues req on q at once, or, during a burst, into the current batch.
func (b *burstBatcher) add(q workqueue.TypedRateLimitingInterface[reconcile.Request], req reconcile.Request) {
	if b == nil || b.maxDelay <= 0 {
		q.Add(req)
		return
	}
	now := b.clock.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.count(now) && len(b.pending) == 0 {
		q.Add(req)
		return
	}
	if len(b.pending) == 0 {
		b.batchStart = now
	}
	b.pending[req] = struct{}{}
	b.lastAdd = now
	b.queue = q
	if !b.armed {
		b.armed = true
		b.clock.AfterFunc(burstQuiet, b.fireAsync)
	}
}

// count records one sync asked for at now and reports whether the syncs
// asked for within the last burstWindow make a burst.
func (b *burstBatcher) count(now time.Time) bool {
	const half = burstWindow / 2
	switch elapsed := now.Sub(b.bucketStart); {
	case elapsed >= 2*half:
		b.prev, b.current, b.bucketStart = 0, 0, now
	case elapsed >= half:
		b.prev, b.current, b.bucketStart = b.current, 0, b.bucketStart.Add(half)
	}
	b.current++
	return b.current+b.prev > burstThreshold
}

// fireAsync runs fire on a goroutine of its own: a timer callback must not
// block its clock (the fake clock of the tests runs callbacks under its lock).
func (b *burstBatcher) fireAsync() {
	b.mu.Lock()
	b.firing++
	b.mu.Unlock()
	go b.fire()
}

// fire queues the batch once Pod changes have paused for burstQuiet or the
// batch is maxDelay old; otherwise it waits for the earlier of the two.
func (b *burstBatcher) fire() {
	now := b.clock.Now()
	b.mu.Lock()
	defer func() {
		b.firing--
		b.mu.Unlock()
	}()
	quietAt, dueAt := b.lastAdd.Add(burstQuiet), b.batchStart.Add(b.maxDelay)
	if now.Before(quietAt) && now.Before(dueAt) {
		b.clock.AfterFunc(min(quietAt.Sub(now), dueAt.Sub(now)), b.fireAsync)
		return
	}
	for req := range b.pending {
		b.queue.Add(req)
	}
	clear(b.pending)
	b.armed = false
}
