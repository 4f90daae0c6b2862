package podcache

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// realisticPod is a Pod as the API server serves it for a typical Deployment
// replica: managed fields, annotations, env, volumes, probes and container
// statuses included.
func realisticPod(i int) *corev1.Pod {
	ts := metav1.Now()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("web-7d4b9c8f6d-%05d", i), Namespace: "shop", UID: types.UID(fmt.Sprintf("uid-%08d", i)),
			ResourceVersion: "123456", GenerateName: "web-7d4b9c8f6d-", CreationTimestamp: ts,
			Labels: map[string]string{"app": "web", "pod-template-hash": "7d4b9c8f6d", "tier": "frontend"},
			Annotations: map[string]string{
				"kubectl.kubernetes.io/restartedAt": "2026-11-01T10:00:00Z",
				"prometheus.io/scrape":              "true",
				"prometheus.io/port":                "9090",
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d4b9c8f6d", UID: "rs-uid", Controller: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &ts, FieldsType: "FieldsV1",
					FieldsV1: metav1.NewFieldsV1(string(make([]byte, 2400)))},
				{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &ts, FieldsType: "FieldsV1",
					FieldsV1: metav1.NewFieldsV1(string(make([]byte, 1800))), Subresource: "status"},
			},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-a", ServiceAccountName: "web", RestartPolicy: corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name: "web", Image: "registry.example.com/shop/web:1.42.0", Args: []string{"--port=8080", "--log-level=info"},
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}},
				Env:            []corev1.EnvVar{{Name: "DB_HOST", Value: "db.shop.svc"}, {Name: "CACHE_URL", Value: "redis://cache:6379"}, {Name: "MODE", Value: "production"}},
				VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/web"}, {Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready"}}},
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/live"}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}}},
				{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
			},
			Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.244.1.7", PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}}, HostIP: "192.168.0.11",
			StartTime: &ts, QOSClass: corev1.PodQOSBurstable,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: ts},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: ts},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: ts},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: ts},
			},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Ready: true, Image: "registry.example.com/shop/web:1.42.0",
				ImageID:     "registry.example.com/shop/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				ContainerID: "containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}},
		},
	}
}

func TestTrimPodKeepsWhatTheControllerReads(t *testing.T) {
	pod := realisticPod(1)
	sidecar := corev1.Container{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001, Protocol: corev1.ProtocolTCP}}}
	plainInit := corev1.Container{Name: "migrate", Ports: []corev1.ContainerPort{{Name: "x", ContainerPort: 1}}}
	pod.Spec.InitContainers = []corev1.Container{plainInit, sidecar}
	pod.Spec.Hostname, pod.Spec.Subdomain = "web-1", "web"
	now := metav1.Now()
	pod.DeletionTimestamp = &now

	got, err := trimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: "shop", UID: pod.UID, ResourceVersion: "123456",
			Labels: pod.Labels, DeletionTimestamp: &now},
		Spec: corev1.PodSpec{
			NodeName: "node-a", Hostname: "web-1", Subdomain: "web",
			Containers:     []corev1.Container{{Name: "web", Ports: pod.Spec.Containers[0].Ports}},
			InitContainers: []corev1.Container{sidecar},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.244.1.7", PodIPs: []corev1.PodIP{{IP: "10.244.1.7"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: pod.Status.Conditions[1].LastTransitionTime}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trimPod() =\n%+v\nwant\n%+v", got, want)
	}

	svc := &corev1.Service{}
	if out, _ := trimPod(svc); out != svc {
		t.Errorf("trimPod() changed a non-Pod object")
	}
}

// BenchmarkPodCacheCost reports the heap bytes that one cached Pod costs, as
// the API server serves it and after TrimPod.
func BenchmarkPodCacheCost(b *testing.B) {
	const n = 2000
	for _, tc := range []struct {
		name      string
		transform func(any) (any, error)
	}{{"full", nil}, {"trimmed", trimPod}, {"compact", CompactPod}} {
		b.Run(tc.name, func(b *testing.B) {
			var perPod float64
			for range b.N {
				perPod = heapPerPod(n, tc.transform)
			}
			b.ReportMetric(perPod, "bytes/pod")
		})
	}
}

func heapPerPod(n int, transform func(any) (any, error)) float64 {
	keep := make([]any, n)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range keep {
		// A decoded Pod owns its memory: deep-copy to drop sharing between
		// the fixtures, as the informer's decoder would.
		var obj any = realisticPod(i).DeepCopy()
		if transform != nil {
			obj, _ = transform(obj)
		}
		keep[i] = obj
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TrimService drops annotations and managed fields and keeps everything the
// computation reads, exactly.
func TestTrimServiceKeepsWhatTheControllerReads(t *testing.T) {
	svc := benchService("web")
	svc.Labels = map[string]string{"app": "web"}
	svc.ResourceVersion = "7"
	svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	svc.Spec.PublishNotReadyAddresses = true
	want := svc.DeepCopy()
	svc.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"big":"manifest"}`}
	svc.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	got, err := TrimService(svc)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("TrimService:\ngot  %+v\nwant %+v", got, want)
	}
	ep := &corev1.Endpoints{}
	if got, _ := TrimService(ep); got != ep {
		t.Errorf("TrimService changed an object that is not a Service")
	}
}

// trimPod is endpoints.TrimPod as a cache transform: objects that are not
// Pods pass unchanged.
func trimPod(obj any) (any, error) {
	if pod, ok := obj.(*corev1.Pod); ok {
		return endpoints.TrimPod(pod), nil
	}
	return obj, nil
}
