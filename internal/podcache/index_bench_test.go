package podcache

import (
	"fmt"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// benchPod returns a ready Pod of namespace ns labelled app=app, with the
// i-th IP of 10.0.0.0/8 and a named container port.
func benchPod(app string, i int) *corev1.Pod {
	const ns = "ns"
	ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: fmt.Sprintf("%s-%d", app, i), UID: types.UID(fmt.Sprintf("uid-%d", i)),
			Labels: map[string]string{"app": app, "pod-template-hash": "5d8f7c9b"},
		},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "main", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
}

func benchService(app string) *corev1.Service {
	const ns = "ns"
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: app, UID: types.UID("svc-" + app)},
		Spec: corev1.ServiceSpec{
			Selector:  map[string]string{"app": app},
			ClusterIP: "10.96.0.10",
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
				{Name: "metrics", Port: 9100, TargetPort: intstr.FromInt32(9100), Protocol: corev1.ProtocolTCP},
			},
		},
	}
}

// BenchmarkPodEventMapping measures finding the Services of one Pod while
// the namespace holds n other Services that do not select it. The indexed
// lookup must cost the same at every n; "scan" is what listing the
// namespace's Services costs, for comparison.
func BenchmarkPodEventMapping(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		x, _, services, _ := NewStores()
		for i := range n {
			if err := services.Add(benchService(fmt.Sprintf("other-%d", i))); err != nil {
				b.Fatal(err)
			}
		}
		if err := services.Add(benchService("web")); err != nil {
			b.Fatal(err)
		}
		pod := benchPod("web", 1)
		b.Run(fmt.Sprintf("services=%d/indexed", n), func(b *testing.B) {
			b.ReportAllocs()
			found := 0
			for b.Loop() {
				_ = x.ServicesSelecting(pod.Namespace, pod.Labels, func(*corev1.Service) { found++ })
			}
			if found != b.N {
				b.Fatalf("found %d Services in %d lookups, want one each", found, b.N)
			}
		})
		b.Run(fmt.Sprintf("services=%d/scan", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				objs, _ := services.ByIndex("namespace", "ns")
				for _, obj := range objs {
					_ = Selects(obj.(*corev1.Service).Spec.Selector, pod.Labels)
				}
			}
		})
	}
}

// BenchmarkSyncPodLookup measures finding the 100 Pods of a Service in a
// namespace of n Pods: it must cost the same at every n.
func BenchmarkSyncPodLookup(b *testing.B) {
	for _, n := range []int{100, 10000, 100000} {
		x, pods, _, _ := NewStores()
		for i := range n {
			app := "web"
			if i >= 100 {
				app = fmt.Sprintf("other-%d", i%1000)
			}
			if err := pods.Add(benchPod(app, i)); err != nil {
				b.Fatal(err)
			}
		}
		selector := map[string]string{"app": "web"}
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := x.PodsSelectedBy("ns", selector)
				if err != nil || len(got) != 100 {
					b.Fatalf("got %d Pods (%v), want 100", len(got), err)
				}
			}
		})
	}
}
