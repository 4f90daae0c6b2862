package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
)

// leaseLostLog is what a replica logs when it finds that it lost the Lease.
const leaseLostLog = "Stopping: writes are refused from now on"

// maxLeaseLossExit bounds how long a leader takes to exit after its Lease is
// stolen or deleted: it notices at its next renewal (every retry period, up
// to 120% with jitter) and shuts down. client-go alone would go on leading
// for the whole renew deadline after a steal, and forever after a delete.
const maxLeaseLossExit = renewDeadline

// TestLeaseLoss makes the leader lose its Lease twice, first stolen by
// another identity, then deleted, and checks each time that the leader
// exits non-zero within maxLeaseLossExit and writes nothing once it knows.
func TestLeaseLoss(t *testing.T) {
	e := setup(t, nil)
	ctx := t.Context()
	replicas := e.startReplicas(t, "lease", 2)
	leaderID := waitTakeover(ctx, t, e.c, 30*time.Second, "a replica to acquire the Lease", "")
	leader := identifyLeader(ctx, t, e.c, replicas, leaderID)
	standby := replicas[0]
	if standby == leader {
		standby = replicas[1]
	}
	mon := startWriteMonitor(replicas)
	// The run is short: each phase waits for whole scrape rounds (sync).
	mon.minRounds = 4
	t.Cleanup(func() { mon.report(t) })

	createService(ctx, t, e.c)
	for i := range 2 {
		createPod(ctx, t, e.c, i, true)
	}
	eventually(t, 30*time.Second, "the Endpoints to publish the two ready Pods", func() (bool, error) {
		return endpointsMatch(ctx, e.c, want{0: true, 1: true})
	})

	waitWrites(t, leader)
	mon.sync(t)

	// Stolen: another identity holds the Lease for an hour, so the standby
	// cannot take it either.
	stealAt := time.Now()
	stealLease(ctx, t, e.c, "thief")
	code, took := waitLeaseLossExit(ctx, t, e.c, leader, stealAt, want{0: true, 1: true}, func() { setPodReady(ctx, t, e.c, 0, false) })
	t.Logf("Stolen Lease: %s exited with code %d, %s after the steal", leader.name, code, took.Round(time.Millisecond))
	if s := standby.mustScrape(t); s.leader || s.writes != 0 {
		t.Errorf("Standby %s: leader %t, writes %g while the thief holds the Lease; want false and 0", standby.name, s.leader, s.writes)
	}

	// The thief goes away: the standby takes over and publishes the change
	// the old leader did not write.
	deleteLease(ctx, t, e.c)
	newID := waitTakeover(ctx, t, e.c, maxKillTakeover, "the standby to take the Lease", "thief")
	identifyLeader(ctx, t, e.c, []*replica{standby}, newID)
	eventually(t, 30*time.Second, "the new leader to publish web-0 as not ready", func() (bool, error) {
		return endpointsMatch(ctx, e.c, want{0: false, 1: true})
	})
	waitWrites(t, standby)
	mon.sync(t)

	// Deleted: client-go would re-create the Lease and lead on.
	deleteAt := time.Now()
	deleteLease(ctx, t, e.c)
	code, took = waitLeaseLossExit(ctx, t, e.c, standby, deleteAt, want{0: false, 1: true}, func() { setPodReady(ctx, t, e.c, 1, false) })
	t.Logf("Deleted Lease: %s exited with code %d, %s after the delete", standby.name, code, took.Round(time.Millisecond))
	holder, _, err := leaseHolder(ctx, e.c)
	if err != nil {
		t.Fatal(err)
	}
	if holder != "" {
		t.Errorf("The Lease names %q after its leader exited, want no Lease: the leader took it again", holder)
	}
	mon.report(t)
	fmt.Printf("e2e: lease-stolen-exit=%.2fs\n", took.Seconds())
}

// waitLeaseLossExit waits until r logs that it lost the Lease, then makes
// change (a Pod change r would publish if it still wrote) and waits for r to
// exit. It checks that r exited non-zero within maxLeaseLossExit of since,
// and that the Endpoints still publish before: r wrote nothing once it knew.
// It returns the exit code and how long after since r exited.
func waitLeaseLossExit(ctx context.Context, t *testing.T, c client.Client, r *replica, since time.Time, before want, change func()) (int, time.Duration) {
	t.Helper()
	eventually(t, 10*time.Second, r.name+" to log that it lost the Lease", func() (bool, error) {
		if r.exited() {
			return true, nil
		}
		b, err := os.ReadFile(r.logPath)
		return err == nil && bytes.Contains(b, []byte(leaseLostLog)), err
	})
	change()
	code := r.waitExit(t, 2*gracefulShutdownTimeout)
	took := r.exitedAt.Sub(since)
	if code == 0 {
		t.Errorf("%s exited with code 0 after losing the Lease, want non-zero", r.name)
	}
	if took > maxLeaseLossExit {
		t.Errorf("%s exited %s after losing the Lease, want at most %s", r.name, took, maxLeaseLossExit)
	}
	if ok, err := endpointsMatch(ctx, c, before); !ok {
		t.Errorf("The Endpoints changed after %s knew it lost the Lease: %v", r.name, err)
	}
	return code, took
}

// stealLease makes holder the holder of the Lease for an hour.
func stealLease(ctx context.Context, t *testing.T, c client.Client, holder string) {
	t.Helper()
	lease := &coordinationv1.Lease{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: metav1.NamespaceDefault, Name: app.LeaderElectionID}, lease); err != nil {
		t.Fatalf("Getting the Lease: %v", err)
	}
	now := metav1.NewMicroTime(time.Now())
	lease.Spec.HolderIdentity = ptr.To(holder)
	lease.Spec.LeaseDurationSeconds = ptr.To[int32](3600)
	lease.Spec.AcquireTime, lease.Spec.RenewTime = &now, &now
	if err := c.Update(ctx, lease); err != nil {
		t.Fatalf("Stealing the Lease: %v", err)
	}
}

// deleteLease deletes the Lease.
func deleteLease(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	lease := &coordinationv1.Lease{}
	lease.Namespace, lease.Name = metav1.NamespaceDefault, app.LeaderElectionID
	if err := c.Delete(ctx, lease); err != nil {
		t.Fatalf("Deleting the Lease: %v", err)
	}
}
