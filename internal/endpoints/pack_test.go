package endpoints

import (
	"bytes"
	"encoding/hex"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestHashOfVectors pins the order key of spec 5.5 to the published vectors:
// any change in how the object is printed or hashed breaks the take-over
// promise (our Endpoints must compare equal to the reference's).
func TestHashOfVectors(t *testing.T) {
	tests := []struct {
		name string
		port corev1.EndpointPort
		want string
	}{
		{"5.5 hash of {8080 TCP}", corev1.EndpointPort{Port: 8080, Protocol: corev1.ProtocolTCP}, "b09ff368df0fc81442c7b7a3ab2dbca5"},
		{"5.5 hash of {8080 UDP}", corev1.EndpointPort{Port: 8080, Protocol: corev1.ProtocolUDP}, "59aa40b466adb81c6e00232f1f0ba361"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := hex.EncodeToString(HashOf(tc.port)); got != tc.want {
				t.Errorf("HashOf(%+v) = %s, want %s", tc.port, got, tc.want)
			}
		})
	}

	t.Run("5.5 UDP sorts before TCP", func(t *testing.T) {
		tcpPort := corev1.EndpointPort{Port: 8080, Protocol: corev1.ProtocolTCP}
		udpPort := corev1.EndpointPort{Port: 8080, Protocol: corev1.ProtocolUDP}
		if bytes.Compare(HashOf(udpPort), HashOf(tcpPort)) >= 0 {
			t.Fatal("UDP digest does not sort before TCP digest")
		}
		got := []corev1.EndpointPort{tcpPort, udpPort}
		sortByHash(got)
		checkEqual(t, "ports", got, []corev1.EndpointPort{udpPort, tcpPort})
	})
}

func TestSortAddresses(t *testing.T) {
	noRef := corev1.EndpointAddress{IP: "10.0.0.1"}
	tests := []struct {
		name string
		in   []corev1.EndpointAddress
		want []corev1.EndpointAddress
	}{
		{
			name: "5.5 addresses sorted by IP string, byte order",
			in:   addrs(addr("10.0.0.2", "a"), addr("10.0.0.10", "b"), addr("fd00::1", "c"), addr("10.0.0.1", "d")),
			want: addrs(addr("10.0.0.1", "d"), addr("10.0.0.10", "b"), addr("10.0.0.2", "a"), addr("fd00::1", "c")),
		},
		{
			name: "5.5 same IP sorted by targetRef UID, no targetRef first",
			in:   addrs(addr("10.0.0.1", "b"), addr("10.0.0.1", "a"), noRef),
			want: addrs(noRef, addr("10.0.0.1", "a"), addr("10.0.0.1", "b")),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sortAddresses(tc.in)
			checkEqual(t, "addresses", tc.in, tc.want)
		})
	}
}

// TestSubsetOrderFollowsHash checks the rule itself: whatever the input
// order, ports and subsets come out in the byte order of their digests.
func TestSubsetOrderFollowsHash(t *testing.T) {
	in := []corev1.EndpointSubset{
		{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("a", 1, tcp), eport("b", 2, udp), eport("c", 3, sctp))},
		{Addresses: addrs(addr("10.0.0.2", "b")), Ports: eports(eport("d", 4, tcp))},
		{NotReadyAddresses: addrs(addr("10.0.0.3", "c")), Ports: eports(eport("e", 5, tcp))},
		{Addresses: addrs(addr("10.0.0.4", "d"))},
	}
	sortSubsets(in)
	for i := range in {
		for j := 1; j < len(in[i].Ports); j++ {
			if bytes.Compare(HashOf(in[i].Ports[j-1]), HashOf(in[i].Ports[j])) > 0 {
				t.Errorf("subset %d: ports %d and %d out of hash order", i, j-1, j)
			}
		}
		if i > 0 && bytes.Compare(HashOf(in[i-1]), HashOf(in[i])) > 0 {
			t.Errorf("subsets %d and %d out of hash order", i-1, i)
		}
	}
}

func TestRepack(t *testing.T) {
	x, y := addr("10.0.0.1", "x"), addr("10.0.0.2", "y")
	xh1, xh2 := addrHost("10.0.0.1", "x", "h1"), addrHost("10.0.0.1", "x", "h2")
	p1, p2 := eport("p1", 1001, tcp), eport("p2", 1002, tcp)
	xOtherRV := addr("10.0.0.1", "x")
	xOtherRV.TargetRef.ResourceVersion = "99"

	tests := []struct {
		name string
		in   []corev1.EndpointSubset
		want []corev1.EndpointSubset
	}{
		{
			name: "5.1 first full address seen for a key is kept",
			in: []corev1.EndpointSubset{
				{Addresses: addrs(xh1), Ports: eports(p1)},
				{Addresses: addrs(xh2), Ports: eports(p2)},
			},
			want: []corev1.EndpointSubset{{Addresses: addrs(xh1), Ports: eports(p2, p1)}},
		},
		{
			name: "5.1 addresses are identified by IP and UID only",
			in: []corev1.EndpointSubset{
				{Addresses: addrs(xOtherRV), Ports: eports(p1)},
				{Addresses: addrs(x), Ports: eports(p2)},
			},
			want: []corev1.EndpointSubset{{Addresses: addrs(xOtherRV), Ports: eports(p2, p1)}},
		},
		{
			name: "5.2 not ready wins within one subset",
			in:   []corev1.EndpointSubset{{Addresses: addrs(x, y), NotReadyAddresses: addrs(x), Ports: eports(p1)}},
			want: []corev1.EndpointSubset{{Addresses: addrs(y), NotReadyAddresses: addrs(x), Ports: eports(p1)}},
		},
		{
			name: "5.2 not ready wins across subsets, whichever comes first",
			in: []corev1.EndpointSubset{
				{NotReadyAddresses: addrs(x), Ports: eports(p1)},
				{Addresses: addrs(x, y), Ports: eports(p1)},
			},
			want: []corev1.EndpointSubset{{Addresses: addrs(y), NotReadyAddresses: addrs(x), Ports: eports(p1)}},
		},
		{
			name: "5.3 ports with the same addresses merge into one subset",
			in: []corev1.EndpointSubset{
				{Addresses: addrs(y), NotReadyAddresses: addrs(x), Ports: eports(p1)},
				{Addresses: addrs(y), NotReadyAddresses: addrs(x), Ports: eports(p2)},
			},
			want: []corev1.EndpointSubset{{Addresses: addrs(y), NotReadyAddresses: addrs(x), Ports: eports(p2, p1)}},
		},
		{
			name: "5.3 address ready for one port and not ready for another: two subsets, never both lists of one",
			in: []corev1.EndpointSubset{
				{Addresses: addrs(x, y), Ports: eports(p1, p2)},
				{NotReadyAddresses: addrs(x), Ports: eports(p2)},
			},
			want: []corev1.EndpointSubset{
				{Addresses: addrs(y), NotReadyAddresses: addrs(x), Ports: eports(p2)},
				{Addresses: addrs(x, y), Ports: eports(p1)},
			},
		},
		{
			name: "5.4 ports <= 0 dropped, their addresses kept, ports unset",
			in:   []corev1.EndpointSubset{{Addresses: addrs(x), Ports: eports(eport("zero", 0, tcp))}},
			want: []corev1.EndpointSubset{{Addresses: addrs(x)}},
		},
		{
			name: "5.4 a port <= 0 next to a real one disappears",
			in:   []corev1.EndpointSubset{{Addresses: addrs(x), Ports: eports(eport("neg", -3, tcp), p1)}},
			want: []corev1.EndpointSubset{{Addresses: addrs(x), Ports: eports(p1)}},
		},
		{
			name: "5.4 subsets whose ports are all <= 0 merge with port-less ones",
			in: []corev1.EndpointSubset{
				{Addresses: addrs(x), Ports: eports(eport("zero", 0, tcp))},
				{Addresses: addrs(y), Ports: eports(eport("neg", -5, tcp))},
				{NotReadyAddresses: addrs(x)},
			},
			want: []corev1.EndpointSubset{{Addresses: addrs(y), NotReadyAddresses: addrs(x)}},
		},
		{
			name: "5.4 empty address lists become nil",
			in:   []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{}, NotReadyAddresses: addrs(x), Ports: eports(p1)}},
			want: []corev1.EndpointSubset{{NotReadyAddresses: addrs(x), Ports: eports(p1)}},
		},
		{
			name: "5.4 portless subsets stay portless",
			in:   []corev1.EndpointSubset{{Addresses: addrs(y, x), Ports: []corev1.EndpointPort{}}},
			want: []corev1.EndpointSubset{{Addresses: addrs(x, y)}},
		},
		{
			name: "5.5 addresses re-sorted by IP string",
			in:   []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.9", "a"), addr("10.0.0.10", "b")), Ports: eports(p1)}},
			want: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.10", "b"), addr("10.0.0.9", "a")), Ports: eports(p1)}},
		},
		{
			name: "5.3 nothing in, nothing out",
			in:   nil,
			want: []corev1.EndpointSubset{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := deepCopySubsets(tc.in)
			got := Repack(tc.in)
			checkEqual(t, "repacked subsets", got, tc.want)
			checkEqual(t, "input after Repack", tc.in, before)
			checkEqual(t, "subsets repacked twice", Repack(got), got)
		})
	}
}

func deepCopySubsets(in []corev1.EndpointSubset) []corev1.EndpointSubset {
	if in == nil {
		return nil
	}
	out := make([]corev1.EndpointSubset, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
}
