package envtestendpoints_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/testenv"
	"github.com/kube-endpoints/endpoints-controller/pkg/envtestendpoints"
)

// TestRunInSuite uses the package as another project's suite would: envtest
// started by the suite, the controller run beside it, objects created through
// the API. Services get exact Endpoints in the watched namespace and none in
// the other, Endpoints the suite created by hand survive the start-up sweep,
// and Run returns nil soon after its context ends.
func TestRunInSuite(t *testing.T) {
	cfg := testenv.Start(t)
	ctx := t.Context()
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"watched", "other"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	// A suite's own fixture: Endpoints without a Service and without the
	// controller's label, created before the controller starts.
	fixture := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: "watched", Name: "hand-made"},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}},
			Ports:     []corev1.EndpointPort{{Port: 443, Protocol: corev1.ProtocolTCP}},
		}},
	}
	// And Endpoints this controller once wrote, whose Service is gone: the
	// start-up sweep deletes them, which shows that the sweep has run.
	sentinel := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{
		Namespace: "watched", Name: "sweep-sentinel",
		Labels: map[string]string{"endpoints.kubernetes.io/managed-by": "endpoints-controller.kube-endpoints.io"},
	}}
	for _, obj := range []client.Object{fixture, sentinel} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- envtestendpoints.Run(runCtx, cfg, envtestendpoints.Options{Namespaces: []string{"watched"}})
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	})

	for _, ns := range []string{"watched", "other"} {
		createService(ctx, t, c, ns)
		for i, ready := range []bool{true, false} {
			createPod(ctx, t, c, ns, i, ready)
		}
	}
	want := []corev1.EndpointSubset{{
		Addresses:         []corev1.EndpointAddress{address("watched", 0)},
		NotReadyAddresses: []corev1.EndpointAddress{address("watched", 1)},
		Ports:             []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
	}}
	ep := &corev1.Endpoints{}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKey{Namespace: "watched", Name: "web"}, ep); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return reflect.DeepEqual(withoutUIDs(ep.Subsets), want), nil
	})
	if err != nil {
		t.Fatalf("Endpoints watched/web: %v; last seen %+v, want %+v", err, ep.Subsets, want)
	}

	// Once the sweep has deleted the sentinel, the fixture, which it would
	// have queued with the sentinel, stays: checked for a second after.
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(sentinel), &corev1.Endpoints{})
		return isNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		t.Fatalf("The start-up sweep did not delete %s: %v", sentinel.Name, err)
	}
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got := &corev1.Endpoints{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(fixture), got); err != nil {
			t.Fatalf("The suite's own Endpoints %s: %v", fixture.Name, err)
		}
		if !reflect.DeepEqual(got.Subsets, fixture.Subsets) {
			t.Fatalf("The suite's own Endpoints changed: %+v, want %+v", got.Subsets, fixture.Subsets)
		}
	}
	// Outside the watched namespaces nothing is written.
	err = c.Get(ctx, client.ObjectKey{Namespace: "other", Name: "web"}, &corev1.Endpoints{})
	if !isNotFound(err) {
		t.Errorf("Endpoints other/web: %v, want NotFound (namespace not watched)", err)
	}

	cancel()
	stopped = true
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after its context ended, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of its context ending")
	}
}

// TestRunRejectsBadOptions checks that invalid options fail at once, naming
// the setting, without touching the cluster.
func TestRunRejectsBadOptions(t *testing.T) {
	err := envtestendpoints.Run(t.Context(), &rest.Config{Host: "https://127.0.0.1:1"},
		envtestendpoints.Options{ServiceLabelSelector: "a=(b"})
	if err == nil || !strings.Contains(err.Error(), "service-label-selector") {
		t.Errorf("Run with a malformed selector = %v, want an error naming the selector", err)
	}
}

func createService(ctx context.Context, t *testing.T, c client.Client, ns string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
	if err := c.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
}

func createPod(ctx context.Context, t *testing.T, c client.Client, ns string, i int, ready bool) {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName: "node-0",
			Containers: []corev1.Container{{
				Name: "web", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}},
		},
	}
	if err := c.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	ip := fmt.Sprintf("10.244.0.%d", 10+i)
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
	}
	if err := c.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
}

// address is the expected address of Pod i in ns, without its UID.
func address(ns string, i int) corev1.EndpointAddress {
	return corev1.EndpointAddress{
		IP:        fmt.Sprintf("10.244.0.%d", 10+i),
		NodeName:  ptr("node-0"),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("web-%d", i)},
	}
}

// withoutUIDs returns a copy of subsets with the targetRef UIDs cleared, which
// the API server chose.
func withoutUIDs(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	out := make([]corev1.EndpointSubset, len(subsets))
	for i := range subsets {
		s := subsets[i].DeepCopy()
		for _, list := range [][]corev1.EndpointAddress{s.Addresses, s.NotReadyAddresses} {
			for j := range list {
				if list[j].TargetRef != nil {
					list[j].TargetRef.UID = ""
				}
			}
		}
		out[i] = *s
	}
	return out
}

func isNotFound(err error) bool { return client.IgnoreNotFound(err) == nil && err != nil }

func ptr[T any](v T) *T { return &v }
