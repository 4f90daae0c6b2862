package rollout

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func observedPod(ip string, isReady bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if isReady {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{Status: corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
	}}
}

func endpointsShowing(readyIPs, notReadyIPs []string) *corev1.Endpoints {
	var s corev1.EndpointSubset
	for _, ip := range readyIPs {
		s.Addresses = append(s.Addresses, corev1.EndpointAddress{IP: ip})
	}
	for _, ip := range notReadyIPs {
		s.NotReadyAddresses = append(s.NotReadyAddresses, corev1.EndpointAddress{IP: ip})
	}
	return &corev1.Endpoints{Subsets: []corev1.EndpointSubset{s}}
}

// The observer's figures on a hand-made timeline: latencies, stale
// address-seconds kept per Service, and a change replaced before shown.
func TestObserverTimeline(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	o := newObserver()
	o.start(t0)

	// Service a: Pod a1 turns ready; the Endpoints show it 100 ms later.
	o.pod(at(0), "a", "ns/a1", observedPod("10.0.0.1", true), false)
	o.endpoints(at(100), "a", endpointsShowing([]string{"10.0.0.1"}, nil))
	// Service b: Pod b1 turns ready and is shown 50 ms later.
	o.pod(at(0), "b", "ns/b1", observedPod("10.0.1.1", true), false)
	o.endpoints(at(50), "b", endpointsShowing([]string{"10.0.1.1"}, nil))

	// a1 turns not ready at 1 s: the Endpoints list it as ready until 1.5 s.
	o.pod(at(1000), "a", "ns/a1", observedPod("10.0.0.1", false), false)
	if o.eps.stale != 1 {
		t.Fatalf("stale addresses after a1 turned not ready = %d, want 1", o.eps.stale)
	}
	// Events of Service b meanwhile leave a's count alone: b1 is deleted at
	// 1.2 s and shown gone at 1.3 s, stale for 0.1 s.
	o.pod(at(1200), "b", "ns/b1", nil, true)
	if o.eps.stale != 2 {
		t.Fatalf("stale addresses after b1 was deleted = %d, want 2", o.eps.stale)
	}
	o.endpoints(at(1300), "b", nil)
	if o.eps.stale != 1 {
		t.Fatalf("stale addresses after b's Endpoints were deleted = %d, want 1", o.eps.stale)
	}
	o.endpoints(at(1500), "a", endpointsShowing(nil, []string{"10.0.0.1"}))
	if o.eps.stale != 0 {
		t.Fatalf("stale addresses at the end = %d, want 0", o.eps.stale)
	}

	// The EndpointSlices showed nothing: a1's not ready replaced its ready
	// and stays unshown; b1's deletion replaced its ready and needs no
	// showing.
	eps, es := o.summaries(at(2000))
	want := Latency{Count: 4, P50: 100 * time.Millisecond, P99: 500 * time.Millisecond, Max: 500 * time.Millisecond,
		StaleAddrSecs: 0.6}
	eps.StaleAddrSecs = float64(time.Duration(eps.StaleAddrSecs*1e9).Round(time.Millisecond)) / 1e9
	if eps != want {
		t.Errorf("Endpoints figures = %+v, want %+v", eps, want)
	}
	if es.Count != 0 || es.Replaced != 2 || es.Unshown != 1 || es.StaleAddrSecs != 0 {
		t.Errorf("EndpointSlices figures = %+v, want no latency, 2 replaced, 1 unshown, 0 stale", es)
	}
}
