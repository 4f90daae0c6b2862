// Package localcluster starts a throw-away control plane (etcd and
// kube-apiserver, no scheduler, no kubelet, no controller-manager) for
// `make run` and the end-to-end tests, from the binaries that `make envtest`
// builds under bin/k8s.
package localcluster

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Cluster is a running local control plane.
type Cluster struct {
	// Config connects as a cluster administrator.
	Config *rest.Config
	// KubeconfigPath is a kubeconfig file for Config, for kubectl and for
	// processes started against the cluster.
	KubeconfigPath string

	env *envtest.Environment
}

// Start starts a control plane from the binaries in assetsDir (etcd,
// kube-apiserver) and writes its kubeconfig into dir.
func Start(assetsDir, dir string) (*Cluster, error) {
	if assetsDir == "" {
		return nil, fmt.Errorf("no control plane binaries: set KUBEBUILDER_ASSETS (make run and make test do)")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assetsDir}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting local control plane from %s: %w", assetsDir, err)
	}
	c := &Cluster{Config: cfg, env: env}
	user, err := env.AddUser(envtest.User{Name: "local-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("adding an admin user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("writing kubeconfig: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		_ = env.Stop()
		return nil, err
	}
	c.KubeconfigPath = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.KubeconfigPath, kubeconfig, 0o600); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return c, nil
}

// Stop stops the control plane and removes its data.
func (c *Cluster) Stop() error {
	return c.env.Stop()
}
