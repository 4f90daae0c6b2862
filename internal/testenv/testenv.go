// Package testenv starts a kube-apiserver and etcd (envtest) for one test.
package testenv

import (
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
