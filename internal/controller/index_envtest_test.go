package controller_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The indexes through the real API server: a Pod selected by several
// Services with overlapping multi-pair selectors, a Service deleted and
// recreated with another selector, a Pod whose labels change so that it
// leaves one Service and joins another, and a cluster-wide cache (the
// production one, one informer for all namespaces).
func TestIndexesThroughTheAPI(t *testing.T) {
	ns := newNamespace(t)
	startController(t, "", nil)
	labels := labelsFor(nil, false)
	ports := []corev1.EndpointPort{tcpPort("http", 8080)}

	web1 := createPod(t, newPod(ns, "web-1", map[string]string{"app": "web", "tier": "front", "track": "stable"}), running("10.1.0.1", true))
	web2 := createPod(t, newPod(ns, "web-2", map[string]string{"app": "web", "tier": "front", "track": "canary"}), running("10.1.0.2", false))
	api := createPod(t, newPod(ns, "api-1", map[string]string{"app": "api", "tier": "front"}), running("10.1.0.3", true))
	create(t, newService(ns, "web", map[string]string{"app": "web"}))
	create(t, newService(ns, "front", map[string]string{"tier": "front"}))
	create(t, newService(ns, "web-stable", map[string]string{"track": "stable", "app": "web"}))

	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(web1), NotReadyAddresses: addrs(web2), Ports: ports}}})
	eventuallyEndpoints(t, ns, "front", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(web1, api), NotReadyAddresses: addrs(web2), Ports: ports}}})
	eventuallyEndpoints(t, ns, "web-stable", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(web1), Ports: ports}}})

	// One Pod change reaches every Service that selects the Pod.
	setPodReady(t, web2, true)
	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(web1, web2), Ports: ports}}})
	eventuallyEndpoints(t, ns, "front", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(web1, web2, api), Ports: ports}}})

	// Deleted and recreated with another selector: the index follows the
	// new selector, and a Pod event of the new selection reaches it.
	deleteNow(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web-stable"}})
	eventuallyGone(t, ns, "web-stable")
	create(t, newService(ns, "web-stable", map[string]string{"track": "canary", "app": "web"}))
	eventuallyEndpoints(t, ns, "web-stable", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(web2), Ports: ports}}})
	setPodReady(t, web2, false)
	eventuallyEndpoints(t, ns, "web-stable", want{labels: labels, subsets: []corev1.EndpointSubset{{NotReadyAddresses: addrs(web2), Ports: ports}}})

	// Labels change: web-1 leaves web and web-stable's old selection, joins
	// nothing new but front.
	change(t, web1, func(p *corev1.Pod) { p.Labels = map[string]string{"app": "batch", "tier": "front"} })
	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{{NotReadyAddresses: addrs(web2), Ports: ports}}})
	eventuallyEndpoints(t, ns, "front", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(web1, api), NotReadyAddresses: addrs(web2), Ports: ports}}})
}
