package controller

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Shadow mode reports a difference once it has lasted the settle period: one
// log line per change, with the summary of all, and not again while it stays
// the same; a sync that finds no difference forgets it; a difference gone
// within the settle period is never reported.
func TestShadowStateSettlesThenLogsEachChange(t *testing.T) {
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
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	s := newServiceStates(10*time.Second, clk)
	sync := func(differs bool, err error) time.Duration {
		if differs {
			s.differs(ctx, key, live, desired)
		}
		return s.afterSync(key, err)
	}

	if d := sync(true, nil); d != 10*time.Second || len(lines) != 0 || s.gauges().shadowDiffering != 0 {
		t.Fatalf("First sight: requeue after %v, %d lines, %d differing; want 10s, none, 0", d, len(lines), s.gauges().shadowDiffering)
	}
	clk.SetTime(clk.Now().Add(4 * time.Second))
	if d := sync(true, nil); d != 6*time.Second || len(lines) != 0 {
		t.Fatalf("Within the settle period: requeue after %v, %d lines; want 6s, none", d, len(lines))
	}
	clk.SetTime(clk.Now().Add(6 * time.Second))
	if d := sync(true, nil); d != 0 {
		t.Errorf("Reported: requeue after %v, want none", d)
	}
	want := []string{
		`"level"=0 "msg"="Shadow: Endpoints differ" "endpoints"={"name"="web" "namespace"="ns"} "kind"="address_removed" "port"="http 8080/TCP" ` +
			`"detail"="10.0.0.2, ready" "summary"="1 address_added, 1 address_removed"`,
		`"level"=0 "msg"="Shadow: Endpoints differ" "endpoints"={"name"="web" "namespace"="ns"} "kind"="address_added" "port"="http 8080/TCP" ` +
			`"detail"="10.0.0.3, ready" "summary"="1 address_added, 1 address_removed"`,
	}
	if !reflect.DeepEqual(lines, want) || s.gauges().shadowDiffering != 1 {
		t.Errorf("After the settle period: %d differing, log lines:\n%q\nwant 1 and\n%q", s.gauges().shadowDiffering, lines, want)
	}
	sync(true, nil) // the same difference: no new line
	sync(false, errors.New("conflict"))
	if len(lines) != 2 || s.gauges().shadowDiffering != 1 {
		t.Errorf("Same difference, then a failed sync: %d lines, %d differing; want 2, 1", len(lines), s.gauges().shadowDiffering)
	}
	sync(false, nil) // converged
	if s.services[key].shadow != nil || s.gauges().shadowDiffering != 0 {
		t.Errorf("After converging: difference %+v, %d differing; want none", s.services[key].shadow, s.gauges().shadowDiffering)
	}

	// A difference that goes away within the settle period: never reported.
	lines = nil
	sync(true, nil)
	clk.SetTime(clk.Now().Add(time.Second))
	sync(false, nil)
	clk.SetTime(clk.Now().Add(time.Minute))
	if d := sync(true, nil); d != 10*time.Second || len(lines) != 0 {
		t.Errorf("A new difference after a transient one: requeue after %v, %d lines; want a new settle period, none", d, len(lines))
	}
}
