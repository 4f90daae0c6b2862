package controller

import (
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Back-off of syncs that met a stale cache (spec 8.5). The Endpoints event of
// the write usually ends the wait first; the delays are the safety net, 100 ms
// doubling up to 3.2 s. After maxStaleRetries the guard gives up and the sync
// goes on from what the cache shows: a cache that stays behind that long has
// lost its watch, and a write from it fails with a conflict, which is
// resolved from the API server (see converge), instead of waiting forever.
const (
	staleRetryDelay    = 100 * time.Millisecond
	maxStaleRetryDelay = 3200 * time.Millisecond
	maxStaleRetries    = 10
)

// staleTracker remembers, per Endpoints, what this controller knows to be on
// the API server (spec 8.5): the version its last write replaced, and the
// newest version it wrote or read from the API server. If the cache shows an
// older version, the cache is behind, and a sync from it would act on stale
// data: it would write again, undo its own write, or conflict. A write that
// changed nothing keeps its resourceVersion and marks nothing stale
// (https://issues.k8s.io/127370, https://issues.k8s.io/126578).
//
// Versions are compared as the API allows since Kubernetes 1.35
// (k8s.io/apimachinery/pkg/util/resourceversion); when a version does not
// compare (a storage other than etcd), only the replaced versions count.
type staleTracker struct {
	mu      sync.Mutex
	entries map[types.NamespacedName]*staleEntry
}

type staleEntry struct {
	replaced []string // versions the cache must not show any more
	newest   string   // the newest version known on the API server
	waits    int      // syncs that have waited for the cache so far
}

func newStaleTracker() *staleTracker {
	return &staleTracker{entries: make(map[types.NamespacedName]*staleEntry)}
}

// replaced records that a write superseded old (read from the cache or the
// API server) with a version newest ("" when unknown).
func (s *staleTracker) replaced(old *corev1.Endpoints, newest string) {
	if newest == old.ResourceVersion {
		return // a write that changed nothing replaced nothing
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := types.NamespacedName{Namespace: old.Namespace, Name: old.Name}
	e := s.entries[key]
	if e == nil {
		e = &staleEntry{}
		s.entries[key] = e
	}
	e.replaced = append(e.replaced, old.ResourceVersion)
	if newer(newest, e.newest) {
		e.newest = newest
	}
	e.waits = 0
}

// check reports whether ep, read from the cache, is older than what is known
// on the API server, and then how long to wait before syncing again. The
// wait doubles with each stale sync; once maxStaleRetries syncs have waited,
// what is known is forgotten and ep counts as current.
func (s *staleTracker) check(ep *corev1.Endpoints) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}
	e := s.entries[key]
	if e == nil {
		return 0, false
	}
	stale := slices.Contains(e.replaced, ep.ResourceVersion) || newer(e.newest, ep.ResourceVersion)
	if !stale || e.waits >= maxStaleRetries {
		// The cache has caught up (or the guard gives up): nothing to wait for.
		delete(s.entries, key)
		return 0, false
	}
	delay := min(staleRetryDelay<<e.waits, maxStaleRetryDelay)
	e.waits++
	return delay, true
}

// forget drops what is known of key, once its Service is gone.
func (s *staleTracker) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, key)
}

// newer reports whether version a is known to be newer than b.
func newer(a, b string) bool {
	if a == "" || b == "" {
		return a != "" && b == ""
	}
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c > 0
}

// ownWrites remembers, per Endpoints, the resourceVersion of this
// controller's last write, so that the watch event it causes does not sync
// the Service again for nothing: after a write the cache catches up with what
// the sync already computed. That halves the syncs of a start-up or a burst.
// A sync that met a stale cache (spec 8.5) waits for exactly that event, so
// for its key the next event is let through.
type ownWrites struct {
	mu       sync.Mutex
	versions map[types.NamespacedName]string
}

func newOwnWrites() *ownWrites {
	return &ownWrites{versions: make(map[types.NamespacedName]string)}
}

// wrote records that ep, as returned by the API server, was written by us.
func (o *ownWrites) wrote(ep *corev1.Endpoints) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.versions[types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}] = ep.ResourceVersion
}

// waiting lets the next event of key through: a sync waits for it.
func (o *ownWrites) waiting(key types.NamespacedName) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.versions, key)
}

// isOwn reports whether obj is the version this controller wrote last, and
// forgets it: each write causes one event.
func (o *ownWrites) isOwn(obj client.Object) bool {
	key := client.ObjectKeyFromObject(obj)
	o.mu.Lock()
	defer o.mu.Unlock()
	rv, ok := o.versions[key]
	if !ok {
		return false
	}
	delete(o.versions, key)
	return rv == obj.GetResourceVersion() && obj.GetDeletionTimestamp() == nil
}
