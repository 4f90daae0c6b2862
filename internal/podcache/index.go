package podcache

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// Index names of the cache indexes this controller declares. Both map a
// `namespace/key=value` label pair to objects, so that neither a Pod event nor
// a sync scans the namespace (the reference controller scans it in both).
const (
	// PodLabelIndex indexes every Pod under each of its labels:
	// `namespace/key=value`.
	PodLabelIndex = "endpoints-controller.kube-endpoints.io/pod-label"
	// ServiceSelectorIndex indexes every Service with a selector under one
	// pair of its selector, the one with the smallest key: a Pod that the
	// Service selects carries every pair, so looking up each label of a Pod
	// finds every Service that may select it, each once. A Service whose
	// selector is empty but not nil (it selects every Pod; only in-memory
	// objects can carry one, spec 1.5) is indexed under `namespace/`.
	ServiceSelectorIndex = "endpoints-controller.kube-endpoints.io/service-selector"
)

// Index gives the reconciler zero-copy access to the informers' stores:
// Services and Endpoints by key, Pods by label pair, Services by selector pair.
// The objects it returns belong to the cache and must never be modified.
//
// It is wired into the manager's cache through cache.Options.NewInformer (set
// it to the NewInformer method): every informer the cache builds for Pods,
// Services or Endpoints, one per namespace when the cache is limited to some
// namespaces, gets the indexes above and is remembered here. Reads through it
// cost what the result costs, not what the namespace holds, and allocate only
// the slice they return.
type Index struct {
	mu           sync.RWMutex
	informers    []toolscache.SharedIndexInformer
	podInformers []*transformingInformer
	pods         []toolscache.Indexer
	services     []toolscache.Indexer
	endpoints    []toolscache.Indexer
}

// NewIndex returns an empty Index; pass its NewInformer method to
// cache.Options.NewInformer (Install does).
func NewIndex() *Index {
	return &Index{}
}

// NewInformer builds a shared informer as client-go does, with this
// controller's indexes added for Pods and Services, and remembers the stores
// of Pods, Services and Endpoints. Pods are listed a page at a time and
// compacted page by page (compactingLister). Its signature is that of
// cache.Options.NewInformer.
func (x *Index) NewInformer(lw toolscache.ListerWatcher, obj runtime.Object, resync time.Duration,
	indexers toolscache.Indexers) toolscache.SharedIndexInformer {
	if _, ok := obj.(*corev1.Pod); ok {
		lw = newCompactingLister(lw)
	}
	informer := &transformingInformer{SharedIndexInformer: toolscache.NewSharedIndexInformer(lw, obj, resync, withIndexes(obj, indexers))}
	x.track(obj, informer.GetIndexer())
	x.mu.Lock()
	x.informers = append(x.informers, informer)
	if _, ok := obj.(*corev1.Pod); ok {
		x.podInformers = append(x.podInformers, informer)
	}
	x.mu.Unlock()
	return informer
}

// transformingInformer is a shared informer that remembers the transform the
// cache gives it, so that Complete can check that Pods are compacted.
type transformingInformer struct {
	toolscache.SharedIndexInformer
	mu        sync.Mutex
	transform toolscache.TransformFunc
}

// SetTransform sets the informer's transform and remembers it.
func (i *transformingInformer) SetTransform(f toolscache.TransformFunc) error {
	if err := i.SharedIndexInformer.SetTransform(f); err != nil {
		return err
	}
	i.mu.Lock()
	i.transform = f
	i.mu.Unlock()
	return nil
}

// compacts reports whether the informer's transform turns a Pod into a
// compact Pod.
func (i *transformingInformer) compacts() bool {
	i.mu.Lock()
	f := i.transform
	i.mu.Unlock()
	if f == nil {
		return false
	}
	out, err := f(&corev1.Pod{})
	_, ok := out.(*Pod)
	return err == nil && ok
}

// NewStores returns an Index over in-memory stores of Pods, Services and
// Endpoints that carry the indexes of the informers NewInformer builds, and
// the stores, for tests and tools that fill the stores themselves. The Pod
// store compacts what it is given (CompactPod), as the informer's transform
// does.
func NewStores() (x *Index, pods, services, endpoints toolscache.Indexer) {
	x = NewIndex()
	store := func(obj runtime.Object) toolscache.Indexer {
		s := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc,
			withIndexes(obj, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc}))
		x.track(obj, s)
		return s
	}
	return x, compactingStore{store(&corev1.Pod{})}, store(&corev1.Service{}), store(&corev1.Endpoints{})
}

// compactingStore stores Pods as the informer does with CompactPod, its
// transform.
type compactingStore struct{ toolscache.Indexer }

func (s compactingStore) Add(obj any) error {
	compact, _ := CompactPod(obj)
	return s.Indexer.Add(compact)
}

func (s compactingStore) Update(obj any) error {
	compact, _ := CompactPod(obj)
	return s.Indexer.Update(compact)
}

func (s compactingStore) Delete(obj any) error {
	compact, _ := CompactPod(obj)
	return s.Indexer.Delete(compact)
}

// syncCheckers returns what tells when each informer built so far has synced.
func (x *Index) syncCheckers() []toolscache.DoneChecker {
	x.mu.RLock()
	defer x.mu.RUnlock()
	checkers := make([]toolscache.DoneChecker, len(x.informers))
	for i, informer := range x.informers {
		checkers[i] = informer.HasSyncedChecker()
	}
	return checkers
}

// withIndexes returns indexers plus this controller's index for the type of obj.
func withIndexes(obj runtime.Object, indexers toolscache.Indexers) toolscache.Indexers {
	all := toolscache.Indexers{}
	for name, fn := range indexers {
		all[name] = fn
	}
	switch obj.(type) {
	case *corev1.Pod:
		all[PodLabelIndex] = podLabelIndexFunc
	case *corev1.Service:
		all[ServiceSelectorIndex] = serviceSelectorIndexFunc
	}
	return all
}

// track remembers store as a store of objects of the type of obj.
func (x *Index) track(obj runtime.Object, store toolscache.Indexer) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch obj.(type) {
	case *corev1.Pod:
		x.pods = append(x.pods, store)
	case *corev1.Service:
		x.services = append(x.services, store)
	case *corev1.Endpoints:
		x.endpoints = append(x.endpoints, store)
	}
}

// Complete reports what the manager's cache lacks of the plumbing, if
// anything: informers of Pods, Services and Endpoints built through
// NewInformer (with the indexes), and Pods compacted by CompactPod. Without
// the indexes nothing can be found; without the compaction the indexes would
// find no Pod, and every Service would be published with no addresses. Call
// it once the informers are registered (GetInformer); Install wires all of
// it.
func (x *Index) Complete() error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(x.pods) == 0 || len(x.services) == 0 || len(x.endpoints) == 0 {
		return fmt.Errorf("the cache has no informers built by podcache.Index.NewInformer (Pods %d, Services %d, Endpoints %d): "+
			"build the manager's options with podcache.Install", len(x.pods), len(x.services), len(x.endpoints))
	}
	for _, informer := range x.podInformers {
		if !informer.compacts() {
			return errors.New("the cache's Pod informer does not compact Pods (its transform is not podcache.CompactPod), " +
				"so no Pod would be found and every Service published with no addresses: build the manager's options with podcache.Install")
		}
	}
	return nil
}

// labelPairKey is the index value of one label pair in a namespace.
func labelPairKey(namespace, key, value string) string {
	return namespace + "/" + key + "=" + value
}

// podLabelIndexFunc indexes a Pod under each of its labels.
func podLabelIndexFunc(obj any) ([]string, error) {
	pod, ok := obj.(*Pod)
	if !ok || len(pod.Labels) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(pod.Labels))
	for k, v := range pod.Labels {
		keys = append(keys, labelPairKey(pod.Namespace, k, v))
	}
	return keys, nil
}

// serviceSelectorIndexFunc indexes a Service under the pair of its selector
// with the smallest key, or under `namespace/` when the selector is empty;
// Services without a selector select nothing and are not indexed.
func serviceSelectorIndexFunc(obj any) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok || svc.Spec.Selector == nil {
		return nil, nil
	}
	if len(svc.Spec.Selector) == 0 {
		return []string{svc.Namespace + "/"}, nil
	}
	first := ""
	for k := range svc.Spec.Selector {
		if first == "" || k < first {
			first = k
		}
	}
	return []string{labelPairKey(svc.Namespace, first, svc.Spec.Selector[first])}, nil
}

// Selects reports whether selector, a Service's non-nil selector, selects a
// Pod with podLabels: every pair must be among the labels (spec 1.5).
func Selects(selector, podLabels map[string]string) bool {
	for k, v := range selector {
		if got, ok := podLabels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Service returns the cached Service at key, or nil.
func (x *Index) Service(key types.NamespacedName) *corev1.Service {
	obj := x.get(x.services, key)
	if obj == nil {
		return nil
	}
	svc, _ := obj.(*corev1.Service)
	return svc
}

// Endpoints returns the cached Endpoints at key, or nil.
func (x *Index) Endpoints(key types.NamespacedName) *corev1.Endpoints {
	obj := x.get(x.endpoints, key)
	if obj == nil {
		return nil
	}
	ep, _ := obj.(*corev1.Endpoints)
	return ep
}

func (x *Index) get(stores []toolscache.Indexer, key types.NamespacedName) any {
	x.mu.RLock()
	defer x.mu.RUnlock()
	k := key.Namespace + "/" + key.Name
	if key.Namespace == "" {
		k = key.Name
	}
	for _, s := range stores {
		if obj, exists, err := s.GetByKey(k); err == nil && exists {
			return obj
		}
	}
	return nil
}

// PodsSelectedBy returns the cached Pods of namespace that selector (non-nil)
// selects. It visits only the Pods that carry the selector's most selective
// pair; an empty selector selects every Pod of the namespace.
func (x *Index) PodsSelectedBy(namespace string, selector map[string]string) ([]*Pod, error) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if len(selector) == 0 {
		return x.allPods(namespace)
	}
	var candidates []any
	first := true
	for k, v := range selector {
		objs, err := byIndex(x.pods, PodLabelIndex, labelPairKey(namespace, k, v))
		if err != nil {
			return nil, err
		}
		if first || len(objs) < len(candidates) {
			candidates, first = objs, false
		}
		if len(candidates) == 0 {
			return nil, nil
		}
	}
	pods := make([]*Pod, 0, len(candidates))
	for _, obj := range candidates {
		if pod, ok := obj.(*Pod); ok && pod.Namespace == namespace && Selects(selector, pod.Labels) {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}

// allPods returns every cached Pod of namespace, for an empty selector.
func (x *Index) allPods(namespace string) ([]*Pod, error) {
	objs, err := byIndex(x.pods, toolscache.NamespaceIndex, namespace)
	if err != nil {
		return nil, err
	}
	pods := make([]*Pod, 0, len(objs))
	for _, obj := range objs {
		if pod, ok := obj.(*Pod); ok {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}

// ServicesSelecting calls fn for each cached Service whose selector selects a
// Pod of namespace with podLabels, at most once per Service. It looks up the
// Services indexed under each label of the Pod, so its cost is the Pod's
// labels plus the Services that share a selector pair with it, whatever the
// namespace holds.
func (x *Index) ServicesSelecting(namespace string, podLabels map[string]string, fn func(*corev1.Service)) error {
	x.mu.RLock()
	defer x.mu.RUnlock()
	visit := func(indexValue string) error {
		objs, err := byIndex(x.services, ServiceSelectorIndex, indexValue)
		if err != nil {
			return err
		}
		for _, obj := range objs {
			if svc, ok := obj.(*corev1.Service); ok && svc.Spec.Selector != nil && Selects(svc.Spec.Selector, podLabels) {
				fn(svc)
			}
		}
		return nil
	}
	if err := visit(namespace + "/"); err != nil {
		return err
	}
	for k, v := range podLabels {
		if err := visit(labelPairKey(namespace, k, v)); err != nil {
			return err
		}
	}
	return nil
}

// byIndex concatenates the results of one index lookup over stores; usually
// there is one store, or one per namespace of which only one holds the value.
func byIndex(stores []toolscache.Indexer, index, value string) ([]any, error) {
	var out []any
	for _, s := range stores {
		objs, err := s.ByIndex(index, value)
		if err != nil {
			return nil, fmt.Errorf("looking up %s in index %s: %w", value, index, err)
		}
		if out == nil {
			out = objs
		} else {
			out = slices.Concat(out, objs)
		}
	}
	return out, nil
}
