package podcache

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// The view of a cached Pod is exactly the trimmed Pod: the computation reads
// the same fields whichever the cache holds.
func TestCachedPodViewIsTheTrimmedPod(t *testing.T) {
	pod := realisticPod(1)
	pod.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001, Protocol: corev1.ProtocolTCP}}}}
	pod.Spec.Hostname, pod.Spec.Subdomain = "web-1", "web"
	now := metav1.Now()
	pod.DeletionTimestamp = &now
	trimmed, _ := trimPod(pod)
	want := trimmed.(*corev1.Pod)
	want.TypeMeta = metav1.TypeMeta{}

	obj, err := CompactPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	cached, ok := obj.(*Pod)
	if !ok {
		t.Fatalf("CompactPod() = %T, want *Pod", obj)
	}
	var got corev1.Pod
	cached.Into(&got)
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("view =\n%+v\nwant\n%+v", &got, want)
	}
	views := ViewsOf([]*Pod{cached, cached})
	for i, p := range views.Pods() {
		if !reflect.DeepEqual(p, want) {
			t.Errorf("ViewsOf()[%d] =\n%+v\nwant\n%+v", i, p, want)
		}
	}
	views.Release()

	svc := &corev1.Service{}
	if out, _ := CompactPod(svc); out != svc {
		t.Errorf("CompactPod() changed an object that is not a Pod")
	}
}

// A deep copy is equal and shares nothing with the original.
func TestCachedPodDeepCopy(t *testing.T) {
	cached := newPod(realisticPod(2))
	cp, ok := cached.DeepCopyObject().(*Pod)
	if !ok || cp == cached {
		t.Fatalf("DeepCopyObject() = %T %p, want a new *Pod", cp, cp)
	}
	if !reflect.DeepEqual(cp, cached) {
		t.Fatalf("DeepCopyObject() =\n%+v\nwant\n%+v", cp, cached)
	}
	cp.Labels["app"] = "changed"
	cp.podIPs[0].IP = "192.0.2.1"
	cp.conditions[0].Status = corev1.ConditionFalse
	cp.containers[0].Ports[0].ContainerPort = 1
	if cached.Labels["app"] != "web" || cached.podIPs[0].IP != "10.244.1.7" ||
		cached.conditions[0].Status != corev1.ConditionTrue || cached.containers[0].Ports[0].ContainerPort != 8080 {
		t.Errorf("changing the copy changed the original: %+v", cached)
	}
}

// Pods of one template share their trimmed containers; Pods whose containers
// differ in anything kept do not.
func TestInternContainers(t *testing.T) {
	a, b := newPod(realisticPod(1)), newPod(realisticPod(2))
	if &a.containers[0] != &b.containers[0] {
		t.Errorf("equal containers are not shared")
	}
	for name, change := range map[string]func(*corev1.Pod){
		"port number":    func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 8081 },
		"port name":      func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "web" },
		"protocol":       func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = corev1.ProtocolUDP },
		"host port":      func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = 80 },
		"host IP":        func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostIP = "10.0.0.1" },
		"container name": func(p *corev1.Pod) { p.Spec.Containers[0].Name = "api" },
		"restart policy": func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		},
		"one port less": func(p *corev1.Pod) { p.Spec.Containers[0].Ports = p.Spec.Containers[0].Ports[:1] },
		"ports split over two containers": func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			p.Spec.Containers = []corev1.Container{{Name: c.Name, Ports: c.Ports[:1]}, {Name: c.Name, Ports: c.Ports[1:]}}
		},
	} {
		pod := realisticPod(3)
		change(pod)
		c := newPod(pod)
		if &c.containers[0] == &a.containers[0] {
			t.Errorf("%s: containers that differ are shared", name)
		}
		var view corev1.Pod
		c.Into(&view)
		trimmed, _ := trimPod(pod)
		if !reflect.DeepEqual(view.Spec.Containers, trimmed.(*corev1.Pod).Spec.Containers) {
			t.Errorf("%s: containers = %+v, want %+v", name, view.Spec.Containers, trimmed.(*corev1.Pod).Spec.Containers)
		}
	}
	if got := newPod(&corev1.Pod{}).containers; got != nil {
		t.Errorf("containers of a Pod without ports = %+v, want nil", got)
	}
}

// The intern table starts afresh when full instead of growing.
func TestInternContainersIsBounded(t *testing.T) {
	for i := range maxInternedContainers + 10 {
		pod := realisticPod(i)
		pod.Spec.Containers[0].Ports[0].ContainerPort = int32(i%60000 + 1)
		pod.Spec.Containers[0].Ports[1].ContainerPort = int32(i/60000 + 1)
		newPod(pod)
		containerIntern.Lock()
		n := len(containerIntern.byKey)
		containerIntern.Unlock()
		if n > maxInternedContainers {
			t.Fatalf("after %d distinct templates the table holds %d, want at most %d", i+1, n, maxInternedContainers)
		}
	}
}
