package podcache

import (
	"context"
	"fmt"
	"sync"

	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// Waiting for informers without polling. client-go's WaitForCacheSync, which
// controller-runtime's cache and its Kind sources (For, Watches) use, checks
// every 100 ms: a start-up, or a standby that becomes leader, waits up to
// that long for the cache and again for each watch's handler, for nothing.
// Measured at 200 Services x 25 Pods: the workers started 0.10 s after the
// handlers had been registered, of a 1.1 s start-up. client-go's informers
// and handler registrations also say when they are done through channels
// (DoneChecker); the cache and the sources below wait on those.

// syncedCache is the manager's cache, whose WaitForCacheSync waits on the
// informers built through Index.NewInformer without polling.
type syncedCache struct {
	cache.Cache
	index *Index
}

// WrapCache returns c with a WaitForCacheSync that does not poll; c must be
// built with x.NewInformer as cache.Options.NewInformer. Install makes it
// the manager's NewCache.
func (x *Index) WrapCache(c cache.Cache) cache.Cache {
	return &syncedCache{Cache: c, index: x}
}

// WaitForCacheSync waits until every informer built so far has synced; the
// wrapped cache's own check then answers at once.
func (c *syncedCache) WaitForCacheSync(ctx context.Context) bool {
	if !toolscache.WaitFor(ctx, "", c.index.syncCheckers()...) {
		return false
	}
	return c.Cache.WaitForCacheSync(ctx)
}

// informerSource feeds a handler from one of the cache's informers, as the
// source of a Watches or For does, but waits for the handler to have seen the
// informer's initial list without polling. It is controller-runtime's
// source.Informer (a source that is never waited for) plus that wait.
type informerSource struct {
	what     string
	informer *registeringInformer
	inner    *source.Informer
}

var _ source.SyncingSource = &informerSource{}

// registeringInformer remembers the registration of the handler that
// source.Informer adds.
type registeringInformer struct {
	cache.Informer
	mu           sync.Mutex
	registration toolscache.ResourceEventHandlerRegistration
}

func (i *registeringInformer) AddEventHandlerWithOptions(h toolscache.ResourceEventHandler,
	opts toolscache.HandlerOptions) (toolscache.ResourceEventHandlerRegistration, error) {
	reg, err := i.Informer.AddEventHandlerWithOptions(h, opts)
	if err == nil {
		i.mu.Lock()
		i.registration = reg
		i.mu.Unlock()
	}
	return reg, err
}

// NewSource returns a source of the events of the informer of obj's type in
// c, handled by h, that waits for the handler to have seen the informer's
// initial list without polling. Use it with WatchesRawSource.
func NewSource(ctx context.Context, c cache.Cache, obj client.Object, h handler.EventHandler) (source.SyncingSource, error) {
	informer, err := c.GetInformer(ctx, obj)
	if err != nil {
		return nil, fmt.Errorf("getting the informer for %T: %w", obj, err)
	}
	registering := &registeringInformer{Informer: informer}
	return &informerSource{
		what:     fmt.Sprintf("%T", obj),
		informer: registering,
		inner:    &source.Informer{Informer: registering, Handler: h},
	}, nil
}

// Start registers the handler with the informer.
func (s *informerSource) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
	return s.inner.Start(ctx, q)
}

// WaitForSync waits until the informer has synced and the handler has seen
// its initial list.
func (s *informerSource) WaitForSync(ctx context.Context) error {
	s.informer.mu.Lock()
	reg := s.informer.registration
	s.informer.mu.Unlock()
	if reg == nil {
		return fmt.Errorf("the %s source was not started", s.what)
	}
	if !toolscache.WaitFor(ctx, "", reg.HasSyncedChecker()) {
		return fmt.Errorf("waiting for the %s informer to sync: %w", s.what, context.Cause(ctx))
	}
	return nil
}

func (s *informerSource) String() string { return "informer source: " + s.what }
