package app

import (
	"context"
	"errors"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// memoryLock is a resource lock held in memory; err, when set, is what Get
// returns.
type memoryLock struct {
	rec *resourcelock.LeaderElectionRecord
	err error
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
			g := &leaseGuard{Interface: lock, onLost: func() { losses++ }}

			// A standby that sees another holder has lost nothing.
			lock.rec = &resourcelock.LeaderElectionRecord{HolderIdentity: "other"}
			if _, _, err := g.Get(ctx); err != nil || losses != 0 {
				t.Fatalf("standby Get: error %v, losses %d", err, losses)
			}
			lock.rec = nil
			if err := g.Create(ctx, resourcelock.LeaderElectionRecord{HolderIdentity: "me"}); err != nil {
				t.Fatal(err)
			}
			if err := g.fence(); err != nil {
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
			err := g.fence()
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
