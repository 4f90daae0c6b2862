package podcache

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// listPageSize is the number of Pods a list asks for at a time.
const listPageSize = 500

// compactingLister lists Pods a page at a time and compacts each page before
// it asks for the next, so that a list holds at most one page of whole Pods,
// however many the cluster has.
//
// An informer lists only when the API server does not stream its initial
// state as a watch (a watch-list; Kubernetes 1.33 switches it off by default)
// or when a watch cannot resume. client-go then gathers the whole list before
// the informer's transform sees a Pod, and its initial list asks for
// resourceVersion 0, which the API server's watch cache answers in one piece
// whatever the page size: at 50,000 Pods, hundreds of megabytes of whole Pods
// at once. This lister asks for that first list at the current version
// instead (resourceVersion unset: a consistent read, which honours the page
// size) and hands the informer compact Pods, which its transform passes
// through. Watches pass through unchanged.
type compactingLister struct {
	lw       toolscache.ListerWatcherWithContext
	inner    toolscache.ListerWatcher
	pageSize int64
}

var (
	_ toolscache.ListerWatcher            = (*compactingLister)(nil)
	_ toolscache.ListerWatcherWithContext = (*compactingLister)(nil)
)

func newCompactingLister(lw toolscache.ListerWatcher) *compactingLister {
	return &compactingLister{lw: toolscache.ToListerWatcherWithContext(lw), inner: lw, pageSize: listPageSize}
}

// ListWithContext lists every page and returns one list of compact Pods at
// the version of the first page.
func (l *compactingLister) ListWithContext(ctx context.Context, options metav1.ListOptions) (runtime.Object, error) {
	opts := options
	if opts.ResourceVersion == "0" {
		opts.ResourceVersion, opts.ResourceVersionMatch = "", ""
	}
	if opts.Limit == 0 || opts.Limit > l.pageSize {
		opts.Limit = l.pageSize
	}
	out := &metainternalversion.List{}
	for page := 0; ; page++ {
		obj, err := l.lw.ListWithContext(ctx, opts)
		if err != nil {
			return nil, err
		}
		list, err := meta.ListAccessor(obj)
		if err != nil {
			return nil, err
		}
		if page == 0 {
			out.ResourceVersion = list.GetResourceVersion()
			out.Items = make([]runtime.Object, 0, max(meta.LenList(obj), 1))
		}
		if err := meta.EachListItem(obj, func(item runtime.Object) error {
			pod, ok := item.(*corev1.Pod)
			if !ok {
				return fmt.Errorf("listing Pods: got a %T", item)
			}
			out.Items = append(out.Items, newPod(pod))
			return nil
		}); err != nil {
			return nil, err
		}
		if list.GetContinue() == "" {
			return out, nil
		}
		// The next pages are of the same snapshot: they carry the token only.
		opts.Continue = list.GetContinue()
		opts.ResourceVersion, opts.ResourceVersionMatch = "", ""
	}
}

// List is ListWithContext without a context.
func (l *compactingLister) List(options metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), options)
}

// WatchWithContext watches as the wrapped ListerWatcher does.
func (l *compactingLister) WatchWithContext(ctx context.Context, options metav1.ListOptions) (watch.Interface, error) {
	return l.lw.WatchWithContext(ctx, options)
}

// Watch watches as the wrapped ListerWatcher does.
func (l *compactingLister) Watch(options metav1.ListOptions) (watch.Interface, error) {
	return l.lw.WatchWithContext(context.Background(), options)
}

// IsWatchListSemanticsUnSupported tells the reflector what the wrapped
// ListerWatcher tells it: whether it can serve watch-lists.
func (l *compactingLister) IsWatchListSemanticsUnSupported() bool {
	return watchlist.DoesClientNotSupportWatchListSemantics(l.inner)
}
