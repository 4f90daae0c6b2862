package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/controller"
)

// --service-label-selector: only the selected Services get Endpoints; the
// others are left alone, also when they lose the label (their Endpoints stay,
// unchanged), and a Service that gains the label is managed from then on.
func TestServiceLabelSelector(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, func(o *app.Options) { o.ServiceSelector = "endpoints=managed" })
	web := map[string]string{"app": "web"}
	pod := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))

	managed := newService(ns, "managed", web)
	managed.Labels = map[string]string{"endpoints": "managed"}
	create(t, managed)
	other := newService(ns, "other", web)
	create(t, other)

	subsets := []corev1.EndpointSubset{{Addresses: addrs(pod), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}}}
	ep := eventuallyEndpoints(t, ns, "managed", want{labels: labelsFor(managed.Labels, false), subsets: subsets})

	// The unselected Service was synced (a Pod change enqueues nothing for
	// it, its own events are skipped) and got nothing.
	skipped := syncs(t, "skipped")
	change(t, other, func(s *corev1.Service) { s.Annotations = map[string]string{"touch": "1"} })
	waitForSyncs(t, "skipped", skipped, 1)
	assertAbsent(t, ns, "other")

	// A managed Service that loses the label is no longer managed: its
	// Endpoints stay as they are, even when its Pods change.
	skipped = syncs(t, "skipped")
	change(t, managed, func(s *corev1.Service) { s.Labels = nil })
	waitForSyncs(t, "skipped", skipped, 1)
	setPodReady(t, pod, false)
	change(t, managed, func(s *corev1.Service) { s.Annotations = map[string]string{"touch": "1"} })
	waitForSyncs(t, "skipped", skipped, 2)
	assertUnchanged(t, ns, "managed", ep.ResourceVersion)

	// A Service that gains the label is managed.
	change(t, other, func(s *corev1.Service) { s.Labels = map[string]string{"endpoints": "managed"} })
	eventuallyEndpoints(t, ns, "other", want{
		labels:  labelsFor(map[string]string{"endpoints": "managed"}, false),
		subsets: []corev1.EndpointSubset{{NotReadyAddresses: addrs(pod), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}}},
	})
}

// Spec 9.4: with --endpoint-updates-batch-period, a burst of Pod changes
// within the period is merged into one write.
func TestBatchPeriodMergesPodBursts(t *testing.T) {
	ns := newNamespace(t)
	// Long enough for the burst below on a loaded machine; the test waits for
	// the write, not for the period.
	const period = 5 * time.Second
	startController(t, ns, func(o *app.Options) { o.BatchPeriod = period })
	web := map[string]string{"app": "web"}
	create(t, newService(ns, "web", web))
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false)})

	updated := writes(t, "update", false)
	var pods []*corev1.Pod
	for i := range 5 {
		pods = append(pods, createPod(t, newPod(ns, fmt.Sprintf("p%d", i), web), running(fmt.Sprintf("10.0.1.%d", i+1), true)))
	}
	eventuallyEndpoints(t, ns, "web", want{
		labels:  labelsFor(nil, false),
		subsets: []corev1.EndpointSubset{{Addresses: addrs(pods...), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}}},
	})
	if got := writes(t, "update", false) - updated; got != 1 {
		t.Errorf("Updates for a burst of 5 Pods within the batch period: %v, want 1", got)
	}
}

// A reconciler without the cache plumbing refuses to be set up, naming what
// is missing, instead of running and publishing Endpoints without addresses.
func TestSetupRefusesAReconcilerWithoutTheIndex(t *testing.T) {
	mgr, _ := newBareManager(t)
	r := &controller.EndpointsReconciler{Client: mgr.GetClient(), Recorder: events.NewFakeRecorder(1), SkipNameValidation: true}
	err := r.SetupWithManager(mgr)
	if err == nil || !strings.Contains(err.Error(), "Index is required") || !strings.Contains(err.Error(), "podcache.Install") {
		t.Fatalf("SetupWithManager without an Index: %v, want an error naming the Index and podcache.Install", err)
	}
}

// A reconciler set up with a manager and no APIReader reads the live
// Endpoints through the manager's API reader, not through its Client, which
// reads from the cache.
func TestSetupReadsLiveEndpointsFromTheAPIServer(t *testing.T) {
	mgr, index := newBareManager(t)
	r := &controller.EndpointsReconciler{Client: mgr.GetClient(), Index: index, Recorder: events.NewFakeRecorder(1), SkipNameValidation: true}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatalf("SetupWithManager: %v", err)
	}
	if r.APIReader != mgr.GetAPIReader() {
		t.Fatalf("APIReader is not the manager's API reader (is it the Client: %v)", r.APIReader == client.Reader(r.Client))
	}
}
