package controller

import (
	"context"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// Issue 15: a Service that leaves management and comes back, with the same
// invalid Pods, raises the InvalidEndpointAddress event again: every way out
// (selector removed, ExternalName, no longer selected by
// --service-label-selector, deleted) forgets everything remembered of the
// Service, and the gauges, computed from that state, stop counting it at
// once.
func TestLeavingManagementForgetsTheService(t *testing.T) {
	tests := []struct {
		name  string
		leave func(*corev1.Service) *corev1.Service // nil: deleted
	}{
		{"selector removed", func(s *corev1.Service) *corev1.Service { s.Spec.Selector = nil; return s }},
		{"ExternalName", func(s *corev1.Service) *corev1.Service {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIP = corev1.ServiceTypeExternalName, "example.com", ""
			return s
		}},
		{"no longer selected", func(s *corev1.Service) *corev1.Service { s.Labels = map[string]string{"managed": "no"}; return s }},
		{"deleted", func(*corev1.Service) *corev1.Service { return nil }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			key := types.NamespacedName{Namespace: "ns", Name: "web"}
			loopback := benchPod("web", 2)
			loopback.Status.PodIP, loopback.Status.PodIPs = "127.0.0.1", []corev1.PodIP{{IP: "127.0.0.1"}}
			managed := benchService("web")
			managed.Labels = map[string]string{"managed": "yes"}
			x, cache := indexOf(t, benchPod("web", 1), loopback)
			recorder := events.NewFakeRecorder(10)
			r := &EndpointsReconciler{Client: fake.NewClientBuilder().Build(), Recorder: recorder, Index: x,
				ServiceSelector: labels.SelectorFromSet(labels.Set{"managed": "yes"})}
			if err := r.init(); err != nil {
				t.Fatal(err)
			}
			version := 0
			step := func(name string, svc *corev1.Service, wantEvents int, wantReady float64) {
				t.Helper()
				if svc == nil {
					if err := cache.services.Delete(managed); err != nil {
						t.Fatal(err)
					}
				} else {
					version++
					svc.ResourceVersion = fmt.Sprint(version)
					cache.set(t, svc)
				}
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
			step("first sync", managed.DeepCopy(), 1, 1)
			step("same Pods again", managed.DeepCopy(), 0, 1)
			step("leaving", tc.leave(managed.DeepCopy()), 0, 0)
			if st := r.states.services[key]; st != nil {
				t.Errorf("state once %s: %+v, want none", tc.name, st)
			}
			step("back", managed.DeepCopy(), 1, 1)
		})
	}
}

// BenchmarkGaugesScrape measures computing the gauges from the states of
// 10,000 Services, which a scrape does under the states' lock.
func BenchmarkGaugesScrape(b *testing.B) {
	s := newServiceStates(0, nil)
	for i := range 10000 {
		key := types.NamespacedName{Namespace: "ns", Name: fmt.Sprintf("svc-%d", i)}
		s.setPublished(key, published{ready: 3, notReady: 1, truncated: i%100 == 0})
	}
	c := &stateCollector{states: map[*serviceStates]struct{}{s: {}}}
	ch := make(chan prometheus.Metric, 8)
	b.ReportAllocs()
	for b.Loop() {
		c.Collect(ch)
		for len(ch) > 0 {
			<-ch
		}
	}
	if g := s.gauges(); g.ready != 30000 || g.overCapacity != 100 {
		b.Fatalf("gauges %+v, want 30000 ready and 100 over capacity", g)
	}
}
