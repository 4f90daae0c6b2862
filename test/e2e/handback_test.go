package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Sizes of the hand-back test: Services with Pods each, all ready.
const (
	handBackServices = 20
	handBackPods     = 2
	// kcmAgent prefixes the user agent of kube-controller-manager's requests.
	kcmAgent = "kube-controller-manager/"
)

// TestHandBackToKCM hands the Endpoints this controller wrote back to
// kube-controller-manager's endpoints controller (the rollback of a
// migration) and counts kube-controller-manager's writes of them in the API
// server's audit log (spec 7.1, issue 17):
//
//   - with this controller's own managed-by value, kube-controller-manager
//     rewrites every Endpoints once to put its own value back;
//   - with --managed-by=endpoint-controller it finds its own value and writes
//     nothing: the rollback is free.
//
// kube-controller-manager runs with one worker, so once it has created the
// Endpoints of a canary Service made after its caches synced, it has synced
// every Service queued before it.
func TestHandBackToKCM(t *testing.T) {
	kcm := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kube-controller-manager")
	if _, err := os.Stat(kcm); err != nil {
		t.Fatalf("No kube-controller-manager beside the envtest binaries (%v): `make kube-controller-manager` builds it", err)
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	auditLog := filepath.Join(dir, "audit.log")
	e := setup(t, map[string]string{"audit-policy-file": policy, "audit-log-path": auditLog})

	for _, tc := range []struct {
		name, managedBy string
		wantRewrites    int
	}{
		{"own value: kube-controller-manager rewrites every Endpoints", endpoints.ControllerName, handBackServices},
		{"kube-controller-manager's value: no write", endpoints.ReferenceControllerName, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := "handback-" + map[string]string{endpoints.ControllerName: "own", endpoints.ReferenceControllerName: "kcm"}[tc.managedBy]
			ctx := t.Context()
			createHandBackWorld(ctx, t, e.c, ns)

			// This controller writes every Endpoints, then stops.
			ours := startProcess(t, filepath.Join(dir, ns+"-endpoints-controller.log"), e.bin,
				"--kubeconfig="+e.cluster.KubeconfigPath, "--namespaces="+ns, "--managed-by="+tc.managedBy,
				"--metrics-bind-address=0", "--health-probe-bind-address=0")
			eventually(t, 30*time.Second, "this controller to write every Endpoints", func() (bool, error) {
				return handBackWritten(ctx, e.c, ns, tc.managedBy)
			})
			ours.stop(t)
			versions := endpointsVersions(ctx, t, e.c, ns)

			// kube-controller-manager takes them back.
			kcmLog := filepath.Join(dir, ns+"-kube-controller-manager.log")
			kcmProc := startProcess(t, kcmLog, kcm,
				"--kubeconfig="+e.cluster.KubeconfigPath, "--controllers=endpoints-controller", "--leader-elect=false",
				"--secure-port=0", "--concurrent-endpoint-syncs=1", "--v=1")
			eventually(t, 60*time.Second, "kube-controller-manager's endpoints controller to sync its caches", func() (bool, error) {
				b, err := os.ReadFile(kcmLog)
				i := bytes.Index(b, []byte("Starting endpoint controller"))
				return i >= 0 && bytes.Contains(b[i:], []byte("Caches are synced")), err
			})
			canary := &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "canary"},
				Spec: corev1.ServiceSpec{
					Selector: map[string]string{"app": "canary"},
					Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(targetPort)}},
				},
			}
			if err := e.c.Create(ctx, canary); err != nil {
				t.Fatal(err)
			}
			eventually(t, 60*time.Second, "kube-controller-manager to write the canary's Endpoints", func() (bool, error) {
				ep := &corev1.Endpoints{}
				err := e.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "canary"}, ep)
				return err == nil, client.IgnoreNotFound(err)
			})
			kcmProc.stop(t)

			writes := auditWritesOf(t, auditLog, kcmAgent, ns)
			if got := writes["create canary"]; got != 1 {
				t.Errorf("kube-controller-manager created the canary's Endpoints %d times, want 1 (audit: %v)", got, writes)
			}
			delete(writes, "create canary")
			total := 0
			for _, n := range writes {
				total += n
			}
			if total != tc.wantRewrites {
				t.Errorf("kube-controller-manager wrote the handed-back Endpoints %d times, want %d (audit: %v)", total, tc.wantRewrites, writes)
			}
			t.Logf("kube-controller-manager's writes at the hand-back of %d Services: %d", handBackServices, total)
			if tc.wantRewrites == 0 {
				for name, rv := range endpointsVersions(ctx, t, e.c, ns) {
					if name != "canary" && rv != versions[name] {
						t.Errorf("Endpoints %s changed: resourceVersion %s, was %s", name, rv, versions[name])
					}
				}
			}
			ok, err := handBackWritten(ctx, e.c, ns, endpoints.ReferenceControllerName)
			if !ok {
				t.Errorf("After the hand-back the Endpoints are not kube-controller-manager's: %v", err)
			}
		})
	}
}

// createHandBackWorld creates ns with handBackServices Services of
// handBackPods ready Pods each.
func createHandBackWorld(ctx context.Context, t *testing.T, c client.Client, ns string) {
	t.Helper()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for s := range handBackServices {
		app := fmt.Sprintf("svc-%02d", s)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: app, Labels: map[string]string{"team": "blue"}},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": app},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
			},
		}
		if err := c.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
		for p := range handBackPods {
			ip := fmt.Sprintf("10.%d.%d.%d", 100+p, s, 10+p)
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", app, p), Labels: map[string]string{"app": app}},
				Spec: corev1.PodSpec{
					NodeName: nodeName(p),
					Containers: []corev1.Container{{
						Name: "web", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: targetPort}},
					}},
				},
			}
			if err := c.Create(ctx, pod); err != nil {
				t.Fatal(err)
			}
			pod.Status = corev1.PodStatus{
				Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
			}
			if err := c.Status().Update(ctx, pod); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// handBackWritten reports whether every Service of ns has Endpoints with its
// ready Pods and the managed-by value want.
func handBackWritten(ctx context.Context, c client.Client, ns, want string) (bool, error) {
	list := &corev1.EndpointsList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return false, err
	}
	n := 0
	for _, ep := range list.Items {
		if ep.Name == "canary" {
			continue
		}
		if got := ep.Labels[endpoints.ManagedByLabel]; got != want {
			return false, fmt.Errorf("endpoints %s managed by %q", ep.Name, got)
		}
		if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != handBackPods {
			return false, fmt.Errorf("endpoints %s: %v", ep.Name, ep.Subsets)
		}
		n++
	}
	return n == handBackServices, fmt.Errorf("%d of %d Endpoints", n, handBackServices)
}

func endpointsVersions(ctx context.Context, t *testing.T, c client.Client, ns string) map[string]string {
	t.Helper()
	list := &corev1.EndpointsList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	rvs := map[string]string{}
	for _, ep := range list.Items {
		rvs[ep.Name] = ep.ResourceVersion
	}
	return rvs
}

// auditWritesOf counts the writes of Endpoints in ns by clients whose user
// agent starts with agent, by verb, and the canary's create by itself.
func auditWritesOf(t *testing.T, path, agent, ns string) map[string]int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("Opening the audit log: %v", err)
	}
	defer func() { _ = f.Close() }()
	writes := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var ev struct {
			Verb      string `json:"verb"`
			UserAgent string `json:"userAgent"`
			ObjectRef struct {
				Namespace string `json:"namespace"`
				Name      string `json:"name"`
			} `json:"objectRef"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("Parsing the audit log: %v", err)
		}
		if !strings.HasPrefix(ev.UserAgent, agent) || ev.ObjectRef.Namespace != ns {
			continue
		}
		if ev.ObjectRef.Name == "canary" && ev.Verb == "create" {
			writes["create canary"]++
			continue
		}
		writes[ev.Verb]++
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("Reading the audit log: %v", err)
	}
	return writes
}

// process is a command the test started, logging to a file.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited
	log    string
}

func startProcess(t *testing.T, logPath, bin string, args ...string) *process {
	t.Helper()
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(bin, args...), exited: make(chan struct{}), log: logPath}
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("Starting %s: %v", bin, err)
	}
	go func() {
		_ = p.cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// stop sends SIGTERM and waits up to 30s for the process to exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("%s did not stop within 30s of SIGTERM; log: %s", p.cmd.Path, p.log)
	}
}
