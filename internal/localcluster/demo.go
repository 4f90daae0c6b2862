package localcluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DemoNamespace holds the demo Service and Pods.
const DemoNamespace = "demo"

// DemoService names the demo Service and labels its Pods.
const DemoService = "web"

// demoPods is the number of demo Pods, web-0 to web-2.
const demoPods = 3

// replaceEvery makes every fifth demo step replace a Pod instead of flipping
// a readiness: often enough to be seen within a minute, rarely enough that
// readiness changes dominate, as in a real Deployment.
const replaceEvery = 5

// demoLabels select the demo Pods.
var demoLabels = map[string]string{"app": DemoService}

// SeedDemo creates a namespace with a Service "web" and three Pods, two ready
// and one not. No kubelet runs on a local control plane, so the Pods' status
// (IP, phase, readiness) is written here, as a kubelet would.
func SeedDemo(ctx context.Context, c client.Client) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: DemoNamespace}}
	if err := c.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("creating namespace %s: %w", DemoNamespace, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: DemoNamespace, Name: DemoService, Labels: demoLabels},
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
	for i := range demoPods {
		if err := createDemoPod(ctx, c, i, 0, i < 2); client.IgnoreAlreadyExists(err) != nil {
			return err
		}
	}
	return nil
}

// DemoPodName is the name of demo Pod i.
func DemoPodName(i int) string { return fmt.Sprintf("%s-%d", DemoService, i) }

// DemoPodIP is the IP of demo Pod i in its generation gen (0 at first, one
// more each time it is replaced).
func DemoPodIP(i, gen int) string {
	return fmt.Sprintf("10.244.%d.%d", i%2, 10+(i+demoPods*gen)%240)
}

// createDemoPod creates demo Pod i of generation gen and sets its status.
func createDemoPod(ctx context.Context, c client.Client, i, gen int, ready bool) error {
	name := DemoPodName(i)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: DemoNamespace, Name: name, Labels: demoLabels},
		Spec: corev1.PodSpec{
			NodeName: fmt.Sprintf("node-%d", i%2),
			Containers: []corev1.Container{{
				Name:  DemoService,
				Image: "registry.k8s.io/e2e-test-images/agnhost:2.53",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {ContainerPort: 9090}},
			}},
		},
	}
	if err := c.Create(ctx, pod); err != nil {
		return fmt.Errorf("creating Pod %s: %w", name, err)
	}
	ip := DemoPodIP(i, gen)
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIP:      ip,
		PodIPs:     []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: conditionStatus(ready), LastTransitionTime: metav1.Now()}},
	}
	if err := c.Status().Update(ctx, pod); err != nil {
		return fmt.Errorf("setting the status of Pod %s: %w", name, err)
	}
	return nil
}

// DemoStep makes change number n of the live demo and describes it: every
// replaceEvery-th step replaces a Pod (deleted and created again, with a new
// UID and IP, ready), the others flip the readiness of Pod n%3, as a kubelet
// does when a readiness probe starts or stops failing.
func DemoStep(ctx context.Context, c client.Client, n int) (string, error) {
	if n%replaceEvery == replaceEvery-1 {
		i, gen := (n/replaceEvery)%demoPods, n/replaceEvery+1
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: DemoNamespace, Name: DemoPodName(i)}}
		// No kubelet confirms a graceful deletion here: delete at once.
		if err := c.Delete(ctx, pod, client.GracePeriodSeconds(0)); client.IgnoreNotFound(err) != nil {
			return "", fmt.Errorf("deleting Pod %s: %w", pod.Name, err)
		}
		if err := createDemoPod(ctx, c, i, gen, true); err != nil {
			return "", err
		}
		return fmt.Sprintf("replaced Pod %s: new IP %s", pod.Name, DemoPodIP(i, gen)), nil
	}
	pod := &corev1.Pod{}
	key := client.ObjectKey{Namespace: DemoNamespace, Name: DemoPodName(n % demoPods)}
	if err := c.Get(ctx, key, pod); err != nil {
		return "", fmt.Errorf("reading Pod %s: %w", key.Name, err)
	}
	ready := !podReady(pod)
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: conditionStatus(ready), LastTransitionTime: metav1.Now()}}
	if err := c.Status().Update(ctx, pod); err != nil {
		return "", fmt.Errorf("setting the readiness of Pod %s: %w", key.Name, err)
	}
	if ready {
		return fmt.Sprintf("Pod %s turned ready", key.Name), nil
	}
	return fmt.Sprintf("Pod %s turned unready", key.Name), nil
}

// RunDemo makes a demo step every interval until ctx ends, reporting each
// change (or failure) to report. A failed step is reported and the demo goes
// on: it is a show, not a test.
func RunDemo(ctx context.Context, c client.Client, interval time.Duration, report func(string)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		msg, err := DemoStep(ctx, c, n)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			msg = "step failed: " + err.Error()
		}
		report(msg)
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func conditionStatus(ready bool) corev1.ConditionStatus {
	if ready {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}
