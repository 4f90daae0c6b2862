package envtestendpoints_test

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kube-endpoints/endpoints-controller/pkg/envtestendpoints"
)

// Example starts envtest as a suite would (KUBEBUILDER_ASSETS names the
// binaries), runs the Endpoints controller beside it, and reads the Endpoints
// of a Service whose Pod the test created and marked ready, since no kubelet
// runs in envtest.
func Example() {
	env := &envtest.Environment{}
	cfg, err := env.Start()
	if err != nil {
		panic(err)
	}
	defer func() { _ = env.Stop() }()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- envtestendpoints.Run(ctx, cfg, envtestendpoints.Options{}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			panic(err)
		}
	}()

	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		panic(err)
	}
	labels := map[string]string{"app": "web"}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web-0", Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:   "node-0",
			Containers: []corev1.Container{{Name: "web", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53"}},
		},
	}
	for _, obj := range []client.Object{svc, pod} {
		if err := c.Create(ctx, obj); err != nil {
			panic(err)
		}
	}
	// What a kubelet would report.
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      "10.244.0.5",
		PodIPs:     []corev1.PodIP{{IP: "10.244.0.5"}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
	}
	if err := c.Status().Update(ctx, pod); err != nil {
		panic(err)
	}

	ep := &corev1.Endpoints{}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(svc), ep); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1, nil
	})
	if err != nil {
		panic(err)
	}
	s := ep.Subsets[0]
	fmt.Printf("%s: %s:%d (Pod %s)\n", ep.Name, s.Addresses[0].IP, s.Ports[0].Port, s.Addresses[0].TargetRef.Name)
	// Output: web: 10.244.0.5:8080 (Pod web-0)
}
