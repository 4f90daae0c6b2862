// Command endpoints-controller keeps the core/v1 Endpoints of every Service
// with a selector in line with its Pods. `endpoints-controller diff` shows
// what it would change, without writing.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/version"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "diff" {
		os.Exit(runDiff(ctrl.SetupSignalHandler(), os.Args[2:], os.Stdout, os.Stderr))
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "endpoints-controller:", err)
		os.Exit(1)
	}
}

func run() error {
	opts := app.DefaultOptions()
	opts.BindFlags(flag.CommandLine)
	// --kubeconfig is registered by controller-runtime; --zap-devel,
	// --zap-log-level, --zap-encoder (JSON by default) and friends by zap.
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	showVersion := flag.Bool("version", false, "Print the version and exit.")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Get())
		return nil
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	// Malformed flags are refused before anything connects.
	if err := opts.Validate(); err != nil {
		return err
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	return app.Run(ctrl.SetupSignalHandler(), cfg, opts)
}
