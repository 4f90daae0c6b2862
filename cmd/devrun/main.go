// Command devrun is what `make run` starts: the controller against the cluster
// in KUBECONFIG (or the in-cluster config, or ~/.kube/config) when there is
// one, else against a local control plane that it starts, seeds with a demo
// and stops on Ctrl-C.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/localcluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run() error {
	opts := app.DefaultOptions()
	// Locally, metrics are plain HTTP on :8080 unless the flags say otherwise.
	opts.MetricsAddr, opts.MetricsSecure = ":8080", false
	opts.BindFlags(flag.CommandLine)
	demo := flag.Bool("demo", true, "With a local control plane: create a demo Service and Pods.")
	stateDir := flag.String("local-dir", ".local", "With a local control plane: where its kubeconfig is written.")
	zapOpts := zap.Options{Development: true}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	ctx := ctrl.SetupSignalHandler()

	if clusterConfigured() {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return fmt.Errorf("loading kubeconfig: %w", err)
		}
		fmt.Fprintf(os.Stderr, "Running against the configured cluster %s\n", cfg.Host)
		return app.Run(ctx, cfg, opts)
	}

	fmt.Fprintln(os.Stderr, "No cluster configured: starting a local control plane (etcd + kube-apiserver)")
	dir, err := filepath.Abs(*stateDir)
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
	if *demo {
		c, err := client.New(cluster.Config, client.Options{})
		if err != nil {
			return err
		}
		if err := localcluster.SeedDemo(ctx, c); err != nil {
			return err
		}
	}
	printHowTo(cluster.KubeconfigPath, opts.MetricsAddr, *demo)
	return app.Run(ctx, cluster.Config, opts)
}

// clusterConfigured reports whether a cluster is configured: --kubeconfig,
// $KUBECONFIG, in-cluster service account, or a default kubeconfig file.
func clusterConfigured() bool {
	if f := flag.Lookup("kubeconfig"); f != nil && f.Value.String() != "" {
		return true
	}
	if os.Getenv("KUBECONFIG") != "" || os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return true
	}
	_, err := os.Stat(clientcmd.RecommendedHomeFile)
	return err == nil
}

func printHowTo(kubeconfig, metricsAddr string, demo bool) {
	kubectl := "kubectl"
	if assets := os.Getenv("KUBEBUILDER_ASSETS"); assets != "" {
		if _, err := os.Stat(filepath.Join(assets, "kubectl")); err == nil {
			kubectl = filepath.Join(assets, "kubectl")
		}
	}
	fmt.Fprintf(os.Stderr, "\nLocal control plane ready. Its kubeconfig: %s\nIn another terminal:\n\n", kubeconfig)
	fmt.Fprintf(os.Stderr, "    export KUBECONFIG=%s\n", kubeconfig)
	if demo {
		fmt.Fprintf(os.Stderr, "    %s get endpoints -n %s -o wide\n", kubectl, localcluster.DemoNamespace)
	} else {
		fmt.Fprintf(os.Stderr, "    %s get endpoints -A\n", kubectl)
	}
	if strings.HasPrefix(metricsAddr, ":") {
		metricsAddr = "localhost" + metricsAddr
	}
	fmt.Fprintf(os.Stderr, "\nMetrics: curl -s %s/metrics | grep endpoints_controller\n", metricsAddr)
	fmt.Fprintf(os.Stderr, "Ctrl-C stops the controller and the control plane.\n\n")
}
