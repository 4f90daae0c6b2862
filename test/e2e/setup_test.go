package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/localcluster"
)

// env is what a test of the built binary runs with.
type env struct {
	bin     string // the endpoints-controller binary
	dir     string // the test's directory: logs, kubeconfig, audit log
	cluster *localcluster.Cluster
	c       client.Client
}

// setup builds the binary while a local control plane starts, with
// apiServerArgs added to kube-apiserver's flags.
func setup(t *testing.T, apiServerArgs map[string]string) *env {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: it must name the directory holding etcd and kube-apiserver, " +
			"e.g. bin/k8s/1.37.2-linux-amd64 (`make test-e2e` sets it; `make envtest` builds them)")
	}
	start := time.Now()
	e := &env{dir: t.TempDir()}
	type built struct {
		bin string
		err error
	}
	buildDone := make(chan built, 1)
	root := repoRoot(t)
	go func() {
		bin, err := buildBinary(root, e.dir)
		buildDone <- built{bin, err}
	}()
	cluster, err := localcluster.Start(assets, filepath.Join(e.dir, "cluster"), apiServerArgs)
	b := <-buildDone
	if err != nil {
		t.Fatal(err)
	}
	e.cluster = cluster
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Errorf("Stopping the control plane: %v", err)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	e.bin = b.bin
	e.c, err = client.New(cluster.Config, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Binary built and control plane started in %s", time.Since(start).Round(time.Millisecond))
	return e
}

// startReplicas starts n replicas named prefix-0 ... and waits until each
// answers /readyz.
func (e *env) startReplicas(t *testing.T, prefix string, n int) []*replica {
	t.Helper()
	ports := freePorts(t, 2*n)
	replicas := make([]*replica, n)
	for i := range replicas {
		replicas[i] = startReplica(t, e.bin, e.cluster.KubeconfigPath, prefix+"-"+string(rune('0'+i)), e.dir, ports[2*i], ports[2*i+1])
	}
	for _, r := range replicas {
		waitReady(t, r)
	}
	return replicas
}

// waitReady waits until r answers /readyz with 200.
func waitReady(t *testing.T, r *replica) {
	t.Helper()
	eventually(t, 60*time.Second, r.name+" to answer /readyz with 200", func() (bool, error) {
		if r.exited() {
			t.Fatalf("%s exited: %v", r.name, r.waitErr)
		}
		return r.ready()
	})
}
