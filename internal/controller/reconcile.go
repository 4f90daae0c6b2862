// Package controller holds the Endpoints reconciler: it keeps the Endpoints
// of every Service with a selector equal to what package endpoints computes
// from the Service and its Pods.
package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
)

// errStaleCache reports that the cache still shows Endpoints this controller
// has already replaced (spec 8.5). It is transient: the informer catches up
// within moments, and the Endpoints event that brings the new version syncs
// the Service again.
var errStaleCache = errors.New("endpoints cache is stale")

// staleCacheError is an errStaleCache with how long to wait before retrying.
type staleCacheError struct {
	key        types.NamespacedName
	version    string
	retryAfter time.Duration
}

func (e *staleCacheError) Error() string {
	return fmt.Sprintf("%v: resourceVersion %s of %s was already replaced", errStaleCache, e.version, e.key)
}

func (e *staleCacheError) Is(target error) bool { return target == errStaleCache }

// maxRetries is the number of fast retries of one change (spec 8.4): with the
// 5 ms doubling back-off the 15th comes about 80 s after the first failure,
// which rides out a brief API server or webhook hiccup. A Service whose sync
// still fails then is retried every slowRetryPeriod until it succeeds: it is
// never dropped, so an outage of minutes cannot leave Endpoints stale for
// hours, and one broken Service costs one sync per period.
const maxRetries = 15

// slowRetryPeriod is the pace of retries after the fast ones (spec 8.4):
// minutes, not hours; slower than the last fast retries.
const slowRetryPeriod = 2 * time.Minute

// EndpointsReconciler keeps the Endpoints of each Service with a selector in
// line with the Service and its Pods. Requests are always the Service's
// namespace/name.
type EndpointsReconciler struct {
	// Client writes the Endpoints to the API server. Required. Syncs read
	// through Index, and live Endpoints through APIReader.
	Client client.Client
	// APIReader reads from the API server, not the cache: the live Endpoints
	// (see converge) are read with it. When nil, SetupWithManager uses the
	// manager's API reader; a reconciler used without a manager reads them
	// with Client, which must then read from the API server.
	APIReader client.Reader
	// Recorder emits Events on Services. Required.
	Recorder events.EventRecorder
	// Clock measures sync durations; the real clock when nil.
	Clock clock.PassiveClock
	// WriteMethod chooses how existing Endpoints are changed; WriteUpdate when empty.
	WriteMethod WriteMethod
	// DryRun sends every write with dryRun=All: validated, admitted, not
	// persisted; and reports how the Endpoints differ (shadow mode).
	DryRun bool
	// ShadowSettle is how long, with DryRun, a difference must last before
	// it is reported, so that another writer's lag is not; 0 reports at once.
	ShadowSettle time.Duration
	// WriteFence, when set, is asked before every write and delete: an error
	// refuses it, uncounted; otherwise it is sent with a context that ends at
	// the time returned (no end when zero). Leader election sets it so that
	// writes go out only while this replica holds a fresh Lease and never
	// outlive that Lease.
	WriteFence func() (deadline time.Time, err error)
	// ServiceSelector limits the Services managed; all Services when nil.
	ServiceSelector labels.Selector
	// BatchPeriod delays Pod-triggered syncs to merge bursts of Pod changes.
	BatchPeriod time.Duration
	// BurstMaxDelay, used when BatchPeriod is 0, bounds how long a burst of
	// Pod changes may hold back the syncs it asks for, which are merged so
	// that each Service is written once per burst; a lone change syncs at
	// once. 0 syncs every change at once.
	BurstMaxDelay time.Duration
	// DelayClock runs the burst batcher's timers; the real clock when nil.
	DelayClock clock.WithDelayedExecution
	// MaxConcurrentReconciles is the number of workers; 5 when zero.
	MaxConcurrentReconciles int
	// SkipNameValidation allows several controllers of this kind in one
	// process, which only tests do.
	SkipNameValidation bool
	// Index reads Services, Endpoints and Pods from the manager's cache by
	// pointer and through label indexes; the manager's options must have
	// been built with podcache.Install, which returns it. Required:
	// SetupWithManager also checks the cache's wiring. Objects read through
	// it belong to the cache and are never modified.
	Index *podcache.Index
	// SweepManagedOnly limits the start-up sweep (spec 8.6) to Endpoints that
	// carry this controller's managed-by label, leaving every other writer's
	// Endpoints alone, as ServiceSelector does (an embedding test suite's own
	// fixtures, for one).
	SweepManagedOnly bool
	// ManagedBy is the value written into the managed-by label, one of
	// endpoints.ManagedByValues; this controller's own when empty. With
	// kube-controller-manager's value, handing the Endpoints back to it costs
	// no write (spec 7.1).
	ManagedBy string

	bursts   *burstBatcher
	triggers *endpoints.TriggerTimeTracker
	// states holds what is remembered of each Service between syncs
	// (state.go), dropped by forget.
	states *serviceStates
}

// Reconcile converges one Service's Endpoints.
func (r *EndpointsReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := r.Clock.Now()
	result, err := r.sync(ctx, req.NamespacedName)
	var stale *staleCacheError
	if errors.As(err, &stale) {
		r.states.waiting(req.NamespacedName)
		// Not a failure: retry after a bounded back-off, without an error log
		// and without spending one of the Service's retries.
		log.FromContext(ctx).V(4).Info("Waiting for the cache to show the last write", "reason", err.Error(), "retryAfter", stale.retryAfter)
		syncsTotal.WithLabelValues(resultStale).Inc()
		return ctrl.Result{RequeueAfter: stale.retryAfter}, nil
	}
	var res ctrl.Result
	syncErr := err
	if err != nil {
		result = resultError
		if failures := r.states.failed(req.NamespacedName); failures > maxRetries {
			// Spec 8.4: past the fast retries, retry slowly until it works.
			logger := log.FromContext(ctx)
			logger.Error(err, "Sync keeps failing, retrying slowly", "failures", failures, "retryAfter", slowRetryPeriod)
			if failures == maxRetries+1 {
				r.reportFailing(req.NamespacedName, err)
			}
			res, err = ctrl.Result{RequeueAfter: slowRetryPeriod}, nil
		}
	} else {
		r.states.succeeded(req.NamespacedName)
	}
	syncsTotal.WithLabelValues(result).Inc()
	syncDuration.WithLabelValues(result).Observe(r.Clock.Since(start).Seconds())
	if res.RequeueAfter == 0 {
		res.RequeueAfter = r.states.afterSync(req.NamespacedName, syncErr)
	}
	return res, err
}

// sync reads the Service, its Pods and its Endpoints from the cache, computes
// the Endpoints and writes them if they differ. It returns the result label.
func (r *EndpointsReconciler) sync(ctx context.Context, key types.NamespacedName) (string, error) {
	logger := log.FromContext(ctx)
	svc := r.Index.Service(key)
	if svc == nil {
		return r.deleteEndpoints(ctx, key, true)
	}
	if r.ServiceSelector != nil && !r.ServiceSelector.Matches(labels.Set(svc.Labels)) {
		logger.V(5).Info("Service not selected by --service-label-selector")
		r.forget(key, false)
		return resultSkipped, nil
	}
	switch endpoints.ActionFor(svc) {
	case endpoints.ActionDelete:
		// Spec 1.3: an ExternalName Service has no Endpoints; stale ones we wrote go.
		return r.deleteEndpoints(ctx, key, false)
	case endpoints.ActionSkip:
		// Spec 1.4: the user manages these Endpoints.
		logger.V(5).Info("Service has no selector, Endpoints are user-managed")
		r.forget(key, false)
		return resultSkipped, nil
	case endpoints.ActionCompute:
	}
	r.states.managed(key)

	// Spec 8.5: check staleness before computing anything.
	current := r.Index.Endpoints(key)
	if current != nil {
		if wait, stale := r.states.check(current); stale {
			return "", &staleCacheError{key: key, version: current.ResourceVersion, retryAfter: wait}
		}
	}

	pods, err := r.Index.PodsSelectedBy(key.Namespace, svc.Spec.Selector)
	if err != nil {
		return "", fmt.Errorf("listing Pods of namespace %s for selector %v: %w", key.Namespace, svc.Spec.Selector, err)
	}
	in := inputsOf(svc, current, pods)
	if r.states.upToDateInputsMatch(key, in) {
		logger.V(5).Info("Nothing changed since the Endpoints were last found up to date")
		return resultUnchanged, nil
	}
	views := podcache.ViewsOf(pods)
	defer views.Release()
	triggerTime, commitTriggers := r.triggers.Observe(svc, views.Pods())
	res := endpoints.Compute(svc, views.Pods())
	r.reportExcluded(ctx, svc, res.Excluded)

	result, err := r.converge(ctx, svc, current, res, triggerTime)
	if err == nil {
		// Spec 7.3: the changes are published (or already were); a sync
		// that failed leaves them to the one that will publish them.
		commitTriggers()
	}
	r.states.setUpToDateInputs(key, in, err == nil && result == resultUnchanged)
	return result, err
}

// maxWrites bounds the writes of one sync: the one decided first and, after
// a conflict (409), one more decided from the live Endpoints. A second
// conflict is an error, retried with back-off: never a spin.
const maxWrites = 2

// converge is the write decision: it makes the Endpoints publish res, with
// current what the cache shows (nil when there are none), in at most
// maxWrites writes.
//
// The cache can be behind the API server: after a fail-over, the new
// leader's informers may not show the last writes of the previous one yet
// (its watches may still be reconnecting after an API server restart), and
// another writer may have just changed the Endpoints. Writing from such a
// cache fails with a conflict. So the first write of each Service by this
// process is decided from the live Endpoints, read from the API server;
// later writes start from the cache, which the stale guard keeps from being
// older than what this process wrote or read. Missing Endpoints are the
// exception (most of a start-up on a new cluster): a create cannot replace
// anything, so it is sent without that read, and an AlreadyExists answer is
// a conflict like any other. After a conflict the live Endpoints are read
// and the write is decided once more from them.
func (r *EndpointsReconciler) converge(ctx context.Context, svc *corev1.Service, current *corev1.Endpoints,
	res endpoints.Result, triggerTime time.Time) (string, error) {
	logger := log.FromContext(ctx)
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	from := current // what the write is decided from
	// (Apply creates and changes alike, so even its create is decided from
	// the live Endpoints.)
	createFromCache := current == nil && r.WriteMethod != WriteApply
	if !r.states.isVerified(key) && !createFromCache && !r.upToDate(svc, current, res, triggerTime) {
		live, err := r.readLive(ctx, key, current)
		if err != nil {
			return "", err
		}
		from = live
	}
	for attempt := 1; ; attempt++ {
		desired := endpoints.DesiredManagedBy(svc, from, res, triggerTime, r.ManagedBy)
		if from != nil && endpoints.UpToDate(from, desired, r.foreignLabels(from)) {
			logger.V(5).Info("Endpoints are up to date", "ready", res.Ready, "notReady", res.NotReady)
			r.states.setPublished(key, publishedOf(res))
			return resultUnchanged, nil
		}
		result, err := r.write(ctx, svc, from, desired)
		if err == nil {
			// A write accepted without a conflict was decided from what the
			// API server holds.
			r.states.setVerified(key)
			if !r.DryRun {
				r.states.setPublished(key, publishedOf(res))
			}
			return result, nil
		}
		if !isConflict(err) || attempt == maxWrites {
			return "", err
		}
		logger.V(2).Info("Conflict: reading the live Endpoints to decide once more", "reason", err.Error())
		if from, err = r.readLive(ctx, key, current); err != nil {
			return "", err
		}
	}
}

// readLive reads the Endpoints at key from the API server (nil when there
// are none). current is what the cache showed: when the live Endpoints are
// newer, the cache is behind and must not be synced from until it shows
// them.
func (r *EndpointsReconciler) readLive(ctx context.Context, key types.NamespacedName,
	current *corev1.Endpoints) (*corev1.Endpoints, error) {
	live := &corev1.Endpoints{}
	if err := r.APIReader.Get(ctx, key, live); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("getting live Endpoints %s: %w", key, err)
		}
		live = nil
	}
	r.states.setVerified(key)
	if current != nil && live != nil && newer(live.ResourceVersion, current.ResourceVersion) {
		r.states.replaced(current, live.ResourceVersion)
	}
	return live, nil
}

// upToDate reports whether current (nil for none) already publishes res.
func (r *EndpointsReconciler) upToDate(svc *corev1.Service, current *corev1.Endpoints, res endpoints.Result, triggerTime time.Time) bool {
	return current != nil &&
		endpoints.UpToDate(current, endpoints.DesiredManagedBy(svc, current, res, triggerTime, r.ManagedBy), r.foreignLabels(current))
}

// deleteEndpoints deletes the Endpoints at key when this controller may
// (spec 1.2, 1.3, 8.6): they carry its managed-by label, or the start-up sweep
// found them orphaned (serviceGone) and they are not a leader-election lock.
// Once they are gone, or are not this controller's to delete, the Service's
// state is forgotten; a failed delete keeps it for the retry (the failures
// count, the orphan mark).
func (r *EndpointsReconciler) deleteEndpoints(ctx context.Context, key types.NamespacedName, serviceGone bool) (string, error) {
	orphan := serviceGone && r.states.isOrphan(key)
	ep := r.Index.Endpoints(key)
	if ep == nil || !endpoints.MayDelete(ep, orphan) {
		if ep != nil && !endpoints.IsLeaderElectionLock(ep) {
			log.FromContext(ctx).V(4).Info("Leaving Endpoints without a Service alone: not written by this controller")
		}
		r.forget(key, serviceGone)
		return resultSkipped, nil
	}
	if err := r.remove(ctx, ep); err != nil {
		return "", err
	}
	if !r.DryRun {
		// A dry-run delete leaves the Endpoints, and what is known of them
		// (an orphan, a difference to report), in place.
		r.forget(key, serviceGone)
	}
	return resultDeleted, nil
}

// forget drops what is remembered of the Service at key (serviceStates.forget)
// and, once it is deleted, the trigger times of its Pods: like the reference
// controller, the trigger-time tracker keeps them while the Service exists,
// so that a Service managed again reports the changes since (spec 7.3).
func (r *EndpointsReconciler) forget(key types.NamespacedName, serviceGone bool) {
	r.states.forget(key)
	if serviceGone {
		r.triggers.Forget(key)
	}
}

// foreignLabels tells UpToDate which labels of current belong to other field
// managers (see endpoints.ForeignLabels).
func (r *EndpointsReconciler) foreignLabels(current *corev1.Endpoints) func(string) bool {
	return endpoints.ForeignLabels(r.WriteMethod, current)
}

// init fills in defaults and checks the required fields.
func (r *EndpointsReconciler) init() error {
	var errs []error
	if r.Client == nil {
		errs = append(errs, errors.New("EndpointsReconciler.Client is required"))
	}
	if r.Recorder == nil {
		errs = append(errs, errors.New("EndpointsReconciler.Recorder is required"))
	}
	if r.Index == nil {
		errs = append(errs, errors.New("EndpointsReconciler.Index is required: "+
			"build the manager's options with podcache.Install and set the Index it returns"))
	}
	switch r.WriteMethod {
	case "":
		r.WriteMethod = WriteUpdate
	case WriteUpdate, WritePatch, WriteApply:
	default:
		errs = append(errs, fmt.Errorf("unknown write method %q", r.WriteMethod))
	}
	if r.ManagedBy == "" {
		r.ManagedBy = endpoints.ControllerName
	} else if !slices.Contains(endpoints.ManagedByValues, r.ManagedBy) {
		errs = append(errs, fmt.Errorf("EndpointsReconciler.ManagedBy must be one of %q, not %q", endpoints.ManagedByValues, r.ManagedBy))
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 5
	}
	if r.DelayClock == nil {
		r.DelayClock = clock.RealClock{}
	}
	r.bursts = newBurstBatcher(r.BurstMaxDelay, r.DelayClock)
	r.triggers = endpoints.NewTriggerTimeTracker()
	r.states = newServiceStates(r.ShadowSettle, r.Clock)
	if r.APIReader == nil {
		r.APIReader = r.Client
	}
	return errors.Join(errs...)
}
