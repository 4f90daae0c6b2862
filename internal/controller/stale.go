package controller

import (
	"slices"
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

// staleEntry is what this controller knows to be on the API server of one
// Service's Endpoints (spec 8.5): the version its last write replaced, and the
// newest version it wrote or read from the API server. If the cache shows an
// older version, the cache is behind, and a sync from it would act on stale
// data: it would write again, undo its own write, or conflict. A write that
// changed nothing keeps its resourceVersion and marks nothing stale
// (https://issues.k8s.io/127370, https://issues.k8s.io/126578).
//
// Versions are compared as the API allows since Kubernetes 1.35
// (k8s.io/apimachinery/pkg/util/resourceversion); when a version does not
// compare (a storage other than etcd), only the replaced versions count.
type staleEntry struct {
	replaced []string // versions the cache must not show any more
	newest   string   // the newest version known on the API server
	waits    int      // syncs that have waited for the cache so far
}

// replaced records that a write superseded old (read from the cache or the
// API server) with a version newest ("" when unknown).
func (s *serviceStates) replaced(old *corev1.Endpoints, newest string) {
	if newest == old.ResourceVersion {
		return // a write that changed nothing replaced nothing
	}
	s.update(types.NamespacedName{Namespace: old.Namespace, Name: old.Name}, func(st *serviceState) {
		e := &st.stale
		e.replaced = append(e.replaced, old.ResourceVersion)
		if newer(newest, e.newest) {
			e.newest = newest
		}
		e.waits = 0
	})
}

// check reports whether ep, read from the cache, is older than what is known
// on the API server, and then how long to wait before syncing again. The
// wait doubles with each stale sync; once maxStaleRetries syncs have waited,
// what is known is forgotten and ep counts as current.
func (s *serviceStates) check(ep *corev1.Endpoints) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.services[types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}]
	if st == nil || (st.stale.replaced == nil && st.stale.newest == "") {
		return 0, false
	}
	e := &st.stale
	stale := slices.Contains(e.replaced, ep.ResourceVersion) || newer(e.newest, ep.ResourceVersion)
	if !stale || e.waits >= maxStaleRetries {
		// The cache has caught up (or the guard gives up): nothing to wait for.
		*e = staleEntry{}
		return 0, false
	}
	delay := min(staleRetryDelay<<e.waits, maxStaleRetryDelay)
	e.waits++
	return delay, true
}

// newer reports whether version a is known to be newer than b.
func newer(a, b string) bool {
	if a == "" || b == "" {
		return a != "" && b == ""
	}
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c > 0
}

// Own writes: each Service's state keeps the resourceVersion of this
// controller's last write of its Endpoints, so that the watch event it
// causes does not sync the Service again for nothing: after a write the cache
// catches up with what the sync already computed. That halves the syncs of a
// start-up or a burst. A sync that met a stale cache (spec 8.5) waits for
// exactly that event, so for its key the next event is let through.

// wrote records that ep, as returned by the API server, was written by us.
func (s *serviceStates) wrote(ep *corev1.Endpoints) {
	s.update(types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}, func(st *serviceState) { st.ownWrite = ep.ResourceVersion })
}

// waiting lets the next event of key through: a sync waits for it.
func (s *serviceStates) waiting(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.services[key]; st != nil {
		st.ownWrite = ""
	}
}

// isOwn reports whether obj is the version this controller wrote last, and
// forgets it: each write causes one event.
func (s *serviceStates) isOwn(obj client.Object) bool {
	key := client.ObjectKeyFromObject(obj)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.services[key]
	if st == nil || st.ownWrite == "" {
		return false
	}
	rv := st.ownWrite
	st.ownWrite = ""
	return rv == obj.GetResourceVersion() && obj.GetDeletionTimestamp() == nil
}
