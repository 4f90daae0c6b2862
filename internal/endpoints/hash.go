package endpoints

import (
	"bytes"
	"fmt"
	"hash"
	"hash/fnv"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/dump"
)

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
//
// For the two types that are sorted, EndpointPort and EndpointSubset, the
// text is written directly instead of through dump's reflection: that made
// hashing a subset of 10,000 addresses cost ~40 ms and ~20 MB of garbage,
// ten times the rest of Compute. The tests check that the text is
// byte-for-byte what dump.ForHash prints.
func HashOf(obj any) []byte {
	h := fnv.New128a()
	switch o := obj.(type) {
	case corev1.EndpointPort:
		w := hashText{h: h}
		w.str("(v1.EndpointPort)")
		w.port(&o)
		w.flush()
	case corev1.EndpointSubset:
		w := hashText{h: h}
		w.subset(&o)
		w.flush()
	default:
		fmt.Fprintf(h, "%v", dump.ForHash(obj))
	}
	return h.Sum(nil)
}

// hashText writes the dump.ForHash text of Endpoints parts to a hash, in
// chunks. That text is go-spew's "%#v" with pointers followed, no pointer
// addresses, no capacities: "(type)value" for each field, strings raw,
// "<nil>" for nil pointers and slices, "[]" for empty slices, slice elements
// and nested structs without their type, separated by spaces.
type hashText struct {
	h   hash.Hash
	buf []byte
}

const hashChunk = 4096

func (w *hashText) str(s string) {
	w.buf = append(w.buf, s...)
	if len(w.buf) >= hashChunk {
		w.flush()
	}
}

func (w *hashText) flush() {
	_, _ = w.h.Write(w.buf) // a hash.Hash never returns an error
	w.buf = w.buf[:0]
}

func (w *hashText) strPtr(p *string) {
	if p == nil {
		w.str("<nil>")
		return
	}
	w.str(*p)
}

func (w *hashText) subset(ss *corev1.EndpointSubset) {
	w.str("(v1.EndpointSubset){Addresses:")
	w.addresses(ss.Addresses)
	w.str(" NotReadyAddresses:")
	w.addresses(ss.NotReadyAddresses)
	w.str(" Ports:([]v1.EndpointPort)")
	if ss.Ports == nil {
		w.str("<nil>")
	} else {
		w.str("[")
		for i := range ss.Ports {
			if i > 0 {
				w.str(" ")
			}
			w.port(&ss.Ports[i])
		}
		w.str("]")
	}
	w.str("}")
}

func (w *hashText) addresses(list []corev1.EndpointAddress) {
	w.str("([]v1.EndpointAddress)")
	if list == nil {
		w.str("<nil>")
		return
	}
	w.str("[")
	for i := range list {
		a := &list[i]
		if i > 0 {
			w.str(" ")
		}
		w.str("{IP:(string)")
		w.str(a.IP)
		w.str(" Hostname:(string)")
		w.str(a.Hostname)
		w.str(" NodeName:(*string)")
		w.strPtr(a.NodeName)
		w.str(" TargetRef:(*v1.ObjectReference)")
		if r := a.TargetRef; r == nil {
			w.str("<nil>")
		} else {
			w.str("{Kind:(string)")
			w.str(r.Kind)
			w.str(" Namespace:(string)")
			w.str(r.Namespace)
			w.str(" Name:(string)")
			w.str(r.Name)
			w.str(" UID:(types.UID)")
			w.str(string(r.UID))
			w.str(" APIVersion:(string)")
			w.str(r.APIVersion)
			w.str(" ResourceVersion:(string)")
			w.str(r.ResourceVersion)
			w.str(" FieldPath:(string)")
			w.str(r.FieldPath)
			w.str("}")
		}
		w.str("}")
	}
	w.str("]")
}

func (w *hashText) port(p *corev1.EndpointPort) {
	w.str("{Name:(string)")
	w.str(p.Name)
	w.str(" Port:(int32)")
	w.buf = strconv.AppendInt(w.buf, int64(p.Port), 10)
	w.str(" Protocol:(v1.Protocol)")
	w.str(string(p.Protocol))
	w.str(" AppProtocol:(*string)")
	w.strPtr(p.AppProtocol)
	w.str("}")
}
