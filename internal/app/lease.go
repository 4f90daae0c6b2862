package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// ErrLeaseLost is returned by Run when this replica led and then found the
// Lease deleted or held by another identity. The process must exit
// (non-zero) and come back as a clean standby: its work queue and trackers
// describe a leadership that is over.
var ErrLeaseLost = errors.New("lost the leader-election Lease")

// leaseGuard is the leader-election lock: client-go's Lease lock, plus the
// knowledge of whether this replica holds it, and since when. client-go's
// elector notices a lost Lease only when renewing fails for the whole renew
// deadline, and it re-creates a deleted Lease and goes on leading. The guard
// instead reports the loss at the first read of the Lease that shows it
// (every retry period): from then on every write of the controller is
// refused (fence), the Lease is never taken again by this process, and
// onLost stops the manager.
//
// The fence does not wait for such a read: a write is let through only while
// the last successful renewal is younger than the renew deadline, measured
// on this process's monotonic clock from the moment the renewal was sent,
// and it carries that same point (renewal sent + renew deadline) as its
// deadline, before the end of the lease the renewal bought (sent + lease
// duration). A standby takes over at the earliest a lease duration after it
// saw that renewal, which is after it was sent; so a leader that is paused
// (SIGSTOP, a long GC, a frozen VM) or cut off from the API server stops
// writing before anyone else may start, with the difference between the two
// durations to spare for clocks that run at slightly different rates.
type leaseGuard struct {
	resourcelock.Interface
	// recorder emits the elector's events once the manager has one.
	recorder atomic.Pointer[events.EventRecorder]
	held     atomic.Bool // the last successful write of the Lease named this replica
	lost     atomic.Bool
	onLost   func()

	clock         clock.PassiveClock
	renewDeadline time.Duration
	// renewed is when the last successful write of the Lease that named this
	// replica was sent (with its monotonic reading), nil when none did.
	renewed atomic.Pointer[time.Time]
}

// errLeaseNotHeld refuses a write of a replica that does not hold the Lease.
var errLeaseNotHeld = errors.New("this replica does not hold the leader-election Lease")

// errLeaseExpiring refuses a write of a leader whose last renewal is as old
// as the renew deadline: its lease may end before the write is done.
var errLeaseExpiring = errors.New("the leader-election Lease was not renewed within the renew deadline")

// newLeaseGuard returns the lock on the Lease name in namespace,
// for an identity unique to this process (hostname and a UUID, as
// controller-runtime makes it).
func newLeaseGuard(cfg *rest.Config, namespace, name string, renewDeadline time.Duration, onLost func()) (*leaseGuard, error) {
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("getting the hostname for the leader-election identity: %w", err)
	}
	cfg = rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election")
	// One hung request must not use up the renew deadline.
	cfg.Timeout = max(renewDeadline/2, time.Second)
	c, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating the leader-election client: %w", err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: namespace, Name: name},
		Client:     c,
		LockConfig: resourcelock.ResourceLockConfig{Identity: host + "_" + string(uuid.NewUUID())},
	}
	return &leaseGuard{Interface: lock, onLost: onLost, clock: clock.RealClock{}, renewDeadline: renewDeadline}, nil
}

// Get reads the Lease; if this replica held it and it is gone or names
// another holder, the Lease is lost.
func (g *leaseGuard) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	rec, raw, err := g.Interface.Get(ctx)
	if g.held.Load() {
		switch {
		case apierrors.IsNotFound(err):
			g.lose(ctx, "the Lease was deleted")
		case err == nil && rec.HolderIdentity != g.Identity():
			g.lose(ctx, fmt.Sprintf("the Lease names %q", rec.HolderIdentity))
		}
	}
	return rec, raw, err
}

// Create creates the Lease, unless this replica has lost it before.
func (g *leaseGuard) Create(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	if g.lost.Load() {
		return ErrLeaseLost
	}
	sent := g.clock.Now()
	err := g.Interface.Create(ctx, rec)
	if err == nil {
		g.wrote(rec, sent)
	}
	return err
}

// Update renews, takes or releases the Lease, unless this replica has lost it
// before.
func (g *leaseGuard) Update(ctx context.Context, rec resourcelock.LeaderElectionRecord) error {
	if g.lost.Load() {
		return ErrLeaseLost
	}
	sent := g.clock.Now()
	err := g.Interface.Update(ctx, rec)
	if err == nil {
		g.wrote(rec, sent)
	}
	return err
}

// wrote records a successful write of the Lease, sent at sent.
func (g *leaseGuard) wrote(rec resourcelock.LeaderElectionRecord, sent time.Time) {
	held := rec.HolderIdentity == g.Identity()
	if held {
		g.renewed.Store(&sent)
	} else {
		g.renewed.Store(nil)
	}
	g.held.Store(held)
}

// RecordEvent emits the elector's events (became leader, stopped leading) on
// the Lease.
func (g *leaseGuard) RecordEvent(s string) {
	r := g.recorder.Load()
	if r == nil {
		return
	}
	lease := &coordinationv1.Lease{
		TypeMeta:   metav1.TypeMeta{APIVersion: coordinationv1.SchemeGroupVersion.String(), Kind: "Lease"},
		ObjectMeta: metav1.ObjectMeta{Namespace: g.namespace(), Name: g.name()},
	}
	(*r).Eventf(lease, nil, corev1.EventTypeNormal, "LeaderElection", "LeaderElection", "%s %s", g.Identity(), s)
}

func (g *leaseGuard) namespace() string {
	if l, ok := g.Interface.(*resourcelock.LeaseLock); ok {
		return l.LeaseMeta.Namespace
	}
	return ""
}

func (g *leaseGuard) name() string {
	if l, ok := g.Interface.(*resourcelock.LeaseLock); ok {
		return l.LeaseMeta.Name
	}
	return ""
}

func (g *leaseGuard) lose(ctx context.Context, why string) {
	if !g.lost.CompareAndSwap(false, true) {
		return
	}
	log.FromContext(ctx).Error(ErrLeaseLost, "Stopping: writes are refused from now on", "reason", why, "identity", g.Identity())
	if g.onLost != nil {
		g.onLost()
	}
}

// fence tells whether a write may be sent now, and by when it must be done:
// only while this replica holds the Lease, has not lost it, and renewed it
// less than the renew deadline ago; the deadline is when that renewal turns
// renew-deadline old, before the end of the lease it bought (see leaseGuard).
func (g *leaseGuard) fence() (time.Time, error) {
	if g.lost.Load() {
		return time.Time{}, ErrLeaseLost
	}
	renewed := g.renewed.Load()
	if renewed == nil || !g.held.Load() {
		return time.Time{}, errLeaseNotHeld
	}
	if age := g.clock.Since(*renewed); age >= g.renewDeadline {
		return time.Time{}, fmt.Errorf("%w: last renewal sent %s ago, renew deadline %s",
			errLeaseExpiring, age.Round(time.Millisecond), g.renewDeadline)
	}
	return renewed.Add(g.renewDeadline), nil
}
