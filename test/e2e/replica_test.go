package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
)

// Timings of the replicas' leader election, short so that a failover fits in
// a test run; they keep lease > renew deadline > retry period as required.
const (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
	// gracefulShutdownTimeout bounds the shutdown of a replica sent SIGTERM.
	gracefulShutdownTimeout = 10 * time.Second
)

// acquiredLeaseLog is what client-go's leader elector logs once it holds the
// Lease (matched case-insensitively: older client-go spelled it lower case).
const acquiredLeaseLog = "successfully acquired lease"

// httpClient scrapes the replicas; the timeout keeps one hung replica from
// stalling a poll loop.
var httpClient = &http.Client{Timeout: 2 * time.Second}

// replica is one endpoints-controller process.
type replica struct {
	name        string
	logPath     string
	metricsAddr string
	probeAddr   string
	cmd         *exec.Cmd

	done     chan struct{} // closed once the process has exited
	waitErr  error         // cmd.Wait's result, set before done is closed
	exitedAt time.Time     // when cmd.Wait returned, set before done is closed
}

// startReplica starts the binary at bin against kubeconfig, with its output in
// a log file under dir, and makes sure it is killed when the test ends.
func startReplica(t *testing.T, bin, kubeconfig, name, dir string, metricsPort, probePort int) *replica {
	t.Helper()
	return startReplicaArgs(t, bin, kubeconfig, name, dir, metricsPort, probePort)
}

// startReplicaArgs is startReplica with extra arguments after the usual ones
// (a flag given twice takes the last value).
func startReplicaArgs(t *testing.T, bin, kubeconfig, name, dir string, metricsPort, probePort int, extra ...string) *replica {
	t.Helper()
	r := &replica{
		name:        name,
		logPath:     filepath.Join(dir, name+".log"),
		metricsAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(metricsPort)),
		probeAddr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(probePort)),
		done:        make(chan struct{}),
	}
	logFile, err := os.Create(r.logPath)
	if err != nil {
		t.Fatalf("Creating the log file of %s: %v", name, err)
	}
	// Not exec.CommandContext: the test sends its own signals and must see
	// how the process reacts to them.
	r.cmd = exec.Command(bin,
		"--kubeconfig="+kubeconfig,
		"--leader-elect",
		"--leader-election-namespace=default",
		"--leader-elect-lease-duration="+leaseDuration.String(),
		"--leader-elect-renew-deadline="+renewDeadline.String(),
		"--leader-elect-retry-period="+retryPeriod.String(),
		"--graceful-shutdown-timeout="+gracefulShutdownTimeout.String(),
		"--metrics-bind-address="+r.metricsAddr,
		"--metrics-secure=false",
		"--health-probe-bind-address="+r.probeAddr,
		"--zap-log-level=info",
	)
	r.cmd.Args = append(r.cmd.Args, extra...)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		_ = logFile.Close()
		t.Fatalf("Starting %s: %v", name, err)
	}
	go func() {
		r.waitErr = r.cmd.Wait()
		r.exitedAt = time.Now()
		_ = logFile.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		if !r.exited() {
			_ = r.cmd.Process.Kill()
		}
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s (pid %d) did not exit after SIGKILL", name, r.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("Last lines of the log of %s (%s):\n%s", name, r.logPath, tail(r.logPath, 150))
		}
	})
	return r
}

// exited reports whether the process has exited.
func (r *replica) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process.
func (r *replica) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("Sending %v to %s: %v", sig, r.name, err)
	}
}

// waitExit waits up to timeout for the process to exit and returns its exit
// code.
func (r *replica) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %s", r.name, timeout)
	}
	var exitErr *exec.ExitError
	if r.waitErr != nil && !errors.As(r.waitErr, &exitErr) {
		t.Fatalf("Waiting for %s: %v", r.name, r.waitErr)
	}
	return r.cmd.ProcessState.ExitCode()
}

// ready reports whether /readyz answers 200.
func (r *replica) ready() (bool, error) {
	resp, err := httpClient.Get("http://" + r.probeAddr + "/readyz")
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s /readyz: %s", r.name, resp.Status)
	}
	return true, nil
}

// sample is what the test reads from a replica's metrics.
type sample struct {
	// writes is endpoints_controller_writes_total summed over methods, real
	// writes only (dry_run="false"); 0 when no write was counted yet, as the
	// counter has no series before the first write.
	writes float64
	// leader is leader_election_master_status for our Lease: client-go sets it
	// to 1 just before the replica logs that it acquired the Lease, and to 0
	// when the elector starts and when it loses the Lease.
	leader bool
}

// scrape reads the replica's metrics.
func (r *replica) scrape() (sample, error) {
	resp, err := httpClient.Get("http://" + r.metricsAddr + "/metrics")
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sample{}, fmt.Errorf("%s /metrics: %s", r.name, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return sample{}, fmt.Errorf("parsing the metrics of %s: %w", r.name, err)
	}
	var s sample
	if f := families["endpoints_controller_writes_total"]; f != nil {
		for _, m := range f.GetMetric() {
			if label(m, "dry_run") == "false" {
				s.writes += m.GetCounter().GetValue()
			}
		}
	}
	if f := families["leader_election_master_status"]; f != nil {
		for _, m := range f.GetMetric() {
			if label(m, "name") == app.LeaderElectionID {
				s.leader = m.GetGauge().GetValue() == 1
			}
		}
	}
	return s, nil
}

// mustScrape scrapes r and fails the test when it cannot.
func (r *replica) mustScrape(t *testing.T) sample {
	t.Helper()
	s, err := r.scrape()
	if err != nil {
		t.Fatalf("Scraping %s: %v", r.name, err)
	}
	return s
}

// acquiredLease reports whether the replica logged that it acquired the Lease.
func (r *replica) acquiredLease() bool {
	b, err := os.ReadFile(r.logPath)
	return err == nil && bytes.Contains(bytes.ToLower(b), []byte(acquiredLeaseLog))
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// freePorts returns n distinct free TCP ports on 127.0.0.1. They are free
// when returned; a process elsewhere could take one before a replica binds
// it, which would show as a replica failing to start.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("Finding a free port: %v", err)
		}
		defer l.Close() // held until all are chosen, so that they differ
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
