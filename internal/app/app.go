// Package app builds and runs the endpoints-controller manager: the options
// and flags of the binary, the manager, its probes and its controller. The
// binary, `make run` and the tests all start the controller through it, so
// they run the same wiring.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kube-endpoints/endpoints-controller/controllers"
	"github.com/kube-endpoints/endpoints-controller/internal/version"
)

// LeaderElectionID names the Lease that replicas compete for.
const LeaderElectionID = "endpoints-controller.kube-endpoints.io"

// Options are the settings of the controller, one flag each.
type Options struct {
	MetricsAddr             string
	MetricsSecure           bool
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration
	WriteMethod             string
	DryRun                  bool
	ShadowSettle            time.Duration
	ConcurrentSyncs         int
	BatchPeriod             time.Duration
	BurstMaxDelay           time.Duration
	ServiceSelector         string
	Namespaces              string
	GracefulShutdownTimeout time.Duration
	KubeAPIQPS              float64
	KubeAPIBurst            int
	PprofAddr               string
	// SkipNameValidation lets tests run several managers in one process; no flag.
	SkipNameValidation bool
	EnableHTTP2        bool
	MetricsCertPath    string
	MetricsCertName    string
	MetricsCertKey     string
	// SweepManagedOnly spares Endpoints without this controller's label in the
	// start-up sweep (pkg/envtestendpoints); no flag.
	SweepManagedOnly bool
}

// DefaultConcurrentSyncs is the default number of workers. Measured against
// a local kube-apiserver (`make bench-e2e`, README): more workers write the
// initial Endpoints of a large cluster faster until the API server is the
// bottleneck; see the README for the figures behind the choice.
const DefaultConcurrentSyncs = 20

// DefaultBurstMaxDelay is the default of --pod-burst-max-delay: how long a
// burst of Pod changes may hold back syncs, so that each Service is written
// once per burst. See the README for the measurements behind it.
const DefaultBurstMaxDelay = 2 * time.Second

// DefaultOptions returns the flag defaults.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:             "0",
		MetricsSecure:           true,
		ProbeAddr:               ":8081",
		LeaseDuration:           15 * time.Second,
		RenewDeadline:           10 * time.Second,
		RetryPeriod:             2 * time.Second,
		WriteMethod:             string(controllers.WriteUpdate),
		ConcurrentSyncs:         DefaultConcurrentSyncs,
		BurstMaxDelay:           DefaultBurstMaxDelay,
		ShadowSettle:            controllers.DefaultShadowSettle,
		GracefulShutdownTimeout: 30 * time.Second,
		MetricsCertName:         "tls.crt",
		MetricsCertKey:          "tls.key",
		PprofAddr:               "0",
	}
}

// BindFlags registers the options as flags on fs, with o's values as defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	methods := make([]string, len(controllers.WriteMethods))
	for i, m := range controllers.WriteMethods {
		methods[i] = string(m)
	}
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr,
		"Address of the metrics endpoint, e.g. :8443 (HTTPS) or :8080 (HTTP with --metrics-secure=false); 0 disables it.")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", o.MetricsSecure,
		"Serve metrics over HTTPS, to clients authenticated and authorized by the API server (TokenReview, SubjectAccessReview).")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "Address of /healthz and /readyz; 0 disables them.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect,
		"Elect a leader with a Lease, so that only one of several replicas writes.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace,
		"Namespace of the leader-election Lease; the Pod's own namespace in a cluster, else kube-system.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration,
		"How long a standby waits after the last renewal before taking over a lease.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline,
		"How long the leader keeps retrying to renew before it gives up leadership.")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "How often candidates try to acquire or renew the lease.")
	fs.StringVar(&o.WriteMethod, "write-method", o.WriteMethod,
		"How existing Endpoints are changed: "+strings.Join(methods, ", ")+" (PUT, JSON merge patch, server-side apply).")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun,
		"Send every write with dryRun=All: the API server validates it but persists nothing; log what would change.")
	fs.DurationVar(&o.ShadowSettle, "shadow-settle-period", o.ShadowSettle,
		"With --dry-run: how long live Endpoints must differ before the difference is reported, so that another writer's lag is not.")
	fs.IntVar(&o.ConcurrentSyncs, "concurrent-syncs", o.ConcurrentSyncs, "Number of Services synced at once.")
	fs.DurationVar(&o.BatchPeriod, "endpoint-updates-batch-period", o.BatchPeriod,
		"Delay of Pod-triggered syncs, to merge bursts of Pod changes into one write; 0 syncs at once.")
	fs.DurationVar(&o.BurstMaxDelay, "pod-burst-max-delay", o.BurstMaxDelay,
		"With --endpoint-updates-batch-period=0: during a burst of Pod changes (over 100 Service syncs a second), syncs wait "+
			"until the changes pause for 100ms, at most this long, so each Service is written once per burst; a lone change "+
			"syncs at once. 0 syncs every change at once.")
	fs.StringVar(&o.ServiceSelector, "service-label-selector", o.ServiceSelector,
		"Manage only the Services whose labels match this selector (e.g. 'endpoints=managed'); empty manages all.")
	fs.StringVar(&o.Namespaces, "namespaces", o.Namespaces, "Comma-separated namespaces to watch; empty watches all.")
	fs.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", o.GracefulShutdownTimeout,
		"How long in-flight syncs may take to finish on shutdown.")
	fs.Float64Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS,
		"Client-side limit of requests per second to the API server, e.g. to bound the writes of a start-up or a take-over; "+
			"0 sets no client-side limit and leaves it to the API server's priority and fairness.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst,
		"Requests allowed above --kube-api-qps in a burst; 0 means twice --kube-api-qps. Only used with --kube-api-qps.")
	o.bindMetricsTLSFlags(fs)
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", o.PprofAddr,
		"Address of the Go profiler, /debug/pprof/ over plain HTTP without authentication, e.g. localhost:8082; 0 disables it.")
}

// Validate checks the options; each error names its flag. It needs no
// connection: the binary calls it before anything connects.
func (o *Options) Validate() error {
	var errs []error
	valid := false
	for _, m := range controllers.WriteMethods {
		valid = valid || string(m) == o.WriteMethod
	}
	if !valid {
		errs = append(errs, fmt.Errorf("--write-method must be one of %v, not %q", controllers.WriteMethods, o.WriteMethod))
	}
	if o.ConcurrentSyncs < 1 {
		errs = append(errs, fmt.Errorf("--concurrent-syncs must be at least 1, not %d", o.ConcurrentSyncs))
	}
	if o.KubeAPIQPS < 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps must not be negative, not %v", o.KubeAPIQPS))
	}
	if o.KubeAPIBurst < 0 {
		errs = append(errs, fmt.Errorf("--kube-api-burst must not be negative, not %d", o.KubeAPIBurst))
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"--endpoint-updates-batch-period", o.BatchPeriod},
		{"--pod-burst-max-delay", o.BurstMaxDelay},
		{"--shadow-settle-period", o.ShadowSettle},
		{"--graceful-shutdown-timeout", o.GracefulShutdownTimeout},
		{"--leader-elect-lease-duration", o.LeaseDuration},
		{"--leader-elect-renew-deadline", o.RenewDeadline},
		{"--leader-elect-retry-period", o.RetryPeriod},
	} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, not %s", d.flag, d.value))
		}
	}
	if _, err := labels.Parse(o.ServiceSelector); err != nil {
		errs = append(errs, fmt.Errorf("--service-label-selector: %w", err))
	}
	if o.Namespaces != "" {
		for i, ns := range strings.Split(o.Namespaces, ",") {
			// An empty entry would mean "all namespaces" to the cache.
			if ns = strings.TrimSpace(ns); ns == "" {
				errs = append(errs, fmt.Errorf("--namespaces: entry %d is empty (a stray comma?)", i+1))
			} else if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
				errs = append(errs, fmt.Errorf("--namespaces: %q is not a valid namespace name: %s", ns, strings.Join(msgs, "; ")))
			}
		}
	}
	if ns := o.LeaderElectionNamespace; ns != "" {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("--leader-election-namespace: %q is not a valid namespace name: %s", ns, strings.Join(msgs, "; ")))
		}
	}
	if o.LeaderElect {
		if o.LeaseDuration <= o.RenewDeadline {
			errs = append(errs, fmt.Errorf("--leader-elect-lease-duration (%s) must be greater than --leader-elect-renew-deadline (%s)",
				o.LeaseDuration, o.RenewDeadline))
		}
		if o.RenewDeadline <= o.RetryPeriod {
			errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline (%s) must be greater than --leader-elect-retry-period (%s)",
				o.RenewDeadline, o.RetryPeriod))
		}
		if o.RetryPeriod <= 0 {
			errs = append(errs, fmt.Errorf("--leader-elect-retry-period must be positive, not %s", o.RetryPeriod))
		}
	}
	errs = append(errs, o.validateMetricsTLS()...)
	return errors.Join(errs...)
}

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
		metricsOpts.FilterProvider = metricsAuthFilter
	}
	certWatcher, err := o.metricsTLS(&metricsOpts)
	if err != nil {
		return nil, err
	}
	index := controllers.NewCacheIndex()
	cacheOpts := cache.Options{ByObject: controllers.CacheByObject(controllers.WriteMethod(o.WriteMethod)), NewInformer: index.NewInformer}
	if o.Namespaces != "" {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range strings.Split(o.Namespaces, ",") {
			cacheOpts.DefaultNamespaces[strings.TrimSpace(ns)] = cache.Config{}
		}
	}
	var guard *leaseGuard
	if o.LeaderElect {
		guard, err = newLeaseGuard(cfg, leaderElectionNamespace(o.LeaderElectionNamespace), o.RenewDeadline, onLost)
		if err != nil {
			return nil, err
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme,
		Cache:  cacheOpts,
		// The cache waits for its informers without polling (controllers/source.go).
		NewCache: func(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
			c, err := cache.New(cfg, opts)
			if err != nil {
				return nil, err
			}
			return index.WrapCache(c), nil
		},
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       leaderElectionNamespace(o.LeaderElectionNamespace),
		LeaderElectionReleaseOnCancel: true,
		// A nil *leaseGuard must not become a non-nil interface.
		LeaderElectionResourceLockInterface: lockOrNil(guard),
		LeaseDuration:                       ptr.To(o.LeaseDuration),
		RenewDeadline:                       ptr.To(o.RenewDeadline),
		RetryPeriod:                         ptr.To(o.RetryPeriod),
		GracefulShutdownTimeout:             ptr.To(o.GracefulShutdownTimeout),
		PprofBindAddress:                    o.PprofAddr,
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}

	var selector labels.Selector
	if o.ServiceSelector != "" {
		selector, _ = labels.Parse(o.ServiceSelector) // validated above
	}
	var fence func() error
	if guard != nil {
		fence = guard.fence
		var recorder events.EventRecorder = mgr.GetEventRecorder("leader-election")
		guard.recorder.Store(&recorder)
	}
	r := &controllers.EndpointsReconciler{
		Client:                  mgr.GetClient(),
		WriteFence:              fence,
		APIReader:               mgr.GetAPIReader(),
		Recorder:                mgr.GetEventRecorder(controllers.FieldManager),
		WriteMethod:             controllers.WriteMethod(o.WriteMethod),
		DryRun:                  o.DryRun,
		ShadowSettle:            o.ShadowSettle,
		ServiceSelector:         selector,
		BatchPeriod:             o.BatchPeriod,
		BurstMaxDelay:           o.BurstMaxDelay,
		MaxConcurrentReconciles: o.ConcurrentSyncs,
		SkipNameValidation:      o.SkipNameValidation,
		Index:                   index,
		SweepManagedOnly:        o.SweepManagedOnly,
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
