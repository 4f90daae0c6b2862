package controller_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// referenceControllerValue is the managed-by value kube-controller-manager's
// endpoints controller sets (spec 1.2, 7.1).
const referenceControllerValue = "endpoint-controller"

// kcmEndpoints returns the Endpoints of the Service ns/name exactly as
// kube-controller-manager writes them: the Service's labels, the headless
// marker, its managed-by value, its trigger time, subsets in the order of
// spec 5.5.
func kcmEndpoints(ns, name string, svcLabels map[string]string, headless bool, subsets []corev1.EndpointSubset) *corev1.Endpoints {
	labels := labelsFor(svcLabels, headless)
	labels[managedByLabel] = referenceControllerValue
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, Labels: labels,
			Annotations: map[string]string{triggerTimeKey: "2026-11-30T10:11:12.123456789Z"},
		},
		Subsets: specOrder(subsets),
	}
}

// Spec 1.2, 7.1, 8.1: taking over from kube-controller-manager costs no
// write. Four Services (ClusterIP with two protocols and a Pod serving one
// port only, so two subsets; headless with a hostname; one whose selector
// matches nothing; one with a ready and a not-ready Pod) have Endpoints as
// the reference controller wrote them. The controller starts and syncs them
// all without writing: resourceVersions unchanged, write counter still. Then
// one Pod turns ready: exactly that Service's Endpoints are written, now with
// this controller's managed-by value; the others keep the reference value.
func TestTakeOverFromKCMWritesNothing(t *testing.T) {
	ns := newNamespace(t)
	web := map[string]string{"app": "web"}
	db := map[string]string{"app": "db"}

	a := createPod(t, newPod(ns, "a", web), running("10.0.0.10", true))
	b := createPod(t, newPod(ns, "b", web), running("10.0.0.2", true))
	noDNS := newPod(ns, "c", web)
	noDNS.Spec.Containers[0].Ports = append(noDNS.Spec.Containers[0].Ports,
		corev1.ContainerPort{Name: "dns", ContainerPort: 5353, Protocol: corev1.ProtocolUDP})
	noDNS.Spec.Hostname, noDNS.Spec.Subdomain = "c-host", "web-headless"
	c := createPod(t, noDNS, running("10.0.0.3", true))
	d1 := createPod(t, newPod(ns, "d1", db), running("10.0.1.1", true))
	d2 := createPod(t, newPod(ns, "d2", db), running("10.0.1.2", false))

	svc := newService(ns, "web", web, httpPort(),
		corev1.ServicePort{Name: "dns", Port: 53, TargetPort: intstr.FromString("dns"), Protocol: corev1.ProtocolUDP})
	svc.Labels = map[string]string{"team": "blue"}
	create(t, svc)
	headless := newService(ns, "web-headless", web)
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	create(t, headless)
	create(t, newService(ns, "nothing", map[string]string{"app": "none"}))
	dbSvc := newService(ns, "db", db)
	create(t, dbSvc)

	http := []corev1.EndpointPort{tcpPort("http", 8080)}
	dns := []corev1.EndpointPort{{Name: "dns", Port: 5353, Protocol: corev1.ProtocolUDP}}
	cHost := addr(c)
	cHost.Hostname = "c-host"
	reference := []*corev1.Endpoints{
		kcmEndpoints(ns, "web", svc.Labels, false, []corev1.EndpointSubset{
			{Addresses: addrs(a, b, c), Ports: http},
			{Addresses: addrs(c), Ports: dns},
		}),
		kcmEndpoints(ns, "web-headless", nil, true, []corev1.EndpointSubset{
			{Addresses: append(addrs(a, b), cHost), Ports: http},
		}),
		kcmEndpoints(ns, "nothing", nil, false, nil),
		kcmEndpoints(ns, "db", nil, false, []corev1.EndpointSubset{
			{Addresses: addrs(d1), NotReadyAddresses: addrs(d2), Ports: http},
		}),
	}
	rvs := map[string]string{}
	for _, ep := range reference {
		if err := k8sClient.Create(context.Background(), ep, client.FieldOwner("kube-controller-manager")); err != nil {
			t.Fatalf("Creating Endpoints %s as the reference controller: %v", ep.Name, err)
		}
		rvs[ep.Name] = ep.ResourceVersion
	}

	written := writes(t, "", false)
	unchanged := syncs(t, "unchanged")
	startControllerSwept(t, ns, nil)
	waitForSyncs(t, "unchanged", unchanged, len(reference))
	for _, ep := range reference {
		assertUnchanged(t, ns, ep.Name, rvs[ep.Name])
	}
	// The sweep deleted its sentinel: one write, and no other.
	if got := writes(t, "", false) - written; got != 1 {
		t.Fatalf("Writes at take-over: %v, want 1 (the sweep sentinel's delete)", got)
	}

	setPodReady(t, d2, true)
	eventuallyEndpoints(t, ns, "db", want{
		labels:  labelsFor(nil, false),
		subsets: []corev1.EndpointSubset{{Addresses: addrs(d1, d2), Ports: http}},
	})
	for _, ep := range reference[:3] {
		got := getEndpoints(t, ns, ep.Name)
		if got.ResourceVersion != rvs[ep.Name] || got.Labels[managedByLabel] != referenceControllerValue {
			t.Errorf("Endpoints %s were written: resourceVersion %s (want %s), managed-by %q",
				ep.Name, got.ResourceVersion, rvs[ep.Name], got.Labels[managedByLabel])
		}
	}
	if got := writes(t, "", false) - written; got != 2 {
		t.Errorf("Writes: %v, want 2 (the sentinel's delete and db's update)", got)
	}
}
