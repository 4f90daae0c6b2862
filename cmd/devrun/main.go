// Command devrun is what `make run` starts: the controller against the cluster
// in --kubeconfig, KUBECONFIG, the in-cluster config or ~/.kube/config (the
// order the binary resolves them in) when one is configured, else against a
// local control plane that it starts, seeds with a live demo and stops on
// Ctrl-C. Against a configured cluster it runs in shadow mode (--dry-run)
// unless --dry-run=false is given: a developer's `make run` must not become a
// second writer beside the controller really in charge. `make demo`
// (--local) always starts the local control plane. Metrics and probes listen
// on localhost only.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/localcluster"
)

// Demo modes of --demo.
const (
	demoLive   = "live"
	demoStatic = "static"
	demoOff    = "off"
)

// demoInterval is the pace of the live demo: slow enough to read each change
// in `kubectl get endpoints -w`, fast enough to see several in a minute.
const demoInterval = 3 * time.Second

// reachTimeout bounds the check that a configured cluster answers, so that a
// dead cluster fails `make run` at once instead of hanging.
const reachTimeout = 10 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run() error {
	opts := app.DefaultOptions()
	// Locally, metrics are plain HTTP, so on localhost only, unless the flags
	// say otherwise; the probes too.
	opts.MetricsAddr, opts.MetricsSecure, opts.ProbeAddr = "localhost:8080", false, "localhost:8081"
	opts.BindFlags(flag.CommandLine)
	local := flag.Bool("local", false, "Always start a local control plane with the demo, even when a cluster is configured (make demo).")
	demo := flag.String("demo", demoLive, "With a local control plane: "+demoLive+
		" (a demo Service whose Pods change every few seconds), "+demoStatic+" (the same, unchanging) or "+demoOff+".")
	stateDir := flag.String("local-dir", ".local", "With a local control plane: where its kubeconfig is written.")
	checkCluster := flag.Bool("check-cluster", false,
		"Only check the configured cluster: print \"configured\" when there is one and it answers, "+
			"\"none\" when there is none; fail when it is broken.")
	zapOpts := zap.Options{Development: true}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	mode, err := demoMode(*demo)
	if err != nil {
		return err
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	dryRunSet := false
	flag.Visit(func(f *flag.Flag) { dryRunSet = dryRunSet || f.Name == "dry-run" })

	var cfg *rest.Config
	var source string
	if !*local {
		if cfg, source, err = configuredCluster(); err != nil {
			return err
		}
	}
	if *checkCluster {
		if cfg == nil {
			fmt.Println("none")
		} else {
			fmt.Println("configured")
		}
		return nil
	}
	ctx := ctrl.SetupSignalHandler()
	if cfg != nil {
		fmt.Fprintf(os.Stderr, "Running against %s, API server %s, of %s\n", describeContext(), cfg.Host, source)
		if !dryRunSet {
			opts.DryRun = true
		}
		if opts.DryRun {
			fmt.Fprintln(os.Stderr, "Shadow mode (--dry-run): nothing is written, differences are logged. "+
				"To write, make run ARGS=--dry-run=false; for the local demo instead, make demo.")
		} else {
			fmt.Fprintln(os.Stderr, "WRITING Endpoints (--dry-run=false): switch off any other endpoints controller of this cluster first.")
		}
		return app.Run(ctx, cfg, opts)
	}
	return runLocal(ctx, opts, mode, *stateDir)
}

// demoMode parses --demo; true and false are the values of the flag when it
// was a boolean.
func demoMode(s string) (string, error) {
	switch s {
	case demoLive, "true":
		return demoLive, nil
	case demoStatic:
		return demoStatic, nil
	case demoOff, "false":
		return demoOff, nil
	}
	return "", fmt.Errorf("--demo must be %s, %s or %s, not %q", demoLive, demoStatic, demoOff, s)
}

// configuredCluster returns the configured cluster, after checking that it
// answers, and where its configuration comes from; a nil config when none is
// configured. A configured but broken or unreachable cluster is an error that
// names the kubeconfig: `make run` never falls back to a local control plane
// by surprise.
func configuredCluster() (*rest.Config, string, error) {
	source := kubeconfigSource()
	if source == "" {
		return nil, "", nil
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", source, err)
	}
	check := rest.CopyConfig(cfg)
	check.Timeout = reachTimeout
	dc, err := discovery.NewDiscoveryClientForConfig(check)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", source, err)
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, "", fmt.Errorf("cannot reach the cluster %s of %s: %w", cfg.Host, source, err)
	}
	return cfg, source, nil
}

// kubeconfigSource names where ctrl.GetConfig takes the cluster from, in its
// order: --kubeconfig, $KUBECONFIG, the in-cluster service account,
// ~/.kube/config; "" when none of them is there.
func kubeconfigSource() string {
	if f := flag.Lookup("kubeconfig"); f != nil && f.Value.String() != "" {
		return "kubeconfig " + f.Value.String() + " (--kubeconfig)"
	}
	if v := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); v != "" {
		return "kubeconfig " + v + " (KUBECONFIG)"
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != "" {
		return "the in-cluster service account"
	}
	if _, err := os.Stat(clientcmd.RecommendedHomeFile); err == nil {
		return "kubeconfig " + clientcmd.RecommendedHomeFile
	}
	return ""
}

// describeContext names the kubeconfig context and cluster in use, as
// `kubectl config current-context` would: context "x" (cluster "y").
func describeContext() string {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f := flag.Lookup("kubeconfig"); f != nil && f.Value.String() != "" {
		rules.ExplicitPath = f.Value.String()
	}
	raw, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).RawConfig()
	if err != nil || raw.CurrentContext == "" {
		return "the in-cluster config"
	}
	cluster := ""
	if c := raw.Contexts[raw.CurrentContext]; c != nil {
		cluster = c.Cluster
	}
	return fmt.Sprintf("context %q (cluster %q)", raw.CurrentContext, cluster)
}

// runLocal starts a local control plane, seeds the demo and runs the
// controller against it until ctx ends.
func runLocal(ctx context.Context, opts app.Options, mode, stateDir string) error {
	fmt.Fprintln(os.Stderr, "Starting a local control plane (etcd + kube-apiserver)")
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	cluster, err := localcluster.Start(os.Getenv("KUBEBUILDER_ASSETS"), dir)
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(os.Stderr, "Stopping the local control plane")
		if err := cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping the local control plane:", err)
		}
	}()
	if mode != demoOff {
		c, err := client.New(cluster.Config, client.Options{})
		if err != nil {
			return err
		}
		if err := localcluster.SeedDemo(ctx, c); err != nil {
			return err
		}
		if mode == demoLive {
			go localcluster.RunDemo(ctx, c, demoInterval, func(msg string) { fmt.Fprintln(os.Stderr, "Demo:", msg) })
		}
	}
	printHowTo(cluster.KubeconfigPath, opts.MetricsAddr, mode)
	return app.Run(ctx, cluster.Config, opts)
}

func printHowTo(kubeconfig, metricsAddr, mode string) {
	kubectl := "kubectl"
	if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" {
		if _, err := os.Stat(filepath.Join(assets, "kubectl")); err == nil {
			kubectl = filepath.Join(assets, "kubectl")
		}
	}
	fmt.Fprintf(os.Stderr, "\nLocal control plane ready. Its kubeconfig: %s\nIn another terminal:\n\n", kubeconfig)
	fmt.Fprintf(os.Stderr, "    export KUBECONFIG=%s\n", kubeconfig)
	switch mode {
	case demoLive:
		fmt.Fprintf(os.Stderr, "    %s get endpoints -n %s -w\n\n", kubectl, localcluster.DemoNamespace)
		fmt.Fprintf(os.Stderr, "and watch the controller follow the demo: every %s a Pod of Service %s/%s turns ready or unready,\n"+
			"and now and then one is replaced by a Pod with a new IP.\n", demoInterval, localcluster.DemoNamespace, localcluster.DemoService)
	case demoStatic:
		fmt.Fprintf(os.Stderr, "    %s get endpoints -n %s -o wide\n", kubectl, localcluster.DemoNamespace)
	default:
		fmt.Fprintf(os.Stderr, "    %s get endpoints -A\n", kubectl)
	}
	if strings.HasPrefix(metricsAddr, ":") {
		metricsAddr = "localhost" + metricsAddr
	}
	fmt.Fprintf(os.Stderr, "\nMetrics: curl -s %s/metrics | grep endpoints_controller\n", metricsAddr)
	fmt.Fprintf(os.Stderr, "Ctrl-C stops the controller and the control plane.\n\n")
}
