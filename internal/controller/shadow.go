package controller

import (
	"context"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kube-endpoints/endpoints-controller/internal/diff"
)

// DefaultShadowSettle is the default of EndpointsReconciler.ShadowSettle.
// Beside kube-controller-manager both controllers react to the same Pod
// event; its write usually lands within milliseconds, under a burst within
// seconds. A difference that lasts 10 s is no race.
const DefaultShadowSettle = 10 * time.Second

// Shadow mode (--dry-run): beside another endpoints controller, the
// reconciler reports how the Endpoints it would write differ from the live
// ones.
//
// A difference is reported once it has lasted the settle period, so that
// the other writer's normal lag is not reported: the Service is synced again
// then, and if its Endpoints still differ, each change is logged and counted
// once; not again while the difference stays the same. The gauge counts the
// Services with a reported difference (computed from their states when
// scraped) and goes down when a Service converges or goes away.

// shadowEntry is, in a Service's state, a difference of its Endpoints.
type shadowEntry struct {
	since    time.Time // when the difference was first seen
	reported string    // the changes last reported; "" while settling
	seen     bool      // seen differing by the sync in progress
}

// differs records that the write of desired over current (nil for a create;
// desired nil for a delete) would change the Endpoints of key. Once the
// difference has lasted the settle period, it logs one line per change with
// the summary of all, and counts each change by kind.
func (s *serviceStates) differs(ctx context.Context, key types.NamespacedName, current, desired *corev1.Endpoints) {
	changes := diff.Describe(current, desired)
	lines := make([]string, len(changes))
	for i, c := range changes {
		lines[i] = c.String()
	}
	text := strings.Join(lines, "\n")
	if text == "" {
		text = string(diff.KindOther)
	}
	logger := log.FromContext(ctx)
	ref := klog.KRef(key.Namespace, key.Name)

	s.mu.Lock()
	now := s.clock.Now()
	st := s.get(key)
	if st.shadow == nil {
		st.shadow = &shadowEntry{since: now}
	}
	e := st.shadow
	e.seen = true
	if e.reported == "" && now.Sub(e.since) < s.shadowSettle {
		s.mu.Unlock()
		logger.V(4).Info("Shadow: Endpoints differ, waiting for the other writer", "endpoints", ref, "since", e.since)
		return
	}
	if e.reported == text {
		s.mu.Unlock()
		logger.V(4).Info("Shadow: Endpoints still differ as reported", "endpoints", ref)
		return
	}
	e.reported = text
	s.mu.Unlock()

	summary := diff.Summary(changes)
	for _, c := range changes {
		shadowDifferencesTotal.WithLabelValues(string(c.Kind)).Inc()
		logger.Info("Shadow: Endpoints differ", "endpoints", ref, "kind", c.Kind, "port", c.Port, "detail", c.Detail, "summary", summary)
	}
}

// afterSync ends a sync of key that ended with err: a Service not seen
// differing by a successful sync has converged, or is not managed any more,
// and its difference is dropped. It returns when to sync key again: at the end of the
// settle period of a difference not reported yet, else 0.
func (s *serviceStates) afterSync(key types.NamespacedName, err error) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.services[key]
	if st == nil || st.shadow == nil {
		return 0
	}
	e := st.shadow
	seen := e.seen
	e.seen = false
	switch {
	case err != nil:
		return 0 // the error's retry syncs again
	case !seen:
		st.shadow = nil
		return 0
	case e.reported == "":
		// At least a millisecond: a zero RequeueAfter means no requeue.
		return max(e.since.Add(s.shadowSettle).Sub(s.clock.Now()), time.Millisecond)
	}
	return 0
}
