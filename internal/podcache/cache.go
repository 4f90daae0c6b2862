// Package podcache is the cache plumbing of the Endpoints controller: the
// compact cached Pod and the transforms that trim what the cache keeps, the
// label indexes that find a Service's Pods and a Pod's Services without
// scanning a namespace, and the sources and cache that wait for informers
// without polling. Install puts all of it into a manager's options at once;
// production and tests both call it.
package podcache

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Install wires the cache plumbing into opts: the transforms of the watched
// types (byObject), the indexes (Index.NewInformer) and a cache that waits
// for its informers without polling (Index.WrapCache). It keeps what opts
// already sets (namespaces, other types' settings, a NewCache, which it
// wraps). keepEndpointsManagedFields keeps the managed fields of cached
// Endpoints, which server-side apply needs to tell whose labels are whose.
// It returns the Index that reads the manager's cache.
func Install(opts *manager.Options, keepEndpointsManagedFields bool) *Index {
	index := NewIndex()
	if opts.Cache.ByObject == nil {
		opts.Cache.ByObject = map[client.Object]cache.ByObject{}
	}
	for obj, settings := range byObject(keepEndpointsManagedFields) {
		opts.Cache.ByObject[obj] = settings
	}
	opts.Cache.NewInformer = index.NewInformer
	newCache := opts.NewCache
	if newCache == nil {
		newCache = cache.New
	}
	opts.NewCache = func(cfg *rest.Config, cacheOpts cache.Options) (cache.Cache, error) {
		c, err := newCache(cfg, cacheOpts)
		if err != nil {
			return nil, err
		}
		return index.WrapCache(c), nil
	}
	return index
}

// byObject returns the cache settings of the watched types. The cache
// holds every Pod of the cluster, so Pods are cut down to the fields the
// controller reads, in a compact type (CompactPod), and Services lose their annotations and managed
// fields (TrimService). Managed fields are dropped from Endpoints too unless
// server-side apply needs them to tell whose labels are whose; their
// annotations stay, since a full write must keep them (spec 7.2).
func byObject(keepEndpointsManagedFields bool) map[client.Object]cache.ByObject {
	byObject := map[client.Object]cache.ByObject{
		&corev1.Pod{}:     {Transform: CompactPod},
		&corev1.Service{}: {Transform: TrimService},
	}
	if !keepEndpointsManagedFields {
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
