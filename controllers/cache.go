package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CacheByObject returns the cache settings of the watched types. The cache
// holds every Pod of the cluster, so Pods are cut down to the fields the
// controller reads, in a compact type (CompactPod), and Services lose their annotations and managed
// fields (TrimService). Managed fields are dropped from Endpoints too unless
// server-side apply needs them to tell whose labels are whose; their
// annotations stay, since a full write must keep them (spec 7.2).
func CacheByObject(method WriteMethod) map[client.Object]cache.ByObject {
	byObject := map[client.Object]cache.ByObject{
		&corev1.Pod{}:     {Transform: CompactPod},
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
