package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Shape and schedule of the fence tests: the fault test's world,
// churned for fenceChurn; the leader is frozen or cut off at
// fenceFaultAfter, for fenceFaultFor (twice the lease duration: a standby
// takes over meanwhile).
const (
	fenceChurn      = 20 * time.Second
	fenceFaultAfter = 4 * time.Second
	fenceFaultFor   = 2 * leaseDuration
)

// fenceAuditPolicy records every write of Endpoints and of Leases, with the
// user that sent it: each replica has its own.
const fenceAuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete"]
  resources: [{group: "", resources: ["endpoints"]}, {group: "coordination.k8s.io", resources: ["leases"]}]
- level: None
`

// TestFenceFreeze stops the leader's process (SIGSTOP) under churn for
// longer than the lease, lets a standby take over, resumes the old leader
// (SIGCONT) and counts, from the API server's audit log, the Endpoints
// writes the old leader sent after its lease ran out: there must be none.
// The old leader must then exit.
func TestFenceFreeze(t *testing.T) {
	f := startFenceWorld(t, false)
	ctx := t.Context()
	leader := f.leaderReplica(ctx, t)

	f.at(fenceFaultAfter)
	leader.signal(t, syscall.SIGSTOP)
	stoppedAt := time.Now()
	t.Logf("%.1fs: SIGSTOP of the leader %s", f.since(), leader.name)
	t.Cleanup(func() { _ = leader.cmd.Process.Signal(syscall.SIGCONT) }) // so that the cleanup's SIGKILL is not held up
	waitTakeover(ctx, t, f.e.c, maxKillTakeover+fenceFaultFor, "a standby to take over from the frozen leader", f.ids[leader])
	t.Logf("%.1fs: a standby took over", f.since())
	for time.Since(stoppedAt) < fenceFaultFor {
		time.Sleep(pollInterval) // pacing the schedule, not synchronisation
	}
	leader.signal(t, syscall.SIGCONT)
	t.Logf("%.1fs: SIGCONT of the old leader %s", f.since(), leader.name)

	f.finish(ctx, t, leader)
}

// TestFenceCutOff cuts the leader off from the API server under churn (the
// proxy in front of the API server stops answering), lets a standby take
// over, reconnects the old leader, and counts its Endpoints writes after its
// lease ran out from the audit log: there must be none, and the old leader
// must exit.
func TestFenceCutOff(t *testing.T) {
	f := startFenceWorld(t, true)
	ctx := t.Context()
	leader := f.leaderReplica(ctx, t)
	proxy := f.proxies[leader]

	f.at(fenceFaultAfter)
	proxy.stopAnswering()
	cutAt := time.Now()
	t.Logf("%.1fs: the API server stopped answering the leader %s", f.since(), leader.name)
	waitTakeover(ctx, t, f.e.c, maxKillTakeover+fenceFaultFor, "a standby to take over from the cut-off leader", f.ids[leader])
	t.Logf("%.1fs: a standby took over", f.since())
	for time.Since(cutAt) < fenceFaultFor && !leader.exited() {
		time.Sleep(pollInterval) // pacing the schedule, not synchronisation
	}
	proxy.resume()
	t.Logf("%.1fs: the old leader %s is connected again (exited already: %t)", f.since(), leader.name, leader.exited())

	f.finish(ctx, t, leader)
}

// fenceWorld is a fence test's cluster: Services and Pods under churn, and
// three replicas, each with its own user (and, for the cut-off test, its own
// proxy to the API server).
type fenceWorld struct {
	e        *env
	w        *world
	auditLog string
	replicas []*replica
	users    map[*replica]string
	proxies  map[*replica]*cutProxy
	ids      map[*replica]string // Lease holder identity, of the replicas that led
	start    time.Time
	done     chan struct{}
}

// startFenceWorld starts the cluster, the replicas and the churn.
func startFenceWorld(t *testing.T, withProxies bool) *fenceWorld {
	t.Helper()
	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(fenceAuditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	f := &fenceWorld{
		auditLog: filepath.Join(dir, "audit.log"),
		users:    map[*replica]string{},
		proxies:  map[*replica]*cutProxy{},
		ids:      map[*replica]string{},
	}
	f.e = setup(t, map[string]string{"audit-policy-file": policy, "audit-log-path": f.auditLog})
	ctx := t.Context()
	c := f.e.c
	seed := time.Now().UnixNano()
	t.Logf("Churn seed %d", seed)
	f.w = &world{c: c, rng: rand.New(rand.NewPCG(uint64(seed), 0))}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: faultNamespace}}); err != nil {
		t.Fatal(err)
	}
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
			if err := f.w.createPod(ctx, svcName(s)); err != nil {
				t.Fatal(err)
			}
		}
	}

	ports := freePorts(t, 6)
	for i := range 3 {
		name := fmt.Sprintf("fence-%d", i)
		server := ""
		var proxy *cutProxy
		if withProxies {
			proxy = startCutProxy(t, f.e.cluster.Config.Host)
			server = "https://" + proxy.addr()
		}
		kubeconfig, err := f.e.cluster.AddUser(name, server)
		if err != nil {
			t.Fatal(err)
		}
		r := startReplica(t, f.e.bin, kubeconfig, name, f.e.dir, ports[2*i], ports[2*i+1])
		f.replicas = append(f.replicas, r)
		f.users[r] = name
		if proxy != nil {
			f.proxies[r] = proxy
		}
	}
	for _, r := range f.replicas {
		waitReady(t, r)
	}
	converge(ctx, t, c, 60*time.Second, "the initial Endpoints")

	f.start = time.Now()
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		f.w.churn(ctx, f.start.Add(fenceChurn))
	}()
	return f
}

// since returns the seconds since the churn started.
func (f *fenceWorld) since() float64 { return time.Since(f.start).Seconds() }

// at returns once d has passed since the churn started.
func (f *fenceWorld) at(d time.Duration) {
	for time.Since(f.start) < d {
		time.Sleep(pollInterval) // pacing the schedule, not synchronisation
	}
}

// leaderReplica returns the replica that holds the Lease.
func (f *fenceWorld) leaderReplica(ctx context.Context, t *testing.T) *replica {
	t.Helper()
	id := waitTakeover(ctx, t, f.e.c, 30*time.Second, "a replica to acquire the Lease", "")
	r := identifyLeader(ctx, t, f.e.c, f.replicas, id)
	f.ids[r] = id
	return r
}

// finish waits for the old leader to exit, for the churn to end and the
// Endpoints to converge, and checks the audit log: no Endpoints write of the
// old leader was received after its lease ran out, the end of its last
// successful renewal plus the lease duration.
func (f *fenceWorld) finish(ctx context.Context, t *testing.T, old *replica) {
	t.Helper()
	code := old.waitExit(t, 2*gracefulShutdownTimeout)
	t.Logf("%.1fs: the old leader %s exited with code %d", f.since(), old.name, code)
	if code == 0 {
		t.Errorf("The old leader %s exited with code 0, want non-zero", old.name)
	}
	<-f.done
	t.Logf("Churn: %d mutations applied, %d refused", f.w.applied, f.w.refused)
	took := converge(ctx, t, f.e.c, maxConvergence, "every Endpoints to match the final Pods after the churn")
	t.Logf("Converged %s after the churn stopped", took.Round(time.Millisecond))

	evs := readAudit(t, f.auditLog)
	user := f.users[old]
	var lastRenewal time.Time
	for _, ev := range evs {
		if ev.User.Username == user && ev.ObjectRef.Resource == "leases" && ev.ResponseStatus.Code < 300 && ev.Verb != "delete" {
			lastRenewal = ev.RequestReceivedTimestamp
		}
	}
	if lastRenewal.IsZero() {
		t.Fatalf("No Lease write of %s in the audit log", user)
	}
	leaseEnd := lastRenewal.Add(leaseDuration)
	var before, after int
	var late []string
	for _, ev := range evs {
		if ev.User.Username != user || ev.ObjectRef.Resource != "endpoints" {
			continue
		}
		if ev.RequestReceivedTimestamp.After(leaseEnd) {
			after++
			late = append(late, fmt.Sprintf("%s %s at %s (%d)", ev.Verb, ev.ObjectRef.Name,
				ev.RequestReceivedTimestamp.Sub(leaseEnd).Round(time.Millisecond), ev.ResponseStatus.Code))
		} else {
			before++
		}
	}
	t.Logf("Old leader %s: last renewal received %.1fs into the churn, lease ran out at %.1fs; Endpoints writes before %d, after %d",
		old.name, lastRenewal.Sub(f.start).Seconds(), leaseEnd.Sub(f.start).Seconds(), before, after)
	if before == 0 {
		t.Errorf("The old leader %s wrote no Endpoints at all: the test did not exercise it", old.name)
	}
	if after != 0 {
		t.Errorf("The old leader %s sent %d Endpoints writes after its lease ran out, want 0: %v", old.name, after, late)
	}
	fmt.Printf("e2e-fence %s: writes-after-lease=%d writes-before=%d\n", t.Name(), after, before)
}

// auditEvent is what the fence tests read of an audit event.
type auditEvent struct {
	Verb string `json:"verb"`
	User struct {
		Username string `json:"username"`
	} `json:"user"`
	ObjectRef struct {
		Resource string `json:"resource"`
		Name     string `json:"name"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceivedTimestamp time.Time `json:"requestReceivedTimestamp"`
}

// readAudit reads the audit log at path.
func readAudit(t *testing.T, path string) []auditEvent {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatalf("Opening the audit log: %v", err)
	}
	defer file.Close()
	var evs []auditEvent
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var ev auditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("Parsing the audit log: %v", err)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("Reading the audit log: %v", err)
	}
	return evs
}

// cutProxy forwards TCP connections to the API server until it is told to
// stop answering: then it drops the connections to the API server (which
// cancels what they carried) and keeps the client's connections open,
// reading and discarding whatever comes, as a partitioned network does;
// new connections are held the same way. resume closes the held
// connections and forwards new ones again.
type cutProxy struct {
	t        *testing.T
	ln       net.Listener
	upstream string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool // open connections: true for the API server side
}

// startCutProxy listens on a free local port and forwards to upstream, a
// URL or host:port.
func startCutProxy(t *testing.T, upstream string) *cutProxy {
	t.Helper()
	if u, err := urlHost(upstream); err == nil {
		upstream = u
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{t: t, ln: ln, upstream: upstream, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for c := range p.conns {
			_ = c.Close()
		}
	})
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(client)
	}
}

func (p *cutProxy) handle(client net.Conn) {
	p.mu.Lock()
	cut := p.cut
	p.conns[client] = false
	p.mu.Unlock()
	if cut {
		p.discard(client)
		return
	}
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		p.close(client)
		return
	}
	p.mu.Lock()
	p.conns[server] = true
	p.mu.Unlock()
	go p.pipe(server, client)
	p.pipe(client, server)
}

// pipe copies from src to dst until either ends or the proxy is cut, then
// the client side is only read and discarded.
func (p *cutProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if n > 0 && !cut {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if !cut {
				p.close(src)
				p.close(dst)
			}
			return
		}
	}
}

func (p *cutProxy) discard(c net.Conn) {
	_, _ = io.Copy(io.Discard, c)
}

func (p *cutProxy) close(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

// stopAnswering cuts the client off: its connections stay open, unanswered.
func (p *cutProxy) stopAnswering() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c, isServer := range p.conns {
		if isServer {
			delete(p.conns, c)
			_ = c.Close()
		}
	}
}

// resume closes the held connections; new ones are forwarded again.
func (p *cutProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	for c := range p.conns {
		delete(p.conns, c)
		_ = c.Close()
	}
}

// urlHost returns the host:port of a URL such as https://127.0.0.1:6443.
func urlHost(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if u.Host == "" {
		return "", fmt.Errorf("%q names no host", s)
	}
	return u.Host, nil
}
