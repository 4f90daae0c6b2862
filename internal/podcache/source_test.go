package podcache

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// podInformer builds, through x, an informer of n Pods listed from memory
// (its watch never sends anything).
func podInformer(t *testing.T, x *Index, n int) toolscache.SharedIndexInformer {
	t.Helper()
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
	for i := range n {
		list.Items = append(list.Items, corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Namespace: "ns", Name: fmt.Sprintf("p%d", i), ResourceVersion: "1", Labels: map[string]string{"app": "web"}}})
	}
	lw := listOnly{&toolscache.ListWatch{
		ListWithContextFunc: func(context.Context, metav1.ListOptions) (runtime.Object, error) {
			return list.DeepCopy(), nil
		},
		WatchFuncWithContext: func(context.Context, metav1.ListOptions) (watch.Interface, error) {
			return watch.NewFake(), nil
		},
	}}
	informer := x.NewInformer(lw, &corev1.Pod{}, 0, toolscache.Indexers{toolscache.NamespaceIndex: toolscache.MetaNamespaceIndexFunc})
	if err := informer.SetTransform(CompactPod); err != nil {
		t.Fatal(err)
	}
	return informer
}

// listOnly makes the reflector list, then watch, rather than ask a watch for
// the initial list (which a watch.FakeWatcher would never send).
type listOnly struct{ *toolscache.ListWatch }

func (listOnly) IsWatchListSemanticsUnSupported() bool { return true }

// informerCache is a cache.Cache of one informer; only GetInformer and
// WaitForCacheSync are used.
type informerCache struct {
	cache.Cache
	informer toolscache.SharedIndexInformer
	waited   atomic.Bool
}

func (c *informerCache) GetInformer(context.Context, client.Object, ...cache.InformerGetOption) (cache.Informer, error) {
	return c.informer, nil
}

func (c *informerCache) WaitForCacheSync(context.Context) bool {
	c.waited.Store(true)
	return true
}

// WaitForSync of an informer source returns once the handler has seen the
// whole initial list, and not before Start.
func TestInformerSourceWaitsForTheInitialList(t *testing.T) {
	const n = 300
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	informer := podInformer(t, NewIndex(), n)
	var seen atomic.Int32
	src, err := NewSource(ctx, &informerCache{informer: informer}, &corev1.Pod{}, handler.Funcs{
		CreateFunc: func(_ context.Context, e event.CreateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			if _, ok := e.Object.(*Pod); ok && e.IsInInitialList {
				seen.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.WaitForSync(ctx); err == nil {
		t.Fatal("WaitForSync before Start: no error")
	}
	go informer.RunWithContext(ctx)
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	if err := src.Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	if err := src.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := seen.Load(); got != n {
		t.Errorf("the handler had seen %d Pods of the initial list when WaitForSync returned, want %d", got, n)
	}

	// A cancelled wait is an error.
	never := podInformer(t, NewIndex(), 1) // never run
	src, err = NewSource(ctx, &informerCache{informer: never}, &corev1.Pod{}, handler.Funcs{})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Start(ctx, q); err != nil {
		t.Fatal(err)
	}
	cancelled, cancelWait := context.WithCancel(ctx)
	cancelWait()
	if err := src.WaitForSync(cancelled); err == nil {
		t.Error("WaitForSync of an informer that never syncs, cancelled: no error")
	}
}

// The wrapped cache's WaitForCacheSync returns once every informer built
// through the index has synced, then asks the cache itself.
func TestSyncedCacheWaitsForEveryInformer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x := NewIndex()
	informers := []toolscache.SharedIndexInformer{podInformer(t, x, 200), podInformer(t, x, 10)}
	inner := &informerCache{}
	c := x.WrapCache(inner)

	cancelled, cancelWait := context.WithCancel(ctx)
	cancelWait()
	if c.WaitForCacheSync(cancelled) {
		t.Fatal("WaitForCacheSync of informers that never ran, cancelled: true")
	}
	if inner.waited.Load() {
		t.Fatal("the cache itself was asked before its informers synced")
	}

	for _, informer := range informers {
		go informer.RunWithContext(ctx)
	}
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("WaitForCacheSync: false")
	}
	for i, informer := range informers {
		if !informer.HasSynced() {
			t.Errorf("informer %d has not synced when WaitForCacheSync returned", i)
		}
	}
	if !inner.waited.Load() {
		t.Error("the cache itself was not asked")
	}
}
