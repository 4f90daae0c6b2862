package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

func burstReq(name string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}}
}

// drain takes every item out of q and returns how many there were.
func drain(q workqueue.TypedRateLimitingInterface[reconcile.Request]) int {
	n := 0
	for q.Len() > 0 {
		item, _ := q.Get()
		q.Done(item)
		n++
	}
	return n
}

func newTestQueue(t *testing.T) workqueue.TypedRateLimitingInterface[reconcile.Request] {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	t.Cleanup(q.ShutDown)
	return q
}

// Below the burst rate, every change is queued at once.
func TestBurstBatcherLoneChanges(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	b := newBurstBatcher(time.Second, clk)
	q := newTestQueue(t)
	for i := range 100 {
		clk.Step(50 * time.Millisecond) // 20 a second, far below a burst
		b.add(q, burstReq(fmt.Sprintf("svc-%d", i)))
		if got := drain(q); got != 1 {
			t.Fatalf("change %d: %d queued at once, want 1", i, got)
		}
	}
	if clk.HasWaiters() {
		t.Errorf("a timer is armed though no burst happened")
	}
}

// During a burst, the changes after the threshold are collected and queued
// once each when the changes pause; the Services changed again and again
// are synced once.
func TestBurstBatcherMergesABurst(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	b := newBurstBatcher(time.Second, clk)
	q := newTestQueue(t)
	immediate := 0
	for i := range 200 { // 200 changes of 20 Services within 200ms
		clk.Step(time.Millisecond)
		settle(t, b)
		b.add(q, burstReq(fmt.Sprintf("svc-%d", i%20)))
		immediate += drain(q)
	}
	if immediate != burstThreshold {
		t.Errorf("%d changes queued at once, want the %d before the burst was seen", immediate, burstThreshold)
	}
	clk.Step(burstQuiet - time.Millisecond)
	settle(t, b)
	if got := q.Len(); got != 0 {
		t.Fatalf("%d queued before the changes paused for %s", got, burstQuiet)
	}
	clk.Step(time.Millisecond)
	settle(t, b)
	if got := q.Len(); got != 20 {
		t.Fatalf("%d queued once the changes paused, want the 20 Services once each", got)
	}
	// After the burst, a lone change is queued at once again.
	clk.Step(time.Second)
	drain(q)
	b.add(q, burstReq("svc-0"))
	if got := drain(q); got != 1 {
		t.Errorf("after the burst: %d queued at once, want 1", got)
	}
}

// settle waits until no timer callback of b is running, so that the fake
// clock can be stepped on.
func settle(t *testing.T, b *burstBatcher) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), time.Millisecond, 5*time.Second, true,
		func(_ context.Context) (bool, error) {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.firing == 0, nil
		})
	if err != nil {
		t.Fatal("the batcher's timer callback did not finish")
	}
}

// A burst that does not pause still publishes every maxDelay.
func TestBurstBatcherMaxDelay(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	b := newBurstBatcher(time.Second, clk)
	q := newTestQueue(t)
	start := clk.Now()
	var flushes []time.Duration
	const step = 5 * time.Millisecond // 200 a second, never pausing
	for i := 0; clk.Now().Sub(start) < 2500*time.Millisecond; i++ {
		clk.Step(step)
		settle(t, b)
		if n := drain(q); n > 0 && i >= burstThreshold {
			flushes = append(flushes, clk.Now().Sub(start))
		}
		b.add(q, burstReq(fmt.Sprintf("svc-%d", i%5)))
		if i < burstThreshold {
			drain(q)
		}
	}
	// The batch opens with the first change past the threshold, at
	// (burstThreshold+1) steps, and is due a second later; the next one
	// opens at once and is due a second after that.
	opened := (burstThreshold + 1) * step
	want := []time.Duration{opened + time.Second, opened + 2*time.Second}
	if len(flushes) != len(want) || flushes[0] != want[0] || flushes[1] != want[1] {
		t.Errorf("a never-pausing burst was published at %v, want %v", flushes, want)
	}
}

// Off: every change is queued at once.
func TestBurstBatcherOff(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	q := newTestQueue(t)
	for _, b := range []*burstBatcher{nil, newBurstBatcher(0, clk)} {
		for range 50 {
			b.add(q, burstReq("svc"))
			if got := drain(q); got != 1 {
				t.Fatalf("batcher %v: %d queued at once, want 1", b, got)
			}
		}
	}
}
