package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Shape and schedule of the fault test.
const (
	faultNamespace  = "fault"
	faultServices   = 20
	podsPerService  = 10
	churnDuration   = 40 * time.Second
	churnMutations  = 500
	killAfter       = 6 * time.Second  // SIGKILL of the leader
	foreignAfter    = 12 * time.Second // a foreign writer overwrites three Endpoints
	restartAfter    = 16 * time.Second // kube-apiserver stops and starts again
	maxConvergence  = leaseDuration + 10*time.Second
	maxConflicts    = 9 // "single digits"
	controllerAgent = "endpoints-controller/"
)

// auditPolicy records every write of Endpoints, once, when it is answered.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete"]
  resources: [{group: "", resources: ["endpoints"]}]
- level: None
`

// TestFaults runs three replicas over 20 Services x 10 Pods while a churn
// loop changes Pods at random, and meanwhile: SIGKILL of the leader, a
// kube-apiserver restart on the same etcd, SIGTERM of the next leader a
// moment after the API server is back (its cache still catching up), and a
// foreign writer overwriting three managed Endpoints. Replicas that exit are
// started again. After the churn stops, every Endpoints must equal what the
// test computes from the final Pods within maxConvergence, no standby may
// have written, and conflicts (409, counted from the API server's audit log)
// stay in the single digits. The test logs the latency from a Pod change to
// the Endpoints showing it and the writes by verb.
func TestFaults(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	auditLog := filepath.Join(dir, "audit.log")
	e := setup(t, map[string]string{"audit-policy-file": policy, "audit-log-path": auditLog})
	ctx := t.Context()
	c := e.c
	seed := time.Now().UnixNano()
	t.Logf("Churn seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: faultNamespace}}); err != nil {
		t.Fatal(err)
	}
	w := &world{c: c, rng: rng}
	for s := range faultServices {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: faultNamespace, Name: svcName(s)},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": svcName(s)},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(targetPort)}},
			},
		}
		if err := c.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
		for range podsPerService {
			if err := w.createPod(ctx, svcName(s)); err != nil {
				t.Fatal(err)
			}
		}
	}

	f := &fleet{t: t, e: e}
	f.start(3)
	leaderID := waitTakeover(ctx, t, c, 30*time.Second, "a replica to acquire the Lease", "")
	identifyLeader(ctx, t, c, f.live(), leaderID)
	f.mon = startWriteMonitor(f.live())
	t.Cleanup(func() { f.mon.report(t) })

	obs := startObserver(ctx, t, e)
	converge(ctx, t, c, 60*time.Second, "the initial Endpoints")

	// The churn runs in the background; the faults are injected from here.
	churnStart := time.Now()
	churnDone := make(chan struct{})
	go func() {
		defer close(churnDone)
		w.churn(ctx, churnStart.Add(churnDuration))
	}()
	at := func(d time.Duration) {
		for time.Since(churnStart) < d {
			f.restartExited()
			time.Sleep(pollInterval) // pacing the schedule, not synchronisation
		}
	}

	at(killAfter)
	killed := f.leader(ctx, c)
	killed.signal(t, syscall.SIGKILL)
	t.Logf("%.1fs: SIGKILL of the leader %s", time.Since(churnStart).Seconds(), killed.name)

	at(foreignAfter)
	foreign := foreignWrite(ctx, t, c, rand.New(rand.NewPCG(uint64(seed), 1))) // the churn owns rng
	t.Logf("%.1fs: foreign writer overwrote %v", time.Since(churnStart).Seconds(), foreign)

	at(restartAfter)
	restartAt := time.Now()
	if err := e.cluster.RestartAPIServer(); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("%.1fs: kube-apiserver restarted in %s", time.Since(churnStart).Seconds(), back.Sub(restartAt).Round(time.Millisecond))

	// SIGTERM of the replica that leads after the restart, as soon as it
	// leads: its cache is still catching up.
	var next *replica
	eventually(t, 30*time.Second, "a replica to lead after the API server restart", func() (bool, error) {
		f.restartExited()
		holder, _, err := leaseHolder(ctx, c)
		if err != nil || holder == "" {
			return false, err
		}
		lease := f.leaseRenewedSince(ctx, back)
		if !lease {
			return false, fmt.Errorf("the Lease of %q was not renewed since the restart", holder)
		}
		next = f.leaderNow()
		return next != nil, fmt.Errorf("no replica reports itself leader")
	})
	next.signal(t, syscall.SIGTERM)
	t.Logf("%.1fs: SIGTERM of the leader %s, %s after the API server was back", time.Since(churnStart).Seconds(), next.name,
		time.Since(back).Round(time.Millisecond))

	for {
		select {
		case <-churnDone:
		default:
			f.restartExited()
			time.Sleep(pollInterval) // pacing, as above
			continue
		}
		break
	}
	churnEnd := time.Now()
	t.Logf("Churn: %d mutations applied, %d refused (API server down or conflicts) in %s",
		w.applied, w.refused, churnEnd.Sub(churnStart).Round(time.Millisecond))
	if w.applied < churnMutations/2 {
		t.Errorf("Only %d mutations applied, want at least %d", w.applied, churnMutations/2)
	}

	took := converge(ctx, t, c, maxConvergence, "every Endpoints to match the final Pods after the churn")
	t.Logf("Converged %s after the churn stopped (bound %s)", took.Round(time.Millisecond), maxConvergence)
	f.restartExited()
	f.mon.sync(t)
	f.mon.report(t)
	f.logExits()

	lat := obs.latencies(w.changes())
	writes, conflicts := auditWrites(t, auditLog)
	t.Logf("Pod change -> Endpoints latency over %d changes: p50 %s, p99 %s, max %s (%d superseded before shown)",
		len(lat.values), lat.pct(50), lat.pct(99), lat.pct(100), lat.unseen)
	t.Logf("Controller writes by verb: %v; conflicts (409): %d", writes, conflicts)
	if conflicts > maxConflicts {
		t.Errorf("%d conflicts (409), want at most %d", conflicts, maxConflicts)
	}
	fmt.Printf("e2e-faults: converge=%.2fs p50=%s p99=%s max=%s writes=%v conflicts=%d\n",
		took.Seconds(), lat.pct(50), lat.pct(99), lat.pct(100), writes, conflicts)
}

func svcName(s int) string { return fmt.Sprintf("svc-%02d", s) }

// world is the churn's view of the Pods it made: which Service each belongs
// to. The API server has the last word: the expected Endpoints are computed
// from what it holds at the end.
type world struct {
	c   client.Client
	rng *rand.Rand

	mu      sync.Mutex
	pods    []string          // names of live Pods
	service map[string]string // Pod -> Service it is labelled for
	next    int               // the next Pod and IP number
	log     []change          // applied changes, for the latency
	applied int
	refused int
}

// change is a Pod change the Endpoints of svc must show: line appears (or,
// when gone, disappears).
type change struct {
	at   time.Time
	svc  string
	pod  string
	line string
	gone bool
}

func (w *world) newIP() (string, string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.next
	w.next++
	return fmt.Sprintf("fault-%04d", n), fmt.Sprintf("10.%d.%d.%d", 100+n/65536, n/256%256, n%256), n
}

func faultNode(n int) string { return fmt.Sprintf("node-%d", n%3) }

func line(ready bool, pod, ip, node string) string {
	return address(ready, pod, ip, node, fmt.Sprintf("http:%d/TCP", targetPort))
}

// createPod creates a ready Pod for svc, with its status as a kubelet writes it.
func (w *world) createPod(ctx context.Context, svc string) error {
	name, ip, n := w.newIP()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: faultNamespace, Name: name, Labels: map[string]string{"app": svc}},
		Spec: corev1.PodSpec{
			NodeName:   faultNode(n),
			Containers: []corev1.Container{{Name: "web", Image: "registry.k8s.io/pause:3.10", Ports: []corev1.ContainerPort{{ContainerPort: targetPort}}}},
		},
	}
	if err := w.c.Create(ctx, pod); err != nil {
		return err
	}
	w.mu.Lock()
	if w.service == nil {
		w.service = map[string]string{}
	}
	w.pods = append(w.pods, name)
	w.service[name] = svc
	w.mu.Unlock()
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
	}
	if err := w.c.Status().Update(ctx, pod); err != nil {
		return err
	}
	w.record(change{svc: svc, pod: name, line: line(true, name, ip, faultNode(n))})
	return nil
}

func (w *world) record(ch change) {
	ch.at = time.Now()
	w.mu.Lock()
	w.log = append(w.log, ch)
	w.mu.Unlock()
}

func (w *world) changes() []change {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.log)
}

// churn applies churnMutations random Pod changes, evenly spread until end:
// readiness flips, IP changes, deletes with a replacement, and label changes
// that move a Pod to another Service. A change the API server refuses (it is
// down, or the Pod changed meanwhile) is counted and skipped.
func (w *world) churn(ctx context.Context, end time.Time) {
	interval := time.Until(end) / churnMutations
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for range churnMutations {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := w.mutate(ctx); err != nil {
			w.mu.Lock()
			w.refused++
			w.mu.Unlock()
			continue
		}
		w.mu.Lock()
		w.applied++
		w.mu.Unlock()
	}
}

func (w *world) mutate(ctx context.Context) error {
	w.mu.Lock()
	name := w.pods[w.rng.IntN(len(w.pods))]
	svc := w.service[name]
	kind := w.rng.IntN(100)
	target := svcName(w.rng.IntN(faultServices))
	w.mu.Unlock()

	pod := &corev1.Pod{}
	if err := w.c.Get(ctx, client.ObjectKey{Namespace: faultNamespace, Name: name}, pod); err != nil {
		return err
	}
	ready := podReady(pod)
	old := line(ready, name, pod.Status.PodIP, pod.Spec.NodeName)
	switch {
	case kind < 35: // readiness flip
		patched := pod.DeepCopy()
		patched.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: conditionStatus(!ready), LastTransitionTime: metav1.Now()}}
		if err := w.c.Status().Patch(ctx, patched, client.MergeFromWithOptions(pod, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		w.record(change{svc: svc, pod: name, line: line(!ready, name, pod.Status.PodIP, pod.Spec.NodeName)})
	case kind < 55: // IP change
		_, ip, _ := w.newIP()
		patched := pod.DeepCopy()
		patched.Status.PodIP, patched.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		if err := w.c.Status().Patch(ctx, patched, client.MergeFromWithOptions(pod, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		w.record(change{svc: svc, pod: name, line: line(ready, name, ip, pod.Spec.NodeName)})
	case kind < 80: // delete, with a replacement
		if err := w.c.Delete(ctx, pod, client.GracePeriodSeconds(0)); err != nil {
			return err
		}
		w.forget(name)
		w.record(change{svc: svc, pod: name, line: old, gone: true})
		return w.createPod(ctx, svc)
	default: // move to another Service
		patched := pod.DeepCopy()
		patched.Labels = map[string]string{"app": target}
		if err := w.c.Patch(ctx, patched, client.MergeFromWithOptions(pod, client.MergeFromWithOptimisticLock{})); err != nil {
			return err
		}
		w.mu.Lock()
		w.service[name] = target
		w.mu.Unlock()
		w.record(change{svc: target, pod: name, line: old})
	}
	return nil
}

func (w *world) forget(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pods = slices.DeleteFunc(w.pods, func(p string) bool { return p == name })
	delete(w.service, name)
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// expected computes every Service's Endpoints, in endpointsView's form, from
// the Pods and Services the API server holds: the test's own reading of the
// spec (2.1-2.4, 3.3), not the controller's code.
func expected(ctx context.Context, c client.Client) (map[string][]string, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(faultNamespace)); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for s := range faultServices {
		out[svcName(s)] = nil
	}
	for _, p := range pods.Items {
		svc := p.Labels["app"]
		if _, ok := out[svc]; !ok || p.DeletionTimestamp != nil || p.Status.PodIP == "" ||
			p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out[svc] = append(out[svc], line(podReady(&p), p.Name, p.Status.PodIP, p.Spec.NodeName))
	}
	for k := range out {
		slices.Sort(out[k])
	}
	return out, nil
}

// converge waits until every Endpoints equals what expected computes, with
// the managed-by label, and returns how long it took.
func converge(ctx context.Context, t *testing.T, c client.Client, timeout time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	eventually(t, timeout, what, func() (bool, error) {
		want, err := expected(ctx, c)
		if err != nil {
			return false, err
		}
		list := &corev1.EndpointsList{}
		if err := c.List(ctx, list, client.InNamespace(faultNamespace)); err != nil {
			return false, err
		}
		got := map[string]*corev1.Endpoints{}
		for i := range list.Items {
			got[list.Items[i].Name] = &list.Items[i]
		}
		var wrong []string
		for svc, lines := range want {
			ep := got[svc]
			switch {
			case ep == nil:
				wrong = append(wrong, svc+": no Endpoints")
			case ep.Labels[endpoints.ManagedByLabel] != endpoints.ControllerName:
				wrong = append(wrong, svc+": not labelled managed")
			case !slices.Equal(endpointsView(ep), lines):
				wrong = append(wrong, fmt.Sprintf("%s: publishes %d addresses, want %d", svc, len(endpointsView(ep)), len(lines)))
			}
		}
		sort.Strings(wrong)
		return len(wrong) == 0, fmt.Errorf("%d Endpoints differ: %s", len(wrong), strings.Join(wrong, "; "))
	})
	return time.Since(start)
}

// foreignWrite overwrites three managed Endpoints with an address of its own,
// as a person with kubectl edit would, and returns their names.
func foreignWrite(ctx context.Context, t *testing.T, c client.Client, rng *rand.Rand) []string {
	t.Helper()
	var names []string
	for _, s := range rng.Perm(faultServices)[:3] {
		ep := &corev1.Endpoints{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: faultNamespace, Name: svcName(s)}, ep); err != nil {
			t.Fatalf("Foreign writer: %v", err)
		}
		ep.Subsets = []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: targetPort, Protocol: corev1.ProtocolTCP}},
		}}
		if err := c.Update(ctx, ep); err != nil {
			t.Logf("Foreign writer lost a race on %s (%v): retrying once", ep.Name, err)
			if err := c.Get(ctx, client.ObjectKeyFromObject(ep), ep); err != nil {
				t.Fatalf("Foreign writer: %v", err)
			}
			ep.Subsets = []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}},
				Ports: []corev1.EndpointPort{{Name: "http", Port: targetPort, Protocol: corev1.ProtocolTCP}}}}
			if err := c.Update(ctx, ep); err != nil {
				t.Fatalf("Foreign writer: %v", err)
			}
		}
		names = append(names, ep.Name)
	}
	return names
}

// fleet keeps three replicas running: a replica that exits is started again
// under a new name.
type fleet struct {
	t     *testing.T
	e     *env
	mon   *writeMonitor
	slots []*replica
	exits []string
	gen   int
}

func (f *fleet) start(n int) {
	f.slots = f.e.startReplicas(f.t, "fault", n)
	f.gen = n
}

func (f *fleet) live() []*replica {
	var out []*replica
	for _, r := range f.slots {
		if !r.exited() {
			out = append(out, r)
		}
	}
	return out
}

// restartExited starts a new replica for each one that exited.
func (f *fleet) restartExited() {
	for i, r := range f.slots {
		if !r.exited() {
			continue
		}
		f.exits = append(f.exits, fmt.Sprintf("%s exit code %d", r.name, r.cmd.ProcessState.ExitCode()))
		ports := freePorts(f.t, 2)
		name := fmt.Sprintf("fault-%d", f.gen)
		f.gen++
		f.slots[i] = startReplica(f.t, f.e.bin, f.e.cluster.KubeconfigPath, name, f.e.dir, ports[0], ports[1])
		if f.mon != nil {
			f.mon.add(f.slots[i])
		}
	}
}

func (f *fleet) logExits() {
	f.t.Logf("Replica exits: %s", strings.Join(f.exits, ", "))
}

// leader returns the replica that holds the Lease now.
func (f *fleet) leader(ctx context.Context, c client.Client) *replica {
	id := waitTakeover(ctx, f.t, c, 30*time.Second, "a replica to hold the Lease", "")
	return identifyLeader(ctx, f.t, c, f.live(), id)
}

// leaderNow returns the one live replica that reports itself leader, or nil.
func (f *fleet) leaderNow() *replica {
	var leaders []*replica
	for _, r := range f.live() {
		if s, err := r.scrape(); err == nil && s.leader {
			leaders = append(leaders, r)
		}
	}
	if len(leaders) != 1 {
		return nil
	}
	return leaders[0]
}

// leaseRenewedSince reports whether the Lease was renewed after since.
func (f *fleet) leaseRenewedSince(ctx context.Context, since time.Time) bool {
	lease, err := getLease(ctx, f.e.c)
	return err == nil && lease != nil && lease.Spec.RenewTime != nil && lease.Spec.RenewTime.After(since)
}

// getLease returns the leader-election Lease, nil when there is none.
func getLease(ctx context.Context, c client.Client) (*coordinationv1.Lease, error) {
	lease := &coordinationv1.Lease{}
	err := c.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceDefault, Name: app.LeaderElectionID}, lease)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return lease, err
}

// observer records, for each Endpoints of the namespace, every version the
// watch delivers and when, for the latency of Pod changes.
type observer struct {
	mu      sync.Mutex
	history map[string][]seen
}

type seen struct {
	at    time.Time
	lines []string
}

func startObserver(ctx context.Context, t *testing.T, e *env) *observer {
	t.Helper()
	o := &observer{history: map[string][]seen{}}
	informers, err := cache.New(e.cluster.Config, cache.Options{DefaultNamespaces: map[string]cache.Config{faultNamespace: {}}})
	if err != nil {
		t.Fatal(err)
	}
	inf, err := informers.GetInformer(ctx, &corev1.Endpoints{})
	if err != nil {
		t.Fatal(err)
	}
	record := func(obj any) {
		if ep, ok := obj.(*corev1.Endpoints); ok {
			o.mu.Lock()
			o.history[ep.Name] = append(o.history[ep.Name], seen{at: time.Now(), lines: endpointsView(ep)})
			o.mu.Unlock()
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = informers.Start(ctx) }()
	if !informers.WaitForCacheSync(ctx) {
		t.Fatal("The observer's cache did not sync")
	}
	return o
}

// latency is the measured Pod change -> Endpoints delays.
type latency struct {
	values []time.Duration
	unseen int
}

func (l latency) pct(p int) time.Duration {
	if len(l.values) == 0 {
		return 0
	}
	i := (len(l.values)*p + 99) / 100
	return l.values[max(0, min(len(l.values)-1, i-1))].Round(time.Millisecond)
}

// latencies measures, for each change that the Endpoints did not show when it
// was made, how long until a version of the Endpoints showed it. A change
// followed by another change of the same Pod before it was shown is
// superseded and not measured.
func (o *observer) latencies(changes []change) latency {
	o.mu.Lock()
	defer o.mu.Unlock()
	next := map[int]time.Time{} // change index -> time of the same Pod's next change
	last := map[string]int{}
	for i, ch := range changes {
		if j, ok := last[ch.pod]; ok {
			next[j] = ch.at
		}
		last[ch.pod] = i
	}
	shows := func(s seen, ch change) bool { return slices.Contains(s.lines, ch.line) != ch.gone }
	var l latency
	for i, ch := range changes {
		hist := o.history[ch.svc]
		k := sort.Search(len(hist), func(k int) bool { return hist[k].at.After(ch.at) })
		if k > 0 && shows(hist[k-1], ch) {
			continue // already shown: nothing to measure
		}
		measured := false
		for ; k < len(hist); k++ {
			if nt, ok := next[i]; ok && hist[k].at.After(nt) {
				break
			}
			if shows(hist[k], ch) {
				l.values = append(l.values, hist[k].at.Sub(ch.at))
				measured = true
				break
			}
		}
		if !measured {
			l.unseen++
		}
	}
	slices.Sort(l.values)
	return l
}

// auditWrites counts the controller's writes of Endpoints in the API server's
// audit log, by verb, and those answered 409.
func auditWrites(t *testing.T, path string) (map[string]int, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("Opening the audit log: %v", err)
	}
	defer f.Close()
	writes, conflicts := map[string]int{}, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var ev struct {
			Verb           string `json:"verb"`
			UserAgent      string `json:"userAgent"`
			ResponseStatus struct {
				Code int `json:"code"`
			} `json:"responseStatus"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("Parsing the audit log: %v", err)
		}
		if !strings.HasPrefix(ev.UserAgent, controllerAgent) {
			continue
		}
		writes[ev.Verb]++
		if ev.ResponseStatus.Code == 409 {
			conflicts++
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("Reading the audit log: %v", err)
	}
	return writes, conflicts
}
