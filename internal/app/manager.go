package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kube-endpoints/endpoints-controller/internal/controller"
	"github.com/kube-endpoints/endpoints-controller/internal/metricsauth"
	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
	"github.com/kube-endpoints/endpoints-controller/internal/version"
)

// LeaderElectionID names the Lease that replicas compete for, unless
// --leader-elect-resource-name says otherwise.
const LeaderElectionID = "endpoints-controller.kube-endpoints.io"

// NewManager returns a manager with the Endpoints controller, probes and
// metrics set up from o, connected through cfg.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	return newManager(cfg, o, nil)
}

// newManager is NewManager; onLost is called when this replica, leader, finds
// that it lost the Lease (see leaseGuard).
func newManager(cfg *rest.Config, o Options, onLost func()) (ctrl.Manager, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg = clientConfig(cfg, o)

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	metricsOpts := metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.MetricsSecure}
	if o.MetricsSecure {
		metricsOpts.FilterProvider = metricsauth.FilterProvider(metricsauth.Config{
			AuthenticationKubeconfig: o.AuthenticationKubeconfig,
			AuthorizationKubeconfig:  o.AuthorizationKubeconfig,
		})
	}
	certWatcher, err := o.metricsTLS(&metricsOpts)
	if err != nil {
		return nil, err
	}
	var cacheOpts cache.Options
	if o.Namespaces != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range strings.Split(o.Namespaces, ",") {
			cacheOpts.DefaultNamespaces[strings.TrimSpace(ns)] = cache.Config{}
		}
	}
	var guard *leaseGuard
	if o.LeaderElect {
		guard, err = newLeaseGuard(cfg, leaderElectionNamespace(o.LeaderElectionNamespace), o.LeaderElectionName, o.RenewDeadline, onLost)
		if err != nil {
			return nil, err
		}
	}
	mgrOpts := ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaderElectionName,
		LeaderElectionNamespace:       leaderElectionNamespace(o.LeaderElectionNamespace),
		LeaderElectionReleaseOnCancel: true,
		// A nil *leaseGuard must not become a non-nil interface.
		LeaderElectionResourceLockInterface: lockOrNil(guard),
		LeaseDuration:                       ptr.To(o.LeaseDuration),
		RenewDeadline:                       ptr.To(o.RenewDeadline),
		RetryPeriod:                         ptr.To(o.RetryPeriod),
		GracefulShutdownTimeout:             ptr.To(o.GracefulShutdownTimeout),
		PprofBindAddress:                    o.PprofAddr,
	}
	// The cache keeps compact Pods, carries the label indexes and waits for
	// its informers without polling (internal/podcache).
	index := podcache.Install(&mgrOpts, controller.WriteMethod(o.WriteMethod) == controller.WriteApply)
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}

	var selector labels.Selector
	if o.ServiceSelector != "" {
		selector, _ = labels.Parse(o.ServiceSelector) // validated above
	}
	var fence func() (time.Time, error)
	if guard != nil {
		fence = guard.fence
		recorder := eventRecorder(mgr, "leader-election", o.DryRun)
		guard.recorder.Store(&recorder)
	}
	r := &controller.EndpointsReconciler{
		Client:                  mgr.GetClient(),
		WriteFence:              fence,
		APIReader:               mgr.GetAPIReader(),
		Recorder:                eventRecorder(mgr, controller.FieldManager, o.DryRun),
		WriteMethod:             controller.WriteMethod(o.WriteMethod),
		DryRun:                  o.DryRun,
		ShadowSettle:            o.ShadowSettle,
		ServiceSelector:         selector,
		BatchPeriod:             o.BatchPeriod,
		BurstMaxDelay:           o.BurstMaxDelay,
		MaxConcurrentReconciles: o.ConcurrentSyncs,
		SkipNameValidation:      o.SkipNameValidation,
		Index:                   index,
		SweepManagedOnly:        o.SweepManagedOnly,
		ManagedBy:               o.ManagedBy,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the Endpoints controller: %w", err)
	}

	if certWatcher != nil {
		if err := mgr.Add(certWatcher); err != nil {
			return nil, fmt.Errorf("adding the metrics certificate watcher: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("adding health check: %w", err)
	}
	ready, err := cacheSyncedCheck(mgr)
	if err != nil {
		return nil, fmt.Errorf("adding cache sync watcher: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", ready); err != nil {
		return nil, fmt.Errorf("adding ready check: %w", err)
	}
	return mgr, nil
}

// clientConfig returns a copy of cfg for the manager. Every Endpoints call
// carries the API's deprecation warning: each distinct warning is logged
// once, not once per call.
//
// --kube-api-qps, when set, limits the requests per second on the client
// side; otherwise the config's own limit stays (controller-runtime's default
// config has none and relies on the API server's priority and fairness).
func clientConfig(cfg *rest.Config, o Options) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if o.KubeAPIQPS > 0 {
		cfg.QPS = float32(o.KubeAPIQPS)
		cfg.Burst = o.KubeAPIBurst
		if cfg.Burst == 0 {
			cfg.Burst = int(2 * o.KubeAPIQPS)
		}
		cfg.RateLimiter = nil
	}
	cfg.WarningHandler = nil
	cfg.WarningHandlerWithContext = log.NewKubeAPIWarningLogger(log.KubeAPIWarningLoggerOptions{Deduplicate: true})
	return cfg
}

// Run runs the controller until ctx is done. It returns ErrLeaseLost when
// this replica led and lost the Lease: the caller must exit non-zero.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	mgr, err := newManager(cfg, o, func() { cancel(ErrLeaseLost) })
	if err != nil {
		return err
	}
	v := version.Get()
	log.FromContext(ctx).Info("Starting endpoints-controller", "version", v.Version, "revision", v.Revision,
		"writeMethod", o.WriteMethod, "dryRun", o.DryRun,
		"leaderElect", o.LeaderElect, "concurrentSyncs", o.ConcurrentSyncs, "batchPeriod", o.BatchPeriod, "podBurstMaxDelay", o.BurstMaxDelay,
		"serviceSelector", o.ServiceSelector, "namespaces", o.Namespaces)
	if err := mgr.Start(ctx); err != nil {
		return err
	}
	if cause := context.Cause(ctx); errors.Is(cause, ErrLeaseLost) {
		return cause
	}
	return nil
}

// lockOrNil returns g as a resource lock, nil when g is nil.
func lockOrNil(g *leaseGuard) resourcelock.Interface {
	if g == nil {
		return nil
	}
	return g
}

// cacheSyncedCheck is ready once the informers have synced, on leaders and
// standbys alike: a standby with a warm cache can take over at once.
func cacheSyncedCheck(mgr ctrl.Manager) (healthz.Checker, error) {
	var synced atomic.Bool
	err := mgr.Add(everyReplica(func(ctx context.Context) error {
		if mgr.GetCache().WaitForCacheSync(ctx) {
			synced.Store(true)
		}
		return nil
	}))
	return func(_ *http.Request) error {
		if !synced.Load() {
			return errors.New("caches are not synced yet")
		}
		return nil
	}, err
}

// leaderElectionNamespace returns ns, else the namespace of the Pod the
// controller runs in, else kube-system.
func leaderElectionNamespace(ns string) string {
	if ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return metav1.NamespaceSystem
}

// everyReplica is a runnable that runs on every replica, leader or not.
type everyReplica func(ctx context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }

// NeedLeaderElection is false: the runnable serves standbys too.
func (f everyReplica) NeedLeaderElection() bool { return false }

// eventRecorder returns the manager's recorder of Events under name, or with
// dryRun one that only logs them: shadow mode runs beside the controller in
// charge and must not write Warning events on users' Services (issue 16).
func eventRecorder(mgr ctrl.Manager, name string, dryRun bool) events.EventRecorder {
	if dryRun {
		return dryRunRecorder{log: mgr.GetLogger().WithName("events").WithValues("recorder", name)}
	}
	return mgr.GetEventRecorder(name)
}

// dryRunRecorder logs the Events a dry run would record, at V(1).
type dryRunRecorder struct{ log logr.Logger }

// Eventf implements events.EventRecorder.
func (r dryRunRecorder) Eventf(regarding, _ runtime.Object, eventtype, reason, action, note string, args ...any) {
	kv := []any{"type", eventtype, "reason", reason, "action", action, "note", fmt.Sprintf(note, args...)}
	if m, err := meta.Accessor(regarding); err == nil {
		kv = append(kv, "regarding", klog.KObj(m))
	}
	r.log.V(1).Info("Dry run: Event not recorded", kv...)
}
