package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
)

// gauge returns the value of the gauge name (without labels).
func gauge(t *testing.T, name string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("Gathering metrics: %v", err)
	}
	for _, mf := range families {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return 0
}

func shadowDifferences(t *testing.T, kind string) float64 {
	t.Helper()
	return counter(t, "endpoints_controller_shadow_differences_total", map[string]string{"kind": kind})
}

// waitForGauge waits until the gauge name is exactly want.
func waitForGauge(t *testing.T, name string, want float64) {
	t.Helper()
	waitFor(t, name, func(context.Context) (bool, string, error) {
		v := gauge(t, name)
		return v == want, fmt.Sprintf("%s is %v, want %v", name, v, want), nil
	})
}

// Issue 8, shadow mode: with --dry-run beside kube-controller-manager, the
// controller counts the Services whose live Endpoints differ from what it
// would write, and each difference by kind, once; it writes nothing. Here
// "web" lists a not-ready Pod as ready, "new" has no Endpoints, "orphan" has
// no Service, and "db" differs only by the reference controller's label,
// which is no difference. When the other writer fixes "web", the gauge goes
// down; touching "new" finds the same difference, not counted again.
func TestShadowModeReportsDifferences(t *testing.T) {
	ns := newNamespace(t)
	web := map[string]string{"app": "web"}
	db := map[string]string{"app": "db"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	b := createPod(t, newPod(ns, "b", web), running("10.0.0.2", false))
	d := createPod(t, newPod(ns, "d", db), running("10.0.1.1", true))
	create(t, newService(ns, "web", web))
	create(t, newService(ns, "db", db))
	newSvc := newService(ns, "new", db)
	create(t, newSvc)
	http := []corev1.EndpointPort{tcpPort("http", 8080)}
	live := []*corev1.Endpoints{
		kcmEndpoints(ns, "web", nil, false, []corev1.EndpointSubset{{Addresses: addrs(a, b), Ports: http}}),
		kcmEndpoints(ns, "db", nil, false, []corev1.EndpointSubset{{Addresses: addrs(d), Ports: http}}),
		kcmEndpoints(ns, "orphan", nil, false, []corev1.EndpointSubset{{Addresses: addrs(d), Ports: http}}),
	}
	for _, ep := range live {
		if err := k8sClient.Create(context.Background(), ep, client.FieldOwner("kube-controller-manager")); err != nil {
			t.Fatalf("Creating Endpoints %s: %v", ep.Name, err)
		}
	}

	kinds := []string{"address_not_ready", "create", "delete", "label", "address_added", "address_removed", "address_ready"}
	before := map[string]float64{}
	for _, k := range kinds {
		before[k] = shadowDifferences(t, k)
	}
	realWrites := writes(t, "", false)
	startController(t, ns, func(o *app.Options) { o.DryRun, o.ShadowSettle = true, 300*time.Millisecond })
	waitForGauge(t, "endpoints_controller_shadow_services_differing", 3)
	want := map[string]float64{"address_not_ready": 1, "create": 1, "delete": 1}
	for _, k := range kinds {
		if got := shadowDifferences(t, k) - before[k]; got != want[k] {
			t.Errorf("Differences of kind %s: %v, want %v", k, got, want[k])
		}
	}

	// The other writer catches up with b; the controller finds "web" right.
	change(t, live[0], func(ep *corev1.Endpoints) {
		ep.Subsets = []corev1.EndpointSubset{{Addresses: addrs(a), NotReadyAddresses: addrs(b), Ports: http}}
	})
	waitForGauge(t, "endpoints_controller_shadow_services_differing", 2)
	// The same difference again is not counted again.
	creates := syncs(t, "created")
	change(t, newSvc, func(s *corev1.Service) { s.Annotations = map[string]string{"touch": "1"} })
	waitForSyncs(t, "created", creates, 1)
	for _, k := range kinds {
		if got := shadowDifferences(t, k) - before[k]; got != want[k] {
			t.Errorf("Differences of kind %s after a resync: %v, want %v", k, got, want[k])
		}
	}
	if got := gauge(t, "endpoints_controller_shadow_services_differing"); got != 2 {
		t.Errorf("Services differing after a resync: %v, want 2", got)
	}
	assertAbsent(t, ns, "new")
	assertUnchanged(t, ns, "db", live[1].ResourceVersion)
	assertUnchanged(t, ns, "orphan", live[2].ResourceVersion)
	if got := writes(t, "", false) - realWrites; got != 0 {
		t.Errorf("Writes without dry run: %v, want 0", got)
	}
}
