// Package clusterdiff compares, for a whole cluster, the Endpoints the
// controller would write with the live ones, without writing anything: the
// logic of the `endpoints-controller diff` subcommand.
//
// It lists Services, Pods and Endpoints page by page, computes each Service's
// Endpoints with the controller's own functions (endpoints.Compute, Desired
// and UpToDate), applies the controller's rules of which Endpoints are
// managed (spec 1.2-1.4, 8.6), and describes each difference with package
// diff.
package clusterdiff

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kube-endpoints/endpoints-controller/internal/diff"
	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// DefaultPageSize is the number of objects per list request, as kubectl's
// default chunk size: small enough for the API server to serve from its
// watch cache without strain, large enough that 10,000 Services take 20
// requests.
const DefaultPageSize = 500

// Options say what to compare.
type Options struct {
	// Namespaces limits the comparison, as the controller's --namespaces
	// does; all namespaces when empty.
	Namespaces []string
	// ServiceSelector limits the Services, as --service-label-selector does;
	// all Services when nil.
	ServiceSelector labels.Selector
	// PageSize is the number of objects per list request; DefaultPageSize
	// when zero.
	PageSize int64
	// WriteMethod is the controller's --write-method: with server-side
	// apply, labels that other field managers own need no write.
	// endpoints.WriteUpdate when empty.
	WriteMethod endpoints.WriteMethod
	// ManagedBy is the controller's --managed-by: the value of the managed-by
	// label it writes. endpoints.ControllerName when empty.
	ManagedBy string
}

// Action is what the controller would do to one Endpoints object.
type Action string

// Actions of a Difference.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
)

// Difference is one Endpoints object the controller would write.
type Difference struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Action    Action `json:"action"`
	// Changes lists what would change, readably.
	Changes []diff.Change `json:"changes"`
	// Diff is the unified diff of the live and the desired YAML.
	Diff string `json:"diff"`
}

// Report is the outcome of a comparison.
type Report struct {
	// ServicesExamined counts the Services selected by the options.
	ServicesExamined int `json:"servicesExamined"`
	// UpToDate counts the Services whose Endpoints need no write, LabelOnly
	// included.
	UpToDate int `json:"upToDate"`
	// LabelOnly counts the up-to-date Endpoints that still carry
	// kube-controller-manager's managed-by value: a take-over leaves them
	// as they are (spec 7.1).
	LabelOnly int `json:"labelOnly"`
	// NotManaged counts the Services whose Endpoints the controller leaves
	// alone: no selector (spec 1.4), or ExternalName without managed
	// Endpoints to delete (spec 1.3).
	NotManaged int `json:"notManaged"`
	// Create, Update and Delete count the Endpoints that would be written;
	// Delete includes orphans, Endpoints without a Service (spec 8.6).
	Create int `json:"create"`
	Update int `json:"update"`
	Delete int `json:"delete"`
	// Differences lists those writes, by namespace and name.
	Differences []Difference `json:"differences"`
}

// Changed reports whether the controller would write anything.
func (r *Report) Changed() bool { return len(r.Differences) > 0 }

// Summary returns the one-line summary of r.
func (r *Report) Summary() string {
	return fmt.Sprintf("%d Services examined: %d up to date (%d differ only by the managed-by label), %d not managed; "+
		"would create %d, update %d, delete %d Endpoints",
		r.ServicesExamined, r.UpToDate, r.LabelOnly, r.NotManaged, r.Create, r.Update, r.Delete)
}

// Compare reads the cluster through cs and reports how the Endpoints the
// controller would write differ from the live ones. It only lists.
func Compare(ctx context.Context, cs kubernetes.Interface, opts Options) (*Report, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	w := world{
		services:  map[types.NamespacedName]*corev1.Service{},
		endpoints: map[types.NamespacedName]*corev1.Endpoints{},
		pods:      map[string][]*corev1.Pod{},
	}
	for _, ns := range namespaces {
		if err := w.read(ctx, cs, ns, opts.PageSize); err != nil {
			return nil, err
		}
	}
	return w.compare(opts)
}

// world is what was read of the cluster.
type world struct {
	services  map[types.NamespacedName]*corev1.Service
	endpoints map[types.NamespacedName]*corev1.Endpoints
	pods      map[string][]*corev1.Pod // by namespace
}

// read lists the Services, Endpoints and Pods of ns ("" for all namespaces).
func (w *world) read(ctx context.Context, cs kubernetes.Interface, ns string, pageSize int64) error {
	where := "in all namespaces"
	if ns != "" {
		where = "in namespace " + ns
	}
	err := listPages(ctx, pageSize, func(o metav1.ListOptions) (string, error) {
		list, err := cs.CoreV1().Services(ns).List(ctx, o)
		if err != nil {
			return "", err
		}
		for i := range list.Items {
			svc := &list.Items[i]
			w.services[types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}] = svc
		}
		return list.Continue, nil
	})
	if err != nil {
		return fmt.Errorf("listing Services %s: %w", where, err)
	}
	err = listPages(ctx, pageSize, func(o metav1.ListOptions) (string, error) {
		list, err := cs.CoreV1().Endpoints(ns).List(ctx, o)
		if err != nil {
			return "", err
		}
		for i := range list.Items {
			ep := &list.Items[i]
			w.endpoints[types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}] = ep
		}
		return list.Continue, nil
	})
	if err != nil {
		return fmt.Errorf("listing Endpoints %s: %w", where, err)
	}
	err = listPages(ctx, pageSize, func(o metav1.ListOptions) (string, error) {
		list, err := cs.CoreV1().Pods(ns).List(ctx, o)
		if err != nil {
			return "", err
		}
		for i := range list.Items {
			// Keep only what the computation reads, as the controller's
			// cache does: a cluster's Pods are the bulk of what is read.
			pod := endpoints.TrimPod(&list.Items[i])
			w.pods[pod.Namespace] = append(w.pods[pod.Namespace], pod)
		}
		return list.Continue, nil
	})
	if err != nil {
		return fmt.Errorf("listing Pods %s: %w", where, err)
	}
	return nil
}

// listPages calls list with Limit and Continue until the last page.
func listPages(ctx context.Context, pageSize int64, list func(metav1.ListOptions) (string, error)) error {
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, err := list(opts)
		if err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		opts.Continue = next
	}
}

// compare applies the controller's rules to what was read.
func (w *world) compare(opts Options) (*Report, error) {
	selector := opts.ServiceSelector
	r := &Report{Differences: []Difference{}}
	triggers := endpoints.NewTriggerTimeTracker()
	for _, key := range sortedKeys(w.services) {
		svc := w.services[key]
		if selector != nil && !selector.Matches(labels.Set(svc.Labels)) {
			continue
		}
		r.ServicesExamined++
		if err := r.service(svc, w.endpoints[key], w.pods[svc.Namespace], triggers, opts); err != nil {
			return nil, err
		}
	}
	// The start-up sweep (spec 8.6): Endpoints without a Service go, except
	// leader-election locks and, with a Service selector, those no endpoints
	// controller wrote.
	for _, key := range sortedKeys(w.endpoints) {
		ep := w.endpoints[key]
		if _, ok := w.services[key]; ok || !endpoints.SweepCandidate(ep, selector != nil) {
			continue
		}
		if err := r.add(ep, nil); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(r.Differences, func(i, j int) bool {
		a, b := r.Differences[i], r.Differences[j]
		return a.Namespace < b.Namespace || (a.Namespace == b.Namespace && a.Name < b.Name)
	})
	return r, nil
}

// service records what the controller would do for svc, whose Endpoints are
// current (nil when missing), given the Pods of its namespace.
func (r *Report) service(svc *corev1.Service, current *corev1.Endpoints, pods []*corev1.Pod,
	triggers *endpoints.TriggerTimeTracker, opts Options) error {
	switch endpoints.ActionFor(svc) {
	case endpoints.ActionDelete:
		// Spec 1.3: no Endpoints; managed ones are deleted.
		if current != nil && endpoints.MayDelete(current, false) {
			return r.add(current, nil)
		}
		r.NotManaged++
		return nil
	case endpoints.ActionSkip:
		r.NotManaged++ // spec 1.4: user-managed
		return nil
	case endpoints.ActionCompute:
	}
	selected := selectPods(pods, svc.Spec.Selector)
	// The first sync of a Service takes its creation time (spec 7.3).
	trigger, _ := triggers.Observe(svc, selected) // one look per Service: nothing to commit
	managedBy := opts.ManagedBy
	if managedBy == "" {
		managedBy = endpoints.ControllerName
	}
	desired := endpoints.DesiredManagedBy(svc, current, endpoints.Compute(svc, selected), trigger, managedBy)
	if current == nil || !endpoints.UpToDate(current, desired, endpoints.ForeignLabels(opts.WriteMethod, current)) {
		return r.add(current, desired)
	}
	r.UpToDate++
	if endpoints.TakenOver(current) && managedBy == endpoints.ControllerName {
		r.LabelOnly++
	}
	return nil
}

// add records the write of desired over current (either may be nil).
func (r *Report) add(current, desired *corev1.Endpoints) error {
	d := Difference{Action: ActionUpdate, Changes: diff.Describe(current, desired)}
	switch {
	case current == nil:
		d.Action, d.Namespace, d.Name = ActionCreate, desired.Namespace, desired.Name
		r.Create++
	case desired == nil:
		d.Action, d.Namespace, d.Name = ActionDelete, current.Namespace, current.Name
		r.Delete++
	default:
		d.Namespace, d.Name = current.Namespace, current.Name
		r.Update++
	}
	text, err := diff.Unified(current, desired)
	if err != nil {
		return err
	}
	d.Diff = text
	r.Differences = append(r.Differences, d)
	return nil
}

// selectPods returns the Pods whose labels match selector (spec 1.5).
func selectPods(pods []*corev1.Pod, selector map[string]string) []*corev1.Pod {
	sel := labels.SelectorFromSet(selector)
	var out []*corev1.Pod
	for _, p := range pods {
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out
}

func sortedKeys[V any](m map[types.NamespacedName]V) []types.NamespacedName {
	keys := make([]types.NamespacedName, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	return keys
}

// WriteText writes r as `kubectl diff` would, a unified diff per Endpoints
// object headed by comment lines with its readable summary, then the summary
// line; with colour, for a terminal.
func (r *Report) WriteText(w io.Writer, colour bool) error {
	var b strings.Builder
	for _, d := range r.Differences {
		fmt.Fprintf(&b, "# %s/%s: %s: %s\n", d.Namespace, d.Name, d.Action, diff.Summary(d.Changes))
		for _, c := range d.Changes {
			fmt.Fprintf(&b, "#   %s\n", c)
		}
		if colour {
			b.WriteString(diff.Colourize(d.Diff))
		} else {
			b.WriteString(d.Diff)
		}
	}
	b.WriteString(r.Summary() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}
