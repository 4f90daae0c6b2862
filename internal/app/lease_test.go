package app

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

// memoryLock is a resource lock held in memory; err, when set, is what Get
// returns.
type memoryLock struct {
	rec *resourcelock.LeaderElectionRecord
	err error
	// updateErr, when set, is what Update returns; during, when set, runs
	// while Update is in flight.
	updateErr error
	during    func()
}

func (l *memoryLock) Get(context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	if l.err != nil {
		return nil, nil, l.err
	}
	if l.rec == nil {
		return nil, nil, apierrors.NewNotFound(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, LeaderElectionID)
	}
	r := *l.rec
	return &r, nil, nil
}

func (l *memoryLock) Create(_ context.Context, r resourcelock.LeaderElectionRecord) error {
	l.rec = &r
	return nil
}

func (l *memoryLock) Update(_ context.Context, r resourcelock.LeaderElectionRecord) error {
	if l.during != nil {
		l.during()
	}
	if l.updateErr != nil {
		return l.updateErr
	}
	l.rec = &r
	return nil
}
func (l *memoryLock) RecordEvent(string) {}
func (l *memoryLock) Identity() string   { return "me" }
func (l *memoryLock) Describe() string   { return "memory" }

// The guard reports the loss of the Lease at the first read that shows it
// deleted or held by another identity, once, and only when this replica held
// it; after that the Lease is never taken again and every write is refused.
func TestLeaseGuard(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steal func(*memoryLock)
		lost  bool
	}{
		{"stolen", func(l *memoryLock) { l.rec = &resourcelock.LeaderElectionRecord{HolderIdentity: "thief"} }, true},
		{"deleted", func(l *memoryLock) { l.rec = nil }, true},
		{"API server unreachable", func(l *memoryLock) { l.err = errors.New("connection refused") }, false},
		{"still ours", func(*memoryLock) {}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			lock := &memoryLock{}
			losses := 0
			g := &leaseGuard{Interface: lock, onLost: func() { losses++ }, clock: clock.RealClock{},
				renewDeadline: time.Hour}

			// A standby that sees another holder has lost nothing.
			lock.rec = &resourcelock.LeaderElectionRecord{HolderIdentity: "other"}
			if _, _, err := g.Get(ctx); err != nil || losses != 0 {
				t.Fatalf("standby Get: error %v, losses %d", err, losses)
			}
			lock.rec = nil
			if err := g.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
				t.Fatal(err)
			}
			if _, err := g.fence(); err != nil {
				t.Fatalf("write while leading: %v", err)
			}

			tc.steal(lock)
			_, _, _ = g.Get(ctx)
			_, _, _ = g.Get(ctx)
			want := 0
			if tc.lost {
				want = 1
			}
			if losses != want {
				t.Fatalf("losses reported: %d, want %d", losses, want)
			}
			_, err := g.fence()
			if tc.lost != errors.Is(err, ErrLeaseLost) {
				t.Errorf("write after the change: %v, want ErrLeaseLost: %t", err, tc.lost)
			}
			err = g.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"})
			if tc.lost != errors.Is(err, ErrLeaseLost) {
				t.Errorf("taking the Lease again: %v, want ErrLeaseLost: %t", err, tc.lost)
			}
		})
	}
}

// The fence lets a write through only while the last renewal of the Lease,
// timed from when it was sent, is younger than the renew deadline, and gives
// it that moment as deadline (before the end of the lease); failed renewals do not count, and a
// replica that does not hold the Lease writes nothing.
func TestLeaseFenceFollowsRenewals(t *testing.T) {
	const renewDeadline = 3 * time.Second
	ctx := context.Background()
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	lock := &memoryLock{}
	g := &leaseGuard{Interface: lock, clock: clk, renewDeadline: renewDeadline}
	step := func(d time.Duration) { clk.SetTime(clk.Now().Add(d)) }
	allowed := func(what string, wantDeadline time.Time) {
		t.Helper()
		deadline, err := g.fence()
		if err != nil {
			t.Fatalf("%s: write refused: %v", what, err)
		}
		if !deadline.Equal(wantDeadline) {
			t.Fatalf("%s: deadline %s, want %s", what, deadline, wantDeadline)
		}
	}
	refused := func(what string, want error) {
		t.Helper()
		if _, err := g.fence(); !errors.Is(err, want) {
			t.Fatalf("%s: fence %v, want %v", what, err, want)
		}
	}

	refused("before the Lease is taken", errLeaseNotHeld)
	created := clk.Now()
	if err := g.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	allowed("just taken", created.Add(renewDeadline))
	step(renewDeadline - time.Millisecond)
	allowed("just before the renew deadline", created.Add(renewDeadline))

	// A renewal that takes long counts from when it was sent: the standby
	// measures the lease from when it saw the renewal, which is later.
	sent := clk.Now()
	lock.during = func() { step(time.Second) }
	if err := g.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	lock.during = nil
	allowed("renewed", sent.Add(renewDeadline))

	// Renewals fail (the API server is slow or unreachable, or the process
	// was paused): the fence closes at the renew deadline, without any read
	// of the Lease.
	lock.updateErr = errors.New("connection refused")
	for range 5 {
		step(500 * time.Millisecond)
		_ = g.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"})
	}
	refused("renewals failing for the renew deadline", errLeaseExpiring)
	step(time.Hour) // paused far past the lease
	refused("resumed after a pause", errLeaseExpiring)

	lock.updateErr = nil
	renewed := clk.Now()
	if err := g.Update(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
		t.Fatal(err)
	}
	allowed("renewed again", renewed.Add(renewDeadline))
	if err := g.Update(ctx, resourcelock.LeaderElectionRecord{}); err != nil {
		t.Fatal(err)
	}
	refused("released", errLeaseNotHeld)
}
