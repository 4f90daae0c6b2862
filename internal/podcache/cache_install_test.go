package podcache

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// A cache built from manager options that Install wired is complete; one
// whose Pods are not compacted, or whose informers are not built through
// the Index, is refused with a message that names what is missing. No API
// server is needed: the informers are registered, never started.
func TestCompleteRefusesAMiswiredCache(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wire  func(*manager.Options) *Index
		error string
	}{
		{"installed", func(o *manager.Options) *Index { return Install(o, false) }, ""},
		{"installed, apply", func(o *manager.Options) *Index { return Install(o, true) }, ""},
		{"no compact Pods", func(o *manager.Options) *Index {
			x := Install(o, false)
			for obj := range o.Cache.ByObject {
				if _, ok := obj.(*corev1.Pod); ok {
					delete(o.Cache.ByObject, obj)
				}
			}
			return x
		}, "does not compact Pods"},
		{"no indexes", func(o *manager.Options) *Index {
			x := Install(o, false)
			o.Cache.NewInformer = nil
			return x
		}, "no informers built by podcache.Index.NewInformer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts manager.Options
			x := tc.wire(&opts)
			mapper := meta.NewDefaultRESTMapper(nil)
			for _, kind := range []string{"Pod", "Service", "Endpoints"} {
				mapper.Add(corev1.SchemeGroupVersion.WithKind(kind), meta.RESTScopeNamespace)
			}
			opts.Cache.Scheme, opts.Cache.Mapper = clientgoscheme.Scheme, mapper
			c, err := opts.NewCache(&rest.Config{Host: "http://127.0.0.1:1"}, opts.Cache)
			if err != nil {
				t.Fatal(err)
			}
			for _, obj := range []client.Object{&corev1.Pod{}, &corev1.Service{}, &corev1.Endpoints{}} {
				if _, err := c.GetInformer(context.Background(), obj, cache.BlockUntilSynced(false)); err != nil {
					t.Fatal(err)
				}
			}
			err = x.Complete()
			switch {
			case tc.error == "" && err != nil:
				t.Fatalf("Complete: %v", err)
			case tc.error != "" && (err == nil || !strings.Contains(err.Error(), tc.error) || !strings.Contains(err.Error(), "podcache.Install")):
				t.Fatalf("Complete: %v, want an error naming %q and podcache.Install", err, tc.error)
			}
		})
	}
}
