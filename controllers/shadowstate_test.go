package controllers

import (
	"context"
	"reflect"
	"testing"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Shadow mode logs one line per change, with the summary of all, when a
// difference appears or changes, and not again while it stays the same.
func TestShadowStateLogsEachChange(t *testing.T) {
	var lines []string
	logger := funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{Verbosity: 0})
	ctx := log.IntoContext(context.Background(), logr.New(logger.GetSink()))
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	address := func(ip string) corev1.EndpointAddress { return corev1.EndpointAddress{IP: ip} }
	port := []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}
	live := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{address("10.0.0.1"), address("10.0.0.2")}, Ports: port}},
	}
	desired := live.DeepCopy()
	desired.Subsets[0].Addresses = []corev1.EndpointAddress{address("10.0.0.1"), address("10.0.0.3")}

	s := newShadowState()
	s.differs(ctx, key, live, desired)
	s.differs(ctx, key, live, desired) // same difference: no new line
	want := []string{
		`"level"=0 "msg"="Shadow: Endpoints differ" "endpoints"={"name"="web" "namespace"="ns"} "kind"="address_removed" "port"="http 8080/TCP" ` +
			`"detail"="10.0.0.2, ready" "summary"="1 address_added, 1 address_removed"`,
		`"level"=0 "msg"="Shadow: Endpoints differ" "endpoints"={"name"="web" "namespace"="ns"} "kind"="address_added" "port"="http 8080/TCP" ` +
			`"detail"="10.0.0.3, ready" "summary"="1 address_added, 1 address_removed"`,
	}
	if !reflect.DeepEqual(lines, want) {
		t.Errorf("Log lines:\n%q\nwant\n%q", lines, want)
	}
	if got := len(s.services); got != 1 {
		t.Errorf("Services differing: %d, want 1", got)
	}
	s.forget(key)
	lines = nil
	s.differs(ctx, key, live, desired) // differs again after converging: logged again
	if len(lines) != 2 {
		t.Errorf("After converging and differing again: %d lines, want 2", len(lines))
	}
}
