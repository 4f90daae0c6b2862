package endpoints

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// addrKey identifies an address (spec 5.1): two Pods may share an IP (host
// network), so the Pod's UID is part of the identity.
type addrKey struct {
	ip  string
	uid types.UID
}

// portKey identifies an endpoint port by value.
type portKey struct {
	name     string
	port     int32
	protocol corev1.Protocol
	app      string
	hasApp   bool
}

// noPort stands for "no port at all": the port of a headless Service without
// ports (spec 4.4). Its number is not positive, so it never reaches the output.
var noPort = corev1.EndpointPort{Port: -1}

// The state of one address for one port.
const (
	stateUnseen   byte = iota // the address does not serve the port
	stateReady                // serves it, ready
	stateNotReady             // serves it, not ready (wins over ready, spec 5.2)
)

// portState is which addresses serve one port, and whether each is ready:
// state[i] is the state of address i, and the slice ends at the last address
// that serves the port. Two ports with the same addresses in the same states
// therefore have equal slices, which makes the slice its own grouping key
// (spec 5.3) with no sorting or formatting.
type portState struct {
	port  corev1.EndpointPort
	state []byte
}

// packer accumulates (address, port, ready) triples and packs them into
// subsets (spec 5).
type packer struct {
	addrIndex map[addrKey]int
	addrs     []corev1.EndpointAddress
	portIndex map[portKey]int
	ports     []*portState
}

func newPacker(sizeHint int) *packer {
	return &packer{
		addrIndex: make(map[addrKey]int, sizeHint),
		addrs:     make([]corev1.EndpointAddress, 0, sizeHint),
		portIndex: make(map[portKey]int),
	}
}

func keyOfPort(p *corev1.EndpointPort) portKey {
	k := portKey{name: p.Name, port: p.Port, protocol: p.Protocol}
	if p.AppProtocol != nil {
		k.app, k.hasApp = *p.AppProtocol, true
	}
	return k
}

// add records that addr serves port, ready or not. The first address seen for
// a key is the one kept (spec 5.1); not ready wins over ready (spec 5.2).
func (p *packer) add(addr corev1.EndpointAddress, port corev1.EndpointPort, isReady bool) {
	if port.Port <= 0 {
		// Spec 5.4: such ports are dropped but their addresses stay. They all
		// become the one no-port marker, as a port-less subset does when it is
		// re-packed; keeping 0 and -5 apart would give two port-less subsets
		// that Repack merges, and Compute's output would not be canonical.
		port = noPort
	}
	ak := addrKey{ip: addr.IP}
	if addr.TargetRef != nil {
		ak.uid = addr.TargetRef.UID
	}
	ai, ok := p.addrIndex[ak]
	if !ok {
		ai = len(p.addrs)
		p.addrIndex[ak] = ai
		p.addrs = append(p.addrs, addr)
	}
	pk := keyOfPort(&port)
	pi, ok := p.portIndex[pk]
	if !ok {
		pi = len(p.ports)
		p.portIndex[pk] = pi
		p.ports = append(p.ports, &portState{port: port})
	}
	st := p.ports[pi]
	if ai >= len(st.state) {
		st.state = append(st.state, make([]byte, ai+1-len(st.state))...)
	}
	if st.state[ai] != stateNotReady {
		st.state[ai] = stateReady
		if !isReady {
			st.state[ai] = stateNotReady
		}
	}
}

// pack groups the ports that have exactly the same (address, ready) set into
// one subset each (spec 5.3), then sorts everything (spec 5.5).
func (p *packer) pack() []corev1.EndpointSubset {
	type group struct {
		state []byte
		ports []corev1.EndpointPort
	}
	var groups []*group
	bySignature := make(map[string]*group, len(p.ports))
	for _, st := range p.ports {
		g, ok := bySignature[string(st.state)]
		if !ok {
			g = &group{state: st.state}
			bySignature[string(st.state)] = g
			groups = append(groups, g)
		}
		// Spec 5.4: the no-port marker is dropped, but its addresses stay.
		if st.port.Port > 0 {
			g.ports = append(g.ports, st.port)
		}
	}
	subsets := make([]corev1.EndpointSubset, 0, len(groups))
	for _, g := range groups {
		var ss corev1.EndpointSubset
		nReady, nNotReady := 0, 0
		for _, st := range g.state {
			switch st {
			case stateReady:
				nReady++
			case stateNotReady:
				nNotReady++
			}
		}
		if nReady > 0 {
			ss.Addresses = make([]corev1.EndpointAddress, 0, nReady)
		}
		if nNotReady > 0 {
			ss.NotReadyAddresses = make([]corev1.EndpointAddress, 0, nNotReady)
		}
		for ai, st := range g.state {
			switch st {
			case stateReady:
				ss.Addresses = append(ss.Addresses, p.addrs[ai])
			case stateNotReady:
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, p.addrs[ai])
			}
		}
		ss.Ports = g.ports
		subsets = append(subsets, ss)
	}
	sortSubsets(subsets)
	return subsets
}

// Repack returns subsets in the canonical packed form: the same set of
// (address, port, ready) triples, grouped and ordered as Compute would. It
// lets the write decision accept Endpoints that another writer stored in a
// different but equivalent shape. subsets is only read.
func Repack(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	p := newPacker(0)
	for i := range subsets {
		ss := &subsets[i]
		ports := ss.Ports
		if len(ports) == 0 {
			ports = []corev1.EndpointPort{noPort}
		}
		for _, port := range ports {
			for _, a := range ss.Addresses {
				p.add(a, port, true)
			}
			for _, a := range ss.NotReadyAddresses {
				p.add(a, port, false)
			}
		}
	}
	return p.pack()
}

// sortSubsets orders addresses, ports and subsets as the reference controller
// does (spec 5.5), so that its Endpoints and ours compare equal.
func sortSubsets(subsets []corev1.EndpointSubset) {
	for i := range subsets {
		sortAddresses(subsets[i].Addresses)
		sortAddresses(subsets[i].NotReadyAddresses)
		sortByHash(subsets[i].Ports)
	}
	sortByHash(subsets)
}

// sortAddresses orders by IP string, byte-wise, then by targetRef UID, an
// address without targetRef first.
func sortAddresses(addrs []corev1.EndpointAddress) {
	slices.SortFunc(addrs, func(a, b corev1.EndpointAddress) int { return compareAddresses(&a, &b) })
}

// compareAddresses is the order of sortAddresses, as a three-way comparison.
func compareAddresses(a, b *corev1.EndpointAddress) int {
	if c := strings.Compare(a.IP, b.IP); c != 0 {
		return c
	}
	switch {
	case a.TargetRef == nil && b.TargetRef == nil:
		return 0
	case a.TargetRef == nil:
		return -1
	case b.TargetRef == nil:
		return 1
	}
	return strings.Compare(string(a.TargetRef.UID), string(b.TargetRef.UID))
}
