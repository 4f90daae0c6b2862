package endpoints

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/dump"
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

// portState is which addresses serve one port, and whether each is ready.
type portState struct {
	port  corev1.EndpointPort
	ready map[int]bool // address index -> ready
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
func (p *packer) add(addr corev1.EndpointAddress, port corev1.EndpointPort, ready bool) {
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
		p.ports = append(p.ports, &portState{port: port, ready: make(map[int]bool)})
	}
	st := p.ports[pi]
	if wasReady, seen := st.ready[ai]; !seen || wasReady {
		st.ready[ai] = ready
	}
}

// pack groups the ports that have exactly the same (address, ready) set into
// one subset each (spec 5.3), then sorts everything (spec 5.5).
func (p *packer) pack() []corev1.EndpointSubset {
	type group struct {
		ready map[int]bool
		ports []corev1.EndpointPort
	}
	var groups []*group
	bySignature := make(map[string]*group)
	var sig strings.Builder
	for _, st := range p.ports {
		idx := make([]int, 0, len(st.ready))
		for ai := range st.ready {
			idx = append(idx, ai)
		}
		sort.Ints(idx)
		sig.Reset()
		for _, ai := range idx {
			sig.WriteString(strconv.Itoa(ai))
			if st.ready[ai] {
				sig.WriteByte('+')
			} else {
				sig.WriteByte('-')
			}
		}
		g, ok := bySignature[sig.String()]
		if !ok {
			g = &group{ready: st.ready}
			bySignature[sig.String()] = g
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
		for ai, ready := range g.ready {
			if ready {
				ss.Addresses = append(ss.Addresses, p.addrs[ai])
			} else {
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
	sort.Slice(addrs, func(i, j int) bool { return lessAddress(&addrs[i], &addrs[j]) })
}

func lessAddress(a, b *corev1.EndpointAddress) bool {
	if a.IP != b.IP {
		return a.IP < b.IP
	}
	if b.TargetRef == nil {
		return false
	}
	if a.TargetRef == nil {
		return true
	}
	return a.TargetRef.UID < b.TargetRef.UID
}

// sortByHash orders items by the FNV-128a digest of their dump.ForHash text,
// the reference controller's order for ports and subsets. Each digest is
// computed once, not once per comparison: a subset can hold thousands of
// addresses.
func sortByHash[T any](items []T) {
	if len(items) < 2 {
		return
	}
	type keyed struct {
		digest []byte
		item   T
	}
	ks := make([]keyed, len(items))
	for i := range items {
		ks[i] = keyed{digest: HashOf(items[i]), item: items[i]}
	}
	sort.Slice(ks, func(i, j int) bool { return bytes.Compare(ks[i].digest, ks[j].digest) < 0 })
	for i := range ks {
		items[i] = ks[i].item
	}
}

// HashOf returns the FNV-128a digest of obj's dump.ForHash text, the order key
// of ports and subsets (spec 5.5). k8s.io/utils/dump is where
// k8s.io/apimachinery/pkg/util/dump, which the spec names, now forwards.
func HashOf(obj any) []byte {
	h := fnv.New128a()
	fmt.Fprintf(h, "%v", dump.ForHash(obj))
	return h.Sum(nil)
}
