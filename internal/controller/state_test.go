package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
)

// Issue 15: a Service whose selector is removed and added back, with the same
// invalid Pods, raises the InvalidEndpointAddress event again; leaving
// management forgets everything remembered of the Service, and the gauges,
// computed from that state, stop counting it at once.
func TestSelectorRemovedAndBackReportsInvalidPodsAgain(t *testing.T) {
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	x, pods, services, _ := podcache.NewStores()
	loopback := benchPod("web", 2)
	loopback.Status.PodIP, loopback.Status.PodIPs = "127.0.0.1", []corev1.PodIP{{IP: "127.0.0.1"}}
	for _, p := range []*corev1.Pod{benchPod("web", 1), loopback} {
		if err := pods.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	svc := benchService("web")
	svc.ResourceVersion = "1"
	if err := services.Add(svc); err != nil {
		t.Fatal(err)
	}
	recorder := events.NewFakeRecorder(10)
	r := &EndpointsReconciler{Client: fake.NewClientBuilder().Build(), Recorder: recorder, Index: x}
	if err := r.init(); err != nil {
		t.Fatal(err)
	}
	step := func(name string, selector map[string]string, wantEvents int, wantReady float64) {
		t.Helper()
		next := svc.DeepCopy()
		next.Spec.Selector = selector
		next.ResourceVersion = svc.ResourceVersion + "0"
		if err := services.Update(next); err != nil {
			t.Fatal(err)
		}
		svc = next
		if _, err := r.sync(ctx, key); err != nil {
			t.Fatalf("%s: sync: %v", name, err)
		}
		if evs := drainEvents(recorder); countPrefix(evs, "Warning "+ReasonInvalidEndpointAddress+" ") != wantEvents || len(evs) != wantEvents {
			t.Errorf("%s: events %q, want %d %s", name, evs, wantEvents, ReasonInvalidEndpointAddress)
		}
		if got := stateGauge(t, r, "endpoints_controller_addresses", "ready"); got != wantReady {
			t.Errorf("%s: ready addresses gauge %v, want %v", name, got, wantReady)
		}
	}
	web := map[string]string{"app": "web"}
	step("first sync", web, 1, 1)
	step("same Pods again", web, 0, 1)
	step("selector removed", nil, 0, 0)
	if st := r.states.services[key]; st != nil {
		t.Errorf("state of a Service without a selector: %+v, want none", st)
	}
	step("selector back", web, 1, 1)
}
