// Command bench compares this controller with kube-controller-manager's own
// endpoints controller, side by side on the same machine: for each size and
// each controller it starts a fresh local control plane (etcd and
// kube-apiserver), creates S Services x P Pods, starts the controller and
// measures initial convergence, a churn burst, Endpoints writes by verb (from
// the API server's apiserver_request_total), the controller's CPU seconds and
// peak RSS (from /proc), and prints the figures with their ratios.
//
// `make bench-e2e` builds both binaries and runs it; it is not part of
// `make test`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kube-endpoints/endpoints-controller/internal/localcluster"
	"github.com/kube-endpoints/endpoints-controller/test/rollout"
)

func main() {
	// The control plane's start-up logs nothing worth a benchmark's output.
	ctrllog.SetLogger(logr.Discard())
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// size is one load: Services x Pods per Service, over Namespaces.
type size struct {
	Services, Pods, Namespaces int
}

func (s size) String() string {
	if s.Namespaces > 1 {
		return fmt.Sprintf("%d x %d in %d ns", s.Services, s.Pods, s.Namespaces)
	}
	return fmt.Sprintf("%d x %d", s.Services, s.Pods)
}

// contender is one controller under test.
type contender struct {
	key  string // contenderKCM or contenderOurs
	name string
	bin  string
	args func(kubeconfig string) []string
	// extra are flags added to this controller's for this contender only
	// (--contenders 'ours[--concurrent-syncs=5]').
	extra []string
}

// parseContenders reads --contenders: kcm, ours, or ours[FLAGS] for this
// controller with extra space-separated flags, so that variants run side by
// side in one invocation.
func parseContenders(spec string, all map[string]contender) ([]contender, error) {
	var out []contender
	for _, tok := range strings.Split(spec, ",") {
		tok = strings.TrimSpace(tok)
		key, flags, variant := strings.Cut(tok, "[")
		ct, ok := all[key]
		if !ok || (variant && (!strings.HasSuffix(flags, "]") || key != contenderOurs)) {
			return nil, fmt.Errorf("--contenders: unknown %q (kcm, ours, ours[FLAGS])", tok)
		}
		if variant {
			ct.extra = strings.Fields(strings.TrimSuffix(flags, "]"))
			ct.name += " " + strings.Join(ct.extra, " ")
		}
		out = append(out, ct)
	}
	return out, nil
}

type options struct {
	sizes      []size
	assets     string
	ours       string
	kcm        string
	oursArgs   string
	churn      float64
	runs       int
	workdir    string
	timeout    time.Duration
	contenders string
	// heapProfile: after the initial convergence, save this controller's
	// heap profile and report its live heap per cached Pod.
	heapProfile bool
	// apiServerFeatureGates is the API server's --feature-gates, e.g.
	// WatchList=false for an API server that streams no watch-lists.
	apiServerFeatureGates string
}

func parseSizes(s string) ([]size, error) {
	var out []size
	for _, f := range strings.Split(s, ",") {
		var sz size
		ns := 1
		spec, nsPart, found := strings.Cut(strings.TrimSpace(f), "/")
		if found {
			n, err := strconv.Atoi(nsPart)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("--sizes: bad namespace count in %q", f)
			}
			ns = n
		}
		a, b, ok := strings.Cut(spec, "x")
		if !ok {
			return nil, fmt.Errorf("--sizes: %q is not SERVICESxPODS[/NAMESPACES]", f)
		}
		var err1, err2 error
		sz.Services, err1 = strconv.Atoi(a)
		sz.Pods, err2 = strconv.Atoi(b)
		if err1 != nil || err2 != nil || sz.Services < 1 || sz.Pods < 1 || ns > sz.Services {
			return nil, fmt.Errorf("--sizes: %q is not SERVICESxPODS[/NAMESPACES]", f)
		}
		sz.Namespaces = ns
		out = append(out, sz)
	}
	return out, nil
}

func run() error {
	var o options
	var sizes string
	flag.StringVar(&sizes, "sizes", "200x25,1000x10", "Comma-separated loads SERVICESxPODS[/NAMESPACES], e.g. 200x25,1000x10/10.")
	flag.StringVar(&o.assets, "assets", os.Getenv("KUBEBUILDER_ASSETS"), "Directory of etcd and kube-apiserver.")
	flag.StringVar(&o.ours, "controller", "bin/endpoints-controller", "This controller's binary.")
	flag.StringVar(&o.kcm, "kube-controller-manager", "", "kube-controller-manager binary; default: kube-controller-manager in --assets.")
	flag.StringVar(&o.oursArgs, "controller-args", "", "Extra flags for this controller, space-separated (e.g. --concurrent-syncs=10).")
	flag.StringVar(&o.contenders, "contenders", "kcm,ours", "Which controllers to run, in order: kcm, ours, "+
		"or ours[FLAGS] for this controller with extra flags, e.g. kcm,ours,ours[--concurrent-syncs=5].")
	flag.Float64Var(&o.churn, "churn", 0.1, "Fraction of Pods flipped to not ready in the churn burst.")
	flag.IntVar(&o.runs, "runs", 1, "Runs of each size.")
	flag.StringVar(&o.apiServerFeatureGates, "apiserver-feature-gates", "", "The API server's --feature-gates, e.g. "+
		"WatchList=false to serve lists instead of watch-lists, as Kubernetes 1.33 does by default.")
	flag.BoolVar(&o.heapProfile, "heap-profile", false, "After the initial convergence, save this controller's heap profile "+
		"(heap.pb.gz in the run's directory, after a GC) and print its live heap per Pod.")
	flag.DurationVar(&o.timeout, "timeout", 5*time.Minute, "Bound of each convergence wait.")
	flag.StringVar(&o.workdir, "workdir", "", "Directory for logs and kubeconfigs; a temporary one when empty.")
	var rolloutSize string
	var rolloutNodes int
	flag.StringVar(&rolloutSize, "rollout", "", "Instead of the loads of --sizes, run the rollout scenario (test/rollout) "+
		"in the realistic cluster with DEPLOYMENTSxREPLICAS, e.g. 20x10.")
	flag.IntVar(&rolloutNodes, "rollout-nodes", 4, "kwok Nodes of the rollout's cluster.")
	flag.Parse()
	var err error
	if o.sizes, err = parseSizes(sizes); err != nil {
		return err
	}
	if o.assets == "" {
		return errors.New("--assets (or KUBEBUILDER_ASSETS) is required")
	}
	if o.kcm == "" {
		o.kcm = filepath.Join(o.assets, "kube-controller-manager")
	}
	if o.churn <= 0 || o.churn > 1 {
		return fmt.Errorf("--churn must be in (0, 1], not %v", o.churn)
	}
	if o.workdir == "" {
		if o.workdir, err = os.MkdirTemp("", "endpoints-bench-"); err != nil {
			return err
		}
	}
	all := map[string]contender{
		contenderKCM: {key: contenderKCM, name: "kube-controller-manager", bin: o.kcm, args: func(kubeconfig string) []string {
			return []string{"--kubeconfig=" + kubeconfig, "--controllers=endpoints-controller", "--leader-elect=false",
				"--kube-api-qps=1000", "--kube-api-burst=2000", "--secure-port=0", "--v=1"}
		}},
		contenderOurs: {key: contenderOurs, name: "endpoints-controller", bin: o.ours, args: func(kubeconfig string) []string {
			return append([]string{"--kubeconfig=" + kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0"},
				strings.Fields(o.oursArgs)...)
		}},
	}
	contenders, err := parseContenders(o.contenders, all)
	if err != nil {
		return err
	}
	for _, ct := range contenders {
		if _, err := os.Stat(ct.bin); err != nil {
			return fmt.Errorf("%s binary: %w", ct.name, err)
		}
	}
	if rolloutSize != "" {
		return rolloutCommand(o, rolloutSize, rolloutNodes, contenders)
	}
	fmt.Printf("Work directory: %s\n", o.workdir)
	var results []result
	for _, sz := range o.sizes {
		for r := range o.runs {
			for _, c := range contenders {
				fmt.Printf("== %s, run %d: %s\n", sz, r+1, c.name)
				res, err := measure(o, sz, c, r)
				if err != nil {
					return fmt.Errorf("%s at %s: %w", c.name, sz, err)
				}
				res.print(os.Stdout)
				results = append(results, res)
			}
		}
	}
	printTable(os.Stdout, results)
	return nil
}

// result is what one run measured.
type result struct {
	size               size
	run                int
	contender          string
	initial            time.Duration
	initialCPU         float64
	churn              time.Duration // from the burst's first change
	churnLag           time.Duration // from the burst's last change
	churnCPU           float64
	peakRSS            int64 // bytes
	liveHeap           int64 // bytes after a GC, once converged (--heap-profile)
	writesInitial      map[string]float64
	writesChurn        map[string]float64
	burstDuration      time.Duration
	flipped, endpoints int
}

func (r result) print(w io.Writer) {
	fmt.Fprintf(w, "   initial %.2fs (cpu %.2fs, writes %s); churn of %d Pods in %.2fs: "+
		"converged %.2fs, lag %.3fs (cpu %.2fs, writes %s); peak RSS %d MiB\n",
		r.initial.Seconds(), r.initialCPU, verbs(r.writesInitial), r.flipped, r.burstDuration.Seconds(),
		r.churn.Seconds(), r.churnLag.Seconds(), r.churnCPU, verbs(r.writesChurn), r.peakRSS>>20)
}

func verbs(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%.0f", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

func total(m map[string]float64) float64 {
	t := 0.0
	for _, v := range m {
		t += v
	}
	return t
}

// measure runs contender c on a fresh control plane loaded with sz.
func measure(o options, sz size, c contender, run int) (result, error) {
	res := result{size: sz, run: run, contender: c.name}
	dir := filepath.Join(o.workdir, fmt.Sprintf("%dx%d-%dns-run%d-%s", sz.Services, sz.Pods, sz.Namespaces, run+1, dirName(c.name)))
	var apiServerArgs []map[string]string
	if o.apiServerFeatureGates != "" {
		apiServerArgs = append(apiServerArgs, map[string]string{"feature-gates": o.apiServerFeatureGates})
	}
	cluster, err := localcluster.Start(o.assets, dir, apiServerArgs...)
	if err != nil {
		return res, err
	}
	defer func() { _ = cluster.Stop() }()
	cfg := rest.CopyConfig(cluster.Config)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	start := time.Now()
	w := newWorld(sz)
	if err := w.populate(ctx, cs); err != nil {
		return res, err
	}
	fmt.Printf("   created %d Services and %d Pods in %.1fs\n", sz.Services, sz.Services*sz.Pods, time.Since(start).Seconds())

	watcher := newEndpointsWatcher(w)
	informerStop := make(chan struct{})
	defer close(informerStop)
	if err := watcher.start(cs, informerStop); err != nil {
		return res, err
	}
	before, err := rollout.EndpointsWritesByVerb(ctx, cs)
	if err != nil {
		return res, err
	}

	var more []string
	pprofAddr := ""
	if o.heapProfile && c.key == contenderOurs {
		if pprofAddr, err = freeAddr(); err != nil {
			return res, err
		}
		more = append(more, "--pprof-bind-address="+pprofAddr)
	}
	converged := watcher.expect() // every Service must show its Pods
	t0 := time.Now()
	proc, err := c.start(cluster.KubeconfigPath, filepath.Join(dir, "controller.log"), more...)
	if err != nil {
		return res, err
	}
	defer proc.stop()
	at, err := waitConverged(converged, proc.exited, &proc.waitErr, o.timeout, watcher)
	if err != nil {
		return res, fmt.Errorf("initial convergence: %w (log: %s)", err, proc.log.Name())
	}
	res.initial = at.Sub(t0)
	cpu0, err := cpuSeconds(proc.cmd.Process.Pid)
	if err != nil {
		return res, err
	}
	res.initialCPU = cpu0
	// Let the controller settle (late syncs, the sweep) before the churn,
	// so the churn figures count the churn only.
	time.Sleep(2 * time.Second)
	mid, err := rollout.EndpointsWritesByVerb(ctx, cs)
	if err != nil {
		return res, err
	}
	res.writesInitial = diff(mid, before)
	if pprofAddr != "" {
		if res.liveHeap, err = saveHeapProfile(ctx, pprofAddr, filepath.Join(dir, "heap.pb.gz")); err != nil {
			return res, err
		}
		pods := sz.Services * sz.Pods
		fmt.Printf("   live heap after GC: %.1f MiB, %d bytes per Pod (%d Pods, %d Services; profile: %s)\n",
			float64(res.liveHeap)/(1<<20), res.liveHeap/int64(pods), pods, sz.Services, filepath.Join(dir, "heap.pb.gz"))
	}
	cpu1, err := cpuSeconds(proc.cmd.Process.Pid)
	if err != nil {
		return res, err
	}

	if err := measureChurn(ctx, o, cs, w, watcher, proc, &res, mid, cpu1); err != nil {
		return res, fmt.Errorf("%w (log: %s)", err, proc.log.Name())
	}
	res.endpoints = sz.Services
	return res, nil
}

// process is a running controller.
type process struct {
	cmd     *exec.Cmd
	log     *os.File
	exited  chan struct{}
	waitErr error
}

// start runs contender c against kubeconfig, with its extra flags and more,
// its output in logPath.
func (c contender) start(kubeconfig, logPath string, more ...string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	args := append(append(c.args(kubeconfig), c.extra...), more...)
	cmd := exec.Command(c.bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", c.bin, err)
	}
	p := &process{cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// stop ends the process: SIGTERM, then SIGKILL after 30s; then closes its log.
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	_ = p.log.Close()
}

// measureChurn flips a fraction of the Pods not ready in a burst and
// measures the re-convergence, its writes and CPU, and the peak RSS.
func measureChurn(ctx context.Context, o options, cs kubernetes.Interface, w *world, watcher *endpointsWatcher, proc *process,
	res *result, mid map[string]float64, cpu1 float64) error {
	flips := w.pickFlips(o.churn, res.run)
	res.flipped = len(flips)
	converged := watcher.expect()
	burstStart := time.Now()
	if err := w.flip(ctx, cs, flips); err != nil {
		return err
	}
	burstEnd := time.Now()
	res.burstDuration = burstEnd.Sub(burstStart)
	at, err := waitConverged(converged, proc.exited, &proc.waitErr, o.timeout, watcher)
	if err != nil {
		return fmt.Errorf("churn convergence: %w", err)
	}
	res.churn = at.Sub(burstStart)
	res.churnLag = max(at.Sub(burstEnd), 0)
	time.Sleep(2 * time.Second)
	after, err := rollout.EndpointsWritesByVerb(ctx, cs)
	if err != nil {
		return err
	}
	res.writesChurn = diff(after, mid)
	cpu2, err := cpuSeconds(proc.cmd.Process.Pid)
	if err != nil {
		return err
	}
	res.churnCPU = cpu2 - cpu1
	if res.peakRSS, err = peakRSS(proc.cmd.Process.Pid); err != nil {
		return err
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", proc.cmd.Process.Pid)); err == nil {
		// What the resident set is made of now: heap and stacks (anon)
		// against the binary's pages (file).
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "RssAnon:") || strings.HasPrefix(line, "RssFile:") {
				fmt.Printf("   %s\n", strings.Join(strings.Fields(line), " "))
			}
		}
	}
	return nil
}

func waitConverged(converged <-chan time.Time, exited <-chan struct{}, waitErr *error, timeout time.Duration,
	w *endpointsWatcher) (time.Time, error) {
	select {
	case at := <-converged:
		return at, nil
	case <-exited:
		return time.Time{}, fmt.Errorf("the controller exited: %w", *waitErr)
	case <-time.After(timeout):
		return time.Time{}, fmt.Errorf("not converged after %s: %d Services still wrong", timeout, w.wrongCount())
	}
}

// appLabel is the label that each Service selects its Pods by.
const appLabel = "app"

// world is the Services and Pods the benchmark creates, and what their
// Endpoints must say.
type world struct {
	size     size
	services []string // namespace/name
	pods     [][]*corev1.Pod
	notReady map[string]bool // Pod namespace/name
	mu       sync.Mutex
}

func newWorld(sz size) *world {
	w := &world{size: sz, notReady: map[string]bool{}}
	ip := 0
	for i := range sz.Services {
		ns := fmt.Sprintf("bench-%d", i%sz.Namespaces)
		name := fmt.Sprintf("svc-%d", i)
		w.services = append(w.services, ns+"/"+name)
		pods := make([]*corev1.Pod, 0, sz.Pods)
		for j := range sz.Pods {
			ip++
			addr := fmt.Sprintf("10.%d.%d.%d", (ip>>16)&255, (ip>>8)&255, ip&255)
			pods = append(pods, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-%d", name, j),
					Labels: map[string]string{appLabel: name, "pod-template-hash": "6c8f9d7b5"}},
				Spec: corev1.PodSpec{
					NodeName: fmt.Sprintf("node-%d", ip%10),
					Containers: []corev1.Container{{Name: "main", Image: "registry.example/app:1", Ports: []corev1.ContainerPort{
						{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
						{Name: "metrics", ContainerPort: 9100, Protocol: corev1.ProtocolTCP},
					}}},
				},
				Status: corev1.PodStatus{
					Phase: corev1.PodRunning, PodIP: addr, PodIPs: []corev1.PodIP{{IP: addr}},
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}},
				},
			})
		}
		w.pods = append(w.pods, pods)
	}
	return w
}

// parallel runs fn for 0..n-1 on 32 workers and returns the first error.
func parallel(n int, fn func(i int) error) error {
	const workers = 32
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

func (w *world) populate(ctx context.Context, cs kubernetes.Interface) error {
	for i := range w.size.Namespaces {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i)}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating namespace: %w", err)
		}
	}
	err := parallel(len(w.services), func(i int) error {
		ns, name, _ := strings.Cut(w.services[i], "/")
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{appLabel: name}},
			Spec: corev1.ServiceSpec{
				ClusterIP: corev1.ClusterIPNone,
				Selector:  map[string]string{appLabel: name},
				Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
					{Name: "metrics", Port: 9100, TargetPort: intstr.FromString("metrics"), Protocol: corev1.ProtocolTCP},
				},
			},
		}
		_, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("creating Services: %w", err)
	}
	var all []*corev1.Pod
	for _, ps := range w.pods {
		all = append(all, ps...)
	}
	err = parallel(len(all), func(i int) error {
		p := all[i]
		created, err := cs.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		created.Status = p.Status
		_, err = cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("creating Pods: %w", err)
	}
	return nil
}

// pickFlips chooses the Pods that turn not ready in the churn.
func (w *world) pickFlips(fraction float64, run int) []*corev1.Pod {
	rng := rand.New(rand.NewPCG(uint64(run), 42))
	var all []*corev1.Pod
	for _, ps := range w.pods {
		all = append(all, ps...)
	}
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	n := int(float64(len(all)) * fraction)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range all[:n] {
		w.notReady[p.Namespace+"/"+p.Name] = true
	}
	return all[:n]
}

// flip turns pods not ready, as a kubelet whose readiness probes fail would,
// with 32 clients in parallel.
func (w *world) flip(ctx context.Context, cs kubernetes.Interface, pods []*corev1.Pod) error {
	return parallel(len(pods), func(i int) error {
		p := pods[i]
		cur, err := cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Now()}}
		_, err = cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// expected returns the ready and not-ready IPs of Service i.
func (w *world) expected(i int) (ready, notReady map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ready, notReady = map[string]bool{}, map[string]bool{}
	for _, p := range w.pods[i] {
		if w.notReady[p.Namespace+"/"+p.Name] {
			notReady[p.Status.PodIP] = true
		} else {
			ready[p.Status.PodIP] = true
		}
	}
	return ready, notReady
}

// endpointsWatcher follows every Endpoints through an informer and reports
// the moment all of them say what the world expects.
type endpointsWatcher struct {
	world *world
	index map[string]int

	mu        sync.Mutex
	last      map[string]*corev1.Endpoints
	wrong     map[string]bool
	converged chan time.Time
}

func newEndpointsWatcher(w *world) *endpointsWatcher {
	ew := &endpointsWatcher{world: w, index: map[string]int{}, last: map[string]*corev1.Endpoints{}, wrong: map[string]bool{}}
	for i, key := range w.services {
		ew.index[key] = i
	}
	return ew
}

func (ew *endpointsWatcher) start(cs kubernetes.Interface, stop <-chan struct{}) error {
	lw := toolscache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "endpoints", metav1.NamespaceAll, fields.Everything())
	informer := toolscache.NewSharedInformer(lw, &corev1.Endpoints{}, 0)
	_, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { ew.observe(obj) },
		UpdateFunc: func(_, obj any) { ew.observe(obj) },
		DeleteFunc: func(obj any) {
			if ep, ok := obj.(*corev1.Endpoints); ok {
				ew.observe(&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ep.Namespace, Name: ep.Name}})
			}
		},
	})
	if err != nil {
		return err
	}
	go informer.Run(stop)
	if !toolscache.WaitForCacheSync(stop, informer.HasSynced) {
		return errors.New("endpoints informer did not sync")
	}
	return nil
}

// expect re-evaluates every Service against the world's current
// expectations and returns a channel that receives the time at which all are
// right.
func (ew *endpointsWatcher) expect() <-chan time.Time {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	ew.converged = make(chan time.Time, 1)
	for key, i := range ew.index {
		if ew.correct(i, ew.last[key]) {
			delete(ew.wrong, key)
		} else {
			ew.wrong[key] = true
		}
	}
	if len(ew.wrong) == 0 {
		ew.converged <- time.Now()
	}
	return ew.converged
}

func (ew *endpointsWatcher) observe(obj any) {
	at := time.Now()
	ep, ok := obj.(*corev1.Endpoints)
	if !ok {
		return
	}
	key := ep.Namespace + "/" + ep.Name
	i, ok := ew.index[key]
	if !ok {
		return
	}
	ew.mu.Lock()
	defer ew.mu.Unlock()
	ew.last[key] = ep
	wasWrong := ew.wrong[key]
	if ew.correct(i, ep) {
		delete(ew.wrong, key)
		if wasWrong && len(ew.wrong) == 0 && ew.converged != nil {
			ew.converged <- at
		}
	} else {
		ew.wrong[key] = true
	}
}

func (ew *endpointsWatcher) wrongCount() int {
	ew.mu.Lock()
	defer ew.mu.Unlock()
	return len(ew.wrong)
}

// correct reports whether ep publishes exactly the expected ready and
// not-ready IPs of Service i, each with both ports.
func (ew *endpointsWatcher) correct(i int, ep *corev1.Endpoints) bool {
	if ep == nil {
		return false
	}
	ready, notReady := ew.world.expected(i)
	gotReady, gotNotReady := 0, 0
	for _, s := range ep.Subsets {
		if len(s.Ports) != 2 {
			return false
		}
		for _, a := range s.Addresses {
			if !ready[a.IP] {
				return false
			}
			gotReady++
		}
		for _, a := range s.NotReadyAddresses {
			if !notReady[a.IP] {
				return false
			}
			gotNotReady++
		}
	}
	return gotReady == len(ready) && gotNotReady == len(notReady)
}

func diff(after, before map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// cpuSeconds is the user plus system CPU time of process pid.
func cpuSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after ")" are fixed.
	_, after, _ := strings.Cut(string(raw), ") ")
	f := strings.Fields(after)
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const clockTicks = 100 // USER_HZ on Linux
	return (utime + stime) / clockTicks, nil
}

// peakRSS is the high-water mark of the resident set of process pid.
func peakRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// printTable prints, per size and run, this controller's figures as ratios
// to kube-controller-manager's.
func printTable(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nload\trun\tcontroller\tinitial s\tinitial CPU s\tchurn s\tchurn lag s\tchurn CPU s\t"+
		"writes initial\twrites churn\tpeak RSS MiB")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.2f\t%.2f\t%.2f\t%.3f\t%.2f\t%.0f\t%.0f\t%d\n", r.size, r.run+1, r.contender,
			r.initial.Seconds(), r.initialCPU, r.churn.Seconds(), r.churnLag.Seconds(), r.churnCPU,
			total(r.writesInitial), total(r.writesChurn), r.peakRSS>>20)
	}
	_ = tw.Flush()
	base := map[string]result{}
	for _, r := range results {
		if r.contender == "kube-controller-manager" {
			base[fmt.Sprintf("%s/%d", r.size, r.run)] = r
		}
	}
	fmt.Fprintln(tw, "\nratio to kube-controller-manager (lower is better)")
	fmt.Fprintln(tw, "load\trun\tcontroller\tinitial\tinitial CPU\tchurn\tchurn lag\tchurn CPU\twrites\tpeak RSS")
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", a/b)
	}
	for _, r := range results {
		b, ok := base[fmt.Sprintf("%s/%d", r.size, r.run)]
		if !ok || r.contender == b.contender {
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.size, r.run+1, r.contender,
			ratio(r.initial.Seconds(), b.initial.Seconds()), ratio(r.initialCPU, b.initialCPU),
			ratio(r.churn.Seconds(), b.churn.Seconds()), ratio(r.churnLag.Seconds(), b.churnLag.Seconds()),
			ratio(r.churnCPU, b.churnCPU),
			ratio(total(r.writesInitial)+total(r.writesChurn), total(b.writesInitial)+total(b.writesChurn)),
			ratio(float64(r.peakRSS), float64(b.peakRSS)))
	}
	_ = tw.Flush()
}

// dirName turns a contender's name into a directory name.
func dirName(name string) string {
	return strings.NewReplacer(" ", "", "-", "", "=", "").Replace(name)
}

// freeAddr returns a loopback address with a port free at the moment.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// saveHeapProfile saves the heap profile of the controller serving pprof on
// addr to path, after a GC (gc=1), and returns the live heap: HeapAlloc of
// the runtime's MemStats that /debug/pprof/heap?debug=1 ends with, also
// read after a GC.
func saveHeapProfile(ctx context.Context, addr, path string) (int64, error) {
	get := func(query string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/heap?"+query, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("heap profile: %s", resp.Status)
		}
		return io.ReadAll(resp.Body)
	}
	profile, err := get("gc=1")
	if err != nil {
		return 0, err
	}
	if err := os.WriteFile(path, profile, 0o600); err != nil {
		return 0, err
	}
	text, err := get("gc=1&debug=1")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(text), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, errors.New("heap profile: no HeapAlloc in debug=1 output")
}
