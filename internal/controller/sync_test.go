package controller_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Spec 2.1-2.4, 3.3-3.4, 5.5, 7.1: a new Service gets Endpoints with its
// ready Pods in addresses and its running unready Pods in notReadyAddresses;
// Pods without an IP, terminal Pods and Pods not selected are left out.
func TestNewServiceReadyAndNotReadyPods(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}

	a := createPod(t, newPod(ns, "a", web), running("10.0.0.2", true))
	b := createPod(t, newPod(ns, "b", web), running("10.0.0.10", true))
	c := createPod(t, newPod(ns, "c", web), running("10.0.0.3", false))
	createPod(t, newPod(ns, "pending", web), podState{phase: corev1.PodPending})
	createPod(t, newPod(ns, "succeeded", web), podState{phase: corev1.PodSucceeded, ip: "10.0.0.5", ready: true})
	createPod(t, newPod(ns, "failed", web), podState{phase: corev1.PodFailed, ip: "10.0.0.6", ready: true})
	createPod(t, newPod(ns, "other", map[string]string{"app": "other"}), running("10.0.0.7", true))
	svc := newService(ns, "web", web)
	svc.Labels = map[string]string{"team": "blue"}
	create(t, svc)

	ep := eventuallyEndpoints(t, ns, "web", want{
		labels: labelsFor(svc.Labels, false),
		subsets: []corev1.EndpointSubset{{
			Addresses:         addrs(a, b),
			NotReadyAddresses: addrs(c),
			Ports:             []corev1.EndpointPort{tcpPort("http", 8080)},
		}},
	})
	// Spec 5.5: addresses sort by IP string, so 10.0.0.10 comes before 10.0.0.2.
	if got := ep.Subsets[0].Addresses[0].IP; got != "10.0.0.10" {
		t.Errorf("First address is %s, want 10.0.0.10 (byte order of IP strings)", got)
	}
}

// Spec 2.4, 9.3: a readiness change moves the Pod between addresses and
// notReadyAddresses.
func TestReadinessChangeUpdatesEndpoints(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	b := createPod(t, newPod(ns, "b", web), running("10.0.0.2", false))
	create(t, newService(ns, "web", web))
	labels := labelsFor(nil, false)
	ports := []corev1.EndpointPort{tcpPort("http", 8080)}

	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a), NotReadyAddresses: addrs(b), Ports: ports},
	}})

	setPodReady(t, b, true)
	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a, b), Ports: ports},
	}})

	setPodReady(t, a, false)
	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{
		{Addresses: addrs(b), NotReadyAddresses: addrs(a), Ports: ports},
	}})
}

// Spec 9.2: a deleted Pod's address is removed; with no Pod left the
// Endpoints stay, with no subsets.
func TestPodDeletedRemovesAddress(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	b := createPod(t, newPod(ns, "b", web), running("10.0.0.2", true))
	create(t, newService(ns, "web", web))
	labels := labelsFor(nil, false)
	ports := []corev1.EndpointPort{tcpPort("http", 8080)}

	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(a, b), Ports: ports}}})

	deleteNow(t, b)
	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(a), Ports: ports}}})

	deleteNow(t, a)
	eventuallyEndpoints(t, ns, "web", want{labels: labels})
}

// Spec 1.5, 9.3: when a Pod's labels change, it leaves the Service it no
// longer matches and joins the one it now matches.
func TestPodLabelChangeMovesPodBetweenServices(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	appA, appB := map[string]string{"app": "a"}, map[string]string{"app": "b"}
	p1 := createPod(t, newPod(ns, "p1", appA), running("10.0.1.1", true))
	p2 := createPod(t, newPod(ns, "p2", appB), running("10.0.1.2", true))
	create(t, newService(ns, "svc-a", appA))
	create(t, newService(ns, "svc-b", appB))
	labels := labelsFor(nil, false)
	ports := []corev1.EndpointPort{tcpPort("http", 8080)}

	eventuallyEndpoints(t, ns, "svc-a", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(p1), Ports: ports}}})
	eventuallyEndpoints(t, ns, "svc-b", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(p2), Ports: ports}}})

	change(t, p1, func(p *corev1.Pod) { p.Labels = appB })
	eventuallyEndpoints(t, ns, "svc-a", want{labels: labels})
	eventuallyEndpoints(t, ns, "svc-b", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(p1, p2), Ports: ports}}})
}

// Spec 1.5, 9.1: when a Service's selector changes, its Endpoints follow the
// newly selected Pods.
func TestServiceSelectorChange(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	appA, appB := map[string]string{"app": "a"}, map[string]string{"app": "b"}
	p1 := createPod(t, newPod(ns, "p1", appA), running("10.0.1.1", true))
	p2 := createPod(t, newPod(ns, "p2", appB), running("10.0.1.2", false))
	svc := newService(ns, "web", appA)
	create(t, svc)
	labels := labelsFor(nil, false)
	ports := []corev1.EndpointPort{tcpPort("http", 8080)}

	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(p1), Ports: ports}}})

	change(t, svc, func(s *corev1.Service) { s.Spec.Selector = appB })
	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{{NotReadyAddresses: addrs(p2), Ports: ports}}})

	change(t, svc, func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "none"} })
	eventuallyEndpoints(t, ns, "web", want{labels: labels})
}

// Spec 7.1: the Endpoints carry the Service's labels, follow their changes,
// and keep the managed-by label.
func TestEndpointsLabelsFollowService(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	svc := newService(ns, "web", web)
	svc.Labels = map[string]string{"team": "blue"}
	create(t, svc)
	subsets := []corev1.EndpointSubset{{Addresses: addrs(a), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}}}

	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(svc.Labels, false), subsets: subsets})

	changed := map[string]string{"team": "green", "tier": "frontend"}
	change(t, svc, func(s *corev1.Service) { s.Labels = changed })
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(changed, false), subsets: subsets})

	change(t, svc, func(s *corev1.Service) { s.Labels = nil })
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false), subsets: subsets})
}

// Spec 2.3, 2.4: a terminating Pod (deleted, held by a finalizer) leaves the
// Endpoints, except those of a Service with publishNotReadyAddresses, where
// it stays in addresses, also once it is no longer ready.
func TestTerminatingPod(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	held := newPod(ns, "held", web)
	held.Finalizers = []string{"test.kube-endpoints.io/hold"}
	a := createPod(t, held, running("10.0.0.1", true))
	t.Cleanup(func() {
		change(t, a, func(p *corev1.Pod) { p.Finalizers = nil })
		if err := k8sClient.Delete(context.Background(), a, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
			t.Errorf("Deleting Pod %s: %v", a.Name, err)
		}
	})
	b := createPod(t, newPod(ns, "b", web), running("10.0.0.2", true))
	create(t, newService(ns, "web", web))
	all := newService(ns, "web-all", web)
	all.Spec.PublishNotReadyAddresses = true
	create(t, all)
	labels := labelsFor(nil, false)
	ports := []corev1.EndpointPort{tcpPort("http", 8080)}
	both := want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(a, b), Ports: ports}}}

	eventuallyEndpoints(t, ns, "web", both)
	allRV := eventuallyEndpoints(t, ns, "web-all", both).ResourceVersion

	// A Pod bound to a node is deleted gracefully: it gets a deletionTimestamp
	// and, without a kubelet and with the finalizer, stays.
	if err := k8sClient.Delete(context.Background(), a); err != nil {
		t.Fatalf("Deleting Pod: %v", err)
	}
	eventuallyEndpoints(t, ns, "web", want{labels: labels, subsets: []corev1.EndpointSubset{{Addresses: addrs(b), Ports: ports}}})
	eventuallyEndpoints(t, ns, "web-all", both)
	assertUnchanged(t, ns, "web-all", allRV)

	// The kubelet would now report the Pod unready: with
	// publishNotReadyAddresses it is still published as ready. Both Services
	// sync and find nothing to change.
	before := syncs(t, "unchanged")
	setPodReady(t, a, false)
	waitForSyncs(t, "unchanged", before, 2)
	eventuallyEndpoints(t, ns, "web-all", both)
	assertUnchanged(t, ns, "web-all", allRV)
}

// Spec 1.6, 3.5, 4.4, 7.1: a headless Service gets the headless label, the
// hostname of Pods whose subdomain names it, and, without ports, addresses
// with no ports.
func TestHeadlessService(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	db := map[string]string{"app": "db"}
	p0 := newPod(ns, "db-0", db)
	p0.Spec.Hostname, p0.Spec.Subdomain = "db-0", "db"
	p0 = createPod(t, p0, running("10.0.2.1", true))
	p1 := newPod(ns, "db-1", db)
	p1.Spec.Hostname, p1.Spec.Subdomain = "db-1", "elsewhere"
	p1 = createPod(t, p1, running("10.0.2.2", false))

	svc := newService(ns, "db", db, corev1.ServicePort{Name: "pg", Port: 5432, TargetPort: intstr.FromInt32(5432), Protocol: corev1.ProtocolTCP})
	svc.Spec.ClusterIP = corev1.ClusterIPNone
	svc.Labels = map[string]string{"team": "data"}
	create(t, svc)
	portless := &corev1.Service{}
	portless.Namespace, portless.Name = ns, "db-portless"
	portless.Spec.ClusterIP = corev1.ClusterIPNone
	portless.Spec.Selector = db
	create(t, portless)

	withHostname := addr(p0)
	withHostname.Hostname = "db-0"
	eventuallyEndpoints(t, ns, "db", want{
		labels: labelsFor(svc.Labels, true),
		subsets: []corev1.EndpointSubset{{
			Addresses:         []corev1.EndpointAddress{withHostname},
			NotReadyAddresses: addrs(p1),
			Ports:             []corev1.EndpointPort{tcpPort("pg", 5432)},
		}},
	})
	eventuallyEndpoints(t, ns, "db-portless", want{
		labels:  labelsFor(nil, true),
		subsets: []corev1.EndpointSubset{{Addresses: addrs(p0), NotReadyAddresses: addrs(p1)}},
	})
}

// Spec 4.1-4.3, 5.3: a named targetPort resolves per Pod, in containers in
// order (the first match wins), then in sidecar init containers, matching
// name and protocol; a Pod without the port is left out for that port only;
// ports with the same addresses share a subset.
func TestNamedTargetPort(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	sel := map[string]string{"app": "web"}
	port := func(name string, n int32, proto corev1.Protocol) corev1.ContainerPort {
		return corev1.ContainerPort{Name: name, ContainerPort: n, Protocol: proto}
	}
	withContainers := func(name string, init []corev1.Container, ports ...[]corev1.ContainerPort) *corev1.Pod {
		p := newPod(ns, name, sel)
		p.Spec.Containers = nil
		for i, ps := range ports {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
				Name: "c" + string(rune('0'+i)), Image: "registry.k8s.io/pause:3.10", Ports: ps,
			})
		}
		p.Spec.InitContainers = init
		return p
	}
	sidecar := func(restart *corev1.ContainerRestartPolicy) []corev1.Container {
		return []corev1.Container{{
			Name: "sidecar", Image: "registry.k8s.io/pause:3.10", RestartPolicy: restart,
			Ports: []corev1.ContainerPort{port("metrics", 9100, corev1.ProtocolTCP)},
		}}
	}
	tcp := corev1.ProtocolTCP
	// web from the container, metrics from a sidecar init container.
	pa := createPod(t, withContainers("pa", sidecar(ptr.To(corev1.ContainerRestartPolicyAlways)),
		[]corev1.ContainerPort{port("web", 8080, tcp)}), running("10.0.3.1", true))
	// Both ports from the container, other numbers.
	pb := createPod(t, withContainers("pb", nil,
		[]corev1.ContainerPort{port("web", 8081, tcp), port("metrics", 9101, tcp)}), running("10.0.3.2", true))
	// No metrics port at all.
	pc := createPod(t, withContainers("pc", nil,
		[]corev1.ContainerPort{port("web", 8080, tcp)}), running("10.0.3.3", true))
	// metrics only in a plain init container, which serves no port.
	pd := createPod(t, withContainers("pd", sidecar(nil),
		[]corev1.ContainerPort{port("web", 8080, tcp)}), running("10.0.3.4", true))
	// web in two containers: the first wins.
	pe := createPod(t, withContainers("pe", nil,
		[]corev1.ContainerPort{port("web", 8082, tcp)}, []corev1.ContainerPort{port("web", 8083, tcp)}), running("10.0.3.5", true))
	// web with another protocol only: no port resolves, the Pod is left out.
	createPod(t, withContainers("pf", nil,
		[]corev1.ContainerPort{port("web", 8080, corev1.ProtocolUDP)}), running("10.0.3.6", true))

	create(t, newService(ns, "web", sel,
		corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("web"), Protocol: tcp},
		corev1.ServicePort{Name: "metrics", Port: 9100, TargetPort: intstr.FromString("metrics"), Protocol: tcp},
	))

	eventuallyEndpoints(t, ns, "web", want{
		labels: labelsFor(nil, false),
		subsets: []corev1.EndpointSubset{
			{Addresses: addrs(pa, pc, pd), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}},
			{Addresses: addrs(pa), Ports: []corev1.EndpointPort{tcpPort("metrics", 9100)}},
			{Addresses: addrs(pb), Ports: []corev1.EndpointPort{tcpPort("http", 8081), tcpPort("metrics", 9101)}},
			{Addresses: addrs(pe), Ports: []corev1.EndpointPort{tcpPort("http", 8082)}},
		},
	})
}

// Spec 3.6: a Pod whose address the API server would reject in Endpoints
// (loopback, link-local) is left out with a Warning event on the Service,
// instead of failing the whole write: the other Pods are published.
func TestInvalidPodAddressLeftOut(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	createPod(t, newPod(ns, "loopback", web), running("127.0.0.1", true))
	createPod(t, newPod(ns, "link-local", web), running("169.254.0.9", false))
	create(t, newService(ns, "web", web))

	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}},
	}})
	waitFor(t, "the InvalidEndpointAddress event", func(ctx context.Context) (bool, string, error) {
		list := &eventsv1.EventList{}
		if err := k8sClient.List(ctx, list, client.InNamespace(ns)); err != nil {
			return false, "", err
		}
		var seen []string
		for _, e := range list.Items {
			seen = append(seen, e.Type+" "+e.Reason+" "+e.Regarding.Kind+"/"+e.Regarding.Name+": "+e.Note)
			if e.Type == corev1.EventTypeWarning && e.Reason == "InvalidEndpointAddress" &&
				e.Regarding.Kind == "Service" && e.Regarding.Name == "web" &&
				strings.HasPrefix(e.Note, "2 invalid") &&
				strings.Contains(e.Note, "127.0.0.1") && strings.Contains(e.Note, "169.254.0.9") {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("events: %q", seen), nil
	})
}

// Spec 2.1, 9.3 (improvement): a Pod that turns Failed leaves the Endpoints
// at once, even if nothing else about it changed.
func TestPodTurningFailedLeaves(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	b := createPod(t, newPod(ns, "b", web), running("10.0.0.2", true))
	create(t, newService(ns, "web", web))
	ports := []corev1.EndpointPort{tcpPort("http", 8080)}
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{{Addresses: addrs(a, b), Ports: ports}}})

	setPodStatus(t, b, podState{phase: corev1.PodFailed, ip: "10.0.0.2", ready: true})
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{{Addresses: addrs(a), Ports: ports}}})
}

// Spec 3.1, 3.2: one IP family is published, the Service's (here IPv4, the
// family of its cluster IP); a dual-stack Pod is published with its first
// IPv4 address whatever the order of its IPs, and a Pod with IPv6 addresses
// only is left out.
func TestIPFamilyOfService(t *testing.T) {
	ns := newNamespace(t)
	startController(t, ns, nil)
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	dual := createPod(t, newPod(ns, "dual", web), running("fd00::5", true))
	setDualStack := func(p *corev1.Pod, ips ...string) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(p), p); err != nil {
				return err
			}
			p.Status.PodIP, p.Status.PodIPs = ips[0], nil
			for _, ip := range ips {
				p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
			}
			return k8sClient.Status().Update(context.Background(), p)
		})
		if err != nil {
			t.Fatalf("Setting the IPs of Pod %s: %v", p.Name, err)
		}
	}
	setDualStack(dual, "fd00::5", "10.0.0.5")
	createPod(t, newPod(ns, "v6-only", web), running("fd00::6", true))
	svc := newService(ns, "web", web)
	create(t, svc)
	if !strings.Contains(svc.Spec.ClusterIP, ".") {
		t.Fatalf("Cluster IP %q is not IPv4", svc.Spec.ClusterIP)
	}

	dualAddr := addr(dual)
	dualAddr.IP = "10.0.0.5"
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
		{Addresses: []corev1.EndpointAddress{addr(a), dualAddr}, Ports: []corev1.EndpointPort{tcpPort("http", 8080)}},
	}})
}
