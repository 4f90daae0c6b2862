package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/localcluster"
)

// makeRun starts `make run` in the repository with LOCALBIN set to bin, so
// that nothing it builds or fetches goes elsewhere, with args added to ARGS
// and with env added to the environment (KUBECONFIG is replaced). Its output
// goes to out.
func makeRun(t *testing.T, bin string, out *bytes.Buffer, args string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "run", "LOCALBIN="+bin,
		"ARGS=--metrics-bind-address=0 --health-probe-bind-address=0 "+args)
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

	// By default, shadow mode: the controller finds the Endpoints missing
	// and writes nothing.
	out := runUntil(t, bin, cluster.KubeconfigPath, "--shadow-settle-period=100ms", func(out string) (bool, error) {
		return strings.Contains(out, "Shadow: Endpoints differ"), nil
	})
	if ep, err := getEndpoints(ctx, c); err != nil || ep != nil {
		t.Errorf("make run in shadow mode wrote Endpoints %v (%v)", ep, err)
	}
	if !strings.Contains(out, "Shadow mode (--dry-run): nothing is written") {
		t.Errorf("make run did not say it runs in shadow mode:\n%s", out)
	}
	// --dry-run=false writes.
	out = runUntil(t, bin, cluster.KubeconfigPath, "--dry-run=false", func(string) (bool, error) {
		return endpointsMatch(ctx, c, want{0: true, 1: false})
	})
	// The context and cluster of the kubeconfig (localcluster names both
	// after envtest's defaults), its API server and where it comes from.
	if !strings.Contains(out, `Running against context "envtest" (cluster "envtest"), API server `) ||
		!strings.Contains(out, " of kubeconfig "+cluster.KubeconfigPath+" (KUBECONFIG)\n") || !strings.Contains(out, "WRITING Endpoints (--dry-run=false)") {
		t.Errorf("make run did not say which context and cluster it writes to:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(bin, "k8s")); !os.IsNotExist(err) {
		t.Errorf("make run fetched or built control plane binaries into %s/k8s (stat: %v)", bin, err)
	}
}

// runUntil runs `make run` against kubeconfig with args until done says so
// of its output or the controller's cluster, then stops it with SIGINT and
// returns its output.
func runUntil(t *testing.T, bin, kubeconfig, args string, done func(out string) (bool, error)) string {
	t.Helper()
	var out syncBuffer
	cmd := makeRun(t, bin, &out.buf, args, "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			if err := <-exited; err != nil {
				t.Logf("make run %s ended: %v", args, err)
			}
		}
		if t.Failed() {
			t.Logf("Output of make run %s:\n%s", args, out.String())
		}
	})
	// Building devrun from a cold cache takes a while on a loaded machine.
	eventually(t, 3*time.Minute, "make run "+args, func() (bool, error) {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("make run exited early: %v", err)
		default:
		}
		return done(out.String())
	})
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		t.Logf("make run %s stopped: %v", args, err)
	case <-time.After(time.Minute):
		t.Fatal("make run did not stop within a minute of SIGINT")
	}
	return out.String()
}

// syncBuffer is a bytes.Buffer safe for a writing process and a reading test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
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
			cmd := makeRun(t, bin, &out, "", "KUBECONFIG="+tc.kubeconfig)
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
