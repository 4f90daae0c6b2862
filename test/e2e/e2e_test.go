// Package e2e runs the built endpoints-controller binary: three replicas with
// leader election against a local control plane (etcd and kube-apiserver from
// KUBEBUILDER_ASSETS). It checks what running several replicas relies on: one
// leader writes while the standbys are ready and idle, a standby takes over
// within the lease duration when the leader is killed and at once when the
// leader stops cleanly, changes made meanwhile are published, and two
// replicas never write at once.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/localcluster"
)

const (
	// maxKillTakeover bounds the take-over after SIGKILL of the leader. A
	// standby may take the Lease only leaseDuration after it last saw it
	// renewed, and notices on its next retry, every retryPeriod with up to
	// 120% jitter (client-go's JitterFactor): about 4-5.1 s here; the rest
	// is margin for a loaded 2-core machine.
	maxKillTakeover = leaseDuration + 3*time.Second
	// maxTermHandover bounds the hand-over after SIGTERM of the leader: it
	// stops its controller, releases the Lease (LeaderElectionReleaseOnCancel)
	// and a standby takes it on its next retry, within 1.1 s.
	maxTermHandover = 3 * time.Second
)

// TestLeaderElectionFailover runs three replicas and fails the leader over
// twice, first with SIGKILL, then with SIGTERM.
func TestLeaderElectionFailover(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: it must name the directory holding etcd and kube-apiserver, " +
			"e.g. bin/k8s/1.37.2-linux-amd64 (`make test-e2e` sets it; `make envtest` builds them)")
	}
	testStart := time.Now()
	ctx := t.Context()
	dir := t.TempDir()

	// Build the binary while the control plane starts; both take seconds.
	type built struct {
		bin string
		err error
	}
	buildDone := make(chan built, 1)
	root := repoRoot(t)
	go func() {
		bin, err := buildBinary(root, dir)
		buildDone <- built{bin, err}
	}()
	cluster, err := localcluster.Start(assets, filepath.Join(dir, "cluster"))
	build := <-buildDone
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Errorf("Stopping the control plane: %v", err)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	c, err := client.New(cluster.Config, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Binary built and control plane started in %s", time.Since(testStart).Round(time.Millisecond))

	ports := freePorts(t, 6)
	replicas := make([]*replica, 3)
	for i := range replicas {
		replicas[i] = startReplica(t, build.bin, cluster.KubeconfigPath, fmt.Sprintf("replica-%d", i), dir, ports[2*i], ports[2*i+1])
	}

	// Every replica is ready, standbys included: their caches are warm.
	for _, r := range replicas {
		eventually(t, 60*time.Second, r.name+" to answer /readyz with 200", func() (bool, error) {
			if r.exited() {
				t.Fatalf("%s exited: %v", r.name, r.waitErr)
			}
			return r.ready()
		})
	}

	// Exactly one replica leads.
	leaderID := waitTakeover(ctx, t, c, 30*time.Second, "a replica to acquire the Lease", "")
	leader := identifyLeader(ctx, t, c, replicas, leaderID)
	led := map[*replica]bool{leader: true}
	checkStandbysNeverLed(t, replicas, led)
	t.Logf("%s leads as %s", leader.name, leaderID)

	mon := startWriteMonitor(replicas)
	t.Cleanup(func() { mon.report(t) })

	// The Endpoints converge, written by the leader alone.
	createService(ctx, t, c)
	for i := range 3 {
		createPod(ctx, t, c, i, true)
	}
	state := want{0: true, 1: true, 2: true}
	eventually(t, 30*time.Second, "the Endpoints to publish the three ready Pods", func() (bool, error) {
		return endpointsMatch(ctx, c, state)
	})
	waitWrites(t, leader)
	checkIdle(t, replicas, led)
	mon.sync(t)

	// SIGKILL of the leader: a standby takes over once the lease has expired,
	// and publishes the change made while no replica led.
	killed := leader
	killAt := time.Now()
	killed.signal(t, syscall.SIGKILL)
	killed.waitExit(t, 10*time.Second)
	setPodReady(ctx, t, c, 0, false)
	state = want{0: false, 1: true, 2: true}
	var takeover time.Duration
	var acquiredAt time.Time
	var newID string
	reported := false
	eventually(t, maxKillTakeover+10*time.Second, "a standby to take the Lease over from the killed leader", func() (bool, error) {
		// The Endpoints first, the Lease second: if the change is published
		// and the Lease, read after, still names the killed leader, someone
		// wrote without holding the Lease.
		published, _ := endpointsMatch(ctx, c, state)
		holder, acquired, err := leaseHolder(ctx, c)
		if err != nil {
			return false, err
		}
		if holder == leaderID || holder == "" {
			if published && !reported {
				t.Errorf("The Endpoints changed while the Lease still named the killed leader %s", killed.name)
				reported = true
			}
			return false, fmt.Errorf("the Lease is held by %q", holder)
		}
		takeover, acquiredAt, newID = time.Since(killAt), acquired, holder
		return true, nil
	})
	t.Logf("SIGKILL take-over: the Lease changed hands %s after the kill (acquireTime says %s)",
		takeover.Round(time.Millisecond), acquiredAt.Sub(killAt).Round(time.Millisecond))
	if takeover > maxKillTakeover {
		t.Errorf("SIGKILL take-over took %s, want at most %s (lease duration %s + 3s)", takeover, maxKillTakeover, leaseDuration)
	}
	leader = identifyLeader(ctx, t, c, replicas, newID)
	led[leader] = true
	checkStandbysNeverLed(t, replicas, led)
	t.Logf("%s leads as %s", leader.name, newID)
	eventually(t, 30*time.Second, "the Endpoints to publish web-0 as not ready", func() (bool, error) {
		return endpointsMatch(ctx, c, state)
	})
	waitWrites(t, leader) // it was a standby with no writes: it wrote the change
	checkIdle(t, replicas, led)
	mon.sync(t)

	// SIGTERM of the leader: it releases the Lease on its way out, so the last
	// standby takes over at once, and it exits 0.
	stopped, stoppedID := leader, newID
	termAt := time.Now()
	stopped.signal(t, syscall.SIGTERM)
	var handover, released time.Duration
	eventually(t, 15*time.Second, "the last standby to take the Lease over from the stopped leader", func() (bool, error) {
		holder, _, err := leaseHolder(ctx, c)
		switch {
		case err != nil:
			return false, err
		case holder == stoppedID:
			return false, errors.New("the Lease is still held by the stopping leader")
		case holder == "":
			if released == 0 {
				released = time.Since(termAt)
			}
			return false, errors.New("the Lease is released, not yet taken")
		}
		handover, newID = time.Since(termAt), holder
		return true, nil
	})
	t.Logf("SIGTERM hand-over: the Lease changed hands %s after the signal (seen released after %s)",
		handover.Round(time.Millisecond), released.Round(time.Millisecond))
	if handover >= maxTermHandover {
		t.Errorf("SIGTERM hand-over took %s, want less than %s: was the Lease released?", handover, maxTermHandover)
	}
	if code := stopped.waitExit(t, gracefulShutdownTimeout); code != 0 {
		t.Errorf("%s exited with code %d after SIGTERM, want 0", stopped.name, code)
	}
	if exit := stopped.exitedAt.Sub(termAt); exit > gracefulShutdownTimeout {
		t.Errorf("%s exited %s after SIGTERM, want within the graceful shutdown timeout %s", stopped.name, exit, gracefulShutdownTimeout)
	}
	t.Logf("%s exited %s after SIGTERM", stopped.name, stopped.exitedAt.Sub(termAt).Round(time.Millisecond))
	leader = identifyLeader(ctx, t, c, replicas, newID)
	led[leader] = true
	t.Logf("%s leads as %s", leader.name, newID)

	// A later change is published by the new leader.
	setPodReady(ctx, t, c, 0, true)
	createPod(ctx, t, c, 3, true)
	state = want{0: true, 1: true, 2: true, 3: true}
	eventually(t, 30*time.Second, "the Endpoints to publish four ready Pods", func() (bool, error) {
		return endpointsMatch(ctx, c, state)
	})
	waitWrites(t, leader)
	mon.sync(t)

	// Never two writers at once, over the whole run.
	mon.report(t)
	t.Logf("Test ran %s", time.Since(testStart).Round(time.Millisecond))
	fmt.Printf("e2e: sigkill-takeover=%.2fs sigterm-handover=%.2fs\n", takeover.Seconds(), handover.Seconds())
}

// waitTakeover waits until the Lease names a holder other than "" and
// previous, and returns it.
func waitTakeover(ctx context.Context, t *testing.T, c client.Client, timeout time.Duration, what, previous string) string {
	t.Helper()
	var holder string
	eventually(t, timeout, what, func() (bool, error) {
		h, _, err := leaseHolder(ctx, c)
		if err != nil {
			return false, err
		}
		holder = h
		return h != "" && h != previous, fmt.Errorf("the Lease is held by %q", h)
	})
	return holder
}

// identifyLeader returns the replica that holds the Lease as id.
//
// The identity is hostname_UUID, the same hostname for all replicas and a
// UUID no replica logs, so it cannot be matched by name. Instead: while the
// Lease names id, exactly one live replica must report
// leader_election_master_status 1, which client-go sets when that replica
// acquires the Lease and clears only when it loses it; a replica that
// stops cleanly stops serving metrics before it releases the Lease. That
// replica is the holder, and its log must show that it acquired the Lease.
func identifyLeader(ctx context.Context, t *testing.T, c client.Client, replicas []*replica, id string) *replica {
	t.Helper()
	var leader *replica
	eventually(t, 10*time.Second, "exactly one replica to report itself leader as "+id, func() (bool, error) {
		holder, _, err := leaseHolder(ctx, c)
		if err != nil {
			return false, err
		}
		if holder != id {
			return false, fmt.Errorf("the Lease is held by %q", holder)
		}
		var claimants []*replica
		for _, r := range replicas {
			if s, err := r.scrape(); err == nil && s.leader {
				claimants = append(claimants, r)
			}
		}
		if len(claimants) != 1 {
			return false, fmt.Errorf("%d replicas report themselves leader", len(claimants))
		}
		leader = claimants[0]
		return true, nil
	})
	eventually(t, 5*time.Second, leader.name+" to log that it acquired the Lease", func() (bool, error) {
		return leader.acquiredLease(), nil
	})
	return leader
}

// checkStandbysNeverLed checks that the replicas that never led did not log
// that they acquired the Lease.
func checkStandbysNeverLed(t *testing.T, replicas []*replica, led map[*replica]bool) {
	t.Helper()
	for _, r := range replicas {
		if !led[r] && r.acquiredLease() {
			t.Errorf("%s logged that it acquired the Lease, but the Lease never named it", r.name)
		}
	}
}

// waitWrites waits for r's metrics to count at least one write. The counter
// goes up just after the API server has answered, so it may trail the
// Endpoints the test has already read.
func waitWrites(t *testing.T, r *replica) {
	t.Helper()
	eventually(t, 5*time.Second, r.name+" to count its writes", func() (bool, error) {
		s, err := r.scrape()
		return err == nil && s.writes > 0, err
	})
}

// checkIdle checks that the replicas that never led have written nothing.
func checkIdle(t *testing.T, replicas []*replica, led map[*replica]bool) {
	t.Helper()
	for _, r := range replicas {
		if led[r] {
			continue
		}
		if s := r.mustScrape(t); s.writes != 0 || s.leader {
			t.Errorf("Standby %s: writes_total %g, leader %t; want 0 and false", r.name, s.writes, s.leader)
		}
	}
}
