package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/dump"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"
)

// nodeName is the node every test Pod is bound to.
const nodeName = "node-1"

// Label and annotation keys as the spec spells them, not taken from the code
// under test.
const (
	managedByLabel      = "endpoints.kubernetes.io/managed-by"
	managedByValue      = "endpoints-controller.kube-endpoints.io"
	headlessLabel       = "service.kubernetes.io/headless"
	overCapacityKey     = "endpoints.kubernetes.io/over-capacity"
	triggerTimeKey      = "endpoints.kubernetes.io/last-change-trigger-time"
	leaderAnnotationKey = "control-plane.alpha.kubernetes.io/leader"
)

// ---- Objects ----

// newService returns a ClusterIP Service named name selecting selector, with
// the port http 80 -> 8080 unless ports are given.
func newService(ns, name string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	if len(ports) == 0 {
		ports = []corev1.ServicePort{httpPort()}
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports},
	}
}

func httpPort() corev1.ServicePort {
	return corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}
}

// newPod returns a Pod bound to nodeName with one container serving port
// "http" 8080/TCP.
func newPod(ns, name string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName: nodeName,
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.k8s.io/pause:3.10",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			}},
		},
	}
}

// podState is the status a test gives a Pod, as a kubelet would.
type podState struct {
	phase corev1.PodPhase // Running when empty
	ip    string          // none when empty
	ready bool
	// readySince is the Ready condition's lastTransitionTime; now when zero
	// and readiness changes.
	readySince time.Time
}

func running(ip string, ready bool) podState { return podState{ip: ip, ready: ready} }

// createPod creates pod, then sets its status to st through the status
// subresource. It returns the stored Pod.
func createPod(t *testing.T, pod *corev1.Pod, st podState) *corev1.Pod {
	t.Helper()
	create(t, pod)
	setPodStatus(t, pod, st)
	return pod
}

// setPodStatus sets the phase, IPs and Ready condition of pod; the Ready
// condition's lastTransitionTime moves only when readiness changes.
func setPodStatus(t *testing.T, pod *corev1.Pod, st podState) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(pod), pod); err != nil {
			return err
		}
		pod.Status.Phase = st.phase
		if pod.Status.Phase == "" {
			pod.Status.Phase = corev1.PodRunning
		}
		pod.Status.PodIP, pod.Status.PodIPs = "", nil
		if st.ip != "" {
			pod.Status.PodIP = st.ip
			pod.Status.PodIPs = []corev1.PodIP{{IP: st.ip}}
		}
		status := corev1.ConditionFalse
		if st.ready {
			status = corev1.ConditionTrue
		}
		var conds []corev1.PodCondition
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == status && st.readySince.IsZero() {
				conds = append(conds, c)
			}
		}
		if len(conds) == 0 {
			since := metav1.Now()
			if !st.readySince.IsZero() {
				since = metav1.NewTime(st.readySince)
			}
			conds = []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: since}}
		}
		pod.Status.Conditions = conds
		return k8sClient.Status().Update(context.Background(), pod)
	})
	if err != nil {
		t.Fatalf("Setting status of Pod %s: %v", pod.Name, err)
	}
}

// setPodReady changes only the readiness of pod.
func setPodReady(t *testing.T, pod *corev1.Pod, ready bool) {
	t.Helper()
	setPodStatus(t, pod, podState{phase: pod.Status.Phase, ip: pod.Status.PodIP, ready: ready})
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8sClient.Create(context.Background(), obj); err != nil {
		t.Fatalf("Creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// change reads obj afresh, applies mutate and writes it back, retrying on conflicts.
func change[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return k8sClient.Update(context.Background(), obj)
	})
	if err != nil {
		t.Fatalf("Updating %T %s: %v", obj, obj.GetName(), err)
	}
}

// deleteNow deletes obj without a grace period: without a kubelet, a Pod
// bound to a node would otherwise stay Terminating.
func deleteNow(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8sClient.Delete(context.Background(), obj, client.GracePeriodSeconds(0)); err != nil {
		t.Fatalf("Deleting %T %s: %v", obj, obj.GetName(), err)
	}
}

func getEndpoints(t *testing.T, ns, name string) *corev1.Endpoints {
	t.Helper()
	ep := &corev1.Endpoints{}
	if err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, ep); err != nil {
		t.Fatalf("Getting Endpoints %s/%s: %v", ns, name, err)
	}
	return ep
}

// userEndpoints returns Endpoints as a user writes them: one address without
// a target, no managed-by label.
func userEndpoints(ns, name, ip string) *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"owner": "user"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: ip}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}},
		}},
	}
}

// ---- Expected Endpoints ----

// addr is the address the spec gives pod (3.3, 3.4): its IP, the node, and
// a target reference of exactly kind, namespace, name and uid.
func addr(pod *corev1.Pod) corev1.EndpointAddress {
	return corev1.EndpointAddress{
		IP:       pod.Status.PodIP,
		NodeName: ptr.To(pod.Spec.NodeName),
		TargetRef: &corev1.ObjectReference{
			Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID,
		},
	}
}

func addrs(pods ...*corev1.Pod) []corev1.EndpointAddress {
	if len(pods) == 0 {
		return nil
	}
	out := make([]corev1.EndpointAddress, len(pods))
	for i, p := range pods {
		out[i] = addr(p)
	}
	return out
}

func tcpPort(name string, port int32) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Port: port, Protocol: corev1.ProtocolTCP}
}

// labelsFor returns the labels the spec (7.1) gives the Endpoints of a
// Service labelled svcLabels.
func labelsFor(svcLabels map[string]string, headless bool) map[string]string {
	l := maps.Clone(svcLabels)
	if l == nil {
		l = map[string]string{}
	}
	if headless {
		l[headlessLabel] = ""
	}
	l[managedByLabel] = managedByValue
	return l
}

// want describes Endpoints exactly: labels, annotations other than the
// trigger time (which must then be a valid RFC 3339 time when present), and
// subsets, which are put in the order of spec 5.5 first.
type want struct {
	labels      map[string]string
	annotations map[string]string
	subsets     []corev1.EndpointSubset
}

// mismatch returns how ep differs from w, or "" when it does not.
func (w want) mismatch(ep *corev1.Endpoints) string {
	var diffs []string
	if !mapsEqual(ep.Labels, w.labels) {
		diffs = append(diffs, fmt.Sprintf("labels: got %v, want %v", ep.Labels, w.labels))
	}
	annotations := maps.Clone(ep.Annotations)
	if tt, ok := annotations[triggerTimeKey]; ok {
		if _, err := time.Parse(time.RFC3339Nano, tt); err != nil {
			diffs = append(diffs, fmt.Sprintf("annotation %s: %v", triggerTimeKey, err))
		}
		delete(annotations, triggerTimeKey)
	}
	if !mapsEqual(annotations, w.annotations) {
		diffs = append(diffs, fmt.Sprintf("annotations (without the trigger time): got %v, want %v", annotations, w.annotations))
	}
	wantSubsets := specOrder(w.subsets)
	if !reflect.DeepEqual(ep.Subsets, wantSubsets) {
		diffs = append(diffs, "subsets: got\n"+toYAML(ep.Subsets)+"want\n"+toYAML(wantSubsets))
	}
	return strings.Join(diffs, "\n")
}

func mapsEqual(a, b map[string]string) bool { return len(a) == len(b) && maps.Equal(a, b) }

func toYAML(v any) string {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v\n", v)
	}
	return string(b)
}

// eventuallyEndpoints waits until the Endpoints ns/name are exactly w and returns them.
func eventuallyEndpoints(t *testing.T, ns, name string, w want) *corev1.Endpoints {
	t.Helper()
	ep := &corev1.Endpoints{}
	waitFor(t, fmt.Sprintf("Endpoints %s/%s", ns, name), func(ctx context.Context) (bool, string, error) {
		if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ep); err != nil {
			if apierrors.IsNotFound(err) {
				return false, "Endpoints not found", nil
			}
			return false, "", err
		}
		diff := w.mismatch(ep)
		return diff == "", diff, nil
	})
	return ep
}

// eventuallyGone waits until the Endpoints ns/name do not exist.
func eventuallyGone(t *testing.T, ns, name string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("Endpoints %s/%s to be deleted", ns, name), func(ctx context.Context) (bool, string, error) {
		err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &corev1.Endpoints{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "Endpoints still exist", err
	})
}

// assertAbsent fails unless the Endpoints ns/name do not exist.
func assertAbsent(t *testing.T, ns, name string) {
	t.Helper()
	err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &corev1.Endpoints{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("Endpoints %s/%s: want NotFound, got err=%v", ns, name, err)
	}
}

// assertUnchanged fails unless the Endpoints ns/name still have resourceVersion rv.
func assertUnchanged(t *testing.T, ns, name, rv string) {
	t.Helper()
	if got := getEndpoints(t, ns, name).ResourceVersion; got != rv {
		t.Errorf("Endpoints %s/%s were written: resourceVersion %s, want %s", ns, name, got, rv)
	}
}

// specOrder returns a copy of subsets in the order of spec 5.5, computed here
// from the rule itself: addresses by IP string then target UID, ports and
// subsets by the FNV-128a digest of their dump.ForHash text.
func specOrder(subsets []corev1.EndpointSubset) []corev1.EndpointSubset {
	if len(subsets) == 0 {
		return nil
	}
	out := make([]corev1.EndpointSubset, len(subsets))
	for i := range subsets {
		s := *subsets[i].DeepCopy()
		sortAddrs(s.Addresses)
		sortAddrs(s.NotReadyAddresses)
		sort.SliceStable(s.Ports, func(a, b int) bool {
			return bytes.Compare(specHash(s.Ports[a]), specHash(s.Ports[b])) < 0
		})
		out[i] = s
	}
	sort.SliceStable(out, func(a, b int) bool { return bytes.Compare(specHash(out[a]), specHash(out[b])) < 0 })
	return out
}

func sortAddrs(a []corev1.EndpointAddress) {
	uid := func(x corev1.EndpointAddress) string {
		if x.TargetRef == nil {
			return ""
		}
		return string(x.TargetRef.UID)
	}
	sort.SliceStable(a, func(i, j int) bool {
		if a[i].IP != a[j].IP {
			return a[i].IP < a[j].IP
		}
		return uid(a[i]) < uid(a[j])
	})
}

func specHash(obj any) []byte {
	h := fnv.New128a()
	fmt.Fprintf(h, "%v", dump.ForHash(obj))
	return h.Sum(nil)
}

// ---- Metrics ----

// counter returns the value of the counter name with exactly the given label
// values, summed over the other labels; 0 when it was never incremented.
func counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatalf("Gathering metrics: %v", err)
	}
	var sum float64
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelsMatch(m, labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func labelsMatch(m *dto.Metric, want map[string]string) bool {
	n := 0
	for _, lp := range m.GetLabel() {
		if v, ok := want[lp.GetName()]; ok {
			if v != lp.GetValue() {
				return false
			}
			n++
		}
	}
	return n == len(want)
}

// syncs returns endpoints_controller_syncs_total for result.
func syncs(t *testing.T, result string) float64 {
	t.Helper()
	return counter(t, "endpoints_controller_syncs_total", map[string]string{"result": result})
}

// writes returns endpoints_controller_writes_total for method ("" for all) and dryRun.
func writes(t *testing.T, method string, dryRun bool) float64 {
	t.Helper()
	labels := map[string]string{"dry_run": fmt.Sprint(dryRun)}
	if method != "" {
		labels["method"] = method
	}
	return counter(t, "endpoints_controller_writes_total", labels)
}

// waitForCount waits until get() reaches at least target.
func waitForCount(t *testing.T, what string, target float64, get func() float64) {
	t.Helper()
	waitFor(t, what, func(context.Context) (bool, string, error) {
		v := get()
		return v >= target, fmt.Sprintf("%s is %v, want at least %v", what, v, target), nil
	})
}

// waitForSyncs waits until n more syncs with result ended than before, a
// value of syncs(t, result) taken earlier.
func waitForSyncs(t *testing.T, result string, before float64, n int) {
	t.Helper()
	waitForCount(t, fmt.Sprintf("syncs with result %q", result), before+float64(n), func() float64 { return syncs(t, result) })
}

// TestSpecOrderHelper checks specOrder, which the expectations rely on,
// against the test vectors of spec 5.5.
func TestSpecOrderHelper(t *testing.T) {
	for _, tc := range []struct {
		port corev1.EndpointPort
		hash string
	}{
		{corev1.EndpointPort{Port: 8080, Protocol: corev1.ProtocolTCP}, "b09ff368df0fc81442c7b7a3ab2dbca5"},
		{corev1.EndpointPort{Port: 8080, Protocol: corev1.ProtocolUDP}, "59aa40b466adb81c6e00232f1f0ba361"},
	} {
		if got := fmt.Sprintf("%x", specHash(tc.port)); got != tc.hash {
			t.Errorf("Hash of %+v = %s, want %s", tc.port, got, tc.hash)
		}
	}
	got := specOrder([]corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.0.0.2"}, {IP: "10.0.0.10"}},
		Ports: []corev1.EndpointPort{
			{Port: 8080, Protocol: corev1.ProtocolTCP}, {Port: 8080, Protocol: corev1.ProtocolUDP},
		},
	}})
	if got[0].Addresses[0].IP != "10.0.0.10" || got[0].Ports[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("specOrder() = %+v, want 10.0.0.10 first and UDP first", got)
	}
}
