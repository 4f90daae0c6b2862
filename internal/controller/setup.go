package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
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
	if r.APIReader == nil {
		// A manager's client reads from its cache: live reads go through
		// the manager's API reader.
		r.APIReader = mgr.GetAPIReader()
	}
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
	if err := r.Index.Complete(); err != nil {
		return err
	}

	if err := mgr.Add(stateGauges{states: r.states}); err != nil {
		return fmt.Errorf("adding the gauges: %w", err)
	}
	sweep := make(chan event.GenericEvent)
	if err := mgr.Add(&orphanSweep{reconciler: r, cache: mgr.GetCache(), events: sweep}); err != nil {
		return fmt.Errorf("adding start-up sweep: %w", err)
	}

	// The watches are informer sources that the controller waits for without
	// polling (source.go), not those of For and Watches.
	services, err := podcache.NewSource(ctx, mgr.GetCache(), &corev1.Service{}, &handler.EnqueueRequestForObject{})
	if err != nil {
		return err
	}
	pods, err := podcache.NewSource(ctx, mgr.GetCache(), &corev1.Pod{}, &podHandler{
		index: r.Index, selector: r.ServiceSelector, batch: r.BatchPeriod, bursts: r.bursts,
	})
	if err != nil {
		return err
	}
	eps, err := podcache.NewSource(ctx, mgr.GetCache(), &corev1.Endpoints{}, endpointsHandler{own: r.states})
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
