package controllers

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// staleTracker remembers, per Endpoints, the resourceVersion that the last
// write replaced (spec 8.5). If the cache still holds that version, the write
// has not reached the cache yet, and a sync from it would act on stale data:
// it would either write again or, worse, undo its own write. Some writes
// return the old resourceVersion (a no-op update); those are not recorded.
// See https://issues.k8s.io/127370 and https://issues.k8s.io/126578.
type staleTracker struct {
	mu       sync.Mutex
	versions map[types.NamespacedName]string
}

func newStaleTracker() *staleTracker {
	return &staleTracker{versions: make(map[types.NamespacedName]string)}
}

// replaced records that ep's version was just superseded by a write.
func (s *staleTracker) replaced(ep *corev1.Endpoints) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.versions[types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}] = ep.ResourceVersion
}

// isStale reports whether ep is a version already replaced by a write.
func (s *staleTracker) isStale(ep *corev1.Endpoints) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rv, ok := s.versions[types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}]
	return ok && rv == ep.ResourceVersion
}

// forget drops what is known of key, once its Service is gone.
func (s *staleTracker) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.versions, key)
}
