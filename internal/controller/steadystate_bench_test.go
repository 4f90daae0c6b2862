package controller

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
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

// upToDateService returns a reconciler over in-memory stores that hold the
// Service ns/web, its `selected` Pods among `total` Pods of the namespace, and
// its Endpoints exactly as they should be (in the Client too), and the Pod store.
func upToDateService(tb testing.TB, selected, total int) (*EndpointsReconciler, toolscache.Indexer) {
	tb.Helper()
	x, pods, services, eps := podcache.NewStores()
	for i := range total {
		app := "web"
		if i >= selected {
			app = fmt.Sprintf("other-%d", i%100)
		}
		if err := pods.Add(benchPod(app, i)); err != nil {
			tb.Fatal(err)
		}
	}
	svc := benchService("web")
	if err := services.Add(svc); err != nil {
		tb.Fatal(err)
	}
	found, _ := x.PodsSelectedBy("ns", svc.Spec.Selector)
	current := endpoints.Desired(svc, nil, endpoints.Compute(svc, podcache.ViewsOf(found).Pods()), time.Time{})
	current.ResourceVersion = "1"
	if err := eps.Add(current); err != nil {
		tb.Fatal(err)
	}
	r := &EndpointsReconciler{Client: fake.NewClientBuilder().WithObjects(current.DeepCopy()).Build(),
		Recorder: events.NewFakeRecorder(10), Index: x}
	if err := r.init(); err != nil {
		tb.Fatal(err)
	}
	return r, pods
}

// BenchmarkSteadyStateSync measures a whole Reconcile of a Service of 100
// Pods whose Endpoints are already right, in a namespace of 10,000 Pods: the
// common case, which must not write and should allocate little. Every read
// goes through the index.
func BenchmarkSteadyStateSync(b *testing.B) {
	r, _ := upToDateService(b, 100, 10000)
	ctx := context.Background()
	req := ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "web"}}
	if _, err := r.Reconcile(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.sync(ctx, req.NamespacedName); err != nil {
			b.Fatal(err)
		}
	}
	if result, _ := r.sync(ctx, req.NamespacedName); result != resultUnchanged {
		b.Fatalf("steady-state sync: result %q, want %q", result, resultUnchanged)
	}
}
