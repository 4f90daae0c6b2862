// Package realcluster starts a realistic throw-away cluster for tests, the
// rollout benchmark and `make run-cluster`: etcd and kube-apiserver (from
// internal/localcluster), kube-scheduler, kube-controller-manager with every
// controller but its endpoints controller (the production topology this
// controller is meant for), and kwok simulating Nodes and their kubelets. So
// Deployments, ReplicaSets, scheduling, Pod IPs, readiness and Pod deletion
// come from the real components, and KCM's EndpointSlice controller publishes
// the same Services beside the Endpoints controller under test.
//
// Each component runs as a process with its log in the cluster's directory;
// a component that fails to start is named with the path of its log.
package realcluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kube-endpoints/endpoints-controller/internal/localcluster"
)

// KwokNodeAnnotation marks the Nodes that kwok manages; kwok runs with
// --manage-nodes-with-annotation-selector set to it.
const KwokNodeAnnotation = "kwok.x-k8s.io/node"

// Binaries the cluster runs besides etcd and kube-apiserver, looked up in
// Options.AssetsDir.
const (
	SchedulerBinary         = "kube-scheduler"
	ControllerManagerBinary = "kube-controller-manager"
	KwokBinary              = "kwok"
)

// Options configures Start.
type Options struct {
	// AssetsDir holds etcd, kube-apiserver, kube-scheduler,
	// kube-controller-manager and kwok (bin/k8s/<version>-<os>-<arch>).
	AssetsDir string
	// Dir receives the kubeconfig, the components' logs and kwok's stages.
	Dir string
	// Nodes is the number of kwok Nodes, named node-0, node-1, ...
	Nodes int
	// Controllers is kube-controller-manager's --controllers;
	// "*,-endpoints-controller" when empty, the topology in which this
	// controller writes the Endpoints. "*" runs KCM's own endpoints
	// controller too (the baseline of the rollout benchmark).
	Controllers string
	// QPS and Burst are the client limits of kube-controller-manager and
	// kube-scheduler; give them those of the controller under test so that
	// neither queues behind the other's limits. 0 means 1000 and 2000.
	QPS   float32
	Burst int
	// PodReadyDelay is how long kwok waits after a Pod got its IP before it
	// turns it ready (the kubelet's container start and readiness probe);
	// PodDeleteDelay how long a deleted Pod stays terminating. 0 means 1 s.
	PodReadyDelay, PodDeleteDelay time.Duration
}

// Cluster is a running realistic cluster.
type Cluster struct {
	*localcluster.Cluster
	// Client is an administrator's clientset.
	Client kubernetes.Interface
	// Dir holds the logs: kube-scheduler.log, kube-controller-manager.log,
	// kwok.log.
	Dir string

	procs []*component
}

type component struct {
	name, log string
	cmd       *exec.Cmd
	done      chan struct{}
	err       error
}

// Start starts the cluster and waits until its Nodes are Ready. On failure
// everything started is stopped again and the error names the component and
// its log.
func Start(ctx context.Context, o Options) (c *Cluster, err error) {
	if o.Controllers == "" {
		o.Controllers = "*,-endpoints-controller"
	}
	if o.QPS == 0 {
		o.QPS, o.Burst = 1000, 2000
	}
	if o.Burst == 0 {
		o.Burst = int(2 * o.QPS)
	}
	if o.PodReadyDelay == 0 {
		o.PodReadyDelay = time.Second
	}
	if o.PodDeleteDelay == 0 {
		o.PodDeleteDelay = time.Second
	}
	for _, b := range []string{SchedulerBinary, ControllerManagerBinary, KwokBinary} {
		if _, err := os.Stat(filepath.Join(o.AssetsDir, b)); err != nil {
			return nil, fmt.Errorf("realistic cluster: %s is missing in %s (make realcluster builds it): %w", b, o.AssetsDir, err)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	lc, err := localcluster.Start(o.AssetsDir, filepath.Join(o.Dir, "control-plane"))
	if err != nil {
		return nil, err
	}
	c = &Cluster{Cluster: lc, Dir: o.Dir}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	cfg := *lc.Config
	cfg.QPS, cfg.Burst = 1000, 2000
	// The tests read Endpoints on purpose: no deprecation warning each time.
	cfg.WarningHandler = rest.NoWarnings{}
	if c.Client, err = kubernetes.NewForConfig(&cfg); err != nil {
		return nil, err
	}

	schedConfig := filepath.Join(o.Dir, "kube-scheduler.yaml")
	if err := os.WriteFile(schedConfig, []byte(fmt.Sprintf(schedulerConfig, lc.KubeconfigPath, o.QPS, o.Burst)), 0o600); err != nil {
		return nil, err
	}
	stages := filepath.Join(o.Dir, "kwok.yaml")
	if err := os.WriteFile(stages, []byte(kwokConfig(o.PodReadyDelay, o.PodDeleteDelay)), 0o600); err != nil {
		return nil, err
	}
	starts := []struct {
		name string
		args []string
	}{
		{ControllerManagerBinary, []string{
			"--kubeconfig=" + lc.KubeconfigPath,
			"--controllers=" + o.Controllers,
			"--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
			"--kube-api-qps=" + strconv.FormatFloat(float64(o.QPS), 'f', -1, 32),
			"--kube-api-burst=" + strconv.Itoa(o.Burst),
			"--v=1",
		}},
		{SchedulerBinary, []string{"--config=" + schedConfig, "--secure-port=0", "--v=1"}},
		{KwokBinary, []string{
			"--kubeconfig=" + lc.KubeconfigPath,
			"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=fake",
			"--config=" + stages,
			"--node-lease-duration-seconds=40",
			"--server-address=",
		}},
	}
	for _, s := range starts {
		p, err := c.start(s.name, filepath.Join(o.AssetsDir, s.name), s.args)
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, p)
	}
	for i := range o.Nodes {
		if err := c.AddNode(ctx, NodeName(i), i); err != nil {
			return nil, err
		}
	}
	if err := c.waitNodesReady(ctx, o.Nodes, 2*time.Minute); err != nil {
		return nil, err
	}
	return c, nil
}

// NodeName is the name of the i-th Node that Start creates.
func NodeName(i int) string { return "node-" + strconv.Itoa(i) }

// AddNode creates a kwok Node named name with the i-th /24 of 10.64.0.0/10
// as its Pod CIDR, large allocatable resources and no taints.
func (c *Cluster) AddNode(ctx context.Context, name string, i int) error {
	if i < 0 || i >= 1<<14 {
		return fmt.Errorf("node index %d out of range", i)
	}
	cidr := nodeCIDR(i)
	plenty := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("1Ti"),
		corev1.ResourcePods:   resource.MustParse("1000"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{KwokNodeAnnotation: "fake"},
			Labels:      map[string]string{corev1.LabelHostname: name, "type": "kwok"},
		},
		Spec:   corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}},
		Status: corev1.NodeStatus{Capacity: plenty, Allocatable: plenty},
	}
	if _, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Node %s: %w", name, err)
	}
	return nil
}

// nodeCIDR is the Pod CIDR of the i-th Node: the i-th /24 of 10.64.0.0/10.
func nodeCIDR(i int) string {
	base := netip.MustParseAddr("10.64.0.0").As4()
	base[1] += byte(i >> 8)
	base[2] = byte(i)
	return netip.PrefixFrom(netip.AddrFrom4(base), 24).String()
}

// waitNodesReady polls until n Nodes are Ready, or fails naming kwok's log.
func (c *Cluster) waitNodesReady(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := c.exited(); err != nil {
			return err
		}
		nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := 0
		if err == nil {
			for _, node := range nodes.Items {
				for _, cond := range node.Status.Conditions {
					if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
						ready++
					}
				}
			}
			if ready >= n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("realistic cluster: %d of %d Nodes Ready after %s (last error: %w); kwok's log: %s",
				ready, n, timeout, err, filepath.Join(c.Dir, KwokBinary+".log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Exited returns an error naming the first component that has exited, with
// the path of its log, or nil when all run.
func (c *Cluster) exited() error {
	for _, p := range c.procs {
		select {
		case <-p.done:
			return fmt.Errorf("realistic cluster: %s exited (%w); its log: %s", p.name, p.err, p.log)
		default:
		}
	}
	return nil
}

// Check reports whether every component still runs, naming the first that
// does not and its log.
func (c *Cluster) Check() error { return c.exited() }

func (c *Cluster) start(name, bin string, args []string) (*component, error) {
	p := &component{name: name, log: filepath.Join(c.Dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	// Own process group: a Ctrl-C of `make run-cluster` reaches the
	// components through Stop, in order, not all at once.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("realistic cluster: starting %s: %w; its log: %s", name, err, p.log)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Stop stops the components, then the control plane.
func (c *Cluster) Stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	c.procs = nil
	if err := c.Cluster.Stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// LogTail returns the last lines of a component's log, for a failing test.
func (c *Cluster) LogTail(name string, lines int) string {
	b, err := os.ReadFile(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}

// schedulerConfig is kube-scheduler's configuration: the kubeconfig, QPS and
// burst; no leader election (one scheduler).
const schedulerConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: %v
  burst: %d
leaderElection:
  leaderElect: false
`
