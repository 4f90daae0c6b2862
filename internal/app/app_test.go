package app

import (
	"context"
	"flag"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

func TestFlagsSetOptions(t *testing.T) {
	opts := DefaultOptions()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	opts.BindFlags(fs)
	err := fs.Parse([]string{
		"--write-method=apply", "--dry-run", "--concurrent-syncs=7", "--endpoint-updates-batch-period=2s",
		"--leader-elect", "--leader-elect-lease-duration=20s", "--leader-elect-renew-deadline=12s", "--leader-elect-retry-period=3s",
		"--leader-election-namespace=ops", "--metrics-bind-address=:8443", "--metrics-secure=false",
		"--health-probe-bind-address=0", "--service-label-selector=endpoints=managed", "--namespaces=a,b",
		"--graceful-shutdown-timeout=5s", "--pod-burst-max-delay=300ms", "--kube-api-qps=50", "--kube-api-burst=80",
		"--shadow-settle-period=3s",
		"--enable-http2", "--metrics-cert-path=/certs", "--metrics-cert-name=c.pem", "--metrics-cert-key=k.pem",
		"--pprof-bind-address=localhost:8082", "--managed-by=endpoint-controller", "--leader-elect-resource-name=ec-lease",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Options{
		MetricsAddr: ":8443", MetricsSecure: false, ProbeAddr: "0", LeaderElect: true, LeaderElectionNamespace: "ops",
		LeaseDuration: 20 * time.Second, RenewDeadline: 12 * time.Second, RetryPeriod: 3 * time.Second,
		WriteMethod: "apply", DryRun: true, ConcurrentSyncs: 7, BatchPeriod: 2 * time.Second,
		ServiceSelector: "endpoints=managed", Namespaces: "a,b", GracefulShutdownTimeout: 5 * time.Second,
		BurstMaxDelay: 300 * time.Millisecond, KubeAPIQPS: 50, KubeAPIBurst: 80, ShadowSettle: 3 * time.Second,
		EnableHTTP2: true, MetricsCertPath: "/certs", MetricsCertName: "c.pem", MetricsCertKey: "k.pem",
		PprofAddr: "localhost:8082", ManagedBy: "endpoint-controller", LeaderElectionName: "ec-lease",
	}
	if opts != want {
		t.Errorf("options = %+v\nwant %+v", opts, want)
	}
	opts.MetricsSecure = true // a certificate needs HTTPS
	if err := opts.Validate(); err != nil {
		t.Errorf("Validate() = %v, want nil", err)
	}
}

func TestDefaultsAreValid(t *testing.T) {
	opts := DefaultOptions()
	if err := opts.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	opts.LeaderElect = true
	if err := opts.Validate(); err != nil {
		t.Fatalf("defaults with --leader-elect: %v", err)
	}
	if opts.WriteMethod != "update" || opts.ConcurrentSyncs != DefaultConcurrentSyncs || opts.BatchPeriod != 0 ||
		opts.BurstMaxDelay != DefaultBurstMaxDelay || opts.KubeAPIQPS != 0 || opts.MetricsAddr != "0" || opts.ProbeAddr != ":8081" ||
		opts.PprofAddr != "0" {
		t.Errorf("defaults = %+v, want update, %d syncs, no batching, bursts held at most %s, no client-side limit, no metrics, probes on :8081, no profiler",
			opts, DefaultConcurrentSyncs, DefaultBurstMaxDelay)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Options)
		want   string
	}{
		{"unknown write method", func(o *Options) { o.WriteMethod = "replace" }, "--write-method must be one of"},
		{"unknown managed-by value", func(o *Options) { o.ManagedBy = "kube-controller-manager" }, "--managed-by must be one of"},
		{"no workers", func(o *Options) { o.ConcurrentSyncs = 0 }, "--concurrent-syncs must be at least 1"},
		{"negative batch period", func(o *Options) { o.BatchPeriod = -time.Second }, "--endpoint-updates-batch-period must not be negative"},
		{"negative graceful shutdown", func(o *Options) { o.GracefulShutdownTimeout = -time.Second }, "--graceful-shutdown-timeout must not be negative"},
		{"negative lease duration", func(o *Options) { o.LeaseDuration = -time.Second }, "--leader-elect-lease-duration must not be negative"},
		{"negative renew deadline", func(o *Options) { o.RenewDeadline = -time.Second }, "--leader-elect-renew-deadline must not be negative"},
		{"negative retry period", func(o *Options) { o.RetryPeriod = -time.Second }, "--leader-elect-retry-period must not be negative"},
		{"namespaces with a stray comma", func(o *Options) { o.Namespaces = "a," }, "--namespaces: entry 2 is empty"},
		{"namespaces with an empty entry", func(o *Options) { o.Namespaces = "a,,b" }, "--namespaces: entry 2 is empty"},
		{"namespaces with a blank entry", func(o *Options) { o.Namespaces = " ,a" }, "--namespaces: entry 1 is empty"},
		{"namespace with capitals", func(o *Options) { o.Namespaces = "a,Prod" }, `--namespaces: "Prod" is not a valid namespace name`},
		{"namespace with a slash", func(o *Options) { o.Namespaces = "team/a" }, `--namespaces: "team/a" is not a valid namespace name`},
		{"namespace too long", func(o *Options) { o.Namespaces = strings.Repeat("a", 64) }, "--namespaces:"},
		{"leader election namespace", func(o *Options) { o.LeaderElectionNamespace = "kube_system" }, "--leader-election-namespace:"},
		{"metrics certificate over plain HTTP", func(o *Options) { o.MetricsCertPath, o.MetricsSecure = "/certs", false }, "--metrics-cert-path needs --metrics-secure"},
		{"metrics certificate without a file name", func(o *Options) { o.MetricsCertPath, o.MetricsCertName = "/certs", "" }, "--metrics-cert-name must not be empty"},
		{"bad selector", func(o *Options) { o.ServiceSelector = "a in (b" }, "--service-label-selector"},
		{"negative burst delay", func(o *Options) { o.BurstMaxDelay = -time.Second }, "--pod-burst-max-delay must not be negative"},
		{"negative shadow settle period", func(o *Options) { o.ShadowSettle = -time.Second }, "--shadow-settle-period must not be negative"},
		{"negative qps", func(o *Options) { o.KubeAPIQPS = -1 }, "--kube-api-qps must not be negative"},
		{"negative burst", func(o *Options) { o.KubeAPIBurst = -1 }, "--kube-api-burst must not be negative"},
		{"renew deadline not below lease", func(o *Options) {
			o.LeaderElect, o.LeaseDuration, o.RenewDeadline = true, 10*time.Second, 10*time.Second
		}, "--leader-elect-lease-duration (10s) must be greater than --leader-elect-renew-deadline (10s)"},
		{"retry period not below renew deadline", func(o *Options) {
			o.LeaderElect, o.RetryPeriod = true, o.RenewDeadline
		}, "--leader-elect-renew-deadline (10s) must be greater than 1.2 times --leader-elect-retry-period (10s), 12s"},
		// Issue 16: client-go's elector wants the renew deadline above the
		// retry period with its jitter; 10s and 9s passed a weaker check and
		// failed only after connecting.
		{"retry period with its jitter not below renew deadline", func(o *Options) {
			o.LeaderElect, o.RetryPeriod = true, 9*time.Second
		}, "--leader-elect-renew-deadline (10s) must be greater than 1.2 times --leader-elect-retry-period (9s), 10.8s"},
		{"zero lease duration", func(o *Options) {
			o.LeaderElect, o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = true, 0, 0, 0
		}, "--leader-elect-lease-duration must be positive, not 0s"},
		{"zero renew deadline", func(o *Options) {
			o.LeaderElect, o.RenewDeadline = true, 0
		}, "--leader-elect-renew-deadline must be positive, not 0s"},
		{"NaN qps", func(o *Options) { o.KubeAPIQPS = math.NaN() }, "--kube-api-qps must be a finite number, not NaN"},
		{"infinite qps", func(o *Options) { o.KubeAPIQPS = math.Inf(1) }, "--kube-api-qps must be a finite number, not +Inf"},
		{"negative infinite qps", func(o *Options) { o.KubeAPIQPS = math.Inf(-1) }, "--kube-api-qps must be a finite number, not -Inf"},
		{"qps beyond float32", func(o *Options) { o.KubeAPIQPS = 1e39 }, "--kube-api-qps must be a finite number, not 1e+39"},
		{"Lease name", func(o *Options) { o.LeaderElectionName = "Endpoints_Lease" }, `--leader-elect-resource-name: "Endpoints_Lease" is not a valid Lease name`},
		{"empty Lease name", func(o *Options) { o.LeaderElectionName = "" }, `--leader-elect-resource-name: "" is not a valid Lease name`},
		{"missing authentication kubeconfig", func(o *Options) { o.AuthenticationKubeconfig = "/nonexistent/kubeconfig" },
			"--authentication-kubeconfig: stat /nonexistent/kubeconfig: no such file or directory"},
		{"missing authorization kubeconfig", func(o *Options) { o.AuthorizationKubeconfig = "/nonexistent/kubeconfig" },
			"--authorization-kubeconfig: stat /nonexistent/kubeconfig"},
		{"review kubeconfig over plain HTTP", func(o *Options) { o.AuthorizationKubeconfig, o.MetricsSecure = "/nonexistent/kubeconfig", false },
			"--authorization-kubeconfig needs --metrics-secure"},
		{"zero retry period", func(o *Options) {
			o.LeaderElect, o.RetryPeriod = true, 0
		}, "--leader-elect-retry-period must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := DefaultOptions()
			tc.mutate(&opts)
			err := opts.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
			if _, err := NewManager(nil, opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewManager() = %v, want the validation error", err)
			}
		})
	}
}

func TestLeaderElectionNamespace(t *testing.T) {
	if got := leaderElectionNamespace("ops"); got != "ops" {
		t.Errorf("explicit namespace: got %q", got)
	}
	// Outside a cluster there is no service account namespace file.
	if got := leaderElectionNamespace(""); got != "kube-system" {
		t.Errorf("outside a cluster: got %q, want kube-system", got)
	}
}

// The deprecation warning that the API server attaches to every Endpoints
// call is logged once, not once per call; another warning is logged too.
func TestWarningsLoggedOnce(t *testing.T) {
	var lines []string
	logger := funcr.New(func(_, args string) { lines = append(lines, args) }, funcr.Options{})
	ctx := log.IntoContext(context.Background(), logger)
	limited := DefaultOptions()
	limited.KubeAPIQPS = 50
	if cfg := clientConfig(&rest.Config{Host: "https://example.invalid", QPS: -1}, limited); cfg.QPS != 50 || cfg.Burst != 100 {
		t.Errorf("clientConfig with --kube-api-qps=50: QPS %v, burst %d; want 50, 100", cfg.QPS, cfg.Burst)
	}
	limited.KubeAPIBurst = 70
	if cfg := clientConfig(&rest.Config{Host: "https://example.invalid"}, limited); cfg.QPS != 50 || cfg.Burst != 70 {
		t.Errorf("clientConfig with --kube-api-qps=50 --kube-api-burst=70: QPS %v, burst %d; want 50, 70", cfg.QPS, cfg.Burst)
	}
	if cfg := clientConfig(&rest.Config{Host: "https://example.invalid", QPS: -1}, DefaultOptions()); cfg.QPS != -1 {
		t.Errorf("clientConfig by default: QPS %v, want the config's own -1 (no client-side limit)", cfg.QPS)
	}
	cfg := clientConfig(&rest.Config{Host: "https://example.invalid"}, DefaultOptions())
	if cfg.WarningHandler != nil || cfg.WarningHandlerWithContext == nil {
		t.Fatalf("clientConfig: WarningHandler %v, WarningHandlerWithContext %v", cfg.WarningHandler, cfg.WarningHandlerWithContext)
	}
	const deprecated = "v1 Endpoints is deprecated in v1.33+; use discovery.k8s.io/v1 EndpointSlice"
	for range 100 {
		cfg.WarningHandlerWithContext.HandleWarningHeaderWithContext(ctx, 299, "-", deprecated)
	}
	cfg.WarningHandlerWithContext.HandleWarningHeaderWithContext(ctx, 299, "-", "another warning")
	if len(lines) != 2 || !strings.Contains(lines[0], deprecated) || !strings.Contains(lines[1], "another warning") {
		t.Errorf("logged %d lines %q, want the deprecation warning once, then the other one", len(lines), lines)
	}
}
