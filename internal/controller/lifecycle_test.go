package controller_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/controller"
)

// Spec 1.2: when a Service is deleted, the Endpoints the controller wrote for
// it are deleted; other Services' Endpoints stay as they are.
func TestServiceDeletedDeletesManagedEndpoints(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	svc := newService(ns, "web", web)
	create(t, svc)
	create(t, newService(ns, "web2", web))
	w := want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}},
	}}
	eventuallyEndpoints(t, ns, "web", w)
	otherRV := eventuallyEndpoints(t, ns, "web2", w).ResourceVersion

	deleteNow(t, svc)
	eventuallyGone(t, ns, "web")
	assertUnchanged(t, ns, "web2", otherRV)
}

// Spec 1.2: Endpoints without the managed-by label are someone else's. A user
// may create them before their Service; when that Service is deleted while
// the controller runs, they stay. Only the next start-up sweep (8.6) removes
// them as orphans.
func TestUnmanagedEndpointsKeptWhenServiceDeleted(t *testing.T) {
	ns := newNamespace(t)
	rm := startControllerSwept(t, ns, nil)
	wantUser := want{labels: map[string]string{"owner": "user"}, subsets: userEndpoints(ns, "", "192.0.2.10").Subsets}

	// Each step waits for the sync it causes (result "skipped": nothing of
	// the controller's to do) before the next, so that none is merged away.
	skipped := syncs(t, "skipped")
	create(t, userEndpoints(ns, "db", "192.0.2.10"))
	waitForSyncs(t, "skipped", skipped, 1)
	rv := getEndpoints(t, ns, "db").ResourceVersion

	skipped = syncs(t, "skipped")
	svc := newService(ns, "db", nil)
	create(t, svc)
	waitForSyncs(t, "skipped", skipped, 1)

	skipped = syncs(t, "skipped")
	deleteNow(t, svc)
	waitForSyncs(t, "skipped", skipped, 1)
	eventuallyEndpoints(t, ns, "db", wantUser)
	assertUnchanged(t, ns, "db", rv)

	// A restart finds them without a Service: now they are orphans.
	rm.stop(t)
	startController(t, ns, nil)
	eventuallyGone(t, ns, "db")
}

// Spec 1.3: an ExternalName Service gets no Endpoints; Endpoints the
// controller wrote are deleted when a Service turns into ExternalName, while
// a user's Endpoints for an ExternalName Service are left alone.
func TestExternalNameService(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	externalName := func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeExternalName
		s.Spec.ExternalName = "db.example.com"
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "", nil
		s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = nil, nil
	}

	// A new ExternalName Service, even with a selector that matches a Pod.
	skipped := syncs(t, "skipped")
	ext := newService(ns, "ext", web)
	externalName(ext)
	create(t, ext)
	waitForSyncs(t, "skipped", skipped, 1)
	assertAbsent(t, ns, "ext")

	// A Service with managed Endpoints turns into ExternalName.
	svc := newService(ns, "web", web)
	create(t, svc)
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}},
	}})
	change(t, svc, externalName)
	eventuallyGone(t, ns, "web")

	// A user's Endpoints named after an ExternalName Service stay.
	skipped = syncs(t, "skipped")
	create(t, userEndpoints(ns, "ext", "192.0.2.10"))
	waitForSyncs(t, "skipped", skipped, 1)
	rv := getEndpoints(t, ns, "ext").ResourceVersion
	skipped = syncs(t, "skipped")
	change(t, ext, func(s *corev1.Service) { s.Labels = map[string]string{"touched": "1"} })
	waitForSyncs(t, "skipped", skipped, 1)
	assertUnchanged(t, ns, "ext", rv)
}

// Spec 1.4: the Endpoints of a Service without a selector are the user's:
// never created, changed or deleted while the Service exists, also when the
// Service or the Endpoints change.
func TestSelectorlessServiceUserEndpointsUntouched(t *testing.T) {
	ns := newNamespace(t)
	createPod(t, newPod(ns, "a", map[string]string{"app": "web"}), running("10.0.0.1", true))
	svc := newService(ns, "manual", nil)
	svc.Labels = map[string]string{"team": "blue"}
	create(t, svc)
	create(t, userEndpoints(ns, "manual", "192.0.2.10"))
	create(t, newService(ns, "manual-no-endpoints", nil))

	skipped := syncs(t, "skipped")
	startController(t, ns, nil)
	waitForSyncs(t, "skipped", skipped, 2) // one per Service at least
	rv := getEndpoints(t, ns, "manual").ResourceVersion

	// A forced resync: the Service's labels change.
	skipped = syncs(t, "skipped")
	change(t, svc, func(s *corev1.Service) { s.Labels = map[string]string{"team": "green"} })
	waitForSyncs(t, "skipped", skipped, 1)
	assertUnchanged(t, ns, "manual", rv)

	// The user changes their Endpoints: the controller does not repair them.
	skipped = syncs(t, "skipped")
	ep := getEndpoints(t, ns, "manual")
	change(t, ep, func(e *corev1.Endpoints) { e.Subsets[0].Addresses[0].IP = "192.0.2.11" })
	waitForSyncs(t, "skipped", skipped, 1)
	eventuallyEndpoints(t, ns, "manual", want{labels: map[string]string{"owner": "user"}, subsets: userEndpoints(ns, "", "192.0.2.11").Subsets})
	assertUnchanged(t, ns, "manual", ep.ResourceVersion)
	assertAbsent(t, ns, "manual-no-endpoints")
}

// Spec 1.5: a selector {} sent to the API server is stored as no selector,
// so the Service is selectorless and gets no Endpoints, although a Pod exists.
func TestEmptySelectorStoredAsNone(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	createPod(t, newPod(ns, "a", map[string]string{"app": "web"}), running("10.0.0.1", true))

	skipped := syncs(t, "skipped")
	svc := newService(ns, "all", map[string]string{})
	create(t, svc)
	if svc.Spec.Selector != nil {
		t.Fatalf("The API server returned selector %v for {}, want none", svc.Spec.Selector)
	}
	waitForSyncs(t, "skipped", skipped, 1)
	assertAbsent(t, ns, "all")
}

// Spec 8.3, 8.4: in a namespace that is terminating, the create of Endpoints
// is refused with the NamespaceTerminating cause. The controller drops that
// change silently: no FailedToCreateEndpoint event, no error, no retry loop,
// and it keeps serving other namespaces.
//
// envtest has no namespace controller, so a deleted namespace stays
// Terminating with whatever it holds. The Service and its Pod are created
// first, then the namespace is deleted, then the controller starts: its first
// sync of the Service finds no Endpoints and tries to create them. The
// reconciler is built here, with the production cache settings, to record its
// events: the API server would refuse an Event in that namespace too.
func TestTerminatingNamespaceCreateDropped(t *testing.T) {
	terminating := newNamespace(t)
	live := newNamespace(t)
	web := map[string]string{"app": "web"}
	createPod(t, newPod(terminating, "a", web), running("10.0.0.1", true))
	create(t, newService(terminating, "web", web))
	nsObj := &corev1.Namespace{}
	nsObj.Name = terminating
	if err := k8sClient.Delete(context.Background(), nsObj); err != nil {
		t.Fatalf("Deleting namespace: %v", err)
	}
	waitFor(t, "namespace to be Terminating", func(ctx context.Context) (bool, string, error) {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(nsObj), nsObj); err != nil {
			return false, "", err
		}
		return nsObj.Status.Phase == corev1.NamespaceTerminating, "phase " + string(nsObj.Status.Phase), nil
	})

	dropped, failed, created := syncs(t, "dropped"), syncs(t, "error"), writes(t, "create", false)
	mgr, index := newBareManager(t, terminating, live)
	recorder := events.NewFakeRecorder(100)
	r := &controller.EndpointsReconciler{Client: mgr.GetClient(), Index: index, Recorder: recorder, SkipNameValidation: true}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatalf("Setting up the reconciler: %v", err)
	}
	startManager(t, mgr)

	waitForSyncs(t, "dropped", dropped, 1)
	assertAbsent(t, terminating, "web")
	if got := writes(t, "create", false) - created; got < 1 {
		t.Errorf("Creates sent: %v, want at least 1", got)
	}

	// The controller still works: a Service in the other namespace gets its Endpoints.
	a := createPod(t, newPod(live, "a", web), running("10.0.0.2", true))
	create(t, newService(live, "web", web))
	eventuallyEndpoints(t, live, "web", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}},
	}})

	if got := syncs(t, "error") - failed; got != 0 {
		t.Errorf("Failed syncs: %v, want 0 (a refused create in a terminating namespace is not an error)", got)
	}
	for len(recorder.Events) > 0 {
		if e := <-recorder.Events; strings.Contains(e, controller.ReasonFailedToCreateEndpoint) {
			t.Errorf("Unexpected event: %s", e)
		}
	}
}

// Spec 1.4, 1.2: when a Service loses its selector, its Endpoints become the
// user's: left exactly as they are while the Service exists. Once the Service
// is deleted, the Endpoints, still carrying the managed-by label, go.
func TestSelectorRemovedLeavesEndpoints(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	svc := newService(ns, "web", web)
	create(t, svc)
	w := want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}},
	}}
	rv := eventuallyEndpoints(t, ns, "web", w).ResourceVersion

	skipped := syncs(t, "skipped")
	change(t, svc, func(s *corev1.Service) { s.Spec.Selector = nil })
	waitForSyncs(t, "skipped", skipped, 1)
	assertUnchanged(t, ns, "web", rv)

	deleteNow(t, svc)
	eventuallyGone(t, ns, "web")
}
