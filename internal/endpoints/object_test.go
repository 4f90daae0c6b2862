package endpoints

import (
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLabels(t *testing.T) {
	tests := []struct {
		name string
		svc  *corev1.Service
		want map[string]string
	}{
		{
			name: "7.1 Service labels copied and managed-by label added",
			svc:  service(httpPort, svcLabels(map[string]string{"app": "web", "tier": "front"})),
			want: map[string]string{"app": "web", "tier": "front", ManagedByLabel: ControllerName},
		},
		{
			name: "7.1 Service without labels gets the managed-by label only",
			svc:  service(httpPort),
			want: map[string]string{ManagedByLabel: ControllerName},
		},
		{
			name: `7.1 headless label added for clusterIP "None"`,
			svc:  service(httpPort, headless(), svcLabels(map[string]string{"app": "web"})),
			want: map[string]string{"app": "web", HeadlessLabel: "", ManagedByLabel: ControllerName},
		},
		{
			name: `7.1 headless label added for clusterIP ""`,
			svc:  service(httpPort, clusterIP("")),
			want: map[string]string{HeadlessLabel: "", ManagedByLabel: ControllerName},
		},
		{
			name: "7.1 headless label removed for a real clusterIP even if the Service carries it",
			svc:  service(httpPort, svcLabels(map[string]string{"app": "web", HeadlessLabel: ""})),
			want: map[string]string{"app": "web", ManagedByLabel: ControllerName},
		},
		{
			name: "7.1 headless label value is empty whatever the Service says",
			svc:  service(httpPort, headless(), svcLabels(map[string]string{HeadlessLabel: "yes"})),
			want: map[string]string{HeadlessLabel: "", ManagedByLabel: ControllerName},
		},
		{
			name: "7.1 managed-by label names this controller whatever the Service says",
			svc:  service(httpPort, svcLabels(map[string]string{ManagedByLabel: "someone-else"})),
			want: map[string]string{ManagedByLabel: ControllerName},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.svc.DeepCopy()
			checkEqual(t, "labels", Labels(tc.svc), tc.want)
			checkEqual(t, "service after Labels", tc.svc, before)
		})
	}
}

func TestHasClusterIPAndIsManaged(t *testing.T) {
	for _, tc := range []struct {
		clusterIP string
		want      bool
	}{{"10.96.0.1", true}, {"fd00::1", true}, {"", false}, {corev1.ClusterIPNone, false}} {
		if got := HasClusterIP(service(nil, clusterIP(tc.clusterIP))); got != tc.want {
			t.Errorf("7.1 HasClusterIP(clusterIP %q) = %v, want %v", tc.clusterIP, got, tc.want)
		}
	}
	for _, tc := range []struct {
		labels          map[string]string
		want, takenOver bool
	}{
		{map[string]string{ManagedByLabel: ControllerName}, true, false},
		{map[string]string{ManagedByLabel: "endpoint-controller"}, true, true},
		{map[string]string{ManagedByLabel: "endpointslice-controller.k8s.io"}, false, false},
		{map[string]string{ManagedByLabel: ""}, false, false},
		{map[string]string{"app": "endpoint-controller"}, false, false},
		{nil, false, false},
	} {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels}}
		if got := IsManaged(ep); got != tc.want {
			t.Errorf("1.2 IsManaged(labels %v) = %v, want %v", tc.labels, got, tc.want)
		}
		if got := TakenOver(ep); got != tc.takenOver {
			t.Errorf("7.1 TakenOver(labels %v) = %v, want %v", tc.labels, got, tc.takenOver)
		}
	}
}

func TestDesired(t *testing.T) {
	svc := service(httpPort, svcLabels(map[string]string{"app": "web"}))
	subsets := []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("http", 8080, tcp))}}
	trigger := time.Date(2030, 5, 6, 9, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
	const triggerText = "2030-05-06T07:08:09.123456789Z"
	wantLabels := map[string]string{"app": "web", ManagedByLabel: ControllerName}
	existing := func(annotations map[string]string) *corev1.Endpoints {
		return &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{
				Name: testService, Namespace: testNamespace, ResourceVersion: "17", UID: "ep-uid",
				Labels:      map[string]string{"stale": "label", ManagedByLabel: ControllerName},
				Annotations: annotations,
			},
			Subsets: []corev1.EndpointSubset{{Addresses: addrs(addr("10.9.9.9", "old"))}},
		}
	}
	// written is what existing(...) becomes, with the given annotations.
	written := func(annotations map[string]string) *corev1.Endpoints {
		return &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{
				Name: testService, Namespace: testNamespace, ResourceVersion: "17", UID: "ep-uid",
				Labels: wantLabels, Annotations: annotations,
			},
			Subsets: subsets,
		}
	}

	tests := []struct {
		name    string
		current *corev1.Endpoints
		res     Result
		trigger time.Time
		want    *corev1.Endpoints
	}{
		{
			name: "8.2 no current Endpoints: a new object named after the Service",
			res:  Result{Subsets: subsets},
			want: &corev1.Endpoints{
				ObjectMeta: metav1.ObjectMeta{Name: testService, Namespace: testNamespace, Labels: wantLabels},
				Subsets:    subsets,
			},
		},
		{
			name:    "7.1 labels replaced by the computed ones, metadata kept",
			current: existing(nil),
			res:     Result{Subsets: subsets},
			want:    written(nil),
		},
		{
			name:    "7.2 annotations kept except the two owned ones",
			current: existing(map[string]string{"note": "keep", TriggerTimeAnnotation: "2001-01-01T00:00:00Z", OverCapacityAnnotation: TruncatedValue}),
			res:     Result{Subsets: subsets},
			want:    written(map[string]string{"note": "keep"}),
		},
		{
			name:    "6.1 over-capacity annotation set by Desired when truncated",
			current: existing(map[string]string{"note": "keep"}),
			res:     Result{Subsets: subsets, Truncated: true},
			want:    written(map[string]string{"note": "keep", OverCapacityAnnotation: TruncatedValue}),
		},
		{
			name:    "6.1 over-capacity annotation removed, whatever its value, when not truncated",
			current: existing(map[string]string{OverCapacityAnnotation: "warning"}),
			res:     Result{Subsets: subsets},
			want:    written(nil),
		},
		{
			name:    "7.3 trigger time written as RFC 3339 with nanoseconds in UTC",
			current: existing(map[string]string{TriggerTimeAnnotation: "2001-01-01T00:00:00Z"}),
			res:     Result{Subsets: subsets},
			trigger: trigger,
			want:    written(map[string]string{TriggerTimeAnnotation: triggerText}),
		},
		{
			name:    "7.3 no trigger time: the annotation is removed",
			current: existing(map[string]string{TriggerTimeAnnotation: "2001-01-01T00:00:00Z"}),
			res:     Result{Subsets: subsets},
			want:    written(nil),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before *corev1.Endpoints
			if tc.current != nil {
				before = tc.current.DeepCopy()
			}
			got := Desired(svc, tc.current, tc.res, tc.trigger)
			checkEqual(t, "endpoints", got, tc.want)
			if tc.current != nil {
				checkEqual(t, "current after Desired", tc.current, before)
			}
		})
	}
}

func TestUpToDate(t *testing.T) {
	svc := service(ports(sport("http", "http", tcp), sport("metrics", 9100, tcp)), headless(), svcLabels(map[string]string{"app": "web"}))
	ps := pods(
		pod("a", "10.0.0.1", true),
		pod("b", "10.0.0.2", false),
		pod("c", "10.0.0.3", true, containerPorts()),
	)
	res := Compute(svc, ps)
	if len(res.Subsets) != 2 {
		t.Fatalf("setup: want 2 subsets, got %d", len(res.Subsets))
	}
	trigger := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	desired := Desired(svc, nil, res, trigger)
	truncatedDesired := Desired(svc, nil, Result{Subsets: res.Subsets, Truncated: true}, trigger)

	// variant returns a copy of desired changed by edit.
	variant := func(from *corev1.Endpoints, edit func(ep *corev1.Endpoints)) *corev1.Endpoints {
		ep := from.DeepCopy()
		edit(ep)
		return ep
	}
	onlyGuests := func(key string) bool { return key == "guest" }

	tests := []struct {
		name    string
		current *corev1.Endpoints
		desired *corev1.Endpoints
		foreign func(string) bool
		want    bool
	}{
		{name: "8.1 identical: no write", current: desired.DeepCopy(), want: true},
		{
			name: "8.1 equal ignoring targetRef.resourceVersion",
			current: variant(desired, func(ep *corev1.Endpoints) {
				for i := range ep.Subsets {
					for j := range ep.Subsets[i].Addresses {
						ep.Subsets[i].Addresses[j].TargetRef.ResourceVersion = "1234"
					}
				}
			}),
			want: true,
		},
		{
			name: "8.1 equal when current is in another order (re-pack)",
			current: variant(desired, func(ep *corev1.Endpoints) {
				ep.Subsets[0], ep.Subsets[1] = ep.Subsets[1], ep.Subsets[0]
				s := &ep.Subsets[0]
				s.Addresses[0], s.Addresses[1] = s.Addresses[1], s.Addresses[0]
			}),
			want: true,
		},
		{
			name: "8.1 equal when current splits the same triples into one subset per port",
			current: variant(desired, func(ep *corev1.Endpoints) {
				var split []corev1.EndpointSubset
				for _, ss := range ep.Subsets {
					for _, p := range ss.Ports {
						split = append(split, corev1.EndpointSubset{Addresses: ss.Addresses, NotReadyAddresses: ss.NotReadyAddresses, Ports: eports(p)})
					}
				}
				ep.Subsets = split
			}),
			want: true,
		},
		{
			name:    "8.1 headless label missing from current is ignored",
			current: variant(desired, func(ep *corev1.Endpoints) { delete(ep.Labels, HeadlessLabel) }),
			want:    true,
		},
		{
			name:    "8.1 headless label on current but not desired is ignored",
			current: desired.DeepCopy(),
			desired: variant(desired, func(ep *corev1.Endpoints) { delete(ep.Labels, HeadlessLabel) }),
			want:    true,
		},
		{
			name:    "8.1 wrong label value: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Labels["app"] = "db" }),
			want:    false,
		},
		{
			name:    "8.1 missing label: write",
			current: variant(desired, func(ep *corev1.Endpoints) { delete(ep.Labels, ManagedByLabel) }),
			want:    false,
		},
		{
			name:    "7.1 take-over: the reference controller's managed-by value alone: no write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Labels[ManagedByLabel] = ReferenceControllerName }),
			want:    true,
		},
		{
			name: "7.1 take-over: reference managed-by value, headless label and trigger time as KCM wrote them: no write",
			current: variant(desired, func(ep *corev1.Endpoints) {
				ep.Labels[ManagedByLabel] = ReferenceControllerName
				ep.Annotations[TriggerTimeAnnotation] = "2029-12-31T23:59:59Z"
			}),
			want: true,
		},
		{
			name:    "7.1 take-over: another controller's managed-by value: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Labels[ManagedByLabel] = "someone-else" }),
			want:    false,
		},
		{
			name: "7.1 take-over: reference value and a subset difference: write",
			current: variant(desired, func(ep *corev1.Endpoints) {
				ep.Labels[ManagedByLabel] = ReferenceControllerName
				ep.Subsets[0].Ports[0].Port++
			}),
			want: false,
		},
		{
			name: "7.1 take-over: reference value and another label difference: write",
			current: variant(desired, func(ep *corev1.Endpoints) {
				ep.Labels[ManagedByLabel] = ReferenceControllerName
				ep.Labels["app"] = "db"
			}),
			want: false,
		},
		{
			name:    "7.1 take-over: reference value in the desired object is not accepted the other way round",
			current: desired.DeepCopy(),
			desired: variant(desired, func(ep *corev1.Endpoints) { ep.Labels[ManagedByLabel] = ReferenceControllerName }),
			want:    false,
		},
		{
			name: "7.1 take-over: reference value on a label other than managed-by is a difference",
			current: variant(desired, func(ep *corev1.Endpoints) {
				ep.Labels["app"] = ReferenceControllerName
			}),
			desired: variant(desired, func(ep *corev1.Endpoints) { ep.Labels["app"] = ControllerName }),
			want:    false,
		},
		{
			name:    "8.1 extra label: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Labels["guest"] = "x" }),
			want:    false,
		},
		{
			name:    "8.1 extra label owned by another field manager: no write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Labels["guest"] = "x" }),
			foreign: onlyGuests,
			want:    true,
		},
		{
			name:    "8.1 extra label not foreign: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Labels["other"] = "x" }),
			foreign: onlyGuests,
			want:    false,
		},
		{
			name:    "8.1 foreign does not excuse a wrong value of a label we set",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Labels["app"] = "db" }),
			foreign: func(string) bool { return true },
			want:    false,
		},
		{
			name:    "8.1 over-capacity annotation missing when truncated: write",
			current: desired.DeepCopy(),
			desired: truncatedDesired,
			want:    false,
		},
		{
			name:    "8.1 over-capacity annotation present when not truncated: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Annotations[OverCapacityAnnotation] = TruncatedValue }),
			want:    false,
		},
		{
			name:    "8.1 over-capacity annotation with another value: write",
			current: variant(truncatedDesired, func(ep *corev1.Endpoints) { ep.Annotations[OverCapacityAnnotation] = "warning" }),
			desired: truncatedDesired,
			want:    false,
		},
		{
			name:    "8.1 over-capacity annotation correct: no write",
			current: truncatedDesired.DeepCopy(),
			desired: truncatedDesired,
			want:    true,
		},
		{
			name:    "7.3 trigger time difference alone: no write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Annotations[TriggerTimeAnnotation] = "2001-01-01T00:00:00Z" }),
			want:    true,
		},
		{
			name:    "7.3 trigger time missing from current alone: no write",
			current: variant(desired, func(ep *corev1.Endpoints) { delete(ep.Annotations, TriggerTimeAnnotation) }),
			want:    true,
		},
		{
			name:    "8.1 address missing: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Subsets[1].Addresses = ep.Subsets[1].Addresses[:1] }),
			want:    false,
		},
		{
			name: "8.1 readiness differs: write",
			current: variant(desired, func(ep *corev1.Endpoints) {
				s := &ep.Subsets[1]
				s.Addresses, s.NotReadyAddresses = s.NotReadyAddresses, s.Addresses
			}),
			want: false,
		},
		{
			name:    "8.1 port number differs: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Subsets[0].Ports[0].Port++ }),
			want:    false,
		},
		{
			name:    "8.1 nodeName differs: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Subsets[0].Addresses[0].NodeName = strPtr("node-9") }),
			want:    false,
		},
		{
			name:    "8.1 hostname differs: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Subsets[0].Addresses[0].Hostname = "h" }),
			want:    false,
		},
		{
			name:    "8.1 no subsets while some are wanted: write",
			current: variant(desired, func(ep *corev1.Endpoints) { ep.Subsets = nil }),
			want:    false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.desired
			if want == nil {
				want = desired
			}
			if got := UpToDate(tc.current, want, tc.foreign); got != tc.want {
				t.Errorf("UpToDate = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestUpToDateTruncatedRepacked: a truncated result is not in canonical
// packed form (truncation can leave two subsets with the same addresses).
// Endpoints holding the same triples in canonical form need no write.
func TestUpToDateTruncatedRepacked(t *testing.T) {
	svc := service(ports(sport("http", "http", tcp), sport("metrics", 9100, tcp)))
	var ps []*corev1.Pod
	for i := 1; i <= 1100; i++ {
		var opts []podOption
		if i > 900 {
			opts = append(opts, containerPorts()) // serves metrics only
		}
		ps = append(ps, pod("p"+ipFor(i), ipFor(i), true, opts...))
	}
	res := Compute(svc, ps)
	if !res.Truncated {
		t.Fatal("setup: want a truncated result")
	}
	desired := Desired(svc, nil, res, time.Time{})
	current := desired.DeepCopy()
	current.Subsets = Repack(current.Subsets)
	if SubsetsEqual(current.Subsets, desired.Subsets) {
		t.Fatal("setup: want the repacked form to differ from the truncated one")
	}
	if !UpToDate(current, desired, nil) {
		t.Error("8.1 UpToDate(repacked truncated, truncated) = false, want true")
	}
}

func TestSubsetsEqual(t *testing.T) {
	a := addr("10.0.0.1", "a")
	aRV := addr("10.0.0.1", "a")
	aRV.TargetRef.ResourceVersion = "5"
	aNoNode := addr("10.0.0.1", "a")
	aNoNode.NodeName = nil
	aNoRef := addr("10.0.0.1", "a")
	aNoRef.TargetRef = nil
	h2c := "kubernetes.io/h2c"
	p := eport("http", 80, tcp)
	pApp := p
	pApp.AppProtocol = &h2c
	one := func(ad corev1.EndpointAddress, pt corev1.EndpointPort) []corev1.EndpointSubset {
		return []corev1.EndpointSubset{{Addresses: addrs(ad), Ports: eports(pt)}}
	}

	tests := []struct {
		name string
		a, b []corev1.EndpointSubset
		want bool
	}{
		{"8.1 nil and empty subsets are equal", nil, []corev1.EndpointSubset{}, true},
		{"8.1 nil and empty address lists are equal",
			[]corev1.EndpointSubset{{Addresses: addrs(a)}},
			[]corev1.EndpointSubset{{Addresses: addrs(a), NotReadyAddresses: []corev1.EndpointAddress{}, Ports: []corev1.EndpointPort{}}}, true},
		{"8.1 targetRef.resourceVersion ignored", one(a, p), one(aRV, p), true},
		{"8.1 nodeName differs", one(a, p), one(aNoNode, p), false},
		{"8.1 targetRef missing", one(a, p), one(aNoRef, p), false},
		{"8.1 appProtocol differs", one(a, p), one(a, pApp), false},
		{"8.1 order matters", append(one(a, p), one(a, pApp)...), append(one(a, pApp), one(a, p)...), false},
		{"8.1 number of subsets differs", one(a, p), append(one(a, p), one(a, pApp)...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SubsetsEqual(tc.a, tc.b); got != tc.want {
				t.Errorf("SubsetsEqual = %v, want %v", got, tc.want)
			}
			if got := SubsetsEqual(tc.b, tc.a); got != tc.want {
				t.Errorf("SubsetsEqual (swapped) = %v, want %v", got, tc.want)
			}
		})
	}
}

// Spec 7.1, the mode that writes kube-controller-manager's managed-by value:
// the desired labels carry the chosen value, Desired is that mode's default,
// and the no-write check then accepts kube-controller-manager's value only,
// so that Endpoints carrying this controller's value are rewritten once and
// a later hand-back finds nothing to rewrite.
func TestDesiredManagedBy(t *testing.T) {
	svc := service(httpPort, svcLabels(map[string]string{"app": "web"}))
	res := Result{Subsets: []corev1.EndpointSubset{{Addresses: addrs(addr("10.0.0.1", "a")), Ports: eports(eport("http", 8080, tcp))}}}
	withValue := func(v string) *corev1.Endpoints {
		ep := DesiredManagedBy(svc, nil, res, time.Time{}, ControllerName)
		ep.Labels[ManagedByLabel] = v
		return ep
	}
	tests := []struct {
		name      string
		managedBy string
		current   *corev1.Endpoints
		upToDate  bool
	}{
		{"own value, current own value: no write", ControllerName, withValue(ControllerName), true},
		{"own value, current reference value (take-over): no write", ControllerName, withValue(ReferenceControllerName), true},
		{"reference value, current reference value: no write", ReferenceControllerName, withValue(ReferenceControllerName), true},
		{"reference value, current own value: one write to hand back for free later", ReferenceControllerName, withValue(ControllerName), false},
		{"reference value, current another value: write", ReferenceControllerName, withValue("someone-else"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			desired := DesiredManagedBy(svc, tc.current, res, time.Time{}, tc.managedBy)
			want := map[string]string{"app": "web", ManagedByLabel: tc.managedBy}
			if !maps.Equal(desired.Labels, want) {
				t.Errorf("labels %v, want %v", desired.Labels, want)
			}
			if got := UpToDate(tc.current, desired, nil); got != tc.upToDate {
				t.Errorf("UpToDate = %v, want %v", got, tc.upToDate)
			}
		})
	}
	if got, want := Desired(svc, nil, res, time.Time{}), DesiredManagedBy(svc, nil, res, time.Time{}, ControllerName); !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("Desired = %v, want the own value's %v", got, want)
	}
	for _, v := range ManagedByValues {
		if !IsManaged(withValue(v)) {
			t.Errorf("Endpoints labelled %q do not count as managed (spec 1.2)", v)
		}
	}
}
