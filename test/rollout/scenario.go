// Package rollout runs a day of a real cluster's Deployments against the
// realistic cluster of internal/realcluster: create, two rolling updates of
// every Deployment at once, half scaled up and half down, a Node lost. After
// each phase it checks that every Service's Endpoints equal, address for
// address and port for port, what KCM's EndpointSlice controller published
// and what the Pods say; during the phases it measures, per Pod readiness
// change, the time until the Endpoints and until the EndpointSlices show it,
// and the address-seconds during which each listed a Pod as ready that was
// not ready or already gone.
//
// The rollout end-to-end test runs it against this controller; the rollout
// benchmark (test/bench --rollout) against this controller and against
// KCM's endpoints controller, side by side.
package rollout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// Options sizes a run.
type Options struct {
	Namespace   string
	Deployments int
	Replicas    int
	// PhaseTimeout bounds each phase; the Node loss phase gets three times
	// as long (the Pod garbage collector removes a lost Node's Pods only
	// 40-80 s after the Node is gone).
	PhaseTimeout time.Duration
	// Logf reports progress; nil for none.
	Logf func(format string, args ...any)
}

// Phase is one phase's outcome.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Result is a run's outcome.
type Result struct {
	Phases            []Phase
	Endpoints, Slices Latency
	EndpointsWrites   float64 // the API server's count of Endpoints writes during the phases
}

// labelApp is the label each Deployment's Pods carry, the Service's selector.
const labelApp = "app"

// Run creates the workload in cs, runs the phases and returns the figures.
// It fails when a phase does not converge: the Endpoints differ from the
// EndpointSlices or the Pods, address or port.
func Run(ctx context.Context, cs kubernetes.Interface, o Options) (*Result, error) {
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if o.PhaseTimeout == 0 {
		o.PhaseTimeout = 2 * time.Minute
	}
	r := &run{cs: cs, o: o, obs: newObserver()}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating namespace %s: %w", o.Namespace, err)
	}
	stop := make(chan struct{})
	defer close(stop)
	if err := r.watch(stop); err != nil {
		return nil, err
	}
	res := &Result{}
	before, err := EndpointsWrites(ctx, cs)
	if err != nil {
		return nil, err
	}
	half := o.Deployments / 2
	phases := []struct {
		name    string
		timeout time.Duration
		do      func() error
	}{
		{"create", o.PhaseTimeout, func() error { return r.create(ctx) }},
		{"roll (template)", o.PhaseTimeout, func() error {
			return r.eachDeployment(ctx, func(i int, d *appsv1.Deployment) {
				d.Spec.Template.Annotations = map[string]string{"rollout": "1"}
			})
		}},
		{"roll (target port)", o.PhaseTimeout, func() error {
			return r.eachDeployment(ctx, func(i int, d *appsv1.Deployment) {
				d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort = 8081
			})
		}},
		{"scale", o.PhaseTimeout, func() error {
			return r.eachDeployment(ctx, func(i int, d *appsv1.Deployment) {
				n := int32(o.Replicas + o.Replicas/2)
				if i >= half {
					n = int32(max(1, o.Replicas/2))
				}
				d.Spec.Replicas = &n
			})
		}},
		{"node lost", 3 * o.PhaseTimeout, func() error { return r.loseNode(ctx) }},
	}
	for i, p := range phases {
		start := time.Now()
		if i == 1 {
			// The creation is not a change of a running service: its
			// Pods' first readiness is not measured.
			r.obs.start(time.Now())
		}
		o.Logf("Phase %q", p.name)
		if err := p.do(); err != nil {
			return nil, fmt.Errorf("phase %q: %w", p.name, err)
		}
		if err := r.converge(ctx, p.timeout); err != nil {
			return nil, fmt.Errorf("phase %q: %w", p.name, err)
		}
		res.Phases = append(res.Phases, Phase{Name: p.name, Duration: time.Since(start)})
		o.Logf("Phase %q converged in %s: Endpoints equal the EndpointSlices and the Pods", p.name, time.Since(start).Round(time.Millisecond))
	}
	after, err := EndpointsWrites(ctx, cs)
	if err != nil {
		return nil, err
	}
	res.EndpointsWrites = after - before
	res.Endpoints, res.Slices = r.obs.summaries(time.Now())
	return res, nil
}

type run struct {
	cs  kubernetes.Interface
	o   Options
	obs *observer
	// lost is the Node deleted by the last phase; no Pod may be left on it.
	lost string
}

func (r *run) name(i int) string { return "app-" + strconv.Itoa(i) }

func (r *run) services() []string {
	out := make([]string, r.o.Deployments)
	for i := range out {
		out[i] = r.name(i)
	}
	return out
}

// watch starts the informers that feed the observer.
func (r *run) watch(stop <-chan struct{}) error {
	f := informers.NewSharedInformerFactoryWithOptions(r.cs, 0, informers.WithNamespace(r.o.Namespace))
	key := func(obj any) string { k, _ := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); return k }
	podHandler := func(obj any, gone bool) {
		now := time.Now()
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		r.obs.pod(now, pod.Labels[labelApp], key(pod), pod, gone)
	}
	if _, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { podHandler(obj, false) },
		UpdateFunc: func(_, obj any) { podHandler(obj, false) },
		DeleteFunc: func(obj any) { podHandler(obj, true) },
	}); err != nil {
		return err
	}
	epHandler := func(obj any, gone bool) {
		now := time.Now()
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		ep, ok := obj.(*corev1.Endpoints)
		if !ok {
			return
		}
		if gone {
			ep = nil
		}
		r.obs.endpoints(now, obj.(*corev1.Endpoints).Name, ep)
	}
	if _, err := f.Core().V1().Endpoints().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { epHandler(obj, false) },
		UpdateFunc: func(_, obj any) { epHandler(obj, false) },
		DeleteFunc: func(obj any) { epHandler(obj, true) },
	}); err != nil {
		return err
	}
	sliceHandler := func(obj any, gone bool) {
		now := time.Now()
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		es, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok {
			return
		}
		svc, name := es.Labels[discoveryv1.LabelServiceName], es.Name
		if gone {
			es = nil
		}
		r.obs.slice(now, svc, name, es)
	}
	if _, err := f.Discovery().V1().EndpointSlices().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { sliceHandler(obj, false) },
		UpdateFunc: func(_, obj any) { sliceHandler(obj, false) },
		DeleteFunc: func(obj any) { sliceHandler(obj, true) },
	}); err != nil {
		return err
	}
	f.Start(stop)
	for typ, ok := range f.WaitForCacheSync(stop) {
		if !ok {
			return fmt.Errorf("watching %v: cache did not sync", typ)
		}
	}
	return nil
}

// create creates a ClusterIP Service with two named target ports and a
// Deployment behind it for each index.
func (r *run) create(ctx context.Context) error {
	for i := range r.o.Deployments {
		name := r.name(i)
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.o.Namespace},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{labelApp: name},
				Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
					{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP},
				},
			},
		}
		if _, err := r.cs.CoreV1().Services(r.o.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Service %s: %w", name, err)
		}
		replicas := int32(r.o.Replicas)
		grace := int64(30)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.o.Namespace},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{labelApp: name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{labelApp: name}},
					Spec: corev1.PodSpec{
						TerminationGracePeriodSeconds: &grace,
						Containers: []corev1.Container{{
							Name: "app", Image: "registry.example/app:1",
							Ports: []corev1.ContainerPort{
								{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
								{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP},
							},
						}},
					},
				},
			},
		}
		if _, err := r.cs.AppsV1().Deployments(r.o.Namespace).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Deployment %s: %w", name, err)
		}
	}
	return nil
}

// eachDeployment changes every Deployment at once with mutate.
func (r *run) eachDeployment(ctx context.Context, mutate func(i int, d *appsv1.Deployment)) error {
	for i := range r.o.Deployments {
		for attempt := 0; ; attempt++ {
			d, err := r.cs.AppsV1().Deployments(r.o.Namespace).Get(ctx, r.name(i), metav1.GetOptions{})
			if err != nil {
				return err
			}
			mutate(i, d)
			_, err = r.cs.AppsV1().Deployments(r.o.Namespace).Update(ctx, d, metav1.UpdateOptions{})
			if err == nil {
				break
			}
			if !apierrors.IsConflict(err) || attempt == 5 {
				return fmt.Errorf("updating Deployment %s: %w", d.Name, err)
			}
		}
	}
	return nil
}

// loseNode deletes the Node that runs the most of the namespace's Pods, as
// a cloud provider does with a lost machine; the Pod garbage collector then
// removes its Pods and the ReplicaSets replace them.
func (r *run) loseNode(ctx context.Context) error {
	pods, err := r.cs.CoreV1().Pods(r.o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	count := map[string]int{}
	for _, p := range pods.Items {
		if p.Spec.NodeName != "" {
			count[p.Spec.NodeName]++
		}
	}
	node, most := "", 0
	for n, c := range count {
		if c > most || (c == most && n < node) {
			node, most = n, c
		}
	}
	if node == "" {
		return fmt.Errorf("no Pod is on a Node")
	}
	r.o.Logf("Deleting Node %s with %d Pods; the Pod garbage collector removes them 40-80 s later", node, most)
	r.lost = node
	return r.cs.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
}

// converge waits until the Deployments are rolled out with no Pod left
// over, then until every Service's Endpoints, EndpointSlices and Pods agree
// (the observer's view), then checks the same against fresh reads, port for
// port.
func (r *run) converge(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		last = r.settled(ctx)
		if last == "" {
			if mm := r.obs.mismatches(r.services()); len(mm) > 0 {
				last = strings.Join(mm, "\n")
			} else if last = r.compare(ctx); last == "" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not converged after %s:\n%s", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// settled says what the Deployments still wait for, or "" when every one
// has all its replicas updated and available and no other Pod is left.
func (r *run) settled(ctx context.Context) string {
	ds, err := r.cs.AppsV1().Deployments(r.o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	want := 0
	for _, d := range ds.Items {
		s, n := d.Status, *d.Spec.Replicas
		want += int(n)
		if s.ObservedGeneration < d.Generation || s.UpdatedReplicas != n || s.AvailableReplicas != n || s.Replicas != n {
			return fmt.Sprintf("Deployment %s: %d updated, %d available, %d in all of %d",
				d.Name, s.UpdatedReplicas, s.AvailableReplicas, s.Replicas, n)
		}
	}
	pods, err := r.cs.CoreV1().Pods(r.o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	if len(pods.Items) != want {
		return fmt.Sprintf("%d Pods, want %d", len(pods.Items), want)
	}
	if r.lost != "" {
		for _, p := range pods.Items {
			if p.Spec.NodeName == r.lost {
				return fmt.Sprintf("Pod %s is still on the lost Node %s", p.Name, r.lost)
			}
		}
	}
	return ""
}

// compare reads the Pods, Endpoints and EndpointSlices afresh and returns
// how they differ, as "address state port" triples.
func (r *run) compare(ctx context.Context) string {
	ns := r.o.Namespace
	pods, err := r.cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	eps, err := r.cs.CoreV1().Endpoints(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	ess, err := r.cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	fromPods, fromEps, fromSlices := map[string][]string{}, map[string][]string{}, map[string][]string{}
	for i := range pods.Items {
		p := &pods.Items[i]
		st := podState(p)
		if st == absent {
			continue
		}
		svc := p.Labels[labelApp]
		for _, c := range p.Spec.Containers {
			for _, port := range c.Ports {
				fromPods[svc] = append(fromPods[svc], triple(p.Status.PodIP, st, port.Name, port.ContainerPort, port.Protocol))
			}
		}
	}
	for i := range eps.Items {
		ep := &eps.Items[i]
		for _, s := range ep.Subsets {
			for _, port := range s.Ports {
				for _, a := range s.Addresses {
					fromEps[ep.Name] = append(fromEps[ep.Name], triple(a.IP, ready, port.Name, port.Port, port.Protocol))
				}
				for _, a := range s.NotReadyAddresses {
					fromEps[ep.Name] = append(fromEps[ep.Name], triple(a.IP, notReady, port.Name, port.Port, port.Protocol))
				}
			}
		}
	}
	for i := range ess.Items {
		es := &ess.Items[i]
		svc := es.Labels[discoveryv1.LabelServiceName]
		for ip, st := range sliceView(es) {
			for _, port := range es.Ports {
				fromSlices[svc] = append(fromSlices[svc], triple(ip, st, *port.Name, *port.Port, *port.Protocol))
			}
		}
	}
	var diffs []string
	for _, svc := range r.services() {
		p, e, s := sorted(fromPods[svc]), sorted(fromEps[svc]), sorted(fromSlices[svc])
		if e != p {
			diffs = append(diffs, fmt.Sprintf("%s: Endpoints [%s], Pods [%s]", svc, e, p))
		}
		if e != s {
			diffs = append(diffs, fmt.Sprintf("%s: Endpoints [%s], EndpointSlices [%s]", svc, e, s))
		}
	}
	return strings.Join(diffs, "\n")
}

func triple(ip string, st state, name string, port int32, proto corev1.Protocol) string {
	return fmt.Sprintf("%s %v %s/%d/%s", ip, st, name, port, proto)
}

func sorted(s []string) string {
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// EndpointsWritesByVerb reads the API server's count of Endpoints requests
// that change something, by verb; a verb's refusals count apart, as
// "VERB(code)".
func EndpointsWritesByVerb(ctx context.Context, cs kubernetes.Interface) (map[string]float64, error) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing the API server's metrics: %w", err)
	}
	out := map[string]float64{}
	family, ok := families["apiserver_request_total"]
	if !ok {
		return out, nil
	}
	for _, m := range family.GetMetric() {
		labels := map[string]string{}
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		verb := labels["verb"]
		if labels["resource"] != "endpoints" || verb == "GET" || verb == "LIST" || verb == "WATCH" {
			continue
		}
		if code := labels["code"]; code != "" && !strings.HasPrefix(code, "2") {
			verb += "(" + code + ")"
		}
		out[verb] += m.GetCounter().GetValue()
	}
	return out, nil
}

// EndpointsWrites is the sum of EndpointsWritesByVerb: every Endpoints
// create, update, patch and delete, whatever its response code.
func EndpointsWrites(ctx context.Context, cs kubernetes.Interface) (float64, error) {
	byVerb, err := EndpointsWritesByVerb(ctx, cs)
	if err != nil {
		return 0, err
	}
	var n float64
	for _, v := range byVerb {
		n += v
	}
	return n, nil
}

// Print writes the result as a table: per publisher the latency from a Pod
// readiness change to its showing, and the stale address-seconds.
func (res *Result) Print(w io.Writer, label string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tchanges\tp50 s\tp99 s\tmax s\tstale address-s\treplaced before shown\n", label)
	for _, row := range []struct {
		name string
		l    Latency
	}{{"Endpoints", res.Endpoints}, {"EndpointSlices", res.Slices}} {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%.3f\t%.1f\t%d\n", row.name, row.l.Count,
			row.l.P50.Seconds(), row.l.P99.Seconds(), row.l.Max.Seconds(), row.l.StaleAddrSecs, row.l.Replaced)
	}
	_ = tw.Flush()
	ratio := func(a, b time.Duration) float64 {
		if b == 0 {
			return 0
		}
		return a.Seconds() / b.Seconds()
	}
	fmt.Fprintf(w, "Endpoints ÷ EndpointSlices: p50 %.2f, p99 %.2f; Endpoints writes %.0f; phases:",
		ratio(res.Endpoints.P50, res.Slices.P50), ratio(res.Endpoints.P99, res.Slices.P99), res.EndpointsWrites)
	for _, p := range res.Phases {
		fmt.Fprintf(w, " %s %.1fs", p.Name, p.Duration.Seconds())
	}
	fmt.Fprintln(w)
}
