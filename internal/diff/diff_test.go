package diff

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func address(ip, pod string) corev1.EndpointAddress {
	return corev1.EndpointAddress{
		IP: ip, NodeName: ptr.To("node-1"),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: pod, UID: types.UID("uid-" + pod)},
	}
}

var (
	http = corev1.EndpointPort{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}
	dns  = corev1.EndpointPort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP}
)

func endpointsWith(labels, annotations map[string]string, subsets ...corev1.EndpointSubset) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Labels: labels, Annotations: annotations},
		Subsets:    subsets,
	}
}

func TestDescribe(t *testing.T) {
	a, b, c := address("10.0.0.1", "a"), address("10.0.0.2", "b"), address("10.0.0.3", "c")
	labels := map[string]string{"app": "web", "endpoints.kubernetes.io/managed-by": "endpoints-controller.kube-endpoints.io"}
	base := endpointsWith(labels, nil, corev1.EndpointSubset{
		Addresses: []corev1.EndpointAddress{a, b}, NotReadyAddresses: []corev1.EndpointAddress{c},
		Ports: []corev1.EndpointPort{http},
	})
	edit := func(f func(ep *corev1.Endpoints)) *corev1.Endpoints {
		ep := base.DeepCopy()
		f(ep)
		return ep
	}
	tests := []struct {
		name             string
		current, desired *corev1.Endpoints
		want             []Change
		summary          string
	}{
		{name: "same: no change", current: base, desired: base.DeepCopy(), summary: "no change"},
		{
			name: "missing: create", desired: base,
			want:    []Change{{Kind: KindCreate, Detail: "2 ready and 1 not ready addresses"}},
			summary: "1 create",
		},
		{
			name: "delete", current: base,
			want:    []Change{{Kind: KindDelete, Detail: "2 ready and 1 not ready addresses"}},
			summary: "1 delete",
		},
		{
			name:    "address added and removed",
			current: base,
			desired: edit(func(ep *corev1.Endpoints) {
				ep.Subsets[0].Addresses = []corev1.EndpointAddress{b, address("10.0.0.9", "z")}
			}),
			want: []Change{
				{Kind: KindAddressRemoved, Port: "http 8080/TCP", Detail: "10.0.0.1 (pod a), ready"},
				{Kind: KindAddressAdded, Port: "http 8080/TCP", Detail: "10.0.0.9 (pod z), ready"},
			},
			summary: "1 address_added, 1 address_removed",
		},
		{
			name:    "address moves between ready and not ready",
			current: base,
			desired: edit(func(ep *corev1.Endpoints) {
				ep.Subsets[0].Addresses = []corev1.EndpointAddress{a, c}
				ep.Subsets[0].NotReadyAddresses = []corev1.EndpointAddress{b}
			}),
			want: []Change{
				{Kind: KindAddressNotReady, Port: "http 8080/TCP", Detail: "10.0.0.2 (pod b)"},
				{Kind: KindAddressReady, Port: "http 8080/TCP", Detail: "10.0.0.3 (pod c)"},
			},
			summary: "1 address_ready, 1 address_not_ready",
		},
		{
			name:    "same triples in another packing: no change reported but other",
			current: base,
			desired: edit(func(ep *corev1.Endpoints) {
				ep.Subsets[0].Addresses = []corev1.EndpointAddress{b, a}
			}),
			want:    []Change{{Kind: KindOther, Detail: "same addresses and ports, packed or ordered differently"}},
			summary: "1 other",
		},
		{
			name:    "address keeps IP and Pod but moves node",
			current: base,
			desired: edit(func(ep *corev1.Endpoints) { ep.Subsets[0].Addresses[0].NodeName = ptr.To("node-2") }),
			want: []Change{{Kind: KindAddressChanged, Port: "http 8080/TCP",
				Detail: "10.0.0.1 (pod a): nodeName=node-1 target=Pod/ns/a -> nodeName=node-2 target=Pod/ns/a"}},
			summary: "1 address_changed",
		},
		{
			name:    "target resourceVersion alone is no change",
			current: base,
			desired: edit(func(ep *corev1.Endpoints) { ep.Subsets[0].Addresses[0].TargetRef.ResourceVersion = "7" }),
			summary: "no change",
		},
		{
			name:    "port added, with its addresses, and port renumbered",
			current: base,
			desired: edit(func(ep *corev1.Endpoints) {
				ep.Subsets[0].Ports = []corev1.EndpointPort{{Name: "http", Port: 8081, Protocol: corev1.ProtocolTCP}}
				ep.Subsets = append(ep.Subsets, corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{c}, Ports: []corev1.EndpointPort{dns}})
			}),
			want: []Change{
				{Kind: KindPortAdded, Detail: "dns 53/UDP with 1 ready and 0 not ready addresses"},
				{Kind: KindPortRemoved, Detail: "http 8080/TCP with 2 ready and 1 not ready addresses"},
				{Kind: KindPortAdded, Detail: "http 8081/TCP with 2 ready and 1 not ready addresses"},
			},
			summary: "2 port_added, 1 port_removed",
		},
		{
			name:    "not ready wins for an address listed both ways for one port (spec 5.2)",
			current: base,
			desired: edit(func(ep *corev1.Endpoints) {
				ep.Subsets = append(ep.Subsets, corev1.EndpointSubset{NotReadyAddresses: []corev1.EndpointAddress{a}, Ports: []corev1.EndpointPort{http}})
			}),
			want:    []Change{{Kind: KindAddressNotReady, Port: "http 8080/TCP", Detail: "10.0.0.1 (pod a)"}},
			summary: "1 address_not_ready",
		},
		{
			name: "labels and annotations; the trigger time, headless label and reference managed-by value are left out",
			current: edit(func(ep *corev1.Endpoints) {
				ep.Labels = map[string]string{"app": "web", "old": "x", "endpoints.kubernetes.io/managed-by": "endpoint-controller",
					"service.kubernetes.io/headless": ""}
				ep.Annotations = map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "2026-01-01T00:00:00Z"}
			}),
			desired: edit(func(ep *corev1.Endpoints) {
				ep.Annotations = map[string]string{
					"endpoints.kubernetes.io/last-change-trigger-time": "2026-02-02T00:00:00Z",
					"endpoints.kubernetes.io/over-capacity":            "truncated",
				}
			}),
			want: []Change{
				{Kind: KindLabel, Detail: `label old="x" removed`},
				{Kind: KindAnnotation, Detail: `annotation endpoints.kubernetes.io/over-capacity="truncated" added`},
			},
			summary: "1 label, 1 annotation",
		},
		{
			name: "another controller's managed-by value is a change",
			current: edit(func(ep *corev1.Endpoints) {
				ep.Labels = map[string]string{"app": "web", "endpoints.kubernetes.io/managed-by": "someone-else"}
			}),
			desired: base,
			want: []Change{
				{Kind: KindLabel, Detail: `label endpoints.kubernetes.io/managed-by: "someone-else" -> "endpoints-controller.kube-endpoints.io"`},
			},
			summary: "1 label",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var current, desired *corev1.Endpoints
			if tc.current != nil {
				current = tc.current.DeepCopy()
			}
			if tc.desired != nil {
				desired = tc.desired.DeepCopy()
			}
			got := Describe(current, desired)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Describe:\n got %v\nwant %v", got, tc.want)
			}
			if s := Summary(got); s != tc.summary {
				t.Errorf("Summary = %q, want %q", s, tc.summary)
			}
			if (tc.current != nil && !reflect.DeepEqual(current, tc.current)) || (tc.desired != nil && !reflect.DeepEqual(desired, tc.desired)) {
				t.Error("Describe modified its input")
			}
		})
	}
}

func TestChangeString(t *testing.T) {
	for _, tc := range []struct {
		c    Change
		want string
	}{
		{Change{Kind: KindAddressNotReady, Port: "http 8080/TCP", Detail: "10.0.0.3 (pod c)"}, "address_not_ready http 8080/TCP: 10.0.0.3 (pod c)"},
		{Change{Kind: KindLabel, Detail: `label a="b" added`}, `label: label a="b" added`},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	if got := PortName(corev1.EndpointPort{Port: 80, Protocol: corev1.ProtocolSCTP, AppProtocol: ptr.To("h2c")}); got != "80/SCTP (h2c)" {
		t.Errorf("PortName = %q", got)
	}
	if got := AddressName(&corev1.EndpointAddress{IP: "192.0.2.1"}); got != "192.0.2.1" {
		t.Errorf("AddressName = %q", got)
	}
}

func TestUnified(t *testing.T) {
	a, b := address("10.0.0.1", "a"), address("10.0.0.2", "b")
	live := endpointsWith(map[string]string{"app": "web"}, nil,
		corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{a, b}, Ports: []corev1.EndpointPort{http}})
	live.ResourceVersion = "42"
	live.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}
	desired := live.DeepCopy()
	desired.Subsets[0].Addresses = []corev1.EndpointAddress{a}
	desired.Subsets[0].NotReadyAddresses = []corev1.EndpointAddress{b}

	const wantUpdate = `diff -u -N live/v1.Endpoints.ns.web desired/v1.Endpoints.ns.web
--- live/v1.Endpoints.ns.web
+++ desired/v1.Endpoints.ns.web
@@ -15,6 +15,7 @@
       name: a
       namespace: ns
       uid: uid-a
+  notReadyAddresses:
   - ip: 10.0.0.2
     nodeName: node-1
     targetRef:
`
	got, err := Unified(live, desired)
	if err != nil {
		t.Fatal(err)
	}
	if got != wantUpdate {
		t.Errorf("Unified(update) =\n%s\nwant\n%s", got, wantUpdate)
	}

	same, err := Unified(live, live.DeepCopy())
	if err != nil || same != "" {
		t.Errorf("Unified(same) = %q, %v; want empty", same, err)
	}

	created, err := Unified(nil, desired)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(created, "\n@@ -0,0 +1,29 @@\n") {
		t.Errorf("Unified(create) hunk is not -0,0 +1,29:\n%s", created)
	}
	for _, line := range strings.Split(strings.TrimSuffix(created, "\n"), "\n")[4:] {
		if !strings.HasPrefix(line, "+") {
			t.Errorf("Unified(create): line %q is not an addition", line)
		}
	}
	if !strings.Contains(created, "+apiVersion: v1\n") || !strings.Contains(created, "+kind: Endpoints\n") {
		t.Errorf("Unified(create) lacks apiVersion and kind:\n%s", created)
	}
	deleted, err := Unified(live, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(deleted, "\n@@ -1,28 +0,0 @@\n") || !strings.Contains(deleted, "-  resourceVersion: \"42\"\n") ||
		strings.Contains(strings.SplitN(deleted, "@@", 2)[1], "\n+") {
		t.Errorf("Unified(delete) =\n%s", deleted)
	}
}

func TestColourize(t *testing.T) {
	in := "diff -u -N a b\n--- a\n+++ b\n@@ -1 +1 @@\n ctx\n-old\n+new\n"
	want := "\x1b[1mdiff -u -N a b\x1b[0m\n\x1b[1m--- a\x1b[0m\n\x1b[1m+++ b\x1b[0m\n\x1b[36m@@ -1 +1 @@\x1b[0m\n ctx\n" +
		"\x1b[31m-old\x1b[0m\n\x1b[32m+new\x1b[0m\n"
	if got := Colourize(in); got != want {
		t.Errorf("Colourize =\n%q\nwant\n%q", got, want)
	}
}
