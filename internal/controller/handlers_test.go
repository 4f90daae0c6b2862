package controller

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
)

// Pods of the initial list queue nothing (every Service is queued by the
// Services' initial list); a Pod created later queues its Services.
func TestInitialListPodsQueueNothing(t *testing.T) {
	x, _, services, _ := podcache.NewStores()
	if err := services.Add(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(time.Now())
	h := &podHandler{index: x, bursts: newBurstBatcher(time.Second, clk)}
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	pod, _ := podcache.CompactPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a", Labels: map[string]string{"app": "web"}}})
	ctx := context.Background()

	h.Create(ctx, event.CreateEvent{Object: pod.(client.Object), IsInInitialList: true}, q)
	if got := q.Len(); got != 0 {
		t.Fatalf("queue length after an initial-list Pod: %d, want 0", got)
	}
	h.Create(ctx, event.CreateEvent{Object: pod.(client.Object)}, q)
	if got := q.Len(); got != 1 {
		t.Fatalf("queue length after a new Pod: %d, want 1", got)
	}
	if item, _ := q.Get(); item.Name != "web" || item.Namespace != "ns" {
		t.Errorf("queued %v, want ns/web", item)
	}
}

// The event of the controller's own write is skipped, but a delete never is,
// even when the object it carries is the version written last (a delete seen
// through a relist): the Endpoints must be written again.
func TestEndpointsDeleteIsNeverAnOwnWrite(t *testing.T) {
	ctx := context.Background()
	written := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: "5"}}
	for _, tc := range []struct {
		name  string
		send  func(h endpointsHandler, q workqueue.TypedRateLimitingInterface[reconcile.Request])
		queue int
	}{
		{"update to the written version", func(h endpointsHandler, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Update(ctx, event.UpdateEvent{ObjectOld: written, ObjectNew: written}, q)
		}, 0},
		{"delete of the written version", func(h endpointsHandler, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			h.Delete(ctx, event.DeleteEvent{Object: written}, q)
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			own := newServiceStates(0, nil)
			own.wrote(written)
			q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
			defer q.ShutDown()
			tc.send(endpointsHandler{own: own}, q)
			if got := q.Len(); got != tc.queue {
				t.Fatalf("queued %d, want %d", got, tc.queue)
			}
		})
	}
}
