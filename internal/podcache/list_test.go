package podcache

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// pagingServer answers Pod lists as the API server does from etcd: pages of
// options.Limit Pods, each with a continue token, all at the first page's
// version. It records the options of every call.
type pagingServer struct {
	pods  []corev1.Pod
	calls []metav1.ListOptions
}

func (s *pagingServer) list(_ context.Context, options metav1.ListOptions) (runtime.Object, error) {
	s.calls = append(s.calls, options)
	start := 0
	if options.Continue != "" {
		var err error
		if start, err = strconv.Atoi(options.Continue); err != nil {
			return nil, err
		}
	}
	end := len(s.pods)
	if options.Limit > 0 {
		end = min(end, start+int(options.Limit))
	}
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "42"}, Items: s.pods[start:end]}
	if end < len(s.pods) {
		list.Continue = strconv.Itoa(end)
	}
	return list, nil
}

func testPods(n int) []corev1.Pod {
	pods := make([]corev1.Pod, n)
	for i := range pods {
		pods[i] = corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("pod-%d", i), Labels: map[string]string{"app": "a"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
			Spec:   corev1.PodSpec{NodeName: "node", Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			Status: corev1.PodStatus{PodIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250), Phase: corev1.PodRunning},
		}
	}
	return pods
}

// The informer's first list (resourceVersion 0, which the watch cache would
// answer in one piece) is asked for a page at a time at the current version,
// and the Pods come back compact, in order, at the first page's version.
func TestCompactingListerPagesAndCompacts(t *testing.T) {
	server := &pagingServer{pods: testPods(1201)}
	l := newCompactingLister(&toolscache.ListWatch{ListWithContextFunc: server.list})
	obj, err := l.ListWithContext(context.Background(), metav1.ListOptions{ResourceVersion: "0", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	want := []metav1.ListOptions{
		{Limit: 500},
		{Limit: 500, Continue: "500"},
		{Limit: 500, Continue: "1000"},
	}
	if fmt.Sprint(server.calls) != fmt.Sprint(want) {
		t.Errorf("list calls = %+v, want %+v", server.calls, want)
	}
	list, err := meta.ListAccessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	if list.GetResourceVersion() != "42" || list.GetContinue() != "" {
		t.Errorf("list version %q, continue %q; want 42 and none", list.GetResourceVersion(), list.GetContinue())
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(server.pods) {
		t.Fatalf("%d items, want %d", len(items), len(server.pods))
	}
	for i, item := range items {
		pod, ok := item.(*Pod)
		if !ok {
			t.Fatalf("item %d is a %T, want a compact *Pod", i, item)
		}
		if pod.Name != server.pods[i].Name || pod.podIP != server.pods[i].Status.PodIP || pod.ManagedFields != nil {
			t.Fatalf("item %d = %s %s (managed fields %v), want %s %s and no managed fields",
				i, pod.Name, pod.podIP, pod.ManagedFields, server.pods[i].Name, server.pods[i].Status.PodIP)
		}
		// The cache's transform leaves what the lister compacted as it is.
		if out, err := CompactPod(pod); err != nil || out != any(pod) {
			t.Fatalf("CompactPod changed a compact Pod: %v, %v", out, err)
		}
	}
}

// A relist at a known version keeps it: only the version-0 list moves to the
// current version.
func TestCompactingListerKeepsAKnownVersion(t *testing.T) {
	server := &pagingServer{pods: testPods(3)}
	l := newCompactingLister(&toolscache.ListWatch{ListWithContextFunc: server.list})
	opts := metav1.ListOptions{ResourceVersion: "17", ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}
	if _, err := l.List(opts); err != nil {
		t.Fatal(err)
	}
	opts.Limit = listPageSize
	if len(server.calls) != 1 || server.calls[0] != opts {
		t.Errorf("list calls = %+v, want one with %+v", server.calls, opts)
	}
}

type noWatchList struct{ *toolscache.ListWatch }

func (noWatchList) IsWatchListSemanticsUnSupported() bool { return true }

// Watches and what the wrapped ListerWatcher says of watch-lists pass
// through.
func TestCompactingListerPassesWatchesThrough(t *testing.T) {
	fake := watch.NewFake()
	var got metav1.ListOptions
	lw := &toolscache.ListWatch{WatchFuncWithContext: func(_ context.Context, options metav1.ListOptions) (watch.Interface, error) {
		got = options
		return fake, nil
	}}
	opts := metav1.ListOptions{ResourceVersion: "0", Watch: true, SendInitialEvents: new(bool)}
	w, err := newCompactingLister(lw).Watch(opts)
	if err != nil || w != watch.Interface(fake) || got.ResourceVersion != "0" || got.SendInitialEvents == nil {
		t.Errorf("Watch = %v, %v with options %+v; want the wrapped watch with %+v", w, err, got, opts)
	}
	if watchlist.DoesClientNotSupportWatchListSemantics(newCompactingLister(lw)) {
		t.Error("a ListWatch that serves watch-lists is reported as not serving them")
	}
	if !watchlist.DoesClientNotSupportWatchListSemantics(newCompactingLister(noWatchList{lw})) {
		t.Error("a ListWatch that does not serve watch-lists is reported as serving them")
	}
}
