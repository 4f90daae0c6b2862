package endpoints

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// TestComputeExcludesInvalidInput feeds data the API server would reject in
// an Endpoints object, or that cannot be resolved. Compute must not panic,
// must leave out only the bad Pod or port, publish the rest, and report each
// exclusion exactly once with the right reason.
func TestComputeExcludesInvalidInput(t *testing.T) {
	http := eports(eport("http", 8080, tcp))
	good := pod("good", "10.0.0.1", true)
	goodOnly := []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "good")), Ports: http}}
	badIP := func(ip string, opts ...podOption) []*corev1.Pod {
		return pods(good, pod("bad", ip, true, opts...))
	}
	v6 := []svcOption{clusterIP("fd00:96::10"), ipFamilies(corev1.IPv6Protocol)}
	goodV6 := pod("good", "fd00::1", true)
	exclude := func(pod, port string, reason Reason, detail string) []Exclusion {
		return []Exclusion{{Pod: pod, Port: port, Reason: reason, Detail: detail}}
	}
	notLabel := "is not a DNS-1123 label: " + strings.Join(validation.IsDNS1123Label("Bad_Host"), "; ")
	notSubdomain := "is not a DNS-1123 subdomain: " + strings.Join(validation.IsDNS1123Subdomain("Bad_Node"), "; ")

	tests := []struct {
		computeCase
		invalid []bool // Invalid() of each exclusion
	}{
		{computeCase: computeCase{
			name: "2.2 no IPs left out silently, not reported",
			svc:  service(httpPort), pods: badIP(""), want: goodOnly,
		}},
		{computeCase: computeCase{
			name: "3.6 unparsable IP reported as InvalidIP",
			svc:  service(httpPort), pods: badIP("10.0.0.300"), want: goodOnly,
			excluded: exclude("bad", "", ReasonInvalidIP, `pod IP "10.0.0.300" is not a valid IP address`),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.6 unparsable IP on an IPv6 Service reported as InvalidIP",
			svc:  service(httpPort, v6...), pods: pods(goodV6, pod("bad", "garbage", true)),
			want:     []corev1.EndpointSubset{{Addresses: addrs(addr("fd00::1", "good")), Ports: http}},
			excluded: exclude("bad", "", ReasonInvalidIP, `pod IP "garbage" is not a valid IP address`),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.2 IPs of the other family only reported as NoIPOfFamily, not invalid",
			svc:  service(httpPort), pods: badIP("", podIPs("fd00::2")), want: goodOnly,
			excluded: exclude("bad", "", ReasonNoIPOfFamily, "pod has no IPv4 address"),
		}, invalid: []bool{false}},
		{computeCase: computeCase{
			name: "3.2 status.podIP without status.podIPs: no podIPs entry, reported as NoIPOfFamily",
			svc:  service(httpPort),
			pods: pods(good, func() *corev1.Pod { p := pod("bad", "10.0.0.2", true); p.Status.PodIPs = nil; return p }()),
			want: goodOnly, excluded: exclude("bad", "", ReasonNoIPOfFamily, "pod has no IPv4 address"),
		}, invalid: []bool{false}},
		{computeCase: computeCase{
			name: "3.2 IPv4 only on an IPv6 Service reported as NoIPOfFamily",
			svc:  service(httpPort, v6...), pods: pods(goodV6, pod("bad", "10.0.0.2", true)),
			want:     []corev1.EndpointSubset{{Addresses: addrs(addr("fd00::1", "good")), Ports: http}},
			excluded: exclude("bad", "", ReasonNoIPOfFamily, "pod has no IPv6 address"),
		}, invalid: []bool{false}},
		{computeCase: computeCase{
			name: "3.6 IPv4 loopback reported as InvalidIP",
			svc:  service(httpPort), pods: badIP("127.0.0.1"), want: goodOnly,
			excluded: exclude("bad", "", ReasonInvalidIP, "pod IP 127.0.0.1 is a loopback address"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.6 IPv4-mapped loopback reported as InvalidIP",
			svc:  service(httpPort), pods: badIP("::ffff:127.0.0.2"), want: goodOnly,
			excluded: exclude("bad", "", ReasonInvalidIP, "pod IP 127.0.0.2 is a loopback address"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.6 IPv6 loopback reported as InvalidIP",
			svc:  service(httpPort, v6...), pods: pods(goodV6, pod("bad", "::1", true)),
			want:     []corev1.EndpointSubset{{Addresses: addrs(addr("fd00::1", "good")), Ports: http}},
			excluded: exclude("bad", "", ReasonInvalidIP, "pod IP ::1 is a loopback address"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.6 IPv4 link-local reported as InvalidIP",
			svc:  service(httpPort), pods: badIP("169.254.10.1"), want: goodOnly,
			excluded: exclude("bad", "", ReasonInvalidIP, "pod IP 169.254.10.1 is a link-local address"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.6 IPv6 link-local reported as InvalidIP",
			svc:  service(httpPort, v6...), pods: pods(goodV6, pod("bad", "FE80::1", true)),
			want:     []corev1.EndpointSubset{{Addresses: addrs(addr("fd00::1", "good")), Ports: http}},
			excluded: exclude("bad", "", ReasonInvalidIP, "pod IP fe80::1 is a link-local address"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "10 link-local multicast reported as InvalidIP",
			svc:  service(httpPort), pods: badIP("224.0.0.251"), want: goodOnly,
			excluded: exclude("bad", "", ReasonInvalidIP, "pod IP 224.0.0.251 is a link-local multicast address"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.6 IPv4 unspecified reported as InvalidIP",
			svc:  service(httpPort), pods: badIP("0.0.0.0"), want: goodOnly,
			excluded: exclude("bad", "", ReasonInvalidIP, "pod IP 0.0.0.0 is unspecified"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.6 IPv6 unspecified reported as InvalidIP",
			svc:  service(httpPort, v6...), pods: pods(goodV6, pod("bad", "::", true)),
			want:     []corev1.EndpointSubset{{Addresses: addrs(addr("fd00::1", "good")), Ports: http}},
			excluded: exclude("bad", "", ReasonInvalidIP, "pod IP :: is unspecified"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.6 empty nodeName reported as InvalidNodeName",
			svc:  service(httpPort), pods: badIP("10.0.0.2", nodeName("")), want: goodOnly,
			excluded: exclude("bad", "", ReasonInvalidNodeName, `node name "" is empty (the Pod is not scheduled)`),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "10 nodeName not a DNS-1123 subdomain reported as InvalidNodeName",
			svc:  service(httpPort), pods: badIP("10.0.0.2", nodeName("Bad_Node")), want: goodOnly,
			excluded: exclude("bad", "", ReasonInvalidNodeName, `node name "Bad_Node" `+notSubdomain),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "10 hostname not a DNS label reported as InvalidHostname",
			svc:  service(httpPort), pods: badIP("10.0.0.2", hostname("Bad_Host", testService)), want: goodOnly,
			excluded: exclude("bad", "", ReasonInvalidHostname, `hostname "Bad_Host" `+notLabel),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "3.5 invalid hostname of a pod not published under this Service is harmless",
			svc:  service(httpPort), pods: pods(pod("good", "10.0.0.1", true, hostname("Bad_Host", "other"))), want: goodOnly,
		}},
		{computeCase: computeCase{
			name: "4.2 unknown port name reported as PortNotFound, not invalid",
			svc:  service(ports(sport("http", "http", tcp), sport("admin", "admin", tcp))),
			pods: pods(good),
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "good")), Ports: http}},
			excluded: exclude("good", "admin", ReasonPortNotFound,
				`no container port named "admin" with protocol TCP`),
		}, invalid: []bool{false}},
		{computeCase: computeCase{
			name:     "10 container port above 65535 reported as InvalidPort",
			svc:      service(httpPort),
			pods:     pods(good, pod("bad", "10.0.0.2", true, containerPorts(cport("http", 70000, tcp)))),
			want:     goodOnly,
			excluded: exclude("bad", "http", ReasonInvalidPort, "port 70000 is out of range 1-65535"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "10 integer targetPort above 65535 reported as InvalidPort for each pod",
			svc:  service(ports(sport("http", "http", tcp), sport("big", 65536, tcp))),
			pods: pods(good, pod("other", "10.0.0.2", false)),
			want: []corev1.EndpointSubset{{
				Addresses: addrs(addr("10.0.0.1", "good")), NotReadyAddresses: addrs(addr("10.0.0.2", "other")), Ports: http,
			}},
			excluded: []Exclusion{
				{Pod: "good", Port: "big", Reason: ReasonInvalidPort, Detail: "port 65536 is out of range 1-65535"},
				{Pod: "other", Port: "big", Reason: ReasonInvalidPort, Detail: "port 65536 is out of range 1-65535"},
			},
		}, invalid: []bool{true, true}},
		{computeCase: computeCase{
			name: "10 duplicate Service port names: the second is reported as InvalidServicePort",
			svc:  service(ports(sport("http", "http", tcp), sport("http", 9090, tcp))),
			pods: pods(good), want: goodOnly,
			excluded: exclude("", "http", ReasonInvalidServicePort, "the port name is used twice"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "10 unnamed port among several reported as InvalidServicePort",
			svc:  service(ports(sport("http", "http", tcp), sport("", 9090, tcp))),
			pods: pods(good), want: goodOnly,
			excluded: exclude("", "", ReasonInvalidServicePort, "a Service with several ports must name each of them"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "10 port name not a DNS label reported as InvalidServicePort",
			svc:  service(ports(sport("http", "http", tcp), sport("Web_UI", 9090, tcp))),
			pods: pods(good), want: goodOnly,
			excluded: exclude("", "Web_UI", ReasonInvalidServicePort, "the port name is not a DNS-1123 label"),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "10 unsupported protocol reported as InvalidServicePort",
			svc:  service(ports(sport("http", "http", tcp), sport("web", 9090, "HTTP"))),
			pods: pods(good), want: goodOnly,
			excluded: exclude("", "web", ReasonInvalidServicePort, `unsupported protocol "HTTP"`),
		}, invalid: []bool{true}},
		{computeCase: computeCase{
			name: "10 exclusions sorted: Service ports first, then by pod name",
			svc:  service(ports(sport("http", "http", tcp), sport("", 9090, tcp))),
			pods: pods(pod("zz", "127.0.0.1", true), pod("aa", "10.0.0.2", true, containerPorts()), good),
			want: goodOnly,
			excluded: []Exclusion{
				{Port: "", Reason: ReasonInvalidServicePort, Detail: "a Service with several ports must name each of them"},
				{Pod: "aa", Port: "http", Reason: ReasonPortNotFound, Detail: `no container port named "http" with protocol TCP`},
				{Pod: "zz", Reason: ReasonInvalidIP, Detail: "pod IP 127.0.0.1 is a loopback address"},
			},
		}, invalid: []bool{true, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t)
			res := Compute(tc.svc, tc.pods)
			var invalid []bool
			for _, e := range res.Excluded {
				invalid = append(invalid, e.Invalid())
			}
			checkEqual(t, "Invalid() of the exclusions", invalid, tc.invalid)
		})
	}
}

func TestExclusionString(t *testing.T) {
	tests := []struct {
		name string
		e    Exclusion
		want string
	}{
		{"3.6 event text names the pod", Exclusion{Pod: "a", Reason: ReasonInvalidIP, Detail: "pod IP 127.0.0.1 is a loopback address"},
			"pod a: pod IP 127.0.0.1 is a loopback address"},
		{"3.6 event text names the pod and port", Exclusion{Pod: "a", Port: "http", Reason: ReasonInvalidPort, Detail: "too big"},
			`pod a port "http": too big`},
		{"3.6 event text names a Service port", Exclusion{Port: "http", Reason: ReasonInvalidServicePort, Detail: "used twice"},
			`port "http": used twice`},
		{"3.6 event text for an unnamed Service port", Exclusion{Reason: ReasonInvalidServicePort, Detail: "unnamed"},
			`port "": unnamed`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}
