package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Spec 8.5: after an update, a sync that still reads the replaced version of
// the Endpoints (a cache that has not caught up) neither writes nor fails: it
// comes back after a back-off that grows, without computing anything, and
// without consuming the Pod changes that the trigger-time
// annotation reports (7.3). Once the reader shows the new version, the sync
// publishes the change with its trigger time.
func TestStaleCacheGuard(t *testing.T) {
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", UID: "uid-a", Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	// Endpoints written by hand, with no addresses: the first sync updates them.
	stale := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}}
	base := fake.NewClientBuilder().WithObjects(svc, pod, stale).Build()
	if err := base.Get(ctx, key, stale); err != nil {
		t.Fatal(err)
	}

	// The cache shows the old Endpoints until the test lets it catch up,
	// like an informer that has not seen the write yet.
	current := func() *corev1.Endpoints {
		ep := &corev1.Endpoints{}
		if err := base.Get(ctx, key, ep); err != nil {
			t.Fatal(err)
		}
		return ep
	}
	x, cache := indexOf(t, svc, pod, stale)
	updates := 0
	c := interceptor.NewClient(base, interceptor.Funcs{
		Update: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			updates++
			return cl.Update(ctx, obj, opts...)
		},
	})
	r := &EndpointsReconciler{Client: c, Recorder: events.NewFakeRecorder(10), Index: x}
	if err := r.init(); err != nil {
		t.Fatal(err)
	}
	req := ctrl.Request{NamespacedName: key}

	if res, err := r.Reconcile(ctx, req); err != nil || res != (ctrl.Result{}) || updates != 1 {
		t.Fatalf("first sync: result %+v, error %v; updates %d; want a plain success and 1 update", res, err, updates)
	}
	// The Pod turns unready while the cache still shows the replaced version.
	unreadySince := time.Date(2031, 1, 1, 0, 5, 0, 0, time.UTC)
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(unreadySince)}}
	if err := base.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	cache.set(t, pod)
	for i, wait := range []time.Duration{staleRetryDelay, 2 * staleRetryDelay, 4 * staleRetryDelay} {
		res, err := r.Reconcile(ctx, req)
		if err != nil || res.RequeueAfter != wait || updates != 1 {
			t.Fatalf("stale sync %d: result %+v, error %v, updates %d; want a retry after %v, no error, no new update",
				i+1, res, err, updates, wait)
		}
	}
	cache.set(t, current())
	if res, err := r.Reconcile(ctx, req); err != nil || res != (ctrl.Result{}) || updates != 2 {
		t.Fatalf("sync once caught up: result %+v, error %v, updates %d; want success and a second update", res, err, updates)
	}
	var ep corev1.Endpoints
	if err := base.Get(ctx, key, &ep); err != nil {
		t.Fatal(err)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].NotReadyAddresses) != 1 || ep.Subsets[0].NotReadyAddresses[0].IP != "10.0.0.1" {
		t.Errorf("Endpoints subsets = %+v, want 10.0.0.1 not ready", ep.Subsets)
	}
	if got, want := ep.Annotations[endpoints.TriggerTimeAnnotation], unreadySince.Format(time.RFC3339Nano); got != want {
		t.Errorf("trigger time %q, want %q: the stale syncs consumed the Pod's change", got, want)
	}
}
