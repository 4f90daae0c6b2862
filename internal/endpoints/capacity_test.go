package endpoints

import (
	"fmt"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// seqAddrs returns n addresses of Pods "<prefix>-<i>" with distinct IPs,
// sorted as Compute sorts them.
func seqAddrs(prefix string, first, n int) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, 0, n)
	for i := first; i < first+n; i++ {
		out = append(out, addr(ipFor(i), fmt.Sprintf("%s-%d", prefix, i)))
	}
	sortAddresses(out)
	return out
}

func TestTruncate(t *testing.T) {
	p1, p2, p3 := eports(eport("p1", 1, tcp)), eports(eport("p2", 2, tcp)), eports(eport("p3", 3, tcp))
	a900, b300 := seqAddrs("a", 1, 900), seqAddrs("b", 1001, 300)
	x500, y500, z500 := seqAddrs("x", 1, 500), seqAddrs("y", 1001, 500), seqAddrs("z", 2001, 500)
	r600, n300, n400 := seqAddrs("r", 1, 600), seqAddrs("n", 1001, 300), seqAddrs("m", 2001, 400)
	r1001, r1000 := seqAddrs("r", 1, 1001), seqAddrs("r", 1, 1000)
	few := seqAddrs("f", 5001, 5)

	tests := []struct {
		name      string
		in        []corev1.EndpointSubset
		want      []corev1.EndpointSubset
		truncated bool
	}{
		{
			name: "6.1 at most 1000 addresses: nothing cut",
			in: []corev1.EndpointSubset{
				{Addresses: r600, NotReadyAddresses: n300, Ports: p1},
				{NotReadyAddresses: seqAddrs("m", 2001, 100), Ports: p2},
			},
			want: []corev1.EndpointSubset{
				{Addresses: r600, NotReadyAddresses: n300, Ports: p1},
				{NotReadyAddresses: seqAddrs("m", 2001, 100), Ports: p2},
			},
		},
		{
			name: "6.2 ready over capacity: 900 and 300 ready keep ceil(900/1200*1000)=750 and 250, not-ready dropped",
			in: []corev1.EndpointSubset{
				{Addresses: a900, NotReadyAddresses: few, Ports: p1},
				{Addresses: b300, Ports: p2},
			},
			want: []corev1.EndpointSubset{
				{Addresses: a900[:750], Ports: p1},
				{Addresses: b300[:250], Ports: p2},
			},
			truncated: true,
		},
		{
			name: "6.2 shares rounded up and capped by what is left: 500/500/500 keep 334/334/332",
			in: []corev1.EndpointSubset{
				{Addresses: x500, Ports: p1},
				{Addresses: y500, Ports: p2},
				{Addresses: z500, Ports: p3},
			},
			want: []corev1.EndpointSubset{
				{Addresses: x500[:334], Ports: p1},
				{Addresses: y500[:334], Ports: p2},
				{Addresses: z500[:332], Ports: p3},
			},
			truncated: true,
		},
		{
			name: "6.2 ready 600 kept, not-ready 300 and 400 share 400: ceil(300/700*400)=172 and 228 left",
			in: []corev1.EndpointSubset{
				{Addresses: r600, NotReadyAddresses: n300, Ports: p1},
				{NotReadyAddresses: n400, Ports: p2},
			},
			want: []corev1.EndpointSubset{
				{Addresses: r600, NotReadyAddresses: n300[:172], Ports: p1},
				{NotReadyAddresses: n400[:228], Ports: p2},
			},
			truncated: true,
		},
		{
			name: "6.1 an address in two subsets counts twice: 600+600 ready keep 500+500",
			in: []corev1.EndpointSubset{
				{Addresses: r600, Ports: p1},
				{Addresses: r600, Ports: p2},
			},
			want: []corev1.EndpointSubset{
				{Addresses: r600[:500], Ports: p1},
				{Addresses: r600[:500], Ports: p2},
			},
			truncated: true,
		},
		{
			name: "6.3 subset with only not-ready addresses dropped when ready > 1000",
			in: []corev1.EndpointSubset{
				{NotReadyAddresses: few, Ports: p2},
				{Addresses: r1001, Ports: p1},
			},
			want:      []corev1.EndpointSubset{{Addresses: r1001[:1000], Ports: p1}},
			truncated: true,
		},
		{
			name: "6.3 ready exactly 1000 leaves no room: not-ready-only subset dropped",
			in: []corev1.EndpointSubset{
				{Addresses: r1000, NotReadyAddresses: few[:1], Ports: p1},
				{NotReadyAddresses: few, Ports: p2},
			},
			want:      []corev1.EndpointSubset{{Addresses: r1000, Ports: p1}},
			truncated: true,
		},
		{
			name: "6.3 subset left with no addresses by the cap is dropped",
			in: []corev1.EndpointSubset{
				{Addresses: seqAddrs("a", 1, 999), Ports: p1},
				{Addresses: seqAddrs("b", 2001, 1), Ports: p2},
				{Addresses: seqAddrs("c", 3001, 1), Ports: p3},
			},
			// ceil(999/1001*1000) = 999, then ceil(1/1001*1000) = 1, then nothing left.
			want: []corev1.EndpointSubset{
				{Addresses: seqAddrs("a", 1, 999), Ports: p1},
				{Addresses: seqAddrs("b", 2001, 1), Ports: p2},
			},
			truncated: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, truncated := truncate(deepCopySubsets(tc.in))
			checkEqual(t, "subsets", got, tc.want)
			if truncated != tc.truncated {
				t.Errorf("truncated = %v, want %v", truncated, tc.truncated)
			}
			if ready, notReady := CountAddresses(got); ready+notReady > MaxCapacity {
				t.Errorf("%d addresses kept, more than %d", ready+notReady, MaxCapacity)
			}
		})
	}
}

// TestComputeTruncates runs truncation end to end: the subsets are packed and
// sorted first, then each keeps its first addresses in IP string order.
func TestComputeTruncates(t *testing.T) {
	http := eport("http", 8080, tcp)
	alt := eport("http", 8081, tcp)
	servesAlt := containerPorts(cport("http", 8081, tcp))

	// group builds n Pods named "<prefix>-<i>" and the addresses Compute
	// keeps for the first keep of them in IP string order.
	group := func(prefix string, first, n, keep int, ready bool, opts ...podOption) ([]*corev1.Pod, []corev1.EndpointAddress) {
		var ps []*corev1.Pod
		var ips []string
		byIP := map[string]corev1.EndpointAddress{}
		for i := first; i < first+n; i++ {
			name := fmt.Sprintf("%s-%d", prefix, i)
			ps = append(ps, pod(name, ipFor(i), ready, opts...))
			ips = append(ips, ipFor(i))
			byIP[ipFor(i)] = addr(ipFor(i), name)
		}
		sort.Strings(ips)
		var kept []corev1.EndpointAddress
		for _, ip := range ips[:keep] {
			kept = append(kept, byIP[ip])
		}
		return ps, kept
	}

	t.Run("6.2 ready branch: 900 and 300 ready Pods on two ports keep 750 and 250", func(t *testing.T) {
		a, aKept := group("a", 1, 900, 750, true)
		b, bKept := group("b", 2001, 300, 250, true, servesAlt)
		res := Compute(service(httpPort), append(a, b...))
		checkEqual(t, "subsets", res.Subsets, []corev1.EndpointSubset{
			{Addresses: aKept, Ports: eports(http)},
			{Addresses: bKept, Ports: eports(alt)},
		})
		if !res.Truncated || res.Ready != 1000 || res.NotReady != 0 {
			t.Errorf("Truncated, Ready, NotReady = %v, %d, %d; want true, 1000, 0", res.Truncated, res.Ready, res.NotReady)
		}
	})

	t.Run("6.2 not-ready branch: 600 ready + 700 not ready keep all ready and 400 not ready", func(t *testing.T) {
		r, rKept := group("r", 1, 600, 600, true)
		n, nKept := group("n", 1001, 300, 172, false)
		m, mKept := group("m", 2001, 400, 228, false, servesAlt)
		ps := append(append(r, n...), m...)
		res := Compute(service(httpPort), ps)
		checkEqual(t, "subsets", res.Subsets, []corev1.EndpointSubset{
			{Addresses: rKept, NotReadyAddresses: nKept, Ports: eports(http)},
			{NotReadyAddresses: mKept, Ports: eports(alt)},
		})
		if !res.Truncated || res.Ready != 600 || res.NotReady != 400 {
			t.Errorf("Truncated, Ready, NotReady = %v, %d, %d; want true, 600, 400", res.Truncated, res.Ready, res.NotReady)
		}
	})

	t.Run("6.1 exactly 1000 addresses are not truncated", func(t *testing.T) {
		r, rKept := group("r", 1, 1000, 1000, true)
		res := Compute(service(httpPort), r)
		checkEqual(t, "subsets", res.Subsets, []corev1.EndpointSubset{{Addresses: rKept, Ports: eports(http)}})
		if res.Truncated || res.Ready != 1000 {
			t.Errorf("Truncated, Ready = %v, %d; want false, 1000", res.Truncated, res.Ready)
		}
	})
}
