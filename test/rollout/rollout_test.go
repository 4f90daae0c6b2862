package rollout

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/kube-endpoints/endpoints-controller/internal/realcluster"
)

// envInt reads a size from the environment, for longer local runs
// (ROLLOUT_DEPLOYMENTS=20 ROLLOUT_REPLICAS=10 make test-rollout).
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// TestRollout runs the built controller in the realistic cluster (KCM
// without its endpoints controller, kube-scheduler, kwok Nodes) through the
// phases of Run, which fail when the Endpoints differ from the
// EndpointSlices or the Pods after a phase, and prints the latency table.
func TestRollout(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: it must name the directory holding etcd, kube-apiserver, " +
			"kube-scheduler, kube-controller-manager and kwok (`make test` builds and sets it)")
	}
	dir := t.TempDir()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "endpoints-controller")
	build := exec.Command("go", "build", "-o", bin, "./cmd/endpoints-controller")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	cluster, err := realcluster.Start(ctx, realcluster.Options{AssetsDir: assets, Dir: filepath.Join(dir, "cluster"), Nodes: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range []string{realcluster.ControllerManagerBinary, realcluster.SchedulerBinary, realcluster.KwokBinary} {
				t.Logf("Last lines of %s's log:\n%s", c, cluster.LogTail(c, 30))
			}
		}
		if err := cluster.Stop(); err != nil {
			t.Errorf("Stopping the cluster: %v", err)
		}
	})
	t.Logf("Realistic cluster up in %s", time.Since(start).Round(time.Millisecond))

	logPath := filepath.Join(dir, "endpoints-controller.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	ctrl := exec.Command(bin, "--kubeconfig="+cluster.KubeconfigPath, "--metrics-bind-address=0", "--health-probe-bind-address=0")
	ctrl.Stdout, ctrl.Stderr = logFile, logFile
	if err := ctrl.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- ctrl.Wait(); _ = logFile.Close() }()
	t.Cleanup(func() {
		_ = ctrl.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("The controller exited with %v after SIGTERM, want 0", err)
			}
		case <-time.After(20 * time.Second):
			_ = ctrl.Process.Kill()
			t.Errorf("The controller did not exit within 20s of SIGTERM: %v", <-exited)
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("Last lines of the controller's log:\n%s", b)
		}
	})

	res, err := Run(ctx, cluster.Client, Options{
		Namespace:   "rollout",
		Deployments: envInt(t, "ROLLOUT_DEPLOYMENTS", 10),
		Replicas:    envInt(t, "ROLLOUT_REPLICAS", 6),
		Logf:        t.Logf,
	})
	if err != nil {
		if cerr := cluster.Check(); cerr != nil {
			t.Error(cerr)
		}
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Fatalf("The controller exited during the rollout: %v", err)
	default:
	}
	var out bytes.Buffer
	res.Print(&out, "this controller")
	t.Logf("Pod readiness change → shown, in the same cluster:\n%s", out.String())
	if res.Endpoints.Count == 0 || res.Slices.Count == 0 {
		t.Errorf("No readiness change measured (Endpoints %d, EndpointSlices %d): the phases changed no Pod?", res.Endpoints.Count, res.Slices.Count)
	}
	if res.Endpoints.Unshown != 0 {
		t.Errorf("%d Pod readiness changes never reached the Endpoints", res.Endpoints.Unshown)
	}
}
