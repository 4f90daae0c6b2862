package endpoints

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	netutils "k8s.io/utils/net"
)

// maxPort is the largest port number the API server accepts (spec 10).
const maxPort = 65535

// Reason says why a Pod or a port was left out of the Endpoints.
type Reason string

// The reasons for leaving something out. Those for which Invalid is true are
// data the API server would reject in an Endpoints object (spec 3.6, 10): the
// reference controller fails the whole write on them, this one leaves the one
// address or port out and reports it.
const (
	// ReasonNoIPOfFamily: the Pod has no IP of the Service's address family,
	// as happens on a half-migrated dual-stack cluster.
	ReasonNoIPOfFamily Reason = "NoIPOfFamily"
	// ReasonInvalidIP: the Pod IP is unparsable, loopback, link-local or unspecified.
	ReasonInvalidIP Reason = "InvalidIP"
	// ReasonInvalidNodeName: the Pod's nodeName is empty or not a DNS-1123 subdomain.
	ReasonInvalidNodeName Reason = "InvalidNodeName"
	// ReasonInvalidHostname: the Pod's hostname, published for this Service, is not a DNS-1123 label.
	ReasonInvalidHostname Reason = "InvalidHostname"
	// ReasonPortNotFound: a named targetPort matches no container port of the Pod.
	ReasonPortNotFound Reason = "PortNotFound"
	// ReasonInvalidPort: the resolved container port is above 65535.
	ReasonInvalidPort Reason = "InvalidPort"
	// ReasonInvalidServicePort: the Service port cannot appear in Endpoints
	// (bad or duplicate name, unknown protocol); it is left out for every Pod.
	ReasonInvalidServicePort Reason = "InvalidServicePort"
)

// Exclusion is one Pod, one port of one Pod, or one Service port left out of
// the Endpoints, and why.
type Exclusion struct {
	// Pod is the Pod's name; empty for a Service port left out for every Pod.
	Pod string
	// Port is the Service port's name when only one port was left out.
	Port string
	// Reason is the machine-readable cause.
	Reason Reason
	// Detail is a human-readable explanation.
	Detail string
}

// Invalid reports whether the exclusion is about data the API server would
// reject, which deserves a Warning event; the other reasons are ordinary
// states of a cluster (a Pod that does not serve a port, a single-stack Pod).
func (e Exclusion) Invalid() bool {
	switch e.Reason {
	case ReasonNoIPOfFamily, ReasonPortNotFound:
		return false
	default:
		return true
	}
}

// String formats the exclusion for events and logs.
func (e Exclusion) String() string {
	var b strings.Builder
	if e.Pod != "" {
		fmt.Fprintf(&b, "pod %s", e.Pod)
	}
	if e.Port != "" || e.Pod == "" {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "port %q", e.Port)
	}
	fmt.Fprintf(&b, ": %s", e.Detail)
	return b.String()
}

// usablePorts returns the Service ports that can appear in Endpoints, and the
// ones that cannot. The API server validates Services the same way, so only
// objects that never went through it are affected.
func usablePorts(svc *corev1.Service) ([]*corev1.ServicePort, []Exclusion) {
	ports := make([]*corev1.ServicePort, 0, len(svc.Spec.Ports))
	var excluded []Exclusion
	seen := make(map[string]bool, len(svc.Spec.Ports))
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		var problem string
		switch {
		case sp.Name == "" && len(svc.Spec.Ports) > 1:
			problem = "a Service with several ports must name each of them"
		case sp.Name != "" && len(validation.IsDNS1123Label(sp.Name)) > 0:
			problem = "the port name is not a DNS-1123 label"
		case seen[sp.Name]:
			problem = "the port name is used twice"
		case sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP && sp.Protocol != corev1.ProtocolUDP && sp.Protocol != corev1.ProtocolSCTP:
			problem = fmt.Sprintf("unsupported protocol %q", sp.Protocol)
		}
		if problem != "" {
			excluded = append(excluded, Exclusion{Port: sp.Name, Reason: ReasonInvalidServicePort, Detail: problem})
			continue
		}
		seen[sp.Name] = true
		ports = append(ports, sp)
	}
	return ports, excluded
}

// invalidEndpointIP returns why the API server would reject ip (canonical
// form) in an Endpoints address, or "" when it is acceptable.
func invalidEndpointIP(ip string) string {
	parsed := netutils.ParseIPSloppy(ip)
	switch {
	case parsed == nil:
		return "is not a valid IP address"
	case parsed.IsUnspecified():
		return "is unspecified"
	case parsed.IsLoopback():
		return "is a loopback address"
	case parsed.IsLinkLocalUnicast():
		return "is a link-local address"
	case parsed.IsLinkLocalMulticast():
		return "is a link-local multicast address"
	}
	return ""
}

// invalidNodeName returns why name cannot be an address's nodeName, or "".
func invalidNodeName(name string) string {
	if name == "" {
		return "is empty (the Pod is not scheduled)"
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "is not a DNS-1123 subdomain: " + strings.Join(errs, "; ")
	}
	return ""
}

// invalidHostname returns why name cannot be an address's hostname, or "".
func invalidHostname(name string) string {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return "is not a DNS-1123 label: " + strings.Join(errs, "; ")
	}
	return ""
}
