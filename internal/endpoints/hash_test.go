package endpoints

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/dump"
)

// dumpDigest is HashOf as the reference computes it, through dump.ForHash.
func dumpDigest(obj any) []byte {
	h := fnv.New128a()
	fmt.Fprintf(h, "%v", dump.ForHash(obj))
	return h.Sum(nil)
}

// textRecorder is a hash.Hash that keeps what is written, to show the text
// HashOf hashed when it differs from dump.ForHash.
type textRecorder struct{ bytes.Buffer }

func (r *textRecorder) Sum(b []byte) []byte { return b }
func (r *textRecorder) Size() int           { return 0 }
func (r *textRecorder) BlockSize() int      { return 1 }

// hashedText returns the text HashOf writes for obj.
func hashedText(obj any) string {
	var r textRecorder
	w := hashText{h: &r}
	switch o := obj.(type) {
	case corev1.EndpointPort:
		w.str("(v1.EndpointPort)")
		w.port(&o)
	case corev1.EndpointSubset:
		w.subset(&o)
	}
	w.flush()
	return r.String()
}

// TestHashOfMatchesDump: HashOf writes the text of ports and subsets itself;
// it must be byte-for-byte dump.ForHash's, or the order of spec 5.5 changes.
func TestHashOfMatchesDump(t *testing.T) {
	h2c := "kubernetes.io/h2c"
	empty := ""
	full := addrHost("10.0.0.2", "b", "web-0")
	full.TargetRef.APIVersion, full.TargetRef.ResourceVersion, full.TargetRef.FieldPath = "v1", "77", "spec.containers{x}"
	odd := corev1.EndpointAddress{IP: "fd00::1", Hostname: "a b\n\"c\" é", NodeName: &empty,
		TargetRef: &corev1.ObjectReference{Kind: "Pod", UID: "{x:y}"}}
	noRef := corev1.EndpointAddress{IP: "10.0.0.3"}

	tests := []struct {
		name string
		obj  any
	}{
		{"5.5 port", eport("http", 8080, tcp)},
		{"5.5 port without name or protocol", corev1.EndpointPort{Port: 1}},
		{"5.5 port with appProtocol", corev1.EndpointPort{Name: "g", Port: 65535, Protocol: sctp, AppProtocol: &h2c}},
		{"5.5 port with negative number and odd name", corev1.EndpointPort{Name: "a\"b\n c", Port: -1, AppProtocol: &empty}},
		{"5.5 empty subset: nil lists", corev1.EndpointSubset{}},
		{"5.5 subset with empty, not nil, lists", corev1.EndpointSubset{
			Addresses: []corev1.EndpointAddress{}, NotReadyAddresses: []corev1.EndpointAddress{}, Ports: []corev1.EndpointPort{}}},
		{"5.5 subset with every field set", corev1.EndpointSubset{
			Addresses:         addrs(addr("10.0.0.1", "a"), full),
			NotReadyAddresses: addrs(odd, noRef),
			Ports:             eports(eport("http", 80, tcp), corev1.EndpointPort{Name: "g", Port: 9, Protocol: udp, AppProtocol: &h2c}),
		}},
		{"5.5 subset larger than one write chunk", corev1.EndpointSubset{
			Addresses: seqAddrs("p", 1, 3000), NotReadyAddresses: seqAddrs("q", 5001, 100), Ports: eports(eport("", 80, tcp)),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := HashOf(tc.obj), dumpDigest(tc.obj); !bytes.Equal(got, want) {
				t.Errorf("HashOf differs from the digest of dump.ForHash\n dump: %s\n ours: %s", dump.ForHash(tc.obj), hashedText(tc.obj))
			}
		})
	}

	t.Run("5.5 other types go through dump", func(t *testing.T) {
		p := eport("http", 8080, tcp)
		for _, obj := range []any{&p, addr("10.0.0.1", "a"), "text"} {
			if !bytes.Equal(HashOf(obj), dumpDigest(obj)) {
				t.Errorf("HashOf(%T) differs from the digest of dump.ForHash", obj)
			}
		}
	})
}

// TestHashTextKnowsEveryField fails when k8s.io/api adds a field to one of
// the types whose text HashOf writes itself: the text must then be extended
// (dump.ForHash prints every field).
func TestHashTextKnowsEveryField(t *testing.T) {
	known := map[reflect.Type][]string{
		reflect.TypeFor[corev1.EndpointSubset]():  {"Addresses", "NotReadyAddresses", "Ports"},
		reflect.TypeFor[corev1.EndpointAddress](): {"IP", "Hostname", "NodeName", "TargetRef"},
		reflect.TypeFor[corev1.ObjectReference](): {"Kind", "Namespace", "Name", "UID", "APIVersion", "ResourceVersion", "FieldPath"},
		reflect.TypeFor[corev1.EndpointPort]():    {"Name", "Port", "Protocol", "AppProtocol"},
	}
	for typ, want := range known {
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v has fields %v; hashText writes %v", typ, got, want)
		}
	}
}
