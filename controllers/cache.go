package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheByObject returns the cache settings of the watched types. The cache
// holds every Pod of the cluster, so Pods are cut down to the fields the
// controller reads (TrimPod), and Services lose their annotations and managed
// fields (TrimService). Managed fields are dropped from Endpoints too unless
// server-side apply needs them to tell whose labels are whose; their
// annotations stay, since a full write must keep them (spec 7.2).
func CacheByObject(method WriteMethod) map[client.Object]cache.ByObject {
	byObject := map[client.Object]cache.ByObject{
		&corev1.Pod{}:     {Transform: TrimPod},
		&corev1.Service{}: {Transform: TrimService},
	}
	if method != WriteApply {
		byObject[&corev1.Endpoints{}] = cache.ByObject{Transform: cache.TransformStripManagedFields()}
	}
	return byObject
}

// TrimService is a cache transform that drops what the controller never
// reads of a Service: its managed fields and annotations, often the largest
// part of it (kubectl's last-applied-configuration repeats the whole
// manifest). Objects that are not Services pass unchanged.
func TrimService(obj any) (any, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	svc.ManagedFields = nil
	svc.Annotations = nil
	return svc, nil
}

// TrimPod is a cache transform that keeps only what the controller reads of
// a Pod: identity, labels, deletion, the node, hostname and subdomain, the
// container ports, the phase, the IPs and the Ready condition. Anything else
// (managed fields, annotations, volumes, env, images, container statuses)
// costs memory for nothing. Objects that are not Pods pass unchanged.
func TrimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	trimmed := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
	}
	trimmed.Name = pod.Name
	trimmed.Namespace = pod.Namespace
	trimmed.UID = pod.UID
	trimmed.ResourceVersion = pod.ResourceVersion
	trimmed.Labels = pod.Labels
	trimmed.DeletionTimestamp = pod.DeletionTimestamp
	trimmed.Spec.NodeName = pod.Spec.NodeName
	trimmed.Spec.Hostname = pod.Spec.Hostname
	trimmed.Spec.Subdomain = pod.Spec.Subdomain
	trimmed.Spec.Containers = trimContainers(pod.Spec.Containers, false)
	trimmed.Spec.InitContainers = trimContainers(pod.Spec.InitContainers, true)
	trimmed.Status.Phase = pod.Status.Phase
	trimmed.Status.PodIP = pod.Status.PodIP
	trimmed.Status.PodIPs = pod.Status.PodIPs
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			trimmed.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status, LastTransitionTime: c.LastTransitionTime}}
			break
		}
	}
	return trimmed, nil
}

// trimContainers keeps the name and ports of containers that have ports; of
// init containers, only sidecars (restartPolicy Always) can serve a port.
func trimContainers(containers []corev1.Container, sidecarsOnly bool) []corev1.Container {
	var out []corev1.Container
	for i := range containers {
		c := &containers[i]
		if len(c.Ports) == 0 {
			continue
		}
		if sidecarsOnly && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
			continue
		}
		out = append(out, corev1.Container{Name: c.Name, Ports: c.Ports, RestartPolicy: c.RestartPolicy})
	}
	return out
}
