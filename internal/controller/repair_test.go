package controller_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/controller"
)

// Spec 8.7, 6.1: managed Endpoints changed by hand are repaired promptly, and
// deleted by hand are recreated, with every write method. The hand edits put
// wrong subsets and labels on the Endpoints of a Service with Pods, and
// subsets and an over-capacity annotation on those of a Service without Pods:
// server-side apply alone cannot remove fields that the editor now owns.
func TestHandEditRepairedAndHandDeleteRecreated(t *testing.T) {
	for _, method := range controller.WriteMethods {
		t.Run(string(method), func(t *testing.T) {
			ns := newNamespace(t)
			startController(t, ns, func(o *app.Options) { o.WriteMethod = string(method) })
			web := map[string]string{"app": "web"}
			a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
			b := createPod(t, newPod(ns, "b", web), running("10.0.0.2", false))
			svc := newService(ns, "web", web)
			svc.Labels = map[string]string{"team": "blue"}
			create(t, svc)
			create(t, newService(ns, "empty", map[string]string{"app": "none"}))
			w := want{labels: labelsFor(svc.Labels, false), subsets: []corev1.EndpointSubset{
				{Addresses: addrs(a), NotReadyAddresses: addrs(b), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}},
			}}
			wEmpty := want{labels: labelsFor(nil, false)}
			ep := eventuallyEndpoints(t, ns, "web", w)
			empty := eventuallyEndpoints(t, ns, "empty", wEmpty)

			// Wrong subsets, a label taken away and one added.
			change(t, ep, func(e *corev1.Endpoints) {
				e.Subsets = userEndpoints(ns, "", "192.0.2.1").Subsets
				e.Labels = map[string]string{"team": "blue", "added": "by-hand"}
			})
			change(t, empty, func(e *corev1.Endpoints) {
				e.Subsets = userEndpoints(ns, "", "192.0.2.2").Subsets
				e.Annotations = map[string]string{overCapacityKey: "warning"}
			})
			wRepaired := w
			if method == controller.WriteApply {
				// Spec 7.1: with server-side apply, a label another field
				// manager added survives by design.
				wRepaired.labels = labelsFor(map[string]string{"team": "blue", "added": "by-hand"}, false)
			}
			repaired := eventuallyEndpoints(t, ns, "web", wRepaired)
			if repaired.ResourceVersion == ep.ResourceVersion {
				t.Errorf("Endpoints were not written after the hand edit")
			}
			eventuallyEndpoints(t, ns, "empty", wEmpty)

			deleteNow(t, repaired)
			recreated := eventuallyEndpoints(t, ns, "web", w)
			if recreated.UID == repaired.UID {
				t.Errorf("Endpoints have the UID of the deleted ones: not recreated")
			}
		})
	}
}

// A write refused with a conflict (409) costs one extra round trip: within
// the same sync, the live Endpoints are read from the API server and the
// write is sent once more from them. The Endpoints converge with exactly one
// more write, the change made by the other writer kept, no failed sync and
// no event.
//
// The conflict is real and deterministic: the reconciler's client is wrapped
// so that, on its first Update, someone else first changes the Endpoints and
// the wrapper waits until the manager's cache has that change, then sends the
// controller's Update, computed from the version read before: the API server
// refuses it. The retry then reads the live version.
func TestConflictRecovered(t *testing.T) {
	ns := newNamespace(t)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	create(t, newService(ns, "web", web))
	// Managed Endpoints with wrong subsets: the first sync replaces them.
	stale := userEndpoints(ns, "web", "192.0.2.1")
	stale.Labels = labelsFor(nil, false)
	create(t, stale)

	mgr, index := newBareManager(t, ns)
	var injected atomic.Bool
	wrapped := interceptor.NewClient(withWatch{mgr.GetClient()}, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if _, ok := obj.(*corev1.Endpoints); ok && injected.CompareAndSwap(false, true) {
				if err := changeBehindTheControllersBack(ctx, c, obj); err != nil {
					return fmt.Errorf("test: %w", err)
				}
			}
			return c.Update(ctx, obj, opts...)
		},
	})
	recorder := events.NewFakeRecorder(100)
	r := &controller.EndpointsReconciler{Client: wrapped, APIReader: mgr.GetAPIReader(), Index: index, Recorder: recorder, SkipNameValidation: true}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatalf("Setting up the reconciler: %v", err)
	}
	updates, creates, failed := writes(t, "update", false), writes(t, "create", false), syncs(t, "error")
	conflicts := counter(t, "endpoints_controller_write_conflicts_total", map[string]string{"method": "update"})
	startManager(t, mgr)

	w := want{
		labels:      labelsFor(nil, false),
		annotations: map[string]string{"example.com/touched": "by-someone-else"},
		subsets:     []corev1.EndpointSubset{{Addresses: addrs(a), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}}},
	}
	ep := eventuallyEndpoints(t, ns, "web", w)
	if !injected.Load() {
		t.Fatal("No Update was intercepted")
	}

	// Make sure the controller has seen its own write: a Service change
	// syncs once more and finds nothing to do.
	unchanged := syncs(t, "unchanged")
	change(t, newService(ns, "web", nil), func(s *corev1.Service) { s.Annotations = map[string]string{"touch": "1"} })
	waitForSyncs(t, "unchanged", unchanged, 1)
	assertUnchanged(t, ns, "web", ep.ResourceVersion)

	if got := writes(t, "update", false) - updates; got != 2 {
		t.Errorf("Updates sent: %v, want 2 (the refused one and its retry)", got)
	}
	if got := writes(t, "create", false) - creates; got != 0 {
		t.Errorf("Creates sent: %v, want 0", got)
	}
	if got := syncs(t, "error") - failed; got != 0 {
		t.Errorf("Failed syncs: %v, want 0: the conflict is resolved within the sync", got)
	}
	if got := counter(t, "endpoints_controller_write_conflicts_total", map[string]string{"method": "update"}) - conflicts; got != 1 {
		t.Errorf("Conflicts counted: %v, want 1", got)
	}
	if len(recorder.Events) > 0 {
		t.Errorf("Unexpected event: %s (a resolved conflict is not for a user to act on)", <-recorder.Events)
	}
}

// changeBehindTheControllersBack annotates the Endpoints like obj directly in
// the API server, then waits until the cache behind c (the manager's client)
// holds that version.
func changeBehindTheControllersBack(ctx context.Context, c client.Reader, obj client.Object) error {
	ep := &corev1.Endpoints{}
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), ep); err != nil {
		return err
	}
	if ep.Annotations == nil {
		ep.Annotations = map[string]string{}
	}
	ep.Annotations["example.com/touched"] = "by-someone-else"
	if err := k8sClient.Update(ctx, ep); err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, pollInterval, pollTimeout, true, func(ctx context.Context) (bool, error) {
		cached := &corev1.Endpoints{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), cached); err != nil {
			return false, err
		}
		return cached.ResourceVersion == ep.ResourceVersion, nil
	})
}

// withWatch lets interceptor.NewClient wrap the manager's client, which
// cannot watch; the reconciler never does.
type withWatch struct{ client.Client }

func (withWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("watch is not supported")
}
