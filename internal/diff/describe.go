// Package diff describes how the Endpoints this controller would write differ
// from the live ones: a list of changes a person can read (addresses added,
// removed or moved between ready and not ready, per port; ports; labels;
// annotations), and a unified diff of the objects' YAML. Shadow mode's log
// lines and the `diff` subcommand both describe differences with it, so they
// say the same thing.
//
// Nothing here decides whether a write is needed: that is
// endpoints.UpToDate. Describe is meant for Endpoints that it found out of
// date.
package diff

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Kind is the kind of one change; its values label the shadow-mode counter.
type Kind string

// Kinds of change.
const (
	// KindCreate: there are no Endpoints; they would be created.
	KindCreate Kind = "create"
	// KindDelete: the Endpoints would be deleted.
	KindDelete Kind = "delete"
	// KindAddressAdded: an address would be published for a port.
	KindAddressAdded Kind = "address_added"
	// KindAddressRemoved: an address would no longer be published for a port.
	KindAddressRemoved Kind = "address_removed"
	// KindAddressReady: an address would move from not ready to ready.
	KindAddressReady Kind = "address_ready"
	// KindAddressNotReady: an address would move from ready to not ready.
	KindAddressNotReady Kind = "address_not_ready"
	// KindAddressChanged: an address would keep its IP and Pod but change its
	// node name, hostname or target reference.
	KindAddressChanged Kind = "address_changed"
	// KindPortAdded: a port would be published.
	KindPortAdded Kind = "port_added"
	// KindPortRemoved: a port would no longer be published.
	KindPortRemoved Kind = "port_removed"
	// KindLabel: a label would be added, removed or changed.
	KindLabel Kind = "label"
	// KindAnnotation: the over-capacity annotation would be set or removed,
	// or another annotation would change.
	KindAnnotation Kind = "annotation"
	// KindOther: the subsets would be written in another form with the same
	// content; UpToDate accepts most such forms, so this is rare.
	KindOther Kind = "other"
)

// Kinds lists every Kind, for metric documentation and tests.
var Kinds = []Kind{
	KindCreate, KindDelete, KindAddressAdded, KindAddressRemoved, KindAddressReady, KindAddressNotReady,
	KindAddressChanged, KindPortAdded, KindPortRemoved, KindLabel, KindAnnotation, KindOther,
}

// Change is one difference between the live and the desired Endpoints.
type Change struct {
	// Kind says what changes.
	Kind Kind `json:"kind"`
	// Port names the endpoint port an address change is about, as
	// "name 8080/TCP" ("8080/TCP" for an unnamed port); empty otherwise.
	Port string `json:"port,omitempty"`
	// Detail names what changes: the address and its Pod, the port, the
	// label or annotation with its old and new values.
	Detail string `json:"detail"`
}

// String renders c as one line, e.g. "address_not_ready http 8080/TCP: 10.0.0.3 (pod web-2)".
func (c Change) String() string {
	if c.Port != "" {
		return fmt.Sprintf("%s %s: %s", c.Kind, c.Port, c.Detail)
	}
	return fmt.Sprintf("%s: %s", c.Kind, c.Detail)
}

// Describe returns the changes that writing desired over current would make,
// in a stable order: ports, addresses port by port, labels, annotations.
// current is nil when the Endpoints do not exist, desired nil when they would
// be deleted. It leaves out what endpoints.UpToDate accepts as equal, which
// would be written along with a real change but never causes a write by
// itself: the trigger-time annotation (spec 7.3), the headless label, the
// reference controller's managed-by value (spec 7.1), target
// resourceVersions and order. The unified diff shows everything.
func Describe(current, desired *corev1.Endpoints) []Change {
	switch {
	case current == nil && desired == nil:
		return nil
	case current == nil:
		ready, notReady := endpoints.CountAddresses(desired.Subsets)
		return []Change{{Kind: KindCreate, Detail: fmt.Sprintf("%d ready and %d not ready addresses", ready, notReady)}}
	case desired == nil:
		ready, notReady := endpoints.CountAddresses(current.Subsets)
		return []Change{{Kind: KindDelete, Detail: fmt.Sprintf("%d ready and %d not ready addresses", ready, notReady)}}
	}
	changes := subsetChanges(current.Subsets, desired.Subsets)
	changes = append(changes, mapChanges(KindLabel, "label", current.Labels, desired.Labels, labelAccepted)...)
	changes = append(changes, mapChanges(KindAnnotation, "annotation", current.Annotations, desired.Annotations,
		func(key, _, _ string) bool { return key == endpoints.TriggerTimeAnnotation })...)
	if len(changes) == 0 && !endpoints.SubsetsEqual(current.Subsets, desired.Subsets) {
		changes = append(changes, Change{Kind: KindOther, Detail: "same addresses and ports, packed or ordered differently"})
	}
	return changes
}

// Summary counts changes by kind in one short phrase, e.g.
// "2 address_added, 1 address_not_ready, 1 label"; "no change" when empty.
func Summary(changes []Change) string {
	if len(changes) == 0 {
		return "no change"
	}
	counts := map[Kind]int{}
	for _, c := range changes {
		counts[c.Kind]++
	}
	var parts []string
	for _, k := range Kinds {
		if n := counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, k))
		}
	}
	return strings.Join(parts, ", ")
}

// addrKey identifies an address as packing does (spec 5.1): IP and Pod UID.
type addrKey struct{ ip, uid string }

type addrState struct {
	addr  corev1.EndpointAddress
	ready bool
}

// portTriples is, for one port, the state of each address.
type portTriples struct {
	port  corev1.EndpointPort
	addrs map[addrKey]addrState
}

// triples flattens subsets into (port, address, ready) triples. When an
// address is both ready and not ready for one port, not ready wins, as in
// packing (spec 5.2).
func triples(subsets []corev1.EndpointSubset) map[string]*portTriples {
	out := map[string]*portTriples{}
	for i := range subsets {
		ss := &subsets[i]
		for _, p := range ss.Ports {
			name := PortName(p)
			pt := out[name]
			if pt == nil {
				pt = &portTriples{port: p, addrs: map[addrKey]addrState{}}
				out[name] = pt
			}
			for _, a := range ss.Addresses {
				k := keyOf(&a)
				if _, seen := pt.addrs[k]; !seen {
					pt.addrs[k] = addrState{addr: a, ready: true}
				}
			}
			for _, a := range ss.NotReadyAddresses {
				pt.addrs[keyOf(&a)] = addrState{addr: a}
			}
		}
	}
	return out
}

func keyOf(a *corev1.EndpointAddress) addrKey {
	k := addrKey{ip: a.IP}
	if a.TargetRef != nil {
		k.uid = string(a.TargetRef.UID)
	}
	return k
}

// PortName renders an endpoint port as "name 8080/TCP", or "8080/TCP" when
// it has no name, with its appProtocol when set.
func PortName(p corev1.EndpointPort) string {
	s := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
	if p.Name != "" {
		s = p.Name + " " + s
	}
	if p.AppProtocol != nil {
		s += " (" + *p.AppProtocol + ")"
	}
	return s
}

// AddressName renders an address as its IP and, when it has one, its target,
// e.g. "10.0.0.3 (pod web-2)".
func AddressName(a *corev1.EndpointAddress) string {
	if a.TargetRef == nil {
		return a.IP
	}
	return fmt.Sprintf("%s (%s %s)", a.IP, strings.ToLower(a.TargetRef.Kind), a.TargetRef.Name)
}

func subsetChanges(current, desired []corev1.EndpointSubset) []Change {
	cur, want := triples(current), triples(desired)
	names := unionKeys(cur, want)

	var changes []Change
	for _, n := range names {
		c, w := cur[n], want[n]
		switch {
		case c == nil:
			changes = append(changes, Change{Kind: KindPortAdded, Detail: fmt.Sprintf("%s with %s", n, countPhrase(w))})
		case w == nil:
			changes = append(changes, Change{Kind: KindPortRemoved, Detail: fmt.Sprintf("%s with %s", n, countPhrase(c))})
		}
	}
	for _, n := range names {
		c, w := cur[n], want[n]
		if c == nil || w == nil {
			continue
		}
		changes = append(changes, addressChanges(n, c.addrs, w.addrs)...)
	}
	return changes
}

func countPhrase(pt *portTriples) string {
	ready := 0
	for _, s := range pt.addrs {
		if s.ready {
			ready++
		}
	}
	return fmt.Sprintf("%d ready and %d not ready addresses", ready, len(pt.addrs)-ready)
}

// addressChanges lists the address changes of one port, ordered by address.
func addressChanges(port string, cur, want map[addrKey]addrState) []Change {
	keys := make([]addrKey, 0, len(cur)+len(want))
	for k := range cur {
		keys = append(keys, k)
	}
	for k := range want {
		if _, ok := cur[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b addrKey) int {
		if c := strings.Compare(a.ip, b.ip); c != 0 {
			return c
		}
		return strings.Compare(a.uid, b.uid)
	})
	var changes []Change
	for _, k := range keys {
		c, inCur := cur[k]
		w, inWant := want[k]
		switch {
		case !inCur:
			changes = append(changes, Change{Kind: KindAddressAdded, Port: port, Detail: AddressName(&w.addr) + readiness(w.ready)})
		case !inWant:
			changes = append(changes, Change{Kind: KindAddressRemoved, Port: port, Detail: AddressName(&c.addr) + readiness(c.ready)})
		case c.ready != w.ready:
			kind := KindAddressReady
			if !w.ready {
				kind = KindAddressNotReady
			}
			changes = append(changes, Change{Kind: kind, Port: port, Detail: AddressName(&w.addr)})
		case !endpoints.SubsetsEqual(
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{c.addr}}},
			[]corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{w.addr}}}):
			changes = append(changes, Change{Kind: KindAddressChanged, Port: port, Detail: fmt.Sprintf("%s: %s -> %s",
				AddressName(&w.addr), addressDetail(&c.addr), addressDetail(&w.addr))})
		}
	}
	return changes
}

func readiness(ready bool) string {
	if ready {
		return ", ready"
	}
	return ", not ready"
}

// addressDetail renders what of an address can change while its IP and Pod
// UID stay: node name, hostname, target name.
func addressDetail(a *corev1.EndpointAddress) string {
	node := "<none>"
	if a.NodeName != nil {
		node = *a.NodeName
	}
	s := "nodeName=" + node
	if a.Hostname != "" {
		s += " hostname=" + a.Hostname
	}
	if a.TargetRef != nil {
		s += fmt.Sprintf(" target=%s/%s/%s", a.TargetRef.Kind, a.TargetRef.Namespace, a.TargetRef.Name)
	}
	return s
}

// labelAccepted reports whether a label change is one endpoints.UpToDate
// does not count: the headless marker, and the managed-by value of the
// reference controller replaced by this controller's.
func labelAccepted(key, current, desired string) bool {
	return key == endpoints.HeadlessLabel ||
		(key == endpoints.ManagedByLabel && current == endpoints.ReferenceControllerName && desired == endpoints.ControllerName)
}

// mapChanges lists added, removed and changed keys of a label or annotation
// map, in key order, leaving out those for which skip is true (it gets the
// key and both values, "" when absent).
func mapChanges(kind Kind, what string, current, desired map[string]string, skip func(key, current, desired string) bool) []Change {
	var changes []Change
	for _, k := range unionKeys(current, desired) {
		c, inCur := current[k]
		d, inDesired := desired[k]
		if skip(k, c, d) {
			continue
		}
		switch {
		case !inCur:
			changes = append(changes, Change{Kind: kind, Detail: fmt.Sprintf("%s %s=%q added", what, k, d)})
		case !inDesired:
			changes = append(changes, Change{Kind: kind, Detail: fmt.Sprintf("%s %s=%q removed", what, k, c)})
		case c != d:
			changes = append(changes, Change{Kind: kind, Detail: fmt.Sprintf("%s %s: %q -> %q", what, k, c, d)})
		}
	}
	return changes
}

// unionKeys returns the keys of a and b, each once, in order.
func unionKeys[V any](a, b map[string]V) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}
