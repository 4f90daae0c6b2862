package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
)

// cacheStores are the in-memory stores behind a test's podcache.Index: what
// the reconciler reads, as the manager's informers would show it.
type cacheStores struct{ pods, services, endpoints toolscache.Indexer }

// indexOf returns an Index over in-memory stores that hold a copy of each of
// objs (Services, Pods, Endpoints), and the stores, for a test to change what
// the cache shows: it follows the API server only as the test says.
func indexOf(t testing.TB, objs ...client.Object) (*podcache.Index, cacheStores) {
	t.Helper()
	x, pods, services, eps := podcache.NewStores()
	s := cacheStores{pods: pods, services: services, endpoints: eps}
	for _, obj := range objs {
		s.set(t, obj)
	}
	return x, s
}

// set makes the cache show a copy of obj, in place of what it showed of the
// same object.
func (s cacheStores) set(t testing.TB, obj client.Object) {
	t.Helper()
	var store toolscache.Indexer
	switch obj.(type) {
	case *corev1.Pod:
		store = s.pods
	case *corev1.Service:
		store = s.services
	case *corev1.Endpoints:
		store = s.endpoints
	default:
		t.Fatalf("No store for %T", obj)
	}
	if err := store.Update(obj.DeepCopyObject()); err != nil {
		t.Fatal(err)
	}
}
