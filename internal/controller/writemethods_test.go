package controller_test

import (
	"context"
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/controller"
)

// Spec 7.2, 8.2: update (PUT), patch (JSON merge patch) and apply
// (server-side apply) write the same Endpoints for the same history: create,
// an annotation added by someone else (kept), then a readiness change, a
// Pod deletion and a Service label change in one go.
func TestWriteMethodsProduceIdenticalEndpoints(t *testing.T) {
	results := map[controller.WriteMethod]string{}
	for _, method := range controller.WriteMethods {
		t.Run(string(method), func(t *testing.T) {
			ns := newNamespace(t)
			startController(t, ns, func(o *app.Options) { o.WriteMethod = string(method) })
			web := map[string]string{"app": "web"}
			a := createPod(t, newPod(ns, "a", web), running("10.0.4.1", true))
			b := createPod(t, newPod(ns, "b", web), running("10.0.4.2", false))
			c := createPod(t, newPod(ns, "c", web), running("10.0.4.3", true))
			svc := newService(ns, "web", web,
				corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
				corev1.ServicePort{Name: "metrics", Port: 9100, TargetPort: intstr.FromInt32(9100), Protocol: corev1.ProtocolTCP},
			)
			svc.Labels = map[string]string{"team": "blue"}
			create(t, svc)
			ports := []corev1.EndpointPort{tcpPort("http", 8080), tcpPort("metrics", 9100)}

			ep := eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(svc.Labels, false), subsets: []corev1.EndpointSubset{
				{Addresses: addrs(a, c), NotReadyAddresses: addrs(b), Ports: ports},
			}})
			note := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"example.com/note":"kept"}}}`))
			if err := k8sClient.Patch(context.Background(), ep, note, client.FieldOwner("someone-else")); err != nil {
				t.Fatalf("Annotating Endpoints: %v", err)
			}

			setPodReady(t, b, true)
			deleteNow(t, c)
			green := map[string]string{"team": "green"}
			change(t, svc, func(s *corev1.Service) { s.Labels = green })

			ep = eventuallyEndpoints(t, ns, "web", want{
				labels:      labelsFor(green, false),
				annotations: map[string]string{"example.com/note": "kept"},
				subsets:     []corev1.EndpointSubset{{Addresses: addrs(a, b), Ports: ports}},
			})
			results[method] = methodNeutral(ep)
		})
	}
	for _, method := range controller.WriteMethods[1:] {
		if results[method] != results[controller.WriteUpdate] {
			t.Errorf("Endpoints written with %s differ from those written with update:\n%s\nupdate:\n%s",
				method, results[method], results[controller.WriteUpdate])
		}
	}
}

// methodNeutral renders the parts of ep that the write methods must agree on,
// with what differs between namespaces (namespace, Pod UIDs) and the trigger
// time left out.
func methodNeutral(ep *corev1.Endpoints) string {
	ep = ep.DeepCopy()
	delete(ep.Annotations, triggerTimeKey)
	for i := range ep.Subsets {
		for _, list := range [][]corev1.EndpointAddress{ep.Subsets[i].Addresses, ep.Subsets[i].NotReadyAddresses} {
			for j := range list {
				if ref := list[j].TargetRef; ref != nil {
					ref.Namespace, ref.UID = "", ""
				}
			}
		}
	}
	return toYAML(map[string]any{"labels": ep.Labels, "annotations": ep.Annotations, "subsets": ep.Subsets})
}

// Spec 7.1: a label another field manager adds to the Endpoints is removed
// by the full writes (update, patch) and survives with server-side apply,
// also across later writes of the controller.
func TestForeignLabelByWriteMethod(t *testing.T) {
	for _, tc := range []struct {
		method   controller.WriteMethod
		survives bool
	}{
		{controller.WriteUpdate, false},
		{controller.WritePatch, false},
		{controller.WriteApply, true},
	} {
		t.Run(string(tc.method), func(t *testing.T) {
			ns := newNamespace(t)
			startController(t, ns, func(o *app.Options) { o.WriteMethod = string(tc.method) })
			web := map[string]string{"app": "web"}
			a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
			b := createPod(t, newPod(ns, "b", web), running("10.0.0.2", false))
			create(t, newService(ns, "web", web))
			ports := []corev1.EndpointPort{tcpPort("http", 8080)}
			eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
				{Addresses: addrs(a), NotReadyAddresses: addrs(b), Ports: ports},
			}})

			foreign := map[string]string{"example.com/owner": "someone-else"}
			ac := corev1ac.Endpoints("web", ns).WithLabels(foreign)
			if err := k8sClient.Apply(context.Background(), ac, client.FieldOwner("someone-else")); err != nil {
				t.Fatalf("Applying a label as another field manager: %v", err)
			}

			wantLabels := labelsFor(nil, false)
			if tc.survives {
				maps.Copy(wantLabels, foreign)
			}
			// The next write of the controller, for a readiness change.
			setPodReady(t, b, true)
			eventuallyEndpoints(t, ns, "web", want{labels: wantLabels, subsets: []corev1.EndpointSubset{
				{Addresses: addrs(a, b), Ports: ports},
			}})
		})
	}
}

// Spec 6.1, 8.1, 8.7: Endpoints taken over from another writer, as the
// reference controller leaves them (its field manager, its managed-by value),
// converge with every write method, and then nothing more is written: for a
// Service with a Pod, Endpoints with an over-capacity annotation from when it
// was larger and a stale address; for a Service without Pods, Endpoints with
// a stale address. Server-side apply cannot remove the annotation or the
// subsets that another manager owns by applying alone.
func TestTakeOverFromAnotherWriter(t *testing.T) {
	for _, tc := range []struct {
		method controller.WriteMethod
		writes float64
	}{
		{controller.WriteUpdate, 2},
		{controller.WritePatch, 2},
		// A merge patch removes what apply cannot and sets the managed-by
		// value; then, for "web" only, an apply writes the rest.
		{controller.WriteApply, 3},
	} {
		t.Run(string(tc.method), func(t *testing.T) {
			ns := newNamespace(t)
			web := map[string]string{"app": "web"}
			a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
			svc := newService(ns, "web", web)
			svc.Labels = map[string]string{"team": "blue"}
			create(t, svc)
			empty := newService(ns, "empty", map[string]string{"app": "none"})
			create(t, empty)
			ports := []corev1.EndpointPort{tcpPort("http", 8080)}
			referenceLabels := map[string]string{"team": "blue", managedByLabel: "endpoint-controller"}
			stale := corev1.EndpointAddress{IP: "10.0.0.99", NodeName: ptr.To(nodeName)}
			for _, ep := range []*corev1.Endpoints{{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: ns, Name: "web", Labels: referenceLabels,
					Annotations: map[string]string{
						overCapacityKey:    "truncated",
						triggerTimeKey:     "2026-01-02T03:04:05.000000006Z",
						"example.com/note": "kept",
					},
				},
				Subsets: []corev1.EndpointSubset{{Addresses: append(addrs(a), stale), Ports: ports}},
			}, {
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "empty", Labels: map[string]string{managedByLabel: "endpoint-controller"}},
				Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{stale}, Ports: ports}},
			}} {
				if err := k8sClient.Create(context.Background(), ep, client.FieldOwner("kube-controller-manager")); err != nil {
					t.Fatalf("Creating Endpoints as the reference controller: %v", err)
				}
			}

			written := writes(t, "", false)
			startController(t, ns, func(o *app.Options) { o.WriteMethod = string(tc.method) })
			ep := eventuallyEndpoints(t, ns, "web", want{
				labels:      labelsFor(svc.Labels, false),
				annotations: map[string]string{"example.com/note": "kept"},
				subsets:     []corev1.EndpointSubset{{Addresses: addrs(a), Ports: ports}},
			})
			emptyEP := eventuallyEndpoints(t, ns, "empty", want{labels: labelsFor(nil, false)})

			unchanged := syncs(t, "unchanged")
			change(t, svc, func(s *corev1.Service) { s.Annotations = map[string]string{"touch": "1"} })
			change(t, empty, func(s *corev1.Service) { s.Annotations = map[string]string{"touch": "1"} })
			waitForSyncs(t, "unchanged", unchanged, 2)
			assertUnchanged(t, ns, "web", ep.ResourceVersion)
			assertUnchanged(t, ns, "empty", emptyEP.ResourceVersion)
			if got := writes(t, "", false) - written; got != tc.writes {
				t.Errorf("Writes: %v, want %v", got, tc.writes)
			}
		})
	}
}
