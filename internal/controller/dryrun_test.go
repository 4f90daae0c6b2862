package controller_test

import (
	"testing"

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
