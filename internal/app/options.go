// Package app builds and runs the endpoints-controller manager: the options
// and flags of the binary, the manager, its probes and its controller. The
// binary, `make run` and the tests all start the controller through it, so
// they run the same wiring.
package app

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/leaderelection"

	"github.com/kube-endpoints/endpoints-controller/internal/controller"
	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Options are the settings of the controller, one flag each.
type Options struct {
	MetricsAddr             string
	MetricsSecure           bool
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	// LeaderElectionName names the Lease; LeaderElectionID by default.
	LeaderElectionName      string
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
	// AuthenticationKubeconfig and AuthorizationKubeconfig send the metrics
	// endpoint's TokenReviews and SubjectAccessReviews to another cluster's
	// API server (internal/metricsauth).
	AuthenticationKubeconfig string
	AuthorizationKubeconfig  string
	// SweepManagedOnly spares Endpoints without this controller's label in the
	// start-up sweep (pkg/envtestendpoints); no flag.
	SweepManagedOnly bool
	// ManagedBy is the value of the managed-by label this controller writes
	// (--managed-by): its own, or kube-controller-manager's.
	ManagedBy string
}

// DefaultConcurrentSyncs is the default number of workers. Measured against
// a local kube-apiserver (`make bench-e2e`, docs/benchmarks.md): more workers write the
// initial Endpoints of a large cluster faster until the API server is the
// bottleneck; see docs/benchmarks.md for the figures behind the choice.
const DefaultConcurrentSyncs = 20

// DefaultBurstMaxDelay is the default of --pod-burst-max-delay: 0, no burst
// merging. Freshness comes first (spec 9.4): holding a change back while a
// worker is free made the Endpoints trail the EndpointSlices during every
// rollout (p99 2 s, against 0.17 s for the reference); the work queue
// already merges the changes of a Service queued while workers are busy.
// Merging is opt-in; docs/benchmarks.md has the measurements.
const DefaultBurstMaxDelay = time.Duration(0)

// DefaultOptions returns the flag defaults.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:             "0",
		MetricsSecure:           true,
		ProbeAddr:               ":8081",
		LeaderElectionName:      LeaderElectionID,
		LeaseDuration:           15 * time.Second,
		RenewDeadline:           10 * time.Second,
		RetryPeriod:             2 * time.Second,
		WriteMethod:             string(controller.WriteUpdate),
		ConcurrentSyncs:         DefaultConcurrentSyncs,
		BurstMaxDelay:           DefaultBurstMaxDelay,
		ShadowSettle:            controller.DefaultShadowSettle,
		GracefulShutdownTimeout: 30 * time.Second,
		MetricsCertName:         "tls.crt",
		MetricsCertKey:          "tls.key",
		PprofAddr:               "0",
		ManagedBy:               endpoints.ControllerName,
	}
}

// BindFlags registers the options as flags on fs, with o's values as defaults.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	methods := make([]string, len(controller.WriteMethods))
	for i, m := range controller.WriteMethods {
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
	fs.StringVar(&o.LeaderElectionName, "leader-elect-resource-name", o.LeaderElectionName,
		"Name of the leader-election Lease; replicas that share it elect one leader. The RBAC Role of the Lease names it too.")
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
			"syncs at once. Opt-in: it saves writes at the cost of freshness. 0 (the default) syncs every change at once.")
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
	fs.StringVar(&o.ManagedBy, "managed-by", o.ManagedBy,
		"Value of the endpoints.kubernetes.io/managed-by label on the Endpoints this controller writes: its own ("+
			endpoints.ControllerName+") or kube-controller-manager's ("+endpoints.ReferenceControllerName+
			"), so that handing the Endpoints back to kube-controller-manager costs no write.")
	o.bindMetricsTLSFlags(fs)
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", o.PprofAddr,
		"Address of the Go profiler, /debug/pprof/ over plain HTTP without authentication, e.g. localhost:8082; 0 disables it.")
}

// Validate checks the options; each error names its flag. It needs no
// connection: the binary calls it before anything connects.
func (o *Options) Validate() error {
	var errs []error
	valid := false
	for _, m := range controller.WriteMethods {
		valid = valid || string(m) == o.WriteMethod
	}
	if !valid {
		errs = append(errs, fmt.Errorf("--write-method must be one of %v, not %q", controller.WriteMethods, o.WriteMethod))
	}
	if o.ConcurrentSyncs < 1 {
		errs = append(errs, fmt.Errorf("--concurrent-syncs must be at least 1, not %d", o.ConcurrentSyncs))
	}
	errs = append(errs, o.validateClientLimits()...)
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
	errs = append(errs, o.validateManagedBy()...)
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
	if msgs := validation.IsDNS1123Subdomain(o.LeaderElectionName); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("--leader-elect-resource-name: %q is not a valid Lease name: %s",
			o.LeaderElectionName, strings.Join(msgs, "; ")))
	}
	if o.LeaderElect {
		errs = append(errs, o.validateLeaseTimings()...)
	}
	errs = append(errs, o.validateMetricsTLS()...)
	return errors.Join(errs...)
}

// validateManagedBy checks --managed-by: only the two values that the
// deletion rules count as managed may be written.
func (o *Options) validateManagedBy() []error {
	if !slices.Contains(endpoints.ManagedByValues, o.ManagedBy) {
		return []error{fmt.Errorf("--managed-by must be one of %q, not %q", endpoints.ManagedByValues, o.ManagedBy)}
	}
	return nil
}

// validateClientLimits checks --kube-api-qps and --kube-api-burst.
func (o *Options) validateClientLimits() []error {
	var errs []error
	switch {
	case math.IsNaN(o.KubeAPIQPS) || math.IsInf(o.KubeAPIQPS, 0) || o.KubeAPIQPS > math.MaxFloat32:
		// NaN passes every comparison; Inf (and what float32 cannot
		// hold) would be an unbounded rate limiter or a broken one.
		errs = append(errs, fmt.Errorf("--kube-api-qps must be a finite number, not %v", o.KubeAPIQPS))
	case o.KubeAPIQPS < 0:
		errs = append(errs, fmt.Errorf("--kube-api-qps must not be negative, not %v", o.KubeAPIQPS))
	}
	if o.KubeAPIBurst < 0 {
		errs = append(errs, fmt.Errorf("--kube-api-burst must not be negative, not %d", o.KubeAPIBurst))
	}
	return errs
}

// validateLeaseTimings checks the leader-election timings as client-go's
// leaderelection.NewLeaderElector does, so that what passes here does not
// fail after connecting: each positive, the lease duration above the renew
// deadline, and the renew deadline above the retry period with its jitter
// (leaderelection.JitterFactor).
func (o *Options) validateLeaseTimings() []error {
	var errs []error
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{
		{"--leader-elect-lease-duration", o.LeaseDuration},
		{"--leader-elect-renew-deadline", o.RenewDeadline},
		{"--leader-elect-retry-period", o.RetryPeriod},
	} {
		if d.value <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, not %s", d.flag, d.value))
		}
	}
	if o.LeaseDuration <= o.RenewDeadline {
		errs = append(errs, fmt.Errorf("--leader-elect-lease-duration (%s) must be greater than --leader-elect-renew-deadline (%s)",
			o.LeaseDuration, o.RenewDeadline))
	}
	if jittered := time.Duration(leaderelection.JitterFactor * float64(o.RetryPeriod)); o.RenewDeadline <= jittered {
		errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline (%s) must be greater than %g times --leader-elect-retry-period (%s), %s",
			o.RenewDeadline, leaderelection.JitterFactor, o.RetryPeriod, jittered))
	}
	return errs
}
