package controllers

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// ControllerName names the controller in logs and metrics.
const ControllerName = "endpoints"

// Back-off of failed syncs: 5 ms doubling (spec 8.4), capped at 1000 s like
// the other kube-controller-manager controllers.
const (
	baseRetryDelay = 5 * time.Millisecond
	maxRetryDelay  = 1000 * time.Second
)

// SetupWithManager registers the reconciler, its watches and the start-up
// sweep with mgr.
func (r *EndpointsReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := r.init(); err != nil {
		return err
	}
	// Register the informers now, so that they start with the cache on every
	// replica: a standby that wins the election then writes at once instead of
	// listing every Pod first.
	ctx := context.Background()
	for _, obj := range []client.Object{&corev1.Service{}, &corev1.Pod{}, &corev1.Endpoints{}} {
		if _, err := mgr.GetCache().GetInformer(ctx, obj); err != nil {
			return fmt.Errorf("registering informer for %T: %w", obj, err)
		}
	}
	if r.Index != nil {
		if err := r.Index.complete(); err != nil {
			return err
		}
	}

	sweep := make(chan event.GenericEvent)
	if err := mgr.Add(&orphanSweep{reconciler: r, cache: mgr.GetCache(), events: sweep}); err != nil {
		return fmt.Errorf("adding start-up sweep: %w", err)
	}

	// The watches are informer sources that the controller waits for without
	// polling (source.go), not those of For and Watches.
	services, err := newInformerSource(ctx, mgr.GetCache(), &corev1.Service{}, &handler.EnqueueRequestForObject{})
	if err != nil {
		return err
	}
	pods, err := newInformerSource(ctx, mgr.GetCache(), &corev1.Pod{}, &podHandler{
		index: r.Index, services: mgr.GetClient(), selector: r.ServiceSelector, batch: r.BatchPeriod, bursts: r.bursts,
	})
	if err != nil {
		return err
	}
	eps, err := newInformerSource(ctx, mgr.GetCache(), &corev1.Endpoints{}, handler.EnqueueRequestsFromMapFunc(r.endpointsChanged))
	if err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		WatchesRawSource(services).
		WatchesRawSource(pods).
		WatchesRawSource(eps).
		WatchesRawSource(source.Channel(sweep, &handler.EnqueueRequestForObject{})).
		WithLogConstructor(reconcileLogger(mgr.GetLogger())).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: r.MaxConcurrentReconciles,
			RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](baseRetryDelay, maxRetryDelay),
			EnableWarmup:            ptr.To(true),
			SkipNameValidation:      ptr.To(r.SkipNameValidation),
		}).
		Complete(r)
}

// reconcileLogger returns the loggers of the controller and of each sync,
// with the keys that For(&corev1.Service{}) would give them: the controller,
// its group and kind, and the Service of the request.
func reconcileLogger(base logr.Logger) func(*reconcile.Request) logr.Logger {
	base = base.WithValues("controller", ControllerName, "controllerGroup", "", "controllerKind", "Service")
	return func(req *reconcile.Request) logr.Logger {
		if req == nil {
			return base
		}
		return base.WithValues("Service", klog.KRef(req.Namespace, req.Name), "namespace", req.Namespace, "name", req.Name)
	}
}

// endpointsChanged maps Endpoints to the Service of the same name (spec 8.7:
// a managed Endpoints changed or deleted by someone else is repaired). The
// event of this controller's own write brings nothing new and is skipped,
// unless a sync waits for the cache to show that write (spec 8.5).
func (r *EndpointsReconciler) endpointsChanged(_ context.Context, obj client.Object) []reconcile.Request {
	if r.ownWrites.isOwn(obj) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(obj)}}
}

// podHandler maps Pod events to the Services whose selector matches the Pod
// (spec 9.2, 9.3), ignoring updates that cannot change any Endpoints, and
// delays them by batch to merge bursts (spec 9.4), or else merges the syncs
// of a burst of Pod changes while a lone change syncs at once.
type podHandler struct {
	// index finds the Services of a Pod through their selectors; when nil,
	// the Services of the Pod's namespace are listed through services.
	index    *CacheIndex
	services client.Reader
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
	if !podView(e.ObjectOld, &oldPod) || !podView(e.ObjectNew, &newPod) || !endpoints.PodChangeMatters(&oldPod, &newPod) {
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
	pod, ok := podMeta(obj)
	if !ok {
		return
	}
	add := func(svc *corev1.Service) {
		if h.selector != nil && !h.selector.Matches(labels.Set(svc.Labels)) {
			return
		}
		queue(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}})
	}
	if h.index != nil {
		if err := h.index.ServicesSelecting(pod.GetNamespace(), pod.GetLabels(), add); err != nil {
			log.FromContext(ctx).Error(err, "Finding the Services of a Pod", "pod", klog.KObj(pod))
		}
		return
	}
	services := &corev1.ServiceList{}
	if err := h.services.List(ctx, services, client.InNamespace(pod.GetNamespace()), client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "Listing Services for a Pod event", "namespace", pod.GetNamespace())
		return
	}
	for i := range services.Items {
		if svc := &services.Items[i]; svc.Spec.Selector != nil && selects(svc.Spec.Selector, pod.GetLabels()) {
			add(svc)
		}
	}
}

// orphanSweep visits every Endpoints once after the caches have synced and
// queues those without a Service for deletion (spec 8.6), sparing
// leader-election locks. It runs on the leader only.
type orphanSweep struct {
	reconciler *EndpointsReconciler
	cache      interface {
		client.Reader
		WaitForCacheSync(ctx context.Context) bool
	}
	events chan<- event.GenericEvent
}

var _ manager.LeaderElectionRunnable = &orphanSweep{}

// NeedLeaderElection makes the sweep run on the leader only.
func (s *orphanSweep) NeedLeaderElection() bool { return true }

// Start runs the sweep once.
func (s *orphanSweep) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("orphan-sweep")
	if !s.cache.WaitForCacheSync(ctx) {
		return nil // shutting down
	}
	list := &corev1.EndpointsList{}
	if err := s.cache.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing Endpoints for the start-up sweep: %w", err)
	}
	var orphans []*corev1.Endpoints
	for i := range list.Items {
		ep := &list.Items[i]
		if _, isLock := ep.Annotations[endpoints.LeaderElectionAnnotation]; isLock {
			continue
		}
		if (s.reconciler.ServiceSelector != nil || s.reconciler.SweepManagedOnly) && !endpoints.IsManaged(ep) {
			// Managing a chosen set of Services only, or told to spare
			// foreign Endpoints: other Endpoints may belong to another writer.
			continue
		}
		err := s.cache.Get(ctx, client.ObjectKeyFromObject(ep), &corev1.Service{})
		if err == nil || client.IgnoreNotFound(err) != nil {
			continue
		}
		orphans = append(orphans, ep)
	}
	logger.Info("Start-up sweep", "endpoints", len(list.Items), "orphaned", len(orphans))
	for _, ep := range orphans {
		s.reconciler.orphans.Store(client.ObjectKeyFromObject(ep), struct{}{})
		select {
		case s.events <- event.GenericEvent{Object: ep}:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}
