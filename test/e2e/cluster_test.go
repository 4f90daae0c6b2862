package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// pollInterval is how often the test polls the API server and the replicas;
// it is also the resolution of the measured take-over times.
const pollInterval = 100 * time.Millisecond

// testNamespace holds the Service and Pods of the test.
const testNamespace = "e2e"

// serviceName names the Service whose Endpoints the test follows.
const serviceName = "web"

// targetPort is the Pods' port behind the Service's port 80.
const targetPort = 8080

// eventually calls cond every pollInterval until it returns true, and fails
// the test with what and cond's last error when timeout has passed first.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		ok, err := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Timed out after %s waiting for %s (last error: %v)", timeout, what, err)
		}
		<-tick.C
	}
}

// repoRoot returns the directory of go.mod at or above the working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("No go.mod at or above the working directory")
		}
		dir = parent
	}
}

// buildBinary builds cmd/endpoints-controller into dir and returns its path.
func buildBinary(root, dir string) (string, error) {
	bin := filepath.Join(dir, "endpoints-controller")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/endpoints-controller")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/endpoints-controller: %w\n%s", err, out)
	}
	return bin, nil
}

// leaseHolder returns the holderIdentity of the leader-election Lease, "" when
// there is no Lease or no holder, and the Lease's acquireTime.
func leaseHolder(ctx context.Context, c client.Client) (string, time.Time, error) {
	lease := &coordinationv1.Lease{}
	err := c.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceDefault, Name: app.LeaderElectionID}, lease)
	if apierrors.IsNotFound(err) {
		return "", time.Time{}, nil
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("getting the Lease: %w", err)
	}
	var acquired time.Time
	if lease.Spec.AcquireTime != nil {
		acquired = lease.Spec.AcquireTime.Time
	}
	return ptrValue(lease.Spec.HolderIdentity), acquired, nil
}

func ptrValue(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// podIP is the IP the test gives Pod i.
func podIP(i int) string { return fmt.Sprintf("10.244.%d.%d", i%2, 10+i) }

// nodeName is the node the test puts Pod i on.
func nodeName(i int) string { return fmt.Sprintf("node-%d", i%2) }

// podName names Pod i.
func podName(i int) string { return fmt.Sprintf("web-%d", i) }

// createService creates the namespace and the Service web, port 80 to the
// Pods' targetPort.
func createService(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNamespace}}); err != nil {
		t.Fatalf("Creating namespace %s: %v", testNamespace, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: serviceName},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": serviceName},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(targetPort)}},
		},
	}
	if err := c.Create(ctx, svc); err != nil {
		t.Fatalf("Creating Service %s: %v", serviceName, err)
	}
}

// createPod creates Pod i and writes its status as a kubelet would (no
// kubelet runs on the local control plane): Running, with its IP, and Ready
// as given.
func createPod(ctx context.Context, t *testing.T, c client.Client, i int, ready bool) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: podName(i), Labels: map[string]string{"app": serviceName}},
		Spec: corev1.PodSpec{
			NodeName: nodeName(i),
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
				Ports: []corev1.ContainerPort{{ContainerPort: targetPort}},
			}},
		},
	}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatalf("Creating Pod %s: %v", pod.Name, err)
	}
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      podIP(i),
		PodIPs:     []corev1.PodIP{{IP: podIP(i)}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: conditionStatus(ready), LastTransitionTime: metav1.Now()}},
	}
	if err := c.Status().Update(ctx, pod); err != nil {
		t.Fatalf("Setting the status of Pod %s: %v", pod.Name, err)
	}
}

// setPodReady sets the Ready condition of Pod i through the status
// subresource.
func setPodReady(ctx context.Context, t *testing.T, c client.Client, i int, ready bool) {
	t.Helper()
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: podName(i)}, pod); err != nil {
		t.Fatalf("Getting Pod %s: %v", podName(i), err)
	}
	patched := pod.DeepCopy()
	patched.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: conditionStatus(ready), LastTransitionTime: metav1.Now()}}
	if err := c.Status().Patch(ctx, patched, client.MergeFromWithOptions(pod, client.MergeFromWithOptimisticLock{})); err != nil {
		t.Fatalf("Setting Pod %s ready=%t: %v", podName(i), ready, err)
	}
}

func conditionStatus(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

// want describes the expected Endpoints of web: for each Pod index, whether
// it is ready.
type want map[int]bool

// view is the expected Endpoints in the form endpointsView prints them.
func (w want) view() []string {
	var out []string
	for i, ready := range w {
		out = append(out, address(ready, podName(i), podIP(i), nodeName(i), fmt.Sprintf("http:%d/TCP", targetPort)))
	}
	slices.Sort(out)
	return out
}

// endpointsView prints every address of ep, one line each, with its
// readiness, Pod, IP, node and the ports of its subset, sorted: two Endpoints
// with the same view publish the same thing.
func endpointsView(ep *corev1.Endpoints) []string {
	var out []string
	for _, ss := range ep.Subsets {
		var ports []string
		for _, p := range ss.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d/%s", p.Name, p.Port, p.Protocol))
		}
		slices.Sort(ports)
		portList := strings.Join(ports, ",")
		add := func(ready bool, a corev1.EndpointAddress) {
			pod, node := "", ""
			if a.TargetRef != nil && a.TargetRef.Kind == "Pod" && a.TargetRef.Namespace == ep.Namespace {
				pod = a.TargetRef.Name
			}
			if a.NodeName != nil {
				node = *a.NodeName
			}
			out = append(out, address(ready, pod, a.IP, node, portList))
		}
		for _, a := range ss.Addresses {
			add(true, a)
		}
		for _, a := range ss.NotReadyAddresses {
			add(false, a)
		}
	}
	slices.Sort(out)
	return out
}

func address(ready bool, pod, ip, node, ports string) string {
	state := "notReady"
	if ready {
		state = "ready"
	}
	return fmt.Sprintf("%s pod=%s ip=%s node=%s ports=%s", state, pod, ip, node, ports)
}

// getEndpoints reads web's Endpoints from the API server; nil when there are
// none.
func getEndpoints(ctx context.Context, c client.Client) (*corev1.Endpoints, error) {
	ep := &corev1.Endpoints{}
	err := c.Get(ctx, client.ObjectKey{Namespace: testNamespace, Name: serviceName}, ep)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting Endpoints %s/%s: %w", testNamespace, serviceName, err)
	}
	return ep, nil
}

// endpointsMatch reports whether web's Endpoints publish w and carry the
// managed-by label of this controller.
func endpointsMatch(ctx context.Context, c client.Client, w want) (bool, error) {
	ep, err := getEndpoints(ctx, c)
	if err != nil || ep == nil {
		return false, err
	}
	if got := ep.Labels[endpoints.ManagedByLabel]; got != endpoints.ControllerName {
		return false, fmt.Errorf("label %s is %q, want %q", endpoints.ManagedByLabel, got, endpoints.ControllerName)
	}
	got, expected := endpointsView(ep), w.view()
	if !slices.Equal(got, expected) {
		return false, fmt.Errorf("endpoints publish\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(expected, "\n  "))
	}
	return true, nil
}
