package clusterdiff

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kube-endpoints/endpoints-controller/internal/diff"
	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

const ns = "ns"

var created = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func svc(name string, selector map[string]string, mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: created},
		Spec: corev1.ServiceSpec{
			ClusterIP: "10.96.0.10", Selector: selector,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func pod(name, ip string, ready bool, lbls map[string]string) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: k8stypes.UID("uid-" + name), Labels: lbls},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
		},
	}
}

func address(p *corev1.Pod) corev1.EndpointAddress {
	return corev1.EndpointAddress{IP: p.Status.PodIP, NodeName: ptr.To("node-1"),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: p.Name, UID: p.UID}}
}

func eps(name, managedBy string, subsets ...corev1.EndpointSubset) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subsets: subsets}
	if managedBy != "" {
		ep.Labels = map[string]string{endpoints.ManagedByLabel: managedBy}
	}
	return ep
}

var http = []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}

// TestCompare runs the comparison against a fake clientset holding one
// object of each case the controller distinguishes.
func TestCompare(t *testing.T) {
	web := map[string]string{"app": "web"}
	a := pod("a", "10.0.0.1", true, web)
	b := pod("b", "10.0.0.2", false, web)
	lock := eps("lock", "")
	lock.Annotations = map[string]string{endpoints.LeaderElectionAnnotation: "{}"}
	objects := []runtime.Object{
		a, b,
		// up to date, written by this controller
		svc("ours", web), eps("ours", endpoints.ControllerName, corev1.EndpointSubset{
			Addresses: []corev1.EndpointAddress{address(a)}, NotReadyAddresses: []corev1.EndpointAddress{address(b)}, Ports: http}),
		// up to date but for the reference controller's label
		svc("kcm", web), eps("kcm", endpoints.ReferenceControllerName, corev1.EndpointSubset{
			Addresses: []corev1.EndpointAddress{address(a)}, NotReadyAddresses: []corev1.EndpointAddress{address(b)}, Ports: http}),
		// b is not ready, the live Endpoints say ready
		svc("flipped", web), eps("flipped", endpoints.ReferenceControllerName, corev1.EndpointSubset{
			Addresses: []corev1.EndpointAddress{address(a), address(b)}, Ports: http}),
		// missing
		svc("missing", web),
		// selector matching nothing: Endpoints without subsets, up to date
		svc("nomatch", map[string]string{"app": "none"}), eps("nomatch", endpoints.ControllerName),
		// selectorless, with user Endpoints
		svc("manual", nil), eps("manual", "", corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}, Ports: http}),
		// ExternalName without and with managed Endpoints
		svc("external", nil, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		}),
		svc("was-cluster-ip", web, func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		}),
		eps("was-cluster-ip", endpoints.ControllerName, corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{address(a)}, Ports: http}),
		// orphans: user-written, and a leader-election lock
		eps("orphan", "", corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.2"}}, Ports: http}),
		lock,
	}
	cs := fake.NewClientset(objects...)
	r, err := Compare(context.Background(), cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Action{}
	for _, d := range r.Differences {
		got[d.Name] = d.Action
		if d.Diff == "" || len(d.Changes) == 0 {
			t.Errorf("%s: empty diff or changes: %+v", d.Name, d)
		}
	}
	want := map[string]Action{"flipped": ActionUpdate, "missing": ActionCreate, "was-cluster-ip": ActionDelete, "orphan": ActionDelete}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Differences = %v, want %v", got, want)
	}
	wantCounts := Report{ServicesExamined: 8, UpToDate: 3, LabelOnly: 1, NotManaged: 2, Create: 1, Update: 1, Delete: 2}
	r.Differences = nil
	if !reflect.DeepEqual(*r, wantCounts) {
		t.Errorf("Counts = %+v, want %+v", *r, wantCounts)
	}
	const summary = "8 Services examined: 3 up to date (1 differ only by the managed-by label), 2 not managed; " +
		"would create 1, update 1, delete 2 Endpoints"
	if r.Summary() != summary {
		t.Errorf("Summary = %q, want %q", r.Summary(), summary)
	}
}

func TestCompareFlippedChanges(t *testing.T) {
	web := map[string]string{"app": "web"}
	a := pod("a", "10.0.0.1", true, web)
	b := pod("b", "10.0.0.2", false, web)
	cs := fake.NewClientset(a, b, svc("flipped", web), eps("flipped", endpoints.ReferenceControllerName, corev1.EndpointSubset{
		Addresses: []corev1.EndpointAddress{address(a), address(b)}, Ports: http}))
	r, err := Compare(context.Background(), cs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Differences) != 1 {
		t.Fatalf("Differences = %+v, want one", r.Differences)
	}
	want := []diff.Change{
		{Kind: diff.KindAddressNotReady, Port: "http 8080/TCP", Detail: "10.0.0.2 (pod b)"},
	}
	if !reflect.DeepEqual(r.Differences[0].Changes, want) {
		t.Errorf("Changes = %v, want %v", r.Differences[0].Changes, want)
	}
	for _, line := range []string{
		"+  annotations:\n",
		"+    endpoints.kubernetes.io/last-change-trigger-time: \"2026-01-02T03:04:05Z\"\n",
		"-    endpoints.kubernetes.io/managed-by: endpoint-controller\n",
		"+    endpoints.kubernetes.io/managed-by: endpoints-controller.kube-endpoints.io\n",
		"+  notReadyAddresses:\n",
	} {
		if !strings.Contains(r.Differences[0].Diff, line) {
			t.Errorf("Diff lacks %q:\n%s", line, r.Differences[0].Diff)
		}
	}
}

// TestCompareServiceSelector: with a Service selector, other Services are not
// examined, and orphans are deleted only when an endpoints controller wrote
// them, as the start-up sweep does.
func TestCompareServiceSelector(t *testing.T) {
	picked := svc("picked", map[string]string{"app": "web"})
	picked.Labels = map[string]string{"endpoints": "managed"}
	cs := fake.NewClientset(
		picked, svc("other", map[string]string{"app": "web"}),
		eps("user-orphan", ""), eps("kcm-orphan", endpoints.ReferenceControllerName),
	)
	r, err := Compare(context.Background(), cs, Options{ServiceSelector: labels.SelectorFromSet(labels.Set{"endpoints": "managed"})})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range r.Differences {
		names = append(names, string(d.Action)+" "+d.Name)
	}
	if want := []string{"delete kcm-orphan", "create picked"}; !reflect.DeepEqual(names, want) {
		t.Errorf("Differences = %v, want %v", names, want)
	}
	if r.ServicesExamined != 1 {
		t.Errorf("ServicesExamined = %d, want 1", r.ServicesExamined)
	}
}

// TestCompareNamespacesAndErrors: each namespace is listed on its own, and a
// failed list names what failed.
func TestCompareNamespacesAndErrors(t *testing.T) {
	cs := fake.NewClientset()
	var listed []string
	cs.PrependReactor("list", "*", func(action k8stesting.Action) (bool, runtime.Object, error) {
		listed = append(listed, action.GetResource().Resource+"@"+action.GetNamespace())
		if action.GetResource().Resource == "pods" && action.GetNamespace() == "b" {
			return true, nil, errors.New(`pods is forbidden: User "u" cannot list resource "pods" in the namespace "b"`)
		}
		return false, nil, nil
	})
	_, err := Compare(context.Background(), cs, Options{Namespaces: []string{"a", "b"}})
	const wantErr = `listing Pods in namespace b: pods is forbidden: User "u" cannot list resource "pods" in the namespace "b"`
	if err == nil || err.Error() != wantErr {
		t.Errorf("Compare error = %v, want %s", err, wantErr)
	}
	if want := []string{"services@a", "endpoints@a", "pods@a", "services@b", "endpoints@b", "pods@b"}; !reflect.DeepEqual(listed, want) {
		t.Errorf("Lists = %v, want %v", listed, want)
	}
}

// TestListPages: pages are requested with the page size and the continue
// token of the page before, until a page has none.
func TestListPages(t *testing.T) {
	var seen []metav1.ListOptions
	tokens := []string{"p2", "p3", ""}
	err := listPages(context.Background(), 7, func(o metav1.ListOptions) (string, error) {
		seen = append(seen, o)
		return tokens[len(seen)-1], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []metav1.ListOptions{{Limit: 7}, {Limit: 7, Continue: "p2"}, {Limit: 7, Continue: "p3"}}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("List options = %+v, want %+v", seen, want)
	}
}

// TestCompareWriteMethod: a label that another field manager added is a
// difference for the full writes, which remove it, but not for server-side
// apply, which leaves it (as the controller's no-write check does).
func TestCompareWriteMethod(t *testing.T) {
	ep := eps("web", endpoints.ControllerName)
	ep.Labels["team"] = "blue"
	ep.ManagedFields = []metav1.ManagedFieldsEntry{{
		Manager: endpoints.FieldManager, Operation: metav1.ManagedFieldsOperationApply,
		FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:endpoints.kubernetes.io/managed-by":{}}}}`),
	}, {
		Manager: "labeller", Operation: metav1.ManagedFieldsOperationUpdate,
		FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{"f:team":{}}}}`),
	}}
	for _, tc := range []struct {
		method endpoints.WriteMethod
		update int
	}{{"", 1}, {endpoints.WriteUpdate, 1}, {endpoints.WritePatch, 1}, {endpoints.WriteApply, 0}} {
		cs := fake.NewClientset(svc("web", map[string]string{"app": "none"}), ep.DeepCopy())
		r, err := Compare(context.Background(), cs, Options{WriteMethod: tc.method})
		if err != nil {
			t.Fatal(err)
		}
		if r.Update != tc.update || r.UpToDate != 1-tc.update {
			t.Errorf("%q: %d to update, %d up to date; want %d, %d", tc.method, r.Update, r.UpToDate, tc.update, 1-tc.update)
		}
	}
}

// TestCompareManagedBy: with the controller's --managed-by=endpoint-controller,
// Endpoints carrying kube-controller-manager's value are up to date (not a
// label-only difference), and those carrying this controller's own value
// would be rewritten once (spec 7.1).
func TestCompareManagedBy(t *testing.T) {
	objects := func() []runtime.Object {
		return []runtime.Object{
			svc("ours", map[string]string{"app": "none"}), eps("ours", endpoints.ControllerName),
			svc("kcm", map[string]string{"app": "none"}), eps("kcm", endpoints.ReferenceControllerName),
		}
	}
	for _, tc := range []struct {
		managedBy string
		want      Report
	}{
		{"", Report{ServicesExamined: 2, UpToDate: 2, LabelOnly: 1}},
		{endpoints.ControllerName, Report{ServicesExamined: 2, UpToDate: 2, LabelOnly: 1}},
		{endpoints.ReferenceControllerName, Report{ServicesExamined: 2, UpToDate: 1, Update: 1}},
	} {
		r, err := Compare(context.Background(), fake.NewClientset(objects()...), Options{ManagedBy: tc.managedBy})
		if err != nil {
			t.Fatal(err)
		}
		got := Report{ServicesExamined: r.ServicesExamined, UpToDate: r.UpToDate, LabelOnly: r.LabelOnly, Update: r.Update}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("--managed-by=%q: %+v, want %+v", tc.managedBy, got, tc.want)
		}
		if tc.managedBy == endpoints.ReferenceControllerName && (len(r.Differences) != 1 || r.Differences[0].Name != "ours") {
			t.Errorf("--managed-by=%q: differences %+v, want the update of ours", tc.managedBy, r.Differences)
		}
	}
}
