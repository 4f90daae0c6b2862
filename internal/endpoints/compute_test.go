package endpoints

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// computeCase is one Service and its Pods, and the exact subsets and
// exclusions Compute must return for them.
type computeCase struct {
	name     string
	svc      *corev1.Service
	pods     []*corev1.Pod
	want     []corev1.EndpointSubset
	excluded []Exclusion
}

// run checks the whole Result: subsets, exclusions, counts, and that nothing
// below MaxCapacity is truncated.
func (tc computeCase) run(t *testing.T) {
	t.Helper()
	res := Compute(tc.svc, tc.pods)
	checkEqual(t, "subsets", res.Subsets, tc.want)
	checkEqual(t, "excluded", res.Excluded, tc.excluded)
	ready, notReady := CountAddresses(tc.want)
	if res.Ready != ready || res.NotReady != notReady || res.Truncated {
		t.Errorf("Ready, NotReady, Truncated = %d, %d, %v; want %d, %d, false",
			res.Ready, res.NotReady, res.Truncated, ready, notReady)
	}
}

// httpPort is the Service port most cases use: "http", resolved from the
// container port of the same name.
var httpPort = ports(sport("http", "http", tcp))

func TestComputePodSelection(t *testing.T) {
	http := eports(eport("http", 8080, tcp))
	tests := []computeCase{
		{
			name: "2.1 succeeded pod excluded",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", true, phase(corev1.PodSucceeded))),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: http}},
		},
		{
			name: "2.1 failed pod excluded even with publishNotReadyAddresses",
			svc:  service(httpPort, publishNotReady()),
			pods: pods(pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", false, phase(corev1.PodFailed))),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: http}},
		},
		{
			name: "2.1 pending pod with an IP included as not ready",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", false, phase(corev1.PodPending))),
			want: []corev1.EndpointSubset{{NotReadyAddresses: addrs(addr("10.0.0.1", "a")), Ports: http}},
		},
		{
			name: "2.2 pod without any IP excluded silently",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true), pod("b", "", true)),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: http}},
		},
		{
			name: "2.2 only pods without IPs give no subsets",
			svc:  service(httpPort),
			pods: pods(pod("a", "", true), pod("b", "", false)),
			want: []corev1.EndpointSubset{},
		},
		{
			name: "2.3 terminating pods excluded without publishNotReadyAddresses",
			svc:  service(httpPort),
			pods: pods(
				pod("a", "10.0.0.1", true),
				pod("b", "10.0.0.2", true, terminating()),
				pod("c", "10.0.0.3", false, terminating()),
			),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: http}},
		},
		{
			name: "2.3 publishNotReadyAddresses includes terminating pods, in addresses",
			svc:  service(httpPort, publishNotReady()),
			pods: pods(
				pod("a", "10.0.0.1", true),
				pod("b", "10.0.0.2", true, terminating()),
				pod("c", "10.0.0.3", false, terminating()),
			),
			want: []corev1.EndpointSubset{{
				Addresses: addrs(addr("10.0.0.1", "a"), addr("10.0.0.2", "b"), addr("10.0.0.3", "c")),
				Ports:     http,
			}},
		},
		{
			name: "2.4 ready pod in addresses, unready pod in notReadyAddresses",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", false)),
			want: []corev1.EndpointSubset{{
				Addresses:         addrs(addr("10.0.0.1", "a")),
				NotReadyAddresses: addrs(addr("10.0.0.2", "b")),
				Ports:             http,
			}},
		},
		{
			name: "2.4 pod without a Ready condition is not ready",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, noConditions())),
			want: []corev1.EndpointSubset{{NotReadyAddresses: addrs(addr("10.0.0.1", "a")), Ports: http}},
		},
		{
			name: "2.4 publishNotReadyAddresses puts unready pods in addresses",
			svc:  service(httpPort, publishNotReady()),
			pods: pods(pod("a", "10.0.0.1", false), pod("b", "10.0.0.2", false, noConditions())),
			want: []corev1.EndpointSubset{{
				Addresses: addrs(addr("10.0.0.1", "a"), addr("10.0.0.2", "b")),
				Ports:     http,
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestComputeAddress(t *testing.T) {
	http := eports(eport("http", 8080, tcp))
	one := func(a corev1.EndpointAddress) []corev1.EndpointSubset {
		return []corev1.EndpointSubset{{Addresses: addrs(a), Ports: http}}
	}
	otherNamespace := addr("10.0.0.1", "a")
	otherNamespace.TargetRef.Namespace = "other"
	onNode7 := addr("10.0.0.1", "a")
	onNode7.NodeName = strPtr("node-7")

	tests := []computeCase{
		{
			name: "3.1 ipFamilies[0] IPv6 picks the IPv6 pod IP",
			svc:  service(httpPort, clusterIP("fd00:96::10"), ipFamilies(corev1.IPv6Protocol, corev1.IPv4Protocol)),
			pods: pods(pod("a", "", true, podIPs("10.0.0.1", "fd00::1"))),
			want: one(addr("fd00::1", "a")),
		},
		{
			name: "3.1 ipFamilies[0] IPv4 picks the IPv4 pod IP even when podIP is IPv6",
			svc:  service(httpPort, ipFamilies(corev1.IPv4Protocol, corev1.IPv6Protocol)),
			pods: pods(pod("a", "", true, podIPs("fd00::1", "10.0.0.1"))),
			want: one(addr("10.0.0.1", "a")),
		},
		{
			name: "3.1 ipFamilies[0] wins over the cluster IP family",
			svc:  service(httpPort, clusterIP("10.96.0.10"), ipFamilies(corev1.IPv6Protocol)),
			pods: pods(pod("a", "", true, podIPs("10.0.0.1", "fd00::1"))),
			want: one(addr("fd00::1", "a")),
		},
		{
			name: "3.1 IPv6 cluster IP without ipFamilies picks the IPv6 pod IP",
			svc:  service(httpPort, clusterIP("fd00:96::10")),
			pods: pods(pod("a", "", true, podIPs("10.0.0.1", "fd00::1"))),
			want: one(addr("fd00::1", "a")),
		},
		{
			name: "3.1 IPv4 cluster IP without ipFamilies picks the IPv4 pod IP",
			svc:  service(httpPort),
			pods: pods(pod("a", "", true, podIPs("fd00::1", "10.0.0.1"))),
			want: one(addr("10.0.0.1", "a")),
		},
		{
			name: "3.1 headless without ipFamilies uses the family of each pod's status.podIP",
			svc:  service(httpPort, headless()),
			pods: pods(
				pod("a", "", true, podIPs("fd00::1", "10.0.0.1")),
				pod("b", "", true, podIPs("10.0.0.2", "fd00::2")),
			),
			want: []corev1.EndpointSubset{{
				Addresses: addrs(addr("10.0.0.2", "b"), addr("fd00::1", "a")),
				Ports:     http,
			}},
		},
		{
			name: `3.1 clusterIP "" without ipFamilies uses the family of status.podIP`,
			svc:  service(httpPort, clusterIP("")),
			pods: pods(pod("a", "", true, podIPs("fd00::1", "10.0.0.1"))),
			want: one(addr("fd00::1", "a")),
		},
		{
			name: "3.2 first podIPs entry of the family wins",
			svc:  service(httpPort, ipFamilies(corev1.IPv4Protocol)),
			pods: pods(pod("a", "", true, podIPs("fd00::1", "10.0.0.5", "10.0.0.9"))),
			want: one(addr("10.0.0.5", "a")),
		},
		{
			name: "3.2 IPv4-mapped IPv6 pod IP written as IPv4",
			svc:  service(httpPort),
			pods: pods(pod("a", "::ffff:10.0.0.7", true)),
			want: one(addr("10.0.0.7", "a")),
		},
		{
			name: "3.2 IPv4-mapped IPv6 pod IP counts as IPv4 on a headless Service",
			svc:  service(httpPort, headless()),
			pods: pods(pod("a", "::ffff:10.0.0.7", true)),
			want: one(addr("10.0.0.7", "a")),
		},
		{
			name: "3.2 leading-zero IPv4 canonicalised",
			svc:  service(httpPort),
			pods: pods(pod("a", "010.000.000.007", true)),
			want: one(addr("10.0.0.7", "a")),
		},
		{
			name: "3.2 IPv6 upper-case and uncompressed canonicalised",
			svc:  service(httpPort, clusterIP("fd00:96::10"), ipFamilies(corev1.IPv6Protocol)),
			pods: pods(pod("a", "FD00:0000:0000:0000:0000:0000:0000:00A1", true)),
			want: one(addr("fd00::a1", "a")),
		},
		{
			name: "3.3 nodeName copied from spec.nodeName",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, nodeName("node-7"))),
			want: one(onNode7),
		},
		{
			// addr() has no resourceVersion, while pod() sets one.
			name: "3.4 targetRef is kind, namespace, name and uid without resourceVersion",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true)),
			want: one(addr("10.0.0.1", "a")),
		},
		{
			name: "3.5 hostname published when subdomain names the Service",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, hostname("web-0", testService))),
			want: one(addrHost("10.0.0.1", "a", "web-0")),
		},
		{
			name: "3.5 hostname published on a headless Service",
			svc:  service(httpPort, headless()),
			pods: pods(pod("a", "10.0.0.1", true, hostname("web-0", testService))),
			want: one(addrHost("10.0.0.1", "a", "web-0")),
		},
		{
			name: "3.5 hostname not published when subdomain names another Service",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, hostname("web-0", "other"))),
			want: one(addr("10.0.0.1", "a")),
		},
		{
			name: "3.5 hostname not published for a pod of another namespace",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, hostname("web-0", testService), inNamespace("other"))),
			want: one(otherNamespace),
		},
		{
			name: "3.5 subdomain without hostname publishes no hostname",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, hostname("", testService))),
			want: one(addr("10.0.0.1", "a")),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestComputePorts(t *testing.T) {
	h2c := "kubernetes.io/h2c"
	withApp := sport("grpc", 9000, sctp)
	withApp.AppProtocol = &h2c
	wantApp := eport("grpc", 9000, sctp)
	wantApp.AppProtocol = &h2c

	tests := []computeCase{
		{
			name: "4.1 integer targetPort used as is",
			svc:  service(ports(sport("web", 9376, tcp))),
			pods: pods(pod("a", "10.0.0.1", true)),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("web", 9376, tcp))}},
		},
		{
			name: "4.1 named targetPort resolved from the first container that has it",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, addContainer("proxy", cport("http", 9090, tcp)))),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("http", 8080, tcp))}},
		},
		{
			name: "4.1 named targetPort found in a later container",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true,
				containerPorts(cport("metrics", 9100, tcp)), addContainer("proxy", cport("http", 8081, tcp)))),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("http", 8081, tcp))}},
		},
		{
			name: "4.1 sidecar init container (restartPolicy Always) port matches",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, containerPorts(), initContainer("mesh", true, cport("http", 8443, tcp)))),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("http", 8443, tcp))}},
		},
		{
			name: "4.1 containers are searched before sidecars",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, initContainer("mesh", true, cport("http", 8443, tcp)))),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("http", 8080, tcp))}},
		},
		{
			name: "4.1 plain init container port does not match",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.1", true, containerPorts(), initContainer("setup", false, cport("http", 8443, tcp)))),
			want: []corev1.EndpointSubset{},
			excluded: []Exclusion{{Pod: "a", Port: "http", Reason: ReasonPortNotFound,
				Detail: `no container port named "http" with protocol TCP`}},
		},
		{
			name: "4.1 named port with another protocol does not match",
			svc:  service(ports(sport("dns", "dns", udp))),
			pods: pods(
				pod("a", "10.0.0.1", true, containerPorts(cport("dns", 53, tcp))),
				pod("b", "10.0.0.2", true, containerPorts(cport("dns", 53, tcp), cport("dns", 5353, udp))),
			),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.2", "b")), Ports: eports(eport("dns", 5353, udp))}},
			excluded: []Exclusion{{Pod: "a", Port: "dns", Reason: ReasonPortNotFound,
				Detail: `no container port named "dns" with protocol UDP`}},
		},
		{
			name: "4.2 pod ready for one port and missing another is published for the one",
			svc:  service(ports(sport("http", "http", tcp), sport("metrics", 9100, tcp))),
			pods: pods(
				pod("a", "10.0.0.1", true),
				pod("b", "10.0.0.2", true, containerPorts()),
			),
			// Subsets in hash order (5.5), as in every case below.
			want: []corev1.EndpointSubset{
				{Addresses: addrs(addr("10.0.0.1", "a"), addr("10.0.0.2", "b")), Ports: eports(eport("metrics", 9100, tcp))},
				{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("http", 8080, tcp))},
			},
			excluded: []Exclusion{{Pod: "b", Port: "http", Reason: ReasonPortNotFound,
				Detail: `no container port named "http" with protocol TCP`}},
		},
		{
			name: "4.2 ports that differ per pod produce several subsets",
			svc:  service(httpPort),
			pods: pods(
				pod("a", "10.0.0.1", true),
				pod("b", "10.0.0.2", false),
				pod("c", "10.0.0.3", true, containerPorts(cport("http", 8081, tcp))),
			),
			want: []corev1.EndpointSubset{
				{Addresses: addrs(addr("10.0.0.1", "a")), NotReadyAddresses: addrs(addr("10.0.0.2", "b")), Ports: eports(eport("http", 8080, tcp))},
				{Addresses: addrs(addr("10.0.0.3", "c")), Ports: eports(eport("http", 8081, tcp))},
			},
		},
		{
			name: "4.3 endpoint port copies name, protocol and appProtocol",
			svc:  service(ports(withApp)),
			pods: pods(pod("a", "10.0.0.1", true)),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(wantApp)}},
		},
		{
			name: "4.3 empty Service port protocol written as TCP, the API server's default",
			svc:  service(ports(sport("web", 9376, ""))),
			pods: pods(pod("a", "10.0.0.1", true)),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("web", 9376, tcp))}},
		},
		{
			name: "4.1 empty protocols match as TCP when resolving a named port",
			svc:  service(ports(sport("http", "http", ""))),
			pods: pods(
				pod("a", "10.0.0.1", true),
				pod("b", "10.0.0.2", true, containerPorts(cport("http", 8080, ""))),
			),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a"), addr("10.0.0.2", "b")), Ports: eports(eport("http", 8080, tcp))}},
		},
		{
			name: "4.4 headless Service without ports publishes addresses with nil ports",
			svc:  service(nil, headless()),
			pods: pods(pod("a", "10.0.0.1", true), pod("b", "10.0.0.2", false)),
			want: []corev1.EndpointSubset{{
				Addresses:         addrs(addr("10.0.0.1", "a")),
				NotReadyAddresses: addrs(addr("10.0.0.2", "b")),
			}},
		},
		{
			name: "4.4 non-headless Service without ports publishes no subsets",
			svc:  service(nil),
			pods: pods(pod("a", "10.0.0.1", true)),
		},
		{
			name: `4.4 Service with clusterIP "" and without ports publishes no subsets`,
			svc:  service(nil, clusterIP("")),
			pods: pods(pod("a", "10.0.0.1", true)),
		},
		{
			name: "4.1 several Service ports resolved to the same numbers share a subset",
			svc:  service(ports(sport("http", "http", tcp), sport("alt", 8080, tcp))),
			pods: pods(pod("a", "10.0.0.1", true)),
			want: []corev1.EndpointSubset{{
				Addresses: addrs(addr("10.0.0.1", "a")),
				Ports:     eports(eport("http", 8080, tcp), eport("alt", 8080, tcp)), // hash order
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestComputePacking(t *testing.T) {
	http := eports(eport("http", 8080, tcp))
	hostNet := func(name string) *corev1.Pod { return pod(name, "192.168.1.5", true, uid("uid-"+name)) }
	tests := []computeCase{
		{
			name: "5.1 pods sharing an IP (host network) are distinct addresses",
			svc:  service(httpPort),
			pods: pods(hostNet("b"), hostNet("a")),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("192.168.1.5", "a"), addr("192.168.1.5", "b")), Ports: http}},
		},
		{
			name: "5.4 targetPort 0 is dropped but the addresses are kept",
			svc:  service(ports(sport("zero", 0, tcp))),
			pods: pods(pod("a", "10.0.0.1", true)),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a"))}},
		},
		{
			name: "5.4 ports 0 and below all dropped alike: one port-less subset",
			svc:  service(httpPort),
			pods: pods(
				pod("a", "10.0.0.1", true, containerPorts(cport("http", 0, tcp))),
				pod("b", "10.0.0.2", false, containerPorts(cport("http", -5, tcp))),
			),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), NotReadyAddresses: addrs(addr("10.0.0.2", "b"))}},
		},
		{
			name: "5.5 addresses sorted by IP string",
			svc:  service(httpPort),
			pods: pods(pod("a", "10.0.0.2", true), pod("b", "10.0.0.10", true), pod("c", "10.0.0.1", true), pod("d", "9.0.0.1", true)),
			want: []corev1.EndpointSubset{{
				Addresses: addrs(addr("10.0.0.1", "c"), addr("10.0.0.10", "b"), addr("10.0.0.2", "a"), addr("9.0.0.1", "d")),
				Ports:     http,
			}},
		},
		{
			name: "5.5 ports in a subset sorted by hash, UDP before TCP",
			svc:  service(ports(sport("", 8080, tcp))),
			pods: pods(pod("a", "10.0.0.1", true)),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("", 8080, tcp))}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

func TestComputeIgnoresPodOrder(t *testing.T) {
	svc := service(ports(sport("http", "http", tcp), sport("metrics", 9100, tcp)))
	ps := pods(
		pod("a", "10.0.0.1", true),
		pod("b", "10.0.0.2", false, containerPorts()),
		pod("c", "127.0.0.1", true),
		pod("d", "10.0.0.4", true, containerPorts(cport("http", 8081, tcp))),
		pod("e", "", true),
	)
	want := Compute(svc, ps)
	reversed := make([]*corev1.Pod, len(ps))
	for i, p := range ps {
		reversed[len(ps)-1-i] = p
	}
	checkEqual(t, "results", Compute(svc, reversed), want)
}

func TestComputeDoesNotModifyInput(t *testing.T) {
	svc := service(ports(sport("http", "http", tcp)), headless())
	ps := pods(pod("a", "::ffff:10.0.0.1", true, hostname("h", testService)), pod("b", "10.0.0.2", false))
	svcCopy := svc.DeepCopy()
	podCopies := []*corev1.Pod{ps[0].DeepCopy(), ps[1].DeepCopy()}
	Compute(svc, ps)
	checkEqual(t, "service", svc, svcCopy)
	checkEqual(t, "pods", ps, podCopies)
}

// The computed Endpoints share no memory with the Service, which belongs to
// the cache: decoding the API server's answer to a write into them must not
// write into the cached Service (the appProtocol pointer).
func TestComputeDoesNotAliasTheService(t *testing.T) {
	h2c := "kubernetes.io/h2c"
	withApp := sport("http", "http", tcp)
	withApp.AppProtocol = &h2c
	svc := service(ports(withApp))
	res := Compute(svc, pods(pod("a", "10.0.0.1", true)))
	if len(res.Subsets) != 1 || len(res.Subsets[0].Ports) != 1 {
		t.Fatalf("subsets %+v, want one with one port", res.Subsets)
	}
	got := res.Subsets[0].Ports[0].AppProtocol
	if got == nil || *got != h2c {
		t.Fatalf("appProtocol %v, want %q", got, h2c)
	}
	if got == svc.Spec.Ports[0].AppProtocol {
		t.Errorf("the Endpoints port's appProtocol points into the Service")
	}
}
