package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// retryTestKey is the Service of the tests in this file.
var retryTestKey = types.NamespacedName{Namespace: "ns", Name: "web"}

// serviceCreated is the creation time of the test Service.
var serviceCreated = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)

func retryTestService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", CreationTimestamp: metav1.NewTime(serviceCreated)},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
	}
}

// retryTestPod returns a Pod of the Service, ready since readySince.
func retryTestPod(name, ip string, ready bool, readySince time.Time) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(readySince)}}},
	}
}

// gaugeValue returns the value of the services_failing gauge of r alone.
func gaugeValue(t *testing.T, r *EndpointsReconciler) float64 {
	t.Helper()
	return stateGauge(t, r, "endpoints_controller_services_failing", "")
}

// stateGauge returns the gauge name (with the state label, when not "") as
// the collector computes it from r's states when scraped.
func stateGauge(t *testing.T, r *EndpointsReconciler, name, state string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&stateCollector{states: map[*serviceStates]struct{}{r.states: {}}})
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gathering the gauges: %v", err)
	}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			if mf.GetName() != name {
				continue
			}
			if state == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == state) {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("No gauge %s %q", name, state)
	return 0
}

// drainEvents returns the events recorded so far.
func drainEvents(r *events.FakeRecorder) []string {
	var out []string
	for len(r.Events) > 0 {
		out = append(out, <-r.Events)
	}
	return out
}

func countPrefix(list []string, prefix string) int {
	n := 0
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

// Spec 8.4: a write refused for longer than the fast retries is retried
// slowly, not dropped. After maxRetries failed syncs returned errors (fast
// retries through the work queue's back-off), the next failure asks for a
// requeue after slowRetryPeriod, raises one FailedToSyncEndpoints event, and
// the Service counts in the failing gauge until a sync succeeds. Once the
// write is accepted, the change is published, by that requeue alone, with the
// trigger time of the change that the failed syncs did not consume.
func TestWriteRefusedLongerThanFastRetries(t *testing.T) {
	ctx := context.Background()
	readySince := serviceCreated.Add(time.Hour)
	base := fake.NewClientBuilder().WithObjects(retryTestService(), retryTestPod("a", "10.0.0.1", true, readySince)).Build()
	refuse := true
	creates := 0
	c := interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			creates++
			if refuse {
				return apierrors.NewInternalError(errors.New(`admission webhook "deny.example.com" is unavailable`))
			}
			return cl.Create(ctx, obj, opts...)
		},
	})
	recorder := events.NewFakeRecorder(100)
	x, _ := indexOf(t, retryTestService(), retryTestPod("a", "10.0.0.1", true, readySince))
	r := &EndpointsReconciler{Client: c, Recorder: recorder, Index: x}
	if err := r.init(); err != nil {
		t.Fatal(err)
	}
	req := ctrl.Request{NamespacedName: retryTestKey}
	failing := gaugeValue(t, r)

	for i := 1; i <= maxRetries; i++ {
		res, err := r.Reconcile(ctx, req)
		if err == nil || res != (ctrl.Result{}) {
			t.Fatalf("failed sync %d: result %+v, error %v; want the error, for the fast back-off", i, res, err)
		}
		if got := gaugeValue(t, r) - failing; got != 1 {
			t.Fatalf("failed sync %d: services_failing went up by %v, want 1", i, got)
		}
	}
	if evs := drainEvents(recorder); countPrefix(evs, "Warning "+ReasonFailedToCreateEndpoint+" ") != maxRetries || len(evs) != maxRetries {
		t.Errorf("events after the fast retries: %q, want %d %s", evs, maxRetries, ReasonFailedToCreateEndpoint)
	}
	for i := 1; i <= 2; i++ {
		res, err := r.Reconcile(ctx, req)
		if err != nil || res.RequeueAfter != slowRetryPeriod {
			t.Fatalf("slow retry %d: result %+v, error %v; want a requeue after %v, not a drop", i, res, err, slowRetryPeriod)
		}
		evs := drainEvents(recorder)
		wantFailing := 0
		if i == 1 {
			wantFailing = 1
		}
		if countPrefix(evs, "Warning "+ReasonFailedToSyncEndpoints+" ") != wantFailing || countPrefix(evs, "Warning "+ReasonFailedToCreateEndpoint+" ") != 1 {
			t.Errorf("slow retry %d: events %q, want %d %s and one %s", i, evs, wantFailing, ReasonFailedToSyncEndpoints, ReasonFailedToCreateEndpoint)
		}
	}
	if got := gaugeValue(t, r) - failing; got != 1 {
		t.Errorf("services_failing went up by %v during the slow retries, want 1", got)
	}

	refuse = false
	if res, err := r.Reconcile(ctx, req); err != nil || res != (ctrl.Result{}) {
		t.Fatalf("sync once writes are accepted: result %+v, error %v; want success", res, err)
	}
	if got := gaugeValue(t, r) - failing; got != 0 {
		t.Errorf("services_failing is %v above where it started after the success, want 0", got)
	}
	if want := maxRetries + 3; creates != want {
		t.Errorf("creates sent: %d, want %d (one per sync)", creates, want)
	}
	ep := &corev1.Endpoints{}
	if err := base.Get(ctx, retryTestKey, ep); err != nil {
		t.Fatal(err)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != "10.0.0.1" {
		t.Errorf("Endpoints subsets = %+v, want the one address 10.0.0.1", ep.Subsets)
	}
	// The first sync that publishes is the first sync since start as far as
	// the trigger time goes: the failed ones did not consume it.
	if got, want := ep.Annotations[endpoints.TriggerTimeAnnotation], serviceCreated.Format(time.RFC3339Nano); got != want {
		t.Errorf("trigger time %q, want the Service's creation time %q", got, want)
	}
}

// A cache behind the API server costs no conflict on the first update of a
// Service by this process (decided from the live Endpoints, read with
// APIReader, not the cache), one AlreadyExists on a first create (sent
// without that read), and at most one extra round trip later: after a
// conflict the live Endpoints are read and the write is decided once more
// from them; a second conflict is an error for the back-off, never a loop.
func TestConflictCostsOneRoundTrip(t *testing.T) {
	pod := retryTestPod("a", "10.0.0.1", true, serviceCreated)
	wantIP := "10.0.0.1"
	tests := []struct {
		name string
		// live is what the API server holds; cached what the cache shows
		// (nil: nothing).
		live, cached *corev1.Endpoints
		// verified: this process has read or written the Endpoints before.
		verified bool
		// alwaysConflict makes every update fail with a conflict.
		alwaysConflict bool
		wantWrites     int // creates and updates sent
		wantLiveReads  int
		wantResult     string
		wantErr        bool
	}{
		{
			name:       "first write, someone else changed the Endpoints: one update, from the live version",
			live:       endpointsWith("192.0.2.7", "someone"),
			cached:     endpointsWith("192.0.2.1", ""),
			wantWrites: 1, wantLiveReads: 1, wantResult: resultUpdated,
		},
		{
			name:       "first write, the previous leader already wrote them: no write",
			live:       endpointsWith(wantIP, endpoints.ControllerName),
			cached:     endpointsWith("192.0.2.1", ""),
			wantWrites: 0, wantLiveReads: 1, wantResult: resultUnchanged,
		},
		{
			name: "first write, the cache does not show them yet: the create is refused, the live version is up to date",
			live: endpointsWith(wantIP, endpoints.ControllerName),
			// The create is sent without a live read (409 AlreadyExists).
			wantWrites: 1, wantLiveReads: 1, wantResult: resultUnchanged,
		},
		{
			name:       "first write, no Endpoints at all: a create, no live read",
			wantWrites: 1, wantLiveReads: 0, wantResult: resultCreated,
		},
		{
			name:   "later write, someone else changed the Endpoints: one more update from the live version",
			live:   endpointsWith("192.0.2.7", "someone"),
			cached: endpointsWith("192.0.2.1", ""), verified: true,
			// Update from the cached version (409), read live, update again.
			wantWrites: 2, wantLiveReads: 1, wantResult: resultUpdated,
		},
		{
			name:   "later write, the live version is up to date: no second write",
			live:   endpointsWith(wantIP, endpoints.ControllerName),
			cached: endpointsWith("192.0.2.1", ""), verified: true,
			wantWrites: 1, wantLiveReads: 1, wantResult: resultUnchanged,
		},
		{
			name: "later write, the cache does not show them: the create is refused, the live version is up to date",
			live: endpointsWith(wantIP, endpoints.ControllerName), verified: true,
			wantWrites: 1, wantLiveReads: 1, wantResult: resultUnchanged,
		},
		{
			name:           "first write, the conflict persists: two live reads, two updates and an error, no spin",
			live:           endpointsWith("192.0.2.7", "someone"),
			cached:         endpointsWith("192.0.2.1", ""),
			alwaysConflict: true,
			wantWrites:     2, wantLiveReads: 2, wantErr: true,
		},
		{
			name:   "the conflict persists: two updates and an error, no spin",
			live:   endpointsWith("192.0.2.7", "someone"),
			cached: endpointsWith("192.0.2.1", ""), verified: true,
			alwaysConflict: true,
			wantWrites:     2, wantLiveReads: 1, wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			objs := []client.Object{retryTestService(), pod.DeepCopy()}
			if tc.live != nil {
				objs = append(objs, tc.live.DeepCopy())
			}
			api := fake.NewClientBuilder().WithObjects(objs...).Build()
			x, stores := indexOf(t, retryTestService(), pod)
			var cached *corev1.Endpoints
			if tc.cached != nil {
				cached = tc.cached.DeepCopy()
				cached.ResourceVersion = "1" // older than live's
				stores.set(t, cached)
			}
			writes, liveReads := 0, 0
			writer := interceptor.NewClient(api, interceptor.Funcs{
				Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
					writes++
					return cl.Create(ctx, obj, opts...)
				},
				Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
					writes++
					if tc.alwaysConflict {
						return apierrors.NewConflict(schema.GroupResource{Resource: "endpoints"}, obj.GetName(), errors.New("the object has been modified"))
					}
					return cl.Update(ctx, obj, opts...)
				},
			})
			apiReader := interceptor.NewClient(api, interceptor.Funcs{
				Get: func(ctx context.Context, cl client.WithWatch, k client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					liveReads++
					return cl.Get(ctx, k, obj, opts...)
				},
			})
			recorder := events.NewFakeRecorder(10)
			r := &EndpointsReconciler{Client: writer, APIReader: apiReader, Recorder: recorder, Index: x}
			if err := r.init(); err != nil {
				t.Fatal(err)
			}
			if tc.verified {
				r.states.setVerified(retryTestKey)
			}
			result, err := r.sync(ctx, retryTestKey)
			if (err != nil) != tc.wantErr || result != tc.wantResult {
				t.Fatalf("sync: result %q, error %v; want %q, error %t", result, err, tc.wantResult, tc.wantErr)
			}
			if writes != tc.wantWrites || liveReads != tc.wantLiveReads {
				t.Errorf("writes %d, live reads %d; want %d and %d", writes, liveReads, tc.wantWrites, tc.wantLiveReads)
			}
			if evs := drainEvents(recorder); len(evs) != 0 {
				t.Errorf("events %q, want none for a conflict", evs)
			}
			if tc.wantErr {
				return
			}
			got := &corev1.Endpoints{}
			if err := api.Get(ctx, retryTestKey, got); err != nil {
				t.Fatal(err)
			}
			if len(got.Subsets) != 1 || len(got.Subsets[0].Addresses) != 1 || got.Subsets[0].Addresses[0].IP != wantIP {
				t.Errorf("Endpoints subsets = %+v, want the one address %s", got.Subsets, wantIP)
			}
			// The cache still shows the older version: it must count as
			// stale, so that the next sync waits instead of conflicting again.
			if cached != nil {
				if _, stale := r.states.check(cached); !stale {
					t.Errorf("the cached version %s is not marked stale after the conflict", cached.ResourceVersion)
				}
			}
		})
	}
}

// endpointsWith returns the test Service's Endpoints publishing ip for Pod
// a, labelled as written by managedBy ("" for no label).
func endpointsWith(ip, managedBy string) *corev1.Endpoints {
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: ip, NodeName: ptr.To("node-1"),
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: "a", UID: "uid-a"}}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if managedBy != "" {
		ep.Labels = map[string]string{endpoints.ManagedByLabel: managedBy}
	}
	return ep
}

// Spec 8.5: the waits of the stale-cache guard double from staleRetryDelay
// up to maxStaleRetryDelay, and after maxStaleRetries the guard gives up. A
// cache that shows a version older than the newest known one is stale too,
// not only the replaced version itself.
func TestStaleWaitsAreBounded(t *testing.T) {
	s := newServiceStates(0, nil)
	at := func(rv string) *corev1.Endpoints {
		return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: rv}}
	}
	s.replaced(at("7"), "9")
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 3200, 3200, 3200, 3200}
	var total time.Duration
	for i, w := range want {
		d, stale := s.check(at("7"))
		if !stale || d != w*time.Millisecond {
			t.Fatalf("wait %d: %v, stale %t; want %v", i, d, stale, w*time.Millisecond)
		}
		total += d
	}
	if _, stale := s.check(at("7")); stale {
		t.Errorf("still stale after %d waits (%v): the guard must give up", maxStaleRetries, total)
	}
	// Once given up, the versions are forgotten; a new write starts afresh.
	s.replaced(at("7"), "9")
	if d, stale := s.check(at("7")); !stale || d != staleRetryDelay {
		t.Errorf("after a new write: %v, stale %t; want %v", d, stale, staleRetryDelay)
	}
	// Another writer's version between the replaced and the newest one: stale.
	if _, stale := s.check(at("8")); !stale {
		t.Errorf("version 8 is older than the newest known 9 but not stale")
	}
	// A cache that shows the newest version has caught up: the entry goes.
	if _, stale := s.check(at("9")); stale {
		t.Errorf("version 9 counts as stale")
	}
	if _, stale := s.check(at("7")); stale {
		t.Errorf("version 7 still counts as stale once the cache has shown 9")
	}
	// A write that changed nothing (same version back) marks nothing stale.
	s.replaced(at("9"), "9")
	if _, stale := s.check(at("9")); stale {
		t.Errorf("a no-op write made its own version stale (kubernetes/kubernetes#127370)")
	}
	// Versions that do not compare: only the replaced one is stale.
	s.replaced(at("a"), "c")
	if _, stale := s.check(at("b")); stale {
		t.Errorf("an incomparable version counts as stale")
	}
	s.replaced(at("a"), "c")
	if _, stale := s.check(at("a")); !stale {
		t.Errorf("the replaced incomparable version is not stale")
	}
}

// WriteFence refuses writes before they are counted or sent, and without an
// event: a replica that lost its Lease writes nothing.
func TestWriteFence(t *testing.T) {
	ctx := context.Background()
	base := fake.NewClientBuilder().WithObjects(retryTestService(), retryTestPod("a", "10.0.0.1", true, serviceCreated)).Build()
	sent := 0
	c := interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			sent++
			return cl.Create(ctx, obj, opts...)
		},
	})
	lost := errors.New("lost the Lease")
	recorder := events.NewFakeRecorder(10)
	x, _ := indexOf(t, retryTestService(), retryTestPod("a", "10.0.0.1", true, serviceCreated))
	r := &EndpointsReconciler{Client: c, Recorder: recorder, Index: x, WriteFence: func() (time.Time, error) { return time.Time{}, lost }}
	if err := r.init(); err != nil {
		t.Fatal(err)
	}
	var before dto.Metric
	if err := writesTotal.WithLabelValues("create", "false").Write(&before); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sync(ctx, retryTestKey); !errors.Is(err, lost) {
		t.Fatalf("sync: %v, want the fence's error", err)
	}
	var after dto.Metric
	if err := writesTotal.WithLabelValues("create", "false").Write(&after); err != nil {
		t.Fatal(err)
	}
	if sent != 0 || after.GetCounter().GetValue() != before.GetCounter().GetValue() {
		t.Errorf("creates sent %d, counted %v; want none", sent, after.GetCounter().GetValue()-before.GetCounter().GetValue())
	}
	if evs := drainEvents(recorder); len(evs) != 0 {
		t.Errorf("events %q, want none", evs)
	}
}

// A write that the fence lets through carries the fence's deadline, so that
// it cannot outlive the Lease (queued by API Priority and Fairness, say).
func TestWriteCarriesTheFenceDeadline(t *testing.T) {
	ctx := context.Background()
	base := fake.NewClientBuilder().WithObjects(retryTestService(), retryTestPod("b", "10.0.0.2", false, serviceCreated)).Build()
	var got []time.Time
	c := interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			deadline, _ := ctx.Deadline()
			got = append(got, deadline)
			return cl.Create(ctx, obj, opts...)
		},
	})
	leaseEnd := time.Now().Add(time.Hour).Round(0)
	x, _ := indexOf(t, retryTestService(), retryTestPod("b", "10.0.0.2", false, serviceCreated))
	r := &EndpointsReconciler{Client: c, Recorder: events.NewFakeRecorder(10), Index: x,
		WriteFence: func() (time.Time, error) { return leaseEnd, nil }}
	if err := r.init(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sync(ctx, retryTestKey); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got[0].Equal(leaseEnd) {
		t.Errorf("deadlines of the creates sent: %v, want one at %s", got, leaseEnd)
	}
}

// Writes carry the resourceVersion they were decided from: a delete (of
// Endpoints whose Service is gone) as a precondition beside the UID, an
// apply in its object. Endpoints changed since then make them fail with a
// conflict instead of deleting or overwriting newer Endpoints.
func TestWritesCarryTheDecidedVersion(t *testing.T) {
	ctx := context.Background()
	t.Run("delete", func(t *testing.T) {
		ep := endpointsWith("10.0.0.9", endpoints.ControllerName)
		base := fake.NewClientBuilder().WithObjects(ep).Build()
		cached := &corev1.Endpoints{}
		if err := base.Get(ctx, retryTestKey, cached); err != nil {
			t.Fatal(err)
		}
		var got []*metav1.Preconditions
		c := interceptor.NewClient(base, interceptor.Funcs{
			Delete: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				do := (&client.DeleteOptions{}).ApplyOptions(opts)
				got = append(got, do.Preconditions)
				return cl.Delete(ctx, obj, opts...)
			},
		})
		x, _ := indexOf(t, cached)
		r := &EndpointsReconciler{Client: c, Recorder: events.NewFakeRecorder(10), Index: x}
		if err := r.init(); err != nil {
			t.Fatal(err)
		}
		if result, err := r.sync(ctx, retryTestKey); err != nil || result != resultDeleted {
			t.Fatalf("sync: %q, %v; want %q", result, err, resultDeleted)
		}
		if len(got) != 1 || got[0] == nil || got[0].UID == nil || *got[0].UID != cached.UID ||
			got[0].ResourceVersion == nil || *got[0].ResourceVersion != cached.ResourceVersion {
			t.Errorf("delete preconditions %+v, want UID %s and resourceVersion %s", got, cached.UID, cached.ResourceVersion)
		}
	})
	t.Run("apply", func(t *testing.T) {
		ep := endpointsWith("10.0.0.9", endpoints.ControllerName)
		base := fake.NewClientBuilder().WithObjects(retryTestService(), retryTestPod("a", "10.0.0.1", true, serviceCreated), ep).Build()
		cached := &corev1.Endpoints{}
		if err := base.Get(ctx, retryTestKey, cached); err != nil {
			t.Fatal(err)
		}
		var got []string
		c := interceptor.NewClient(base, interceptor.Funcs{
			Apply: func(ctx context.Context, cl client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
				ac, ok := obj.(*corev1ac.EndpointsApplyConfiguration)
				if !ok {
					t.Fatalf("applied %T", obj)
				}
				got = append(got, ptr.Deref(ac.ResourceVersion, ""))
				return apierrors.NewConflict(corev1.Resource("endpoints"), ep.Name, errors.New("changed"))
			},
		})
		x, _ := indexOf(t, retryTestService(), retryTestPod("a", "10.0.0.1", true, serviceCreated), cached)
		r := &EndpointsReconciler{Client: c, Recorder: events.NewFakeRecorder(10), Index: x, WriteMethod: WriteApply}
		if err := r.init(); err != nil {
			t.Fatal(err)
		}
		r.states.setVerified(retryTestKey) // decide from the cache
		_, _ = r.sync(ctx, retryTestKey)
		if len(got) == 0 || got[0] != cached.ResourceVersion {
			t.Errorf("applied resourceVersions %q, want the first %q", got, cached.ResourceVersion)
		}
	})
}
