package controller

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Sync results, the values of the "result" label of syncsTotal and syncDuration.
const (
	resultUnchanged = "unchanged" // the Endpoints were already right: no write
	resultCreated   = "created"
	resultUpdated   = "updated"
	resultDeleted   = "deleted"
	resultSkipped   = "skipped" // not managed: selectorless, ExternalName, filtered out, or nothing to delete
	resultDropped   = "dropped" // a create refused because the namespace is terminating
	resultError     = "error"
	resultStale     = "stale_cache" // the cache did not show the last write yet; retried shortly
)

var (
	// syncsTotal counts finished syncs by result (see the result* constants).
	syncsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "endpoints_controller_syncs_total",
		Help: "Syncs of a Service's Endpoints, by result: unchanged, created, updated, deleted, skipped, dropped, stale_cache, error.",
	}, []string{"result"})

	// syncDuration observes how long a sync took, by result.
	syncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "endpoints_controller_sync_duration_seconds",
		Help:    "Duration of a sync of one Service's Endpoints, by result.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"result"})

	// writesTotal counts API writes of Endpoints; method is create, update,
	// patch, apply or delete, dry_run is "true" or "false".
	writesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "endpoints_controller_writes_total",
		Help: "Endpoints writes sent to the API server, by method (create, update, patch, apply, delete) and dry_run (true, false).",
	}, []string{"method", "dry_run"})

	// conflictsTotal counts writes refused with a conflict (HTTP 409), by
	// method: create, update, patch (see writesTotal).
	conflictsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "endpoints_controller_write_conflicts_total",
		Help: "Endpoints writes refused with a conflict (409), by method (create, update, patch); each costs one read of the live Endpoints.",
	}, []string{"method"})

	// servicesFailing is the number of Services whose last sync failed; they
	// are retried, fast then every few minutes, until a sync succeeds.
	servicesFailing = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "endpoints_controller_services_failing",
		Help: "Services whose last sync failed; they are retried until it succeeds.",
	})

	// excludedTotal counts Pods and ports left out of Endpoints because the API
	// server would reject them, by reason (the endpoints.Reason values for
	// which Exclusion.Invalid is true).
	excludedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "endpoints_controller_invalid_pods_excluded_total",
		Help: "Pods or ports left out of Endpoints as invalid, counted when first reported for their Service, by reason.",
	}, []string{"reason"})

	// addressesPublished is the number of addresses in all managed Endpoints,
	// by state: ready or not_ready.
	addressesPublished = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "endpoints_controller_addresses",
		Help: "Addresses published in the managed Endpoints, by state (ready, not_ready).",
	}, []string{"state"})

	// servicesTruncated is the number of Services whose Endpoints are truncated.
	servicesTruncated = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "endpoints_controller_services_over_capacity",
		Help: "Services whose Endpoints hold more than 1000 addresses and are truncated.",
	})

	// changeToWrite observes, for each write that publishes a change, the
	// time from the change (the trigger time the write records in the
	// endpoints.kubernetes.io/last-change-trigger-time annotation, spec 7.3)
	// to the API server's answer: how late users see a Pod's readiness, as
	// kube-proxy's network programming latency counts it from the same
	// annotation. The trigger times of Pods have whole seconds (their
	// conditions' lastTransitionTime), so a figure is up to 1 s high.
	changeToWrite = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "endpoints_controller_change_to_write_seconds",
		Help:    "Time from the change a write publishes (its last-change-trigger-time) to the API server accepting the write.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60, 300},
	})

	// shadowServicesDiffering is, in shadow mode (--dry-run), the number of
	// Services whose live Endpoints differ from what this controller would
	// write; always 0 otherwise.
	shadowServicesDiffering = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "endpoints_controller_shadow_services_differing",
		Help: "With --dry-run: Services whose live Endpoints differ from what this controller would write.",
	})

	// shadowDifferencesTotal counts, in shadow mode, the differences found
	// between live and desired Endpoints, once each when it appears, by kind
	// (the diff.Kind values: create, delete, address_added, address_removed,
	// address_ready, address_not_ready, address_changed, port_added,
	// port_removed, label, annotation, other).
	shadowDifferencesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "endpoints_controller_shadow_differences_total",
		Help: "With --dry-run: differences found between live Endpoints and what this controller would write, by kind.",
	}, []string{"kind"})
)

func init() {
	ctrlmetrics.Registry.MustRegister(syncsTotal, syncDuration, writesTotal, conflictsTotal, servicesFailing, excludedTotal,
		addressesPublished, servicesTruncated, shadowServicesDiffering, shadowDifferencesTotal, changeToWrite)
}

// observeChangeToWrite records the change-to-write latency of a write of
// desired that the API server accepted at now; a write that publishes no
// Pod or Service change (a repair, a label) carries no trigger time.
func observeChangeToWrite(desired *corev1.Endpoints, now time.Time) {
	v, ok := desired.Annotations[endpoints.TriggerTimeAnnotation]
	if !ok {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return
	}
	changeToWrite.Observe(max(now.Sub(at), 0).Seconds())
}

// publishedState keeps, per Service, what its Endpoints publish, so that the
// gauges are totals that go down when a Service goes away.
type publishedState struct {
	mu       sync.Mutex
	services map[types.NamespacedName]published
}

type published struct {
	ready, notReady int
	truncated       bool
}

func newPublishedState() *publishedState {
	return &publishedState{services: make(map[types.NamespacedName]published)}
}

// set records what key's Endpoints publish after a sync.
func (s *publishedState) set(key types.NamespacedName, res endpoints.Result) {
	s.update(key, published{ready: res.Ready, notReady: res.NotReady, truncated: res.Truncated}, true)
}

// forget records that key publishes nothing any more.
func (s *publishedState) forget(key types.NamespacedName) {
	s.update(key, published{}, false)
}

func (s *publishedState) update(key types.NamespacedName, p published, present bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.services[key]
	if present {
		s.services[key] = p
	} else {
		delete(s.services, key)
	}
	addressesPublished.WithLabelValues("ready").Add(float64(p.ready - old.ready))
	addressesPublished.WithLabelValues("not_ready").Add(float64(p.notReady - old.notReady))
	switch {
	case p.truncated && !old.truncated:
		servicesTruncated.Inc()
	case !p.truncated && old.truncated:
		servicesTruncated.Dec()
	}
}
