// Package testenv starts a kube-apiserver and etcd (envtest) for tests: one
// per test (Start), or one per package from TestMain (Main).
package testenv

import (
	"fmt"
	"os"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Start starts a control plane from the binaries in KUBEBUILDER_ASSETS, stops
// it when the test ends, and returns an administrator's config.
func Start(t testing.TB) *rest.Config {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: it must name the directory holding etcd and kube-apiserver (make test sets it)")
	}
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("Stopping envtest: %v", err)
		}
	})
	return cfg
}

// Main starts env for a package's tests, calls run with an administrator's
// config, stops env and returns the exit code for TestMain: run's, or 1 when
// the control plane does not start or stop.
func Main(env *envtest.Environment, run func(cfg *rest.Config) int) int {
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "Starting envtest (KUBEBUILDER_ASSETS=%q; `make test` sets it): %v\n",
			os.Getenv("KUBEBUILDER_ASSETS"), err)
		return 1
	}
	code := run(cfg)
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "Stopping envtest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
