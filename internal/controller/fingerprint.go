package controller

import (
	"hash/fnv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
)

// inputs identifies what a sync read: the Service, its Endpoints and its
// Pods, each by UID and resourceVersion. The Pods are summed, so their order
// does not matter. Equal inputs compute equal Endpoints.
type inputs struct {
	service, endpoints uint64
	podSum, podXor     uint64
	pods               int
}

func versionHash(uid types.UID, rv string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(uid))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(rv))
	return h.Sum64()
}

func inputsOf(svc *corev1.Service, current *corev1.Endpoints, pods []*podcache.Pod) inputs {
	in := inputs{service: versionHash(svc.UID, svc.ResourceVersion), pods: len(pods)}
	if current != nil {
		in.endpoints = versionHash(current.UID, current.ResourceVersion)
	}
	for _, p := range pods {
		h := versionHash(p.UID, p.ResourceVersion)
		in.podSum += h
		in.podXor ^= h
	}
	return in
}

// upToDateInputsMatch reports whether in are the inputs of key's last sync
// that found the Endpoints up to date. A sync that reads the same inputs
// again (a periodic resync, a Pod event that changed nothing the Endpoints
// show) knows the answer without computing: the steady state costs the
// lookups.
func (s *serviceStates) upToDateInputsMatch(key types.NamespacedName, in inputs) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.services[key]
	return st != nil && st.upToDateKnown && st.upToDate == in
}

// setUpToDateInputs records in as the inputs of a sync of key that found the
// Endpoints up to date, or, when upToDate is false, forgets such inputs.
func (s *serviceStates) setUpToDateInputs(key types.NamespacedName, in inputs, upToDate bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.services[key]
	if st == nil && !upToDate {
		return
	}
	st = s.get(key)
	st.upToDate, st.upToDateKnown = in, upToDate
}
