package controllers

import (
	"context"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kube-endpoints/endpoints-controller/internal/diff"
)

// shadowState is shadow mode (--dry-run): beside another endpoints
// controller, it reports how the Endpoints this controller would write
// differ from the live ones. Per Service it keeps the differences last
// reported, so that each difference is logged and counted once when it
// appears, not again on every sync while it lasts, and the gauge of
// differing Services goes down when a Service converges or goes away.
type shadowState struct {
	mu       sync.Mutex
	services map[types.NamespacedName]string // key -> the changes last reported
}

// newShadowState returns an empty state and sets the gauge to match: a new
// controller has found no difference yet.
func newShadowState() *shadowState {
	shadowServicesDiffering.Set(0)
	return &shadowState{services: make(map[types.NamespacedName]string)}
}

// differs reports that the write of desired over current (nil for a create;
// desired nil for a delete) would change the Endpoints of key: one log line
// per change with the summary of all, each change counted by kind.
func (s *shadowState) differs(ctx context.Context, key types.NamespacedName, current, desired *corev1.Endpoints) {
	changes := diff.Describe(current, desired)
	lines := make([]string, len(changes))
	for i, c := range changes {
		lines[i] = c.String()
	}
	text := strings.Join(lines, "\n")

	s.mu.Lock()
	last, found := s.services[key]
	s.services[key] = text
	shadowServicesDiffering.Set(float64(len(s.services)))
	s.mu.Unlock()

	logger := log.FromContext(ctx)
	if found && last == text {
		logger.V(4).Info("Shadow: Endpoints still differ as reported", "endpoints", klog.KRef(key.Namespace, key.Name))
		return
	}
	summary := diff.Summary(changes)
	for _, c := range changes {
		shadowDifferencesTotal.WithLabelValues(string(c.Kind)).Inc()
		logger.Info("Shadow: Endpoints differ", "endpoints", klog.KRef(key.Namespace, key.Name),
			"kind", c.Kind, "port", c.Port, "detail", c.Detail, "summary", summary)
	}
}

// forget records that key's Endpoints need no write, or that the Service is
// not managed (any more).
func (s *shadowState) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.services[key]; !found {
		return
	}
	delete(s.services, key)
	shadowServicesDiffering.Set(float64(len(s.services)))
}
