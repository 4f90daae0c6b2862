package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheByObject returns the cache settings of the watched types. The cache
// holds every Pod of the cluster, so Pods are cut down to the fields the
// controller reads (TrimPod). Managed fields are dropped from Services, and
// from Endpoints too unless server-side apply needs them to tell whose labels
// are whose.
func CacheByObject(method WriteMethod) map[client.Object]cache.ByObject {
	byObject := map[client.Object]cache.ByObject{
		&corev1.Pod{}:     {Transform: TrimPod},
		&corev1.Service{}: {Transform: cache.TransformStripManagedFields()},
	}
	if method != WriteApply {
		byObject[&corev1.Endpoints{}] = cache.ByObject{Transform: cache.TransformStripManagedFields()}
	}
	return byObject
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
