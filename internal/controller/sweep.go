package controller

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// orphanSweep visits every Endpoints once after the caches have synced and
// queues those without a Service for deletion (spec 8.6), sparing
// leader-election locks. It runs on the leader only.
type orphanSweep struct {
	reconciler *EndpointsReconciler
	cache      interface {
		client.Reader
		WaitForCacheSync(ctx context.Context) bool
	}
	events chan<- event.GenericEvent
}

var _ manager.LeaderElectionRunnable = &orphanSweep{}

// NeedLeaderElection makes the sweep run on the leader only.
func (s *orphanSweep) NeedLeaderElection() bool { return true }

// Start runs the sweep once.
func (s *orphanSweep) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("orphan-sweep")
	if !s.cache.WaitForCacheSync(ctx) {
		return nil // shutting down
	}
	list := &corev1.EndpointsList{}
	if err := s.cache.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("listing Endpoints for the start-up sweep: %w", err)
	}
	var orphans []*corev1.Endpoints
	for i := range list.Items {
		ep := &list.Items[i]
		// Managing a chosen set of Services only, or told to spare foreign
		// Endpoints: other Endpoints may belong to another writer.
		if !endpoints.SweepCandidate(ep, s.reconciler.ServiceSelector != nil || s.reconciler.SweepManagedOnly) {
			continue
		}
		err := s.cache.Get(ctx, client.ObjectKeyFromObject(ep), &corev1.Service{})
		if err == nil || client.IgnoreNotFound(err) != nil {
			continue
		}
		orphans = append(orphans, ep)
	}
	logger.Info("Start-up sweep", "endpoints", len(list.Items), "orphaned", len(orphans))
	for _, ep := range orphans {
		s.reconciler.states.markOrphan(client.ObjectKeyFromObject(ep))
		select {
		case s.events <- event.GenericEvent{Object: ep}:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}
