// Package controllers holds the Endpoints reconciler: it keeps the Endpoints
// of every Service with a selector equal to what package endpoints computes
// from the Service and its Pods.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Event reasons, for what a user can act on.
const (
	// ReasonFailedToCreateEndpoint: the API server refused to create the Endpoints.
	ReasonFailedToCreateEndpoint = "FailedToCreateEndpoint"
	// ReasonFailedToUpdateEndpoint: the API server refused to change the Endpoints.
	ReasonFailedToUpdateEndpoint = "FailedToUpdateEndpoint"
	// ReasonInvalidEndpointAddress: Pods or ports were left out because the API
	// server would reject them in an Endpoints object.
	ReasonInvalidEndpointAddress = "InvalidEndpointAddress"
)

// errStaleCache reports that the cache still shows Endpoints this controller
// has already replaced (spec 8.5). It is transient: the informer catches up
// within moments, and the Endpoints event that brings the new version syncs
// the Service again.
var errStaleCache = errors.New("endpoints cache is stale")

// staleRetryDelay is how long a sync that met a stale cache waits. The event
// of the write usually arrives first; this is the safety net.
const staleRetryDelay = 100 * time.Millisecond

// maxRetries bounds the retries of one change. With the 5 ms doubling back-off
// the 15th retry comes about 80 s after the first failure; a change that still
// fails then is dropped until the next event for the Service, so that one
// broken Service does not keep a worker busy forever (spec 8.4).
const maxRetries = 15

// EndpointsReconciler keeps the Endpoints of each Service with a selector in
// line with the Service and its Pods. Requests are always the Service's
// namespace/name.
type EndpointsReconciler struct {
	// Client reads from the manager's cache and writes to the API server. Required.
	Client client.Client
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
	// ServiceSelector limits the Services managed; all Services when nil.
	ServiceSelector labels.Selector
	// BatchPeriod delays Pod-triggered syncs to merge bursts of Pod changes.
	BatchPeriod time.Duration
	// BurstWindow, used when BatchPeriod is 0, merges the Pod changes of a
	// Service that follow its first one within the window into one sync at
	// the window's end; the first change syncs at once. 0 syncs every change
	// at once.
	BurstWindow time.Duration
	// MaxConcurrentReconciles is the number of workers; 5 when zero.
	MaxConcurrentReconciles int
	// SkipNameValidation allows several controllers of this kind in one
	// process, which only tests do.
	SkipNameValidation bool
	// Index reads Services, Endpoints and Pods from the manager's cache by
	// pointer and through label indexes; the manager's cache must have been
	// built with Index.NewInformer. When nil, reads go through Client: deep
	// copies and namespace scans, fine for small tests only.
	Index *CacheIndex

	reader    cacheReader
	pacer     *pacer
	triggers  *endpoints.TriggerTimeTracker
	stale     *staleTracker
	published *publishedState
	shadow    *shadowState
	// orphans holds the keys that the start-up sweep found without a Service:
	// those Endpoints are deleted even without the managed-by label (spec 8.6).
	orphans sync.Map
	// reported holds, per Service, the invalid exclusions last reported in an
	// event, so that an event is raised when they change, not on every sync.
	reported sync.Map
	// failures counts consecutive failed syncs per Service (spec 8.4).
	failuresMu sync.Mutex
	failures   map[types.NamespacedName]int
}

// Reconcile converges one Service's Endpoints.
func (r *EndpointsReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	start := r.Clock.Now()
	result, err := r.sync(ctx, req.NamespacedName)
	if errors.Is(err, errStaleCache) {
		// Not a failure: retry shortly without an error log and without
		// spending one of the Service's retries.
		log.FromContext(ctx).V(4).Info("Waiting for the cache to show the last write", "reason", err.Error())
		syncsTotal.WithLabelValues(resultStale).Inc()
		return ctrl.Result{RequeueAfter: staleRetryDelay}, nil
	}
	if err != nil {
		result = resultError
		if r.giveUp(req.NamespacedName) {
			log.FromContext(ctx).Error(err, "Dropping Service out of the queue after repeated failures", "retries", maxRetries)
			result, err = resultDropped, nil
		}
	} else {
		r.succeeded(req.NamespacedName)
	}
	syncsTotal.WithLabelValues(result).Inc()
	syncDuration.WithLabelValues(result).Observe(r.Clock.Since(start).Seconds())
	return ctrl.Result{RequeueAfter: r.shadow.afterSync(req.NamespacedName, err)}, err
}

// sync reads the Service, its Pods and its Endpoints from the cache, computes
// the Endpoints and writes them if they differ. It returns the result label.
func (r *EndpointsReconciler) sync(ctx context.Context, key types.NamespacedName) (string, error) {
	logger := log.FromContext(ctx)
	svc, err := r.reader.service(ctx, key)
	if err != nil {
		return "", err
	}
	if svc == nil {
		return r.deleteEndpoints(ctx, key, true)
	}
	r.orphans.Delete(key)
	if r.ServiceSelector != nil && !r.ServiceSelector.Matches(labels.Set(svc.Labels)) {
		logger.V(5).Info("Service not selected by --service-label-selector")
		r.published.forget(key)
		return resultSkipped, nil
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		// Spec 1.3: an ExternalName Service has no Endpoints; stale ones we wrote go.
		return r.deleteEndpoints(ctx, key, false)
	}
	if svc.Spec.Selector == nil {
		// Spec 1.4: the user manages these Endpoints.
		logger.V(5).Info("Service has no selector, Endpoints are user-managed")
		r.published.forget(key)
		return resultSkipped, nil
	}

	pods, err := r.reader.pods(ctx, key.Namespace, svc.Spec.Selector)
	if err != nil {
		return "", err
	}
	triggerTime := r.triggers.Observe(svc, pods)
	res := endpoints.Compute(svc, pods)

	current, err := r.reader.endpoints(ctx, key)
	if err != nil {
		return "", err
	}
	if current != nil && r.stale.isStale(current) {
		return "", fmt.Errorf("%w: resourceVersion %s of %s was already replaced", errStaleCache, current.ResourceVersion, key)
	}

	r.reportExcluded(ctx, svc, res.Excluded)
	desired := endpoints.Desired(svc, current, res, triggerTime)
	if current != nil && endpoints.UpToDate(current, desired, r.foreignLabels(current)) {
		logger.V(5).Info("Endpoints are up to date", "ready", res.Ready, "notReady", res.NotReady)
		r.published.set(key, res)
		return resultUnchanged, nil
	}
	result, err := r.write(ctx, svc, current, desired)
	if err == nil && !r.DryRun {
		r.published.set(key, res)
	}
	return result, err
}

// deleteEndpoints deletes the Endpoints at key when this controller may
// (spec 1.2, 1.3, 8.6): they carry its managed-by label, or the start-up sweep
// found them orphaned (serviceGone) and they are not a leader-election lock.
func (r *EndpointsReconciler) deleteEndpoints(ctx context.Context, key types.NamespacedName, serviceGone bool) (string, error) {
	if serviceGone {
		r.triggers.Forget(key)
		r.stale.forget(key)
	}
	r.published.forget(key)
	r.reported.Delete(key)
	_, orphan := r.orphans.LoadAndDelete(key)
	ep, err := r.reader.endpoints(ctx, key)
	if err != nil {
		return "", err
	}
	if ep == nil {
		return resultSkipped, nil
	}
	if _, isLock := ep.Annotations[endpoints.LeaderElectionAnnotation]; isLock {
		return resultSkipped, nil
	}
	if !endpoints.IsManaged(ep) && (!orphan || !serviceGone) {
		log.FromContext(ctx).V(4).Info("Leaving Endpoints without a Service alone: not written by this controller")
		return resultSkipped, nil
	}
	if err := r.remove(ctx, ep); err != nil {
		if orphan {
			r.orphans.Store(key, struct{}{})
		}
		return "", err
	}
	if orphan && r.DryRun {
		// A dry-run delete leaves the orphan in place: still an orphan.
		r.orphans.Store(key, struct{}{})
	}
	return resultDeleted, nil
}

// foreignLabels tells UpToDate which labels of current belong to other field
// managers. Only server-side apply leaves such labels in place; the full
// writes replace all labels, so nothing is foreign for them.
func (r *EndpointsReconciler) foreignLabels(current *corev1.Endpoints) func(string) bool {
	if r.WriteMethod != WriteApply {
		return nil
	}
	owned := labelsOwnedByUs(current)
	return func(key string) bool { return !owned[key] }
}

// reportExcluded raises one Warning event for the Pods and ports left out
// because the API server would reject them (spec 3.6), when they differ from
// what was last reported for the Service, and logs the rest.
func (r *EndpointsReconciler) reportExcluded(ctx context.Context, svc *corev1.Service, excluded []endpoints.Exclusion) {
	logger := log.FromContext(ctx)
	var invalid []endpoints.Exclusion
	var lines []string
	for _, e := range excluded {
		if !e.Invalid() {
			logger.V(4).Info("Left out of Endpoints", "pod", e.Pod, "port", e.Port, "reason", e.Reason, "detail", e.Detail)
			continue
		}
		invalid = append(invalid, e)
		lines = append(lines, e.String())
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	joined := strings.Join(lines, "\n")
	if last, found := r.reported.Load(key); (found && last == joined) || (!found && joined == "") {
		return
	}
	r.reported.Store(key, joined)
	if len(invalid) == 0 {
		return
	}
	for _, e := range invalid {
		excludedTotal.WithLabelValues(string(e.Reason)).Inc()
	}
	const shown = 5 // keep the event readable; the count tells the rest
	msg := fmt.Sprintf("%d invalid Pod address(es) or port(s) left out of Endpoints", len(lines))
	for i, s := range lines {
		if i == shown {
			msg += "; ..."
			break
		}
		msg += "; " + s
	}
	logger.Info("Left invalid Pods or ports out of Endpoints", "count", len(lines), "first", lines[0])
	r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, ReasonInvalidEndpointAddress, "Sync", "%s", msg)
}

// giveUp counts a failure of key and reports whether it has been retried
// maxRetries times already.
func (r *EndpointsReconciler) giveUp(key types.NamespacedName) bool {
	r.failuresMu.Lock()
	defer r.failuresMu.Unlock()
	r.failures[key]++
	if r.failures[key] > maxRetries {
		delete(r.failures, key)
		return true
	}
	return false
}

func (r *EndpointsReconciler) succeeded(key types.NamespacedName) {
	r.failuresMu.Lock()
	delete(r.failures, key)
	r.failuresMu.Unlock()
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
	switch r.WriteMethod {
	case "":
		r.WriteMethod = WriteUpdate
	case WriteUpdate, WritePatch, WriteApply:
	default:
		errs = append(errs, fmt.Errorf("unknown write method %q", r.WriteMethod))
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.MaxConcurrentReconciles <= 0 {
		r.MaxConcurrentReconciles = 5
	}
	r.reader = clientReader{r.Client}
	if r.Index != nil {
		r.reader = indexReader{r.Index}
	}
	r.pacer = newPacer(r.BurstWindow, r.Clock)
	r.triggers = endpoints.NewTriggerTimeTracker()
	r.stale = newStaleTracker()
	r.published = newPublishedState()
	r.shadow = newShadowState(r.ShadowSettle, r.Clock)
	r.failures = make(map[types.NamespacedName]int)
	return errors.Join(errs...)
}
