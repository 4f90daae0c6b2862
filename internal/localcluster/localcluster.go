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
	"k8s.io/client-go/tools/clientcmd"
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
	dir string
}

// Start starts a control plane from the binaries in assetsDir (etcd,
// kube-apiserver) and writes its kubeconfig into dir. apiServerArgs are added
// to kube-apiserver's flags, e.g. "audit-log-path" to a path.
//
// The API server keeps its certificates in dir, so that RestartAPIServer
// brings it back with the same serving CA, and it runs with
// --shutdown-send-retry-after, so that a graceful stop with open watches
// takes seconds instead of a minute.
func Start(assetsDir, dir string, apiServerArgs ...map[string]string) (*Cluster, error) {
	if assetsDir == "" {
		return nil, fmt.Errorf("no control plane binaries: set KUBEBUILDER_ASSETS (make run and make test do)")
	}
	// Fresh certificates for each control plane: envtest keeps the CA of
	// certificates it generated in memory only.
	certDir := filepath.Join(dir, "apiserver-certs")
	if err := os.RemoveAll(certDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return nil, err
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assetsDir}
	apiServer := env.ControlPlane.GetAPIServer()
	apiServer.CertDir = certDir
	apiServer.Configure().Set("shutdown-send-retry-after", "true")
	for _, args := range apiServerArgs {
		for k, v := range args {
			apiServer.Configure().Set(k, v)
		}
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting local control plane from %s: %w", assetsDir, err)
	}
	c := &Cluster{Config: cfg, env: env, dir: dir}
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

// AddUser adds a cluster administrator named name (group system:masters)
// and writes a kubeconfig for it into the cluster's directory, returning its
// path. server, when not empty, replaces the API server's address in it (a
// proxy in front of the API server, say). Processes given their own user are
// told apart in the API server's audit log.
func (c *Cluster) AddUser(name, server string) (string, error) {
	user, err := c.env.AddUser(envtest.User{Name: name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", fmt.Errorf("adding user %s: %w", name, err)
	}
	raw, err := user.KubeConfig()
	if err != nil {
		return "", fmt.Errorf("writing the kubeconfig of %s: %w", name, err)
	}
	if server != "" {
		kc, err := clientcmd.Load(raw)
		if err != nil {
			return "", fmt.Errorf("reading the kubeconfig of %s: %w", name, err)
		}
		for _, cluster := range kc.Clusters {
			cluster.Server = server
		}
		if raw, err = clientcmd.Write(*kc); err != nil {
			return "", fmt.Errorf("writing the kubeconfig of %s: %w", name, err)
		}
	}
	path := filepath.Join(c.dir, name+".kubeconfig")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return "", err
	}
	return path, nil
}

// RestartAPIServer stops kube-apiserver gracefully and starts it again on
// the same port, etcd and certificates; clients keep working once it is back.
func (c *Cluster) RestartAPIServer() error {
	apiServer := c.env.ControlPlane.GetAPIServer()
	if err := apiServer.Stop(); err != nil {
		return fmt.Errorf("stopping kube-apiserver: %w", err)
	}
	if err := apiServer.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver again: %w", err)
	}
	return nil
}

// Stop stops the control plane and removes its data.
func (c *Cluster) Stop() error {
	return c.env.Stop()
}
