package endpoints

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/diff"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/dump"
	netutils "k8s.io/utils/net"
)

// FuzzCompute builds a Service and its Pods from the fuzz input and checks
// the invariants of Compute that hold for any input: the result does not
// depend on Pod order; every subset is one the API server accepts (spec 10);
// no address is both ready and not ready in one subset; at most MaxCapacity
// addresses; every address comes from an included Pod with the right IP and
// readiness; and the write decision sees no difference between the result
// and its re-packed form.
func FuzzCompute(f *testing.F) {
	// Header: clusterIP, ipFamilies, publishNotReady (0 = yes), ports,
	// Pod count mode (6, 7 = hundreds, ~1000+) and count, clean (0 = yes).
	// More seeds are in testdata/fuzz/FuzzCompute.
	f.Add([]byte{})
	f.Add([]byte{0, 0, 1, 2, 7, 200, 0, 1, 0, 0, 3, 1, 4, 2, 1, 0, 1}) // 1500 clean Pods, 2 ports: truncation
	f.Add([]byte{2, 0, 1, 0, 0, 11, 1})                                // headless, portless
	f.Add([]byte{1, 3, 1, 3, 0, 11, 1})                                // dual-stack, IPv6 first, messy Pods
	f.Add([]byte{3, 0, 0, 1, 0, 11, 1})                                // publishNotReadyAddresses, messy Pods
	f.Fuzz(func(t *testing.T, data []byte) {
		svc, ps := fuzzObjects(data)
		svcBefore := svc.DeepCopy()
		podsBefore := make([]*corev1.Pod, len(ps))
		for i, p := range ps {
			podsBefore[i] = p.DeepCopy()
		}

		res := Compute(svc, ps)

		if !reflect.DeepEqual(svc, svcBefore) || !reflect.DeepEqual(ps, podsBefore) {
			t.Fatal("Compute modified its input")
		}
		checkOrderIndependent(t, data, svc, ps, res)
		checkResultValid(t, svc, ps, res)
		checkRepack(t, svc, res)
	})
}

// fuzzInput hands out the fuzz bytes, then a stream seeded from them, so that
// short inputs still describe large Services and every input is
// deterministic.
type fuzzInput struct {
	data []byte
	rng  *rand.Rand
}

func newFuzzInput(data []byte) *fuzzInput {
	h := fnv.New64a()
	h.Write(data)
	return &fuzzInput{data: data, rng: rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))}
}

func (f *fuzzInput) byte() byte {
	if len(f.data) > 0 {
		b := f.data[0]
		f.data = f.data[1:]
		return b
	}
	return byte(f.rng.Uint32())
}

func (f *fuzzInput) intn(n int) int { return int(f.byte()) % n }

func (f *fuzzInput) bool() bool { return f.byte()&1 == 1 }

func pick[T any](f *fuzzInput, choices ...T) T { return choices[f.intn(len(choices))] }

var fuzzProtocols = []corev1.Protocol{tcp, tcp, udp, sctp, "", "HTTP"}

// fuzzObjects decodes a Service and its Pods from data. The first bytes give
// the shape (so that seeds are easy to write): cluster IP, ipFamilies,
// publishNotReadyAddresses, number of ports, number of Pods, and whether the
// Pods are clean (valid addresses, running) or anything goes.
func fuzzObjects(data []byte) (*corev1.Service, []*corev1.Pod) {
	in := newFuzzInput(data)
	svc := service(nil)
	svc.Spec.ClusterIP = pick(in, "10.96.0.10", "fd00:96::10", corev1.ClusterIPNone, "", "bogus")
	svc.Spec.IPFamilies = pick(in, nil,
		[]corev1.IPFamily{corev1.IPv4Protocol}, []corev1.IPFamily{corev1.IPv6Protocol},
		[]corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}, []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol})
	svc.Spec.PublishNotReadyAddresses = in.intn(4) == 0
	nPorts := in.intn(5)
	var n int
	switch in.intn(8) {
	case 6:
		n = 100 + in.intn(256)*2
	case 7:
		n = 900 + in.intn(256)*3 // up to 1665: truncation
	default:
		n = in.intn(12)
	}
	clean := in.intn(3) == 0

	for range nPorts {
		sp := corev1.ServicePort{
			Name:     pick(in, "", "http", "https", "dns", "metrics", "Bad_Name", "http"),
			Protocol: pick(in, fuzzProtocols...),
			Port:     80,
		}
		if in.bool() {
			sp.TargetPort = intstr.FromString(pick(in, "web", "metrics", "dns", "missing"))
		} else {
			sp.TargetPort = intstr.FromInt32(pick[int32](in, 0, 53, 80, 8080, 9090, 65535, 65536, -1))
		}
		if in.intn(4) == 0 {
			sp.AppProtocol = strPtr(pick(in, "http", "kubernetes.io/h2c"))
		}
		svc.Spec.Ports = append(svc.Spec.Ports, sp)
	}
	ps := make([]*corev1.Pod, 0, n)
	for i := range n {
		ps = append(ps, fuzzPod(in, i, clean))
	}
	return svc, ps
}

// fuzzPod returns Pod i. A clean Pod is running and scheduled and has valid
// IPs, so that enough of them are published to exceed MaxCapacity.
func fuzzPod(in *fuzzInput, i int, clean bool) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("pod-%d", i), Namespace: testNamespace, UID: types.UID(fmt.Sprintf("uid-%d", i)),
		},
		Spec: corev1.PodSpec{
			NodeName: pick(in, "node-a", "node-a", "node-b", "", "Bad_Node"),
			Hostname: pick(in, "", "", "web-0", "Bad_Host"),
		},
		Status: corev1.PodStatus{Phase: pick(in, corev1.PodRunning, corev1.PodRunning, corev1.PodRunning,
			corev1.PodPending, corev1.PodSucceeded, corev1.PodFailed, "")},
	}
	p.Spec.Subdomain = pick(in, testService, "other", "")
	if in.intn(16) == 0 {
		p.Namespace = "other"
	}
	if in.intn(8) == 0 {
		now := metav1.NewTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		p.DeletionTimestamp = &now
	}
	switch in.intn(4) {
	case 0:
		// No Ready condition: not ready.
	case 1:
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	default:
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	nIPs := in.intn(4)
	if clean {
		p.Spec.NodeName, p.Spec.Hostname, p.Status.Phase = "node-a", "", corev1.PodRunning
		p.Status.PodIPs = []corev1.PodIP{{IP: ipFor(i + 1)}, {IP: fmt.Sprintf("fd00::%x", i+1)}}
		if in.bool() {
			p.Status.PodIPs[0], p.Status.PodIPs[1] = p.Status.PodIPs[1], p.Status.PodIPs[0]
		}
		nIPs = 0
	}
	for range nIPs {
		p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: fuzzIP(in, i)})
	}
	switch {
	case len(p.Status.PodIPs) > 0 && in.intn(8) != 0:
		p.Status.PodIP = p.Status.PodIPs[0].IP
	case in.intn(4) == 0:
		p.Status.PodIP = fuzzIP(in, i)
	}
	for c := range 1 + in.intn(2) {
		p.Spec.Containers = append(p.Spec.Containers, fuzzContainer(in, fmt.Sprintf("c%d", c)))
	}
	if in.intn(3) == 0 {
		init := fuzzContainer(in, "init")
		if in.bool() {
			always := corev1.ContainerRestartPolicyAlways
			init.RestartPolicy = &always
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, init)
	}
	return p
}

func fuzzContainer(in *fuzzInput, name string) corev1.Container {
	c := corev1.Container{Name: name}
	for range in.intn(4) {
		c.Ports = append(c.Ports, corev1.ContainerPort{
			Name:          pick(in, "web", "metrics", "dns", ""),
			ContainerPort: pick[int32](in, 0, 53, 8080, 9090, 65535, 70000, -5),
			Protocol:      pick(in, fuzzProtocols...),
		})
	}
	return c
}

// fuzzIP returns an IP for Pod i: mostly distinct valid ones of both
// families in various spellings, some shared (host network), some that
// the API server would reject, some garbage.
func fuzzIP(in *fuzzInput, i int) string {
	v4 := ipFor(i + 1)
	switch in.intn(14) {
	case 0, 1, 2, 3:
		return v4
	case 4, 5:
		return fmt.Sprintf("fd00::%x", i+1)
	case 6:
		return "::ffff:" + v4
	case 7:
		return fmt.Sprintf("010.%03d.%03d.%03d", (i+1)>>16&255, (i+1)>>8&255, (i+1)&255)
	case 8:
		return fmt.Sprintf("FD00:0000:0000:0000:0000:0000:0000:%04X", (i+1)&0xffff)
	case 9:
		return pick(in, "192.168.0.1", "192.168.0.2", "fd00::ff") // shared
	case 10:
		return pick(in, "127.0.0.1", "::1", "169.254.0.1", "fe80::1", "0.0.0.0", "::", "224.0.0.1", "ff02::1", "::ffff:127.0.0.1")
	case 11:
		return pick(in, "not-an-ip", "1.2.3", "fd00::g", "10.0.0.1/24", "")
	default:
		return ipFor(in.intn(256) + 1) // may collide with another Pod's
	}
}

func checkOrderIndependent(t *testing.T, data []byte, svc *corev1.Service, ps []*corev1.Pod, res Result) {
	t.Helper()
	shuffled := append([]*corev1.Pod(nil), ps...)
	h := fnv.New64()
	h.Write(data)
	rand.New(rand.NewPCG(h.Sum64(), 7)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	if got := Compute(svc, shuffled); !reflect.DeepEqual(got, res) {
		t.Fatalf("result depends on Pod order (-in order +shuffled):\n%s", diff.Diff(res, got))
	}
}

// checkResultValid checks the result against spec 2-6 and 10.
func checkResultValid(t *testing.T, svc *corev1.Service, ps []*corev1.Pod, res Result) {
	t.Helper()
	byUID := make(map[types.UID]*corev1.Pod, len(ps))
	for _, p := range ps {
		byUID[p.UID] = p
	}
	ready, notReady := 0, 0
	for i := range res.Subsets {
		ss := &res.Subsets[i]
		ready += len(ss.Addresses)
		notReady += len(ss.NotReadyAddresses)
		if err := subsetInvalid(ss); err != "" {
			t.Fatalf("subset %d is invalid (spec 10): %s\n%s", i, err, diff.Diff(nil, ss))
		}
		seen := map[addrKey]bool{}
		for j, list := range [][]corev1.EndpointAddress{ss.Addresses, ss.NotReadyAddresses} {
			for k := range list {
				a := &list[k]
				key := addrKey{ip: a.IP, uid: a.TargetRef.UID}
				if seen[key] {
					t.Fatalf("subset %d: address %v twice (spec 5.3)", i, key)
				}
				seen[key] = true
				if k > 0 && compareAddresses(&list[k-1], a) >= 0 {
					t.Fatalf("subset %d: addresses %d and %d out of order (spec 5.5)", i, k-1, k)
				}
				if err := addressMismatch(svc, byUID[a.TargetRef.UID], a, j == 0); err != "" {
					t.Fatalf("subset %d: address %s: %s", i, a.IP, err)
				}
			}
		}
		for j := 1; j < len(ss.Ports); j++ {
			if bytes.Compare(HashOf(ss.Ports[j-1]), HashOf(ss.Ports[j])) > 0 {
				t.Fatalf("subset %d: ports out of hash order (spec 5.5)", i)
			}
		}
		// HashOf writes the text itself; dump is slow, so compare small subsets.
		if len(ss.Addresses)+len(ss.NotReadyAddresses) <= 50 && !bytes.Equal(HashOf(*ss), dumpDigest(*ss)) {
			t.Fatalf("subset %d: HashOf differs from dump.ForHash\n dump: %s\n ours: %s", i, dump.ForHash(*ss), hashedText(*ss))
		}
		if i > 0 && !res.Truncated && bytes.Compare(HashOf(res.Subsets[i-1]), HashOf(*ss)) > 0 {
			t.Fatalf("subsets %d and %d out of hash order (spec 5.5)", i-1, i)
		}
	}
	if ready != res.Ready || notReady != res.NotReady {
		t.Fatalf("Ready, NotReady = %d, %d; subsets hold %d, %d", res.Ready, res.NotReady, ready, notReady)
	}
	if total := ready + notReady; total > MaxCapacity || (res.Truncated && total != MaxCapacity) {
		t.Fatalf("%d addresses, truncated %v (spec 6)", total, res.Truncated)
	}
	for i, e := range res.Excluded {
		if e.Pod == "" && e.Reason != ReasonInvalidServicePort || e.Pod != "" && e.Reason == ReasonInvalidServicePort {
			t.Fatalf("exclusion %d: %+v", i, e)
		}
		if i > 0 && res.Excluded[i-1].Pod > e.Pod {
			t.Fatalf("exclusions %d and %d out of order", i-1, i)
		}
	}
	checkEveryPodAccounted(t, svc, ps, res)
}

// subsetInvalid returns why the API server would reject ss, or "".
func subsetInvalid(ss *corev1.EndpointSubset) string {
	if len(ss.Addresses)+len(ss.NotReadyAddresses) == 0 {
		return "no address"
	}
	if ss.Addresses != nil && len(ss.Addresses) == 0 || ss.NotReadyAddresses != nil && len(ss.NotReadyAddresses) == 0 ||
		ss.Ports != nil && len(ss.Ports) == 0 {
		return "empty list instead of nil (spec 5.4)"
	}
	names := map[string]bool{}
	for _, p := range ss.Ports {
		switch {
		case len(ss.Ports) > 1 && p.Name == "":
			return "unnamed port among several"
		case p.Name != "" && len(validation.IsDNS1123Label(p.Name)) > 0:
			return fmt.Sprintf("port name %q", p.Name)
		case names[p.Name]:
			return fmt.Sprintf("port name %q twice", p.Name)
		case p.Port < 1 || p.Port > 65535:
			return fmt.Sprintf("port %d", p.Port)
		case p.Protocol != tcp && p.Protocol != udp && p.Protocol != sctp:
			return fmt.Sprintf("protocol %q", p.Protocol)
		}
		names[p.Name] = true
	}
	for _, list := range [][]corev1.EndpointAddress{ss.Addresses, ss.NotReadyAddresses} {
		for _, a := range list {
			ip := net.ParseIP(a.IP)
			switch {
			case ip == nil || ip.String() != a.IP:
				return fmt.Sprintf("IP %q not valid and canonical", a.IP)
			case ip.IsUnspecified() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
				return fmt.Sprintf("IP %q not allowed", a.IP)
			case a.NodeName == nil || len(validation.IsDNS1123Subdomain(*a.NodeName)) > 0:
				return "nodeName"
			case a.Hostname != "" && len(validation.IsDNS1123Label(a.Hostname)) > 0:
				return fmt.Sprintf("hostname %q", a.Hostname)
			case a.TargetRef == nil:
				return "no targetRef"
			}
		}
	}
	return ""
}

// included is spec 2.1-2.3, restated.
func included(svc *corev1.Service, p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed &&
		(p.Status.PodIP != "" || len(p.Status.PodIPs) > 0) &&
		(p.DeletionTimestamp == nil || svc.Spec.PublishNotReadyAddresses)
}

// wantV6 is spec 3.1, restated: whether Pod p's address is IPv6.
func wantV6(svc *corev1.Service, p *corev1.Pod) bool {
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		return svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		return isIPv6(svc.Spec.ClusterIP)
	}
	return isIPv6(p.Status.PodIP)
}

func isIPv6(ip string) bool {
	parsed := netutils.ParseIPSloppy(ip)
	return parsed != nil && parsed.To4() == nil
}

// addressMismatch returns how a differs from what spec 2-3 say Pod p's
// address is, or "".
func addressMismatch(svc *corev1.Service, p *corev1.Pod, a *corev1.EndpointAddress, inReady bool) string {
	if p == nil {
		return "no such Pod"
	}
	if !included(svc, p) {
		return "Pod should be excluded (spec 2)"
	}
	isReady := podReady(p) || svc.Spec.PublishNotReadyAddresses
	if inReady != isReady {
		return fmt.Sprintf("in the ready list: %v, Pod ready: %v (spec 2.4)", inReady, isReady)
	}
	ipOK := false
	for _, podIP := range p.Status.PodIPs {
		if parsed := netutils.ParseIPSloppy(podIP.IP); parsed != nil && parsed.String() == a.IP {
			ipOK = true
		}
	}
	wantRef := corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}
	wantHost := ""
	if p.Spec.Subdomain == svc.Name && p.Namespace == svc.Namespace {
		wantHost = p.Spec.Hostname
	}
	switch {
	case !ipOK:
		return "not one of the Pod's IPs (spec 3.2)"
	case strings.Contains(a.IP, ":") != wantV6(svc, p):
		return "wrong family (spec 3.1)"
	case *a.NodeName != p.Spec.NodeName:
		return "nodeName (spec 3.3)"
	case *a.TargetRef != wantRef:
		return "targetRef (spec 3.4)"
	case a.Hostname != wantHost:
		return "hostname (spec 3.5)"
	}
	return ""
}

// checkEveryPodAccounted: below MaxCapacity, every included Pod is published
// or reported, unless no Service port can be published at all.
func checkEveryPodAccounted(t *testing.T, svc *corev1.Service, ps []*corev1.Pod, res Result) {
	t.Helper()
	usable, _ := usablePorts(svc)
	portless := len(svc.Spec.Ports) == 0
	if res.Truncated || (portless && svc.Spec.ClusterIP != corev1.ClusterIPNone) || (!portless && len(usable) == 0) {
		return
	}
	accounted := map[string]bool{}
	for _, e := range res.Excluded {
		accounted[e.Pod] = true
	}
	for _, ss := range res.Subsets {
		for _, list := range [][]corev1.EndpointAddress{ss.Addresses, ss.NotReadyAddresses} {
			for _, a := range list {
				accounted[a.TargetRef.Name] = true
			}
		}
	}
	for _, p := range ps {
		if included(svc, p) && !accounted[p.Name] {
			t.Fatalf("Pod %s is neither published nor reported", p.Name)
		}
	}
}

// checkRepack: the result in canonical form needs no write, and an untruncated
// result already is in canonical form.
func checkRepack(t *testing.T, svc *corev1.Service, res Result) {
	t.Helper()
	desired := Desired(svc, nil, res, time.Time{})
	current := desired.DeepCopy()
	current.Subsets = Repack(current.Subsets)
	if !UpToDate(current, desired, nil) {
		t.Fatalf("UpToDate(repacked, desired) = false (spec 8.1)\n%s", diff.Diff(desired.Subsets, current.Subsets))
	}
	if !UpToDate(desired.DeepCopy(), desired, nil) {
		t.Fatal("UpToDate(desired, desired) = false")
	}
	if res.Truncated {
		return
	}
	if got := Repack(res.Subsets); (len(got) != 0 || len(res.Subsets) != 0) && !reflect.DeepEqual(got, res.Subsets) {
		t.Fatalf("Repack changed an untruncated result:\n%s", diff.Diff(res.Subsets, got))
	}
}
