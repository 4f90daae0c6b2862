package controller

import (
	"context"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
)

// endpointsHandler maps Endpoints events to the Service of the same name
// (spec 8.7: a managed Endpoints changed or deleted by someone else is
// repaired). The event of this controller's own write brings nothing new and
// is skipped, unless a sync waits for the cache to show that write (spec
// 8.5). A delete is never taken for an own write: its object is the last
// version the informer knew, which may well be the one written last (a
// delete seen through a relist), and the Endpoints must come back.
type endpointsHandler struct{ own *serviceStates }

var _ handler.EventHandler = endpointsHandler{}

func (h endpointsHandler) Create(_ context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.changed(e.Object, q)
}

func (h endpointsHandler) Update(_ context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.changed(e.ObjectNew, q)
}

func (h endpointsHandler) Delete(_ context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	key := client.ObjectKeyFromObject(e.Object)
	h.own.waiting(key) // what was written is gone
	q.Add(reconcile.Request{NamespacedName: key})
}

func (h endpointsHandler) Generic(_ context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(e.Object)})
}

// changed queues the Service of obj unless obj is this controller's last write.
func (h endpointsHandler) changed(obj client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if h.own.isOwn(obj) {
		return
	}
	q.Add(reconcile.Request{NamespacedName: client.ObjectKeyFromObject(obj)})
}

// podHandler maps Pod events to the Services whose selector matches the Pod
// (spec 9.2, 9.3), ignoring updates that cannot change any Endpoints, and
// delays them by batch to merge bursts (spec 9.4), or else merges the syncs
// of a burst of Pod changes while a lone change syncs at once.
type podHandler struct {
	// index finds the Services of a Pod through their selectors.
	index    *podcache.Index
	selector labels.Selector
	batch    time.Duration
	bursts   *burstBatcher
}

var _ handler.EventHandler = &podHandler{}

func (h *podHandler) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	if e.IsInInitialList {
		// A Pod of the informer's initial list needs no sync of its own:
		// the initial list of Services queues every Service, and the workers
		// start once the Pods' cache has synced, so each Service's first sync
		// reads all of these Pods. Mapping them (5,000 at 200 x 25) would
		// only delay the start.
		return
	}
	h.enqueue(ctx, q, e.Object)
}

func (h *podHandler) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	var oldPod, newPod corev1.Pod
	if !podcache.View(e.ObjectOld, &oldPod) || !podcache.View(e.ObjectNew, &newPod) || !endpoints.PodChangeMatters(&oldPod, &newPod) {
		return
	}
	// A label change can move the Pod between Services: sync both sides.
	h.enqueue(ctx, q, e.ObjectOld)
	if !maps.Equal(oldPod.Labels, newPod.Labels) {
		h.enqueue(ctx, q, e.ObjectNew)
	}
}

func (h *podHandler) Delete(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, q, e.Object)
}

func (h *podHandler) Generic(ctx context.Context, e event.GenericEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.enqueue(ctx, q, e.Object)
}

// enqueue queues the Services that select obj, delayed by the batch period
// or merged with a burst. The workqueue merges a Service queued twice.
func (h *podHandler) enqueue(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request], obj client.Object) {
	h.forServices(ctx, obj, func(req reconcile.Request) {
		if h.batch > 0 {
			q.AddAfter(req, h.batch)
		} else {
			h.bursts.add(q, req)
		}
	})
}

// forServices calls queue with each managed Service that selects obj.
func (h *podHandler) forServices(ctx context.Context, obj client.Object, queue func(reconcile.Request)) {
	pod, ok := obj.(*podcache.Pod)
	if !ok || pod == nil {
		return // not a compact Pod: the cache is not wired by podcache.Install, which setup refuses
	}
	add := func(svc *corev1.Service) {
		if h.selector != nil && !h.selector.Matches(labels.Set(svc.Labels)) {
			return
		}
		queue(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}})
	}
	if err := h.index.ServicesSelecting(pod.Namespace, pod.Labels, add); err != nil {
		log.FromContext(ctx).Error(err, "Finding the Services of a Pod", "pod", klog.KObj(pod))
	}
}
