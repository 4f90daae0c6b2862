package localcluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DemoNamespace holds the demo Service and Pods.
const DemoNamespace = "demo"

// demoApp names the demo Service and labels its Pods.
const demoApp = "web"

// demoLabels select the demo Pods.
var demoLabels = map[string]string{"app": demoApp}

// SeedDemo creates a namespace with a Service "web" and three Pods, two ready
// and one not. No kubelet runs on a local control plane, so the Pods' status
// (IP, phase, readiness) is written here, as a kubelet would.
func SeedDemo(ctx context.Context, c client.Client) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DemoNamespace}}
	if err := c.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("creating namespace %s: %w", DemoNamespace, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: DemoNamespace, Name: demoApp, Labels: demoLabels},
		Spec: corev1.ServiceSpec{
			Selector: demoLabels,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http")},
				{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9090)},
			},
		},
	}
	if err := c.Create(ctx, svc); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("creating Service web: %w", err)
	}
	for i, ready := range []bool{true, true, false} {
		name := fmt.Sprintf("%s-%d", demoApp, i)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: DemoNamespace, Name: name, Labels: demoLabels},
			Spec: corev1.PodSpec{
				NodeName: fmt.Sprintf("node-%d", i%2),
				Containers: []corev1.Container{{
					Name:  demoApp,
					Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 9090}},
				}},
			},
		}
		if err := c.Create(ctx, pod); err != nil {
			if client.IgnoreAlreadyExists(err) == nil {
				continue
			}
			return fmt.Errorf("creating Pod %s: %w", name, err)
		}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		ip := fmt.Sprintf("10.244.%d.%d", i%2, 10+i)
		pod.Status = corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIP:      ip,
			PodIPs:     []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}},
		}
		if err := c.Status().Update(ctx, pod); err != nil {
			return fmt.Errorf("setting the status of Pod %s: %w", name, err)
		}
	}
	return nil
}
