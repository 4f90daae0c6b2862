package podcache

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
)

// newTestIndex returns an Index over in-memory stores, and the stores.
func newTestIndex(t testing.TB) (x *Index, pods, services, eps toolscache.Indexer) {
	t.Helper()
	x, pods, services, eps = NewStores()
	if err := x.Complete(); err != nil {
		t.Fatal(err)
	}
	return x, pods, services, eps
}

func testPod(ns, name string, lbls map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}}
}

func testService(ns, name string, selector map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.ServiceSpec{Selector: selector}}
}

// bruteServices is the brute-force twin of ServicesSelecting: a scan of
// every Service.
func bruteServices(services toolscache.Indexer, pod metav1.Object) []string {
	var out []string
	for _, obj := range services.List() {
		svc := obj.(*corev1.Service)
		if svc.Namespace == pod.GetNamespace() && svc.Spec.Selector != nil && Selects(svc.Spec.Selector, pod.GetLabels()) {
			out = append(out, svc.Name)
		}
	}
	slices.Sort(out)
	return out
}

// brutePods is the brute-force twin of PodsSelectedBy: a scan of every Pod.
func brutePods(pods toolscache.Indexer, ns string, selector map[string]string) []string {
	var out []string
	for _, obj := range pods.List() {
		pod := obj.(*Pod)
		if pod.Namespace == ns && Selects(selector, pod.Labels) {
			out = append(out, pod.Name)
		}
	}
	slices.Sort(out)
	return out
}

func indexedServices(t *testing.T, x *Index, pod metav1.Object) []string {
	t.Helper()
	var out []string
	if err := x.ServicesSelecting(pod.GetNamespace(), pod.GetLabels(), func(svc *corev1.Service) { out = append(out, svc.Name) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	if dup := slices.Compact(slices.Clone(out)); len(dup) != len(out) {
		t.Fatalf("ServicesSelecting visited a Service twice: %v", out)
	}
	return out
}

func indexedPods(t *testing.T, x *Index, ns string, selector map[string]string) []string {
	t.Helper()
	pods, err := x.PodsSelectedBy(ns, selector)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name
	}
	slices.Sort(out)
	return out
}

// TestIndexCases covers the cases named in the scale issue: a selector that
// changes, a Service deleted and recreated, Pod labels that change, a Pod in
// several Services, empty and nil selectors, and namespaces kept apart.
func TestIndexCases(t *testing.T) {
	x, pods, services, _ := newTestIndex(t)
	mustAdd := func(s toolscache.Indexer, obj any) {
		t.Helper()
		if err := s.Add(obj); err != nil {
			t.Fatal(err)
		}
	}
	mustUpdate := func(s toolscache.Indexer, obj any) {
		t.Helper()
		if err := s.Update(obj); err != nil {
			t.Fatal(err)
		}
	}
	web := testPod("a", "web-1", map[string]string{"app": "web", "tier": "front"})
	api := testPod("a", "api-1", map[string]string{"app": "api", "tier": "front"})
	other := testPod("b", "web-1", map[string]string{"app": "web", "tier": "front"})
	for _, p := range []*corev1.Pod{web, api, other} {
		mustAdd(pods, p)
	}
	mustAdd(services, testService("a", "web", map[string]string{"app": "web"}))
	mustAdd(services, testService("a", "front", map[string]string{"tier": "front"}))
	mustAdd(services, testService("a", "web-front", map[string]string{"tier": "front", "app": "web"}))
	mustAdd(services, testService("a", "none", nil))
	mustAdd(services, testService("a", "all", map[string]string{}))

	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	check("Services of a/web-1 (several)", indexedServices(t, x, web), []string{"all", "front", "web", "web-front"})
	check("Services of a/api-1", indexedServices(t, x, api), []string{"all", "front"})
	check("Services of b/web-1 (other namespace)", indexedServices(t, x, other), nil)
	check("Pods of a web-front", indexedPods(t, x, "a", map[string]string{"app": "web", "tier": "front"}), []string{"web-1"})
	check("Pods of a all", indexedPods(t, x, "a", map[string]string{}), []string{"api-1", "web-1"})
	check("Pods of a missing pair", indexedPods(t, x, "a", map[string]string{"app": "web", "tier": "back"}), nil)

	// The selector changes: the index follows.
	mustUpdate(services, testService("a", "web", map[string]string{"app": "api"}))
	check("after selector change, Services of web-1", indexedServices(t, x, web), []string{"all", "front", "web-front"})
	check("after selector change, Services of api-1", indexedServices(t, x, api), []string{"all", "front", "web"})

	// Deleted and recreated with another selector.
	if err := services.Delete(testService("a", "front", nil)); err != nil {
		t.Fatal(err)
	}
	check("after delete, Services of api-1", indexedServices(t, x, api), []string{"all", "web"})
	mustAdd(services, testService("a", "front", map[string]string{"app": "web"}))
	check("after recreate, Services of web-1", indexedServices(t, x, web), []string{"all", "front", "web-front"})

	// The Pod's labels change: it moves between Services.
	moved := testPod("a", "web-1", map[string]string{"app": "api"})
	mustUpdate(pods, moved)
	check("after relabel, Services of web-1", indexedServices(t, x, moved), []string{"all", "web"})
	check("after relabel, Pods of app=web", indexedPods(t, x, "a", map[string]string{"app": "web"}), nil)
	check("after relabel, Pods of app=api", indexedPods(t, x, "a", map[string]string{"app": "api"}), []string{"api-1", "web-1"})

	if got := x.Service(types.NamespacedName{Namespace: "a", Name: "front"}); got == nil || got.Spec.Selector["app"] != "web" {
		t.Errorf("Service a/front: got %v", got)
	}
	if got := x.Service(types.NamespacedName{Namespace: "a", Name: "missing"}); got != nil {
		t.Errorf("Service a/missing: got %v, want nil", got)
	}
}

// TestIndexMatchesBruteForce applies random changes to Pods and Services and
// checks after each that both lookups equal a scan of everything.
func TestIndexMatchesBruteForce(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			x, pods, services, _ := newTestIndex(t)
			namespaces := []string{"a", "b"}
			keys := []string{"app", "tier", "track"}
			values := []string{"x", "y"}
			randomLabels := func(minLen int) map[string]string {
				m := map[string]string{}
				for _, k := range keys {
					if rng.IntN(3) > 0 || len(m) < minLen {
						m[k] = values[rng.IntN(len(values))]
					}
				}
				return m
			}
			randomSelector := func() map[string]string {
				switch rng.IntN(8) {
				case 0:
					return nil
				case 1:
					return map[string]string{}
				}
				return randomLabels(1)
			}
			for step := range 300 {
				ns := namespaces[rng.IntN(len(namespaces))]
				name := fmt.Sprintf("o%d", rng.IntN(12))
				var err error
				switch rng.IntN(4) {
				case 0:
					err = pods.Update(testPod(ns, name, randomLabels(0))) // adds when missing
				case 1:
					err = pods.Delete(testPod(ns, name, nil))
				case 2:
					err = services.Update(testService(ns, name, randomSelector()))
				case 3:
					err = services.Delete(testService(ns, name, nil))
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, obj := range pods.List() {
					p := obj.(*Pod)
					if got, want := indexedServices(t, x, p), bruteServices(services, p); !slices.Equal(got, want) {
						t.Fatalf("step %d: Services of %s/%s: indexed %v, scan %v", step, p.Namespace, p.Name, got, want)
					}
				}
				for _, obj := range services.List() {
					s := obj.(*corev1.Service)
					if s.Spec.Selector == nil {
						continue
					}
					if got, want := indexedPods(t, x, s.Namespace, s.Spec.Selector), brutePods(pods, s.Namespace, s.Spec.Selector); !slices.Equal(got, want) {
						t.Fatalf("step %d: Pods of %s/%s %v: indexed %v, scan %v", step, s.Namespace, s.Name, s.Spec.Selector, got, want)
					}
				}
			}
		})
	}
}
