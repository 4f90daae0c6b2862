package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/localcluster"
)

// makeRun starts `make run` in the repository with LOCALBIN set to bin, so
// that nothing it builds or fetches goes elsewhere, and with env added to the
// environment (KUBECONFIG is replaced). Its output goes to out.
func makeRun(t *testing.T, bin string, out *bytes.Buffer, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "run", "LOCALBIN="+bin,
		"ARGS=--metrics-bind-address=0 --health-probe-bind-address=0")
	cmd.Dir = repoRoot(t)
	for _, kv := range os.Environ() {
		// Not the caller's cluster, nor the flags of a make that runs this test.
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "KUBEBUILDER_ASSETS=") &&
			!strings.HasPrefix(kv, "MAKEFLAGS=") && !strings.HasPrefix(kv, "MFLAGS=") && !strings.HasPrefix(kv, "MAKELEVEL=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that the test can stop make and the
	// controller it runs together.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// TestMakeRun runs `make run` against a configured cluster and against broken
// ones, with one LOCALBIN (devrun is linked once) that holds no control plane
// binaries and must still hold none afterwards.
func TestMakeRun(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "bin")
	t.Run("configured", func(t *testing.T) { testMakeRunAgainstConfiguredCluster(t, bin) })
	t.Run("broken", func(t *testing.T) { testMakeRunBrokenKubeconfig(t, bin) })
}

// testMakeRunAgainstConfiguredCluster runs `make run` with KUBECONFIG naming a
// running API server: the controller must publish Endpoints there without any
// control plane binary being fetched or built.
func testMakeRunAgainstConfiguredCluster(t *testing.T, bin string) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: it must name the directory holding etcd and kube-apiserver (make test sets it)")
	}
	dir := t.TempDir()
	cluster, err := localcluster.Start(assets, filepath.Join(dir, "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Errorf("Stopping the control plane: %v", err)
		}
	})
	ctx := t.Context()
	c, err := client.New(cluster.Config, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	createService(ctx, t, c)
	createPod(ctx, t, c, 0, true)
	createPod(ctx, t, c, 1, false)

	var out bytes.Buffer
	cmd := makeRun(t, bin, &out, "KUBECONFIG="+cluster.KubeconfigPath)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if err := <-done; err != nil {
			t.Logf("make run ended: %v", err)
		}
		if t.Failed() {
			t.Logf("Output of make run:\n%s", out.String())
		}
	})

	// Building devrun from a cold cache takes a while on a loaded machine.
	eventually(t, 3*time.Minute, "make run to publish the Endpoints of web", func() (bool, error) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("make run exited early: %v", err)
		default:
		}
		return endpointsMatch(ctx, c, want{0: true, 1: false})
	})
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err
	case <-time.After(time.Minute):
		t.Fatal("make run did not stop within a minute of SIGINT")
	}
	if !strings.Contains(out.String(), " of kubeconfig "+cluster.KubeconfigPath+" (KUBECONFIG)\n") {
		t.Errorf("make run did not say which cluster it runs against:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(bin, "k8s")); !os.IsNotExist(err) {
		t.Errorf("make run fetched or built control plane binaries into %s/k8s (stat: %v)", bin, err)
	}
}

// testMakeRunBrokenKubeconfig runs `make run` with KUBECONFIG naming a missing
// file and one naming a cluster that does not answer: each fails at once with
// one line naming the kubeconfig, and starts no control plane.
func testMakeRunBrokenKubeconfig(t *testing.T, bin string) {
	dir := t.TempDir()
	dead := filepath.Join(dir, "dead.kubeconfig")
	if err := os.WriteFile(dead, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.kubeconfig")
	for _, tc := range []struct {
		name, kubeconfig, want string
	}{
		{"missing", missing, "make run: kubeconfig " + missing + " (KUBECONFIG): invalid configuration"},
		{"unreachable", dead, "make run: cannot reach the cluster https://127.0.0.1:1 of kubeconfig " + dead + " (KUBECONFIG): "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			cmd := makeRun(t, bin, &out, "KUBECONFIG="+tc.kubeconfig)
			err := cmd.Run()
			if err == nil {
				t.Fatalf("make run succeeded; want a failure. Output:\n%s", out.String())
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				// make's own lines: creating LOCALBIN, and the failed target.
				if !strings.HasPrefix(l, "make: ") && !strings.HasPrefix(l, "make[") && !strings.HasPrefix(l, "mkdir ") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
				t.Errorf("make run printed\n%s\nwant one line starting %q", out.String(), tc.want)
			}
			if _, err := os.Stat(filepath.Join(bin, "k8s")); !os.IsNotExist(err) {
				t.Errorf("make run fetched or built control plane binaries into %s/k8s (stat: %v)", bin, err)
			}
		})
	}
}
