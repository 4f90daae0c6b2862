package endpoints

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	netutils "k8s.io/utils/net"
)

// Result is the computed state of one Service's Endpoints.
type Result struct {
	// Subsets are packed, sorted and, above MaxCapacity, truncated (spec 5, 6).
	Subsets []corev1.EndpointSubset
	// Truncated reports that addresses were dropped to respect MaxCapacity.
	Truncated bool
	// Ready and NotReady count the published addresses after truncation; an
	// address that appears in two subsets counts twice, as in spec 6.1.
	Ready, NotReady int
	// Excluded lists what was left out for a reason the user may want to see:
	// Pods with no usable address and ports that could not be resolved.
	// Pods left out by their lifecycle (no IP yet, terminal, terminating) are
	// not listed: that is normal, not a problem. Sorted by Pod name, the
	// Service ports left out for every Pod first.
	Excluded []Exclusion
}

// Compute returns the Endpoints subsets for svc given the Pods its selector
// matches (spec sections 2 to 6). The order of pods does not matter. svc and
// pods are only read.
func Compute(svc *corev1.Service, pods []*corev1.Pod) Result {
	var res Result
	ports, excluded := usablePorts(svc)
	res.Excluded = excluded
	// Spec 4.4: only a headless Service may publish addresses without ports.
	portless := len(svc.Spec.Ports) == 0
	if portless && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		return res
	}
	tolerateUnready := svc.Spec.PublishNotReadyAddresses

	p := newPacker(len(pods))
	a := newAddresser(svc)
	for _, pod := range pods {
		if !includePod(pod, tolerateUnready) {
			continue
		}
		addr, ex := a.podAddress(pod)
		if ex != nil {
			res.Excluded = append(res.Excluded, *ex)
			continue
		}
		ready := tolerateUnready || podReady(pod)
		if portless {
			p.add(addr, noPort, ready)
			continue
		}
		for i := range ports {
			sp := ports[i]
			num, ok := resolvePort(pod, sp)
			if !ok {
				res.Excluded = append(res.Excluded, Exclusion{
					Pod: pod.Name, Port: sp.Name, Reason: ReasonPortNotFound,
					Detail: fmt.Sprintf("no container port named %q with protocol %s", sp.TargetPort.StrVal, protocolOf(sp)),
				})
				continue
			}
			if num > maxPort {
				res.Excluded = append(res.Excluded, Exclusion{
					Pod: pod.Name, Port: sp.Name, Reason: ReasonInvalidPort,
					Detail: fmt.Sprintf("port %d is out of range 1-%d", num, maxPort),
				})
				continue
			}
			p.add(addr, endpointPort(sp, num), ready)
		}
	}
	// Pods come from a cache whose List order changes from call to call;
	// sorting makes the report as deterministic as the subsets, so that the
	// controller can tell a new problem from one it already reported. The
	// Service's own ports (no Pod) come first; one Pod's ports stay in
	// Service order.
	sort.SliceStable(res.Excluded, func(i, j int) bool { return res.Excluded[i].Pod < res.Excluded[j].Pod })
	res.Subsets = p.pack()
	res.Subsets, res.Truncated = truncate(res.Subsets)
	res.Ready, res.NotReady = CountAddresses(res.Subsets)
	return res
}

// includePod implements spec 2.1 to 2.3.
func includePod(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	if pod.DeletionTimestamp != nil && !includeTerminating {
		return false
	}
	return true
}

// podReady implements spec 2.4: the Pod's Ready condition is True.
func podReady(pod *corev1.Pod) bool {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return pod.Status.Conditions[i].Status == corev1.ConditionTrue
		}
	}
	return false
}

// serviceFamily implements spec 3.1 as far as it depends on the Service:
// the family of its addresses, or false when each Pod's own IP decides.
func serviceFamily(svc *corev1.Service) (corev1.IPFamily, bool) {
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		return svc.Spec.IPFamilies[0], true
	case HasClusterIP(svc):
		return familyOf(svc.Spec.ClusterIP), true
	}
	return "", false
}

// familyOf returns the family of ip. Anything that is not IPv6 counts as
// IPv4, as in the reference controller; an unparsable IP is therefore "IPv4".
func familyOf(ip string) corev1.IPFamily {
	if netutils.IsIPv6String(ip) {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

// addresser computes the addresses of one Service's Pods (spec 3). What does
// not depend on the Pod is worked out once: a Service may have thousands of
// Pods, on a handful of nodes.
type addresser struct {
	svc *corev1.Service
	// family is the Service's address family, unless perPod: then each Pod's
	// IP decides.
	family corev1.IPFamily
	perPod bool
	// nodeProblems caches invalidNodeName by node name.
	nodeProblems map[string]string
}

func newAddresser(svc *corev1.Service) *addresser {
	family, ok := serviceFamily(svc)
	return &addresser{svc: svc, family: family, perPod: !ok, nodeProblems: make(map[string]string)}
}

// podAddress implements spec 3: the address of pod in the Service's
// Endpoints, or why there is none.
func (a *addresser) podAddress(pod *corev1.Pod) (corev1.EndpointAddress, *Exclusion) {
	svc := a.svc
	family := a.family
	if a.perPod {
		family = familyOf(pod.Status.PodIP)
	}
	wantV6 := family == corev1.IPv6Protocol
	ip, unparsable := "", ""
	for _, podIP := range pod.Status.PodIPs {
		parsed := netutils.ParseIPSloppy(podIP.IP)
		if parsed == nil {
			if unparsable == "" {
				unparsable = podIP.IP
			}
			continue
		}
		if (parsed.To4() == nil) == wantV6 {
			ip = parsed.String()
			break
		}
	}
	exclude := func(reason Reason, format string, args ...any) (corev1.EndpointAddress, *Exclusion) {
		return corev1.EndpointAddress{}, &Exclusion{Pod: pod.Name, Reason: reason, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case ip == "" && unparsable != "":
		return exclude(ReasonInvalidIP, "pod IP %q is not a valid IP address", unparsable)
	case ip == "":
		family := corev1.IPv4Protocol
		if wantV6 {
			family = corev1.IPv6Protocol
		}
		return exclude(ReasonNoIPOfFamily, "pod has no %s address", family)
	}
	if msg := invalidEndpointIP(ip); msg != "" {
		return exclude(ReasonInvalidIP, "pod IP %s %s", ip, msg)
	}
	nodeName := pod.Spec.NodeName
	msg, checked := a.nodeProblems[nodeName]
	if !checked {
		msg = invalidNodeName(nodeName)
		a.nodeProblems[nodeName] = msg
	}
	if msg != "" {
		return exclude(ReasonInvalidNodeName, "node name %q %s", nodeName, msg)
	}
	addr := corev1.EndpointAddress{
		IP:       ip,
		NodeName: &nodeName,
		TargetRef: &corev1.ObjectReference{
			Kind:      "Pod",
			Namespace: pod.Namespace,
			Name:      pod.Name,
			UID:       pod.UID,
		},
	}
	// Spec 3.5: the hostname is published only for the Service the Pod names as
	// its subdomain, in the Pod's own namespace.
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		if msg := invalidHostname(pod.Spec.Hostname); msg != "" {
			return exclude(ReasonInvalidHostname, "hostname %q %s", pod.Spec.Hostname, msg)
		}
		addr.Hostname = pod.Spec.Hostname
	}
	return addr, nil
}

// resolvePort implements spec 4.1 and 4.2: the Pod's port for a Service port.
func resolvePort(pod *corev1.Pod, sp *corev1.ServicePort) (int, bool) {
	if sp.TargetPort.Type == intstr.Int {
		return sp.TargetPort.IntValue(), true
	}
	name, protocol := sp.TargetPort.StrVal, protocolOf(sp)
	find := func(c *corev1.Container) (int, bool) {
		for _, cp := range c.Ports {
			if cp.Name == name && defaultProtocol(cp.Protocol) == protocol {
				return int(cp.ContainerPort), true
			}
		}
		return 0, false
	}
	for i := range pod.Spec.Containers {
		if n, ok := find(&pod.Spec.Containers[i]); ok {
			return n, true
		}
	}
	// Sidecars: init containers that keep running next to the main containers.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			continue
		}
		if n, ok := find(c); ok {
			return n, true
		}
	}
	return 0, false
}

// endpointPort implements spec 4.3. The appProtocol is copied: the Service
// usually belongs to the cache, and the Endpoints computed here are written,
// and the API server's answer decoded into them.
func endpointPort(sp *corev1.ServicePort, num int) corev1.EndpointPort {
	p := corev1.EndpointPort{
		Name:     sp.Name,
		Port:     int32(num), //nolint:gosec // bounded by maxPort before the call.
		Protocol: protocolOf(sp),
	}
	if sp.AppProtocol != nil {
		app := *sp.AppProtocol
		p.AppProtocol = &app
	}
	return p
}

// protocolOf returns the protocol of a Service port as the API server stores
// it. Objects read from the API always carry one; an empty protocol only
// comes from objects built in memory, and the API server would store it as
// TCP, so it is TCP here too: the Endpoints then hold a valid protocol (spec
// 10) and compare equal to what is read back after the write.
func protocolOf(sp *corev1.ServicePort) corev1.Protocol { return defaultProtocol(sp.Protocol) }

func defaultProtocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// CountAddresses returns the number of ready and not-ready addresses in
// subsets; an address in two subsets counts twice, as in spec 6.1.
func CountAddresses(subsets []corev1.EndpointSubset) (ready, notReady int) {
	for i := range subsets {
		ready += len(subsets[i].Addresses)
		notReady += len(subsets[i].NotReadyAddresses)
	}
	return ready, notReady
}
