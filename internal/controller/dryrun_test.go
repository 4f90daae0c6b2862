package controller_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/controller"
)

// Spec 8.2 (--dry-run): every write is sent with dryRun=All, so nothing is
// ever created, changed or deleted. Three Endpoints need a write at start:
// "new" to be created, "stale" (managed, wrong subsets) to be changed, and
// "orphan" (no Service) to be deleted. The controller's write counter, by
// method and dry_run, tells when each write was sent.
func TestDryRunWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		method             controller.WriteMethod
		createAs, updateAs string // the write method label of a create and a change
	}{
		{controller.WriteUpdate, "create", "update"},
		{controller.WritePatch, "create", "patch"},
		{controller.WriteApply, "apply", "apply"},
	} {
		t.Run(string(tc.method), func(t *testing.T) {
			ns := newNamespace(t)
			web := map[string]string{"app": "web"}
			createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
			create(t, newService(ns, "new", web))
			create(t, newService(ns, "stale", web))
			stale := userEndpoints(ns, "stale", "192.0.2.1")
			stale.Labels = labelsFor(nil, false)
			create(t, stale)
			create(t, userEndpoints(ns, "orphan", "192.0.2.2"))
			orphanRV := getEndpoints(t, ns, "orphan").ResourceVersion

			realWrites := writes(t, "", false)
			expected := map[string]float64{} // method label -> dry-run writes to wait for
			expected[tc.createAs]++
			expected[tc.updateAs]++
			expected["delete"]++
			for m := range expected {
				expected[m] += writes(t, m, true)
			}
			startController(t, ns, func(o *app.Options) {
				o.WriteMethod = string(tc.method)
				o.DryRun = true
			})
			for m, n := range expected {
				waitForCount(t, "dry-run writes with method "+m, n, func() float64 { return writes(t, m, true) })
			}

			assertAbsent(t, ns, "new")
			assertUnchanged(t, ns, "stale", stale.ResourceVersion)
			eventuallyEndpoints(t, ns, "stale", want{labels: stale.Labels, subsets: stale.Subsets})
			assertUnchanged(t, ns, "orphan", orphanRV)
			if got := writes(t, "", false) - realWrites; got != 0 {
				t.Errorf("Writes without dry run: %v, want 0", got)
			}
		})
	}
}

// Issue 16: shadow mode writes no Events either. A Pod that is left out
// (spec 3.6) gives a Warning event on its Service (TestInvalidPodAddressLeftOut);
// with --dry-run the controller gets as far (its counter of left-out Pods
// moves) and records nothing. A controller without --dry-run, managing only a
// second Service, then records its Warning: once that one is there, the dry
// run's would have been too.
func TestDryRunWritesNoEvents(t *testing.T) {
	ns := newNamespace(t)
	createPod(t, newPod(ns, "a", map[string]string{"app": "web"}), running("10.0.0.1", true))
	createPod(t, newPod(ns, "loopback", map[string]string{"app": "web"}), running("127.0.0.1", true))
	create(t, newService(ns, "web", map[string]string{"app": "web"}))
	createPod(t, newPod(ns, "loopback-2", map[string]string{"app": "marker"}), running("127.0.0.2", true))
	marker := newService(ns, "marker", map[string]string{"app": "marker"})
	marker.Labels = map[string]string{"events": "real"}
	create(t, marker)

	excluded := func() float64 { return counter(t, "endpoints_controller_invalid_pods_excluded_total", nil) }
	before := excluded()
	shadow := startController(t, ns, func(o *app.Options) { o.DryRun = true })
	// Both Services have a left-out Pod.
	waitForCount(t, "left-out Pods in shadow mode", before+2, excluded)
	shadow.stop(t)

	startController(t, ns, func(o *app.Options) { o.ServiceSelector = "events=real" })
	waitFor(t, "the Warning event of the controller without --dry-run", func(ctx context.Context) (bool, string, error) {
		list := &eventsv1.EventList{}
		if err := k8sClient.List(ctx, list, client.InNamespace(ns)); err != nil {
			return false, "", err
		}
		var seen []string
		found := false
		for _, e := range list.Items {
			seen = append(seen, e.Reason+" "+e.Regarding.Kind+"/"+e.Regarding.Name)
			if e.Regarding.Name == "web" {
				t.Fatalf("shadow mode recorded an Event: %s %s on %s: %s", e.Type, e.Reason, e.Regarding.Name, e.Note)
			}
			found = found || (e.Reason == controller.ReasonInvalidEndpointAddress && e.Regarding.Name == "marker")
		}
		return found, fmt.Sprintf("events %q", seen), nil
	})
	core := &corev1.EventList{}
	if err := k8sClient.List(t.Context(), core, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, e := range core.Items {
		if e.InvolvedObject.Name == "web" {
			t.Errorf("shadow mode recorded a core Event: %s %s: %s", e.Type, e.Reason, e.Message)
		}
	}
}
