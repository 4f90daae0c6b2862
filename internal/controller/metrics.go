package controller

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/manager"
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
	// Computed when scraped, like the other gauges (stateCollector).
	servicesFailing = prometheus.NewDesc("endpoints_controller_services_failing",
		"Services whose last sync failed; they are retried until it succeeds.", nil, nil)

	// excludedTotal counts Pods and ports left out of Endpoints because the API
	// server would reject them, by reason (the endpoints.Reason values for
	// which Exclusion.Invalid is true).
	excludedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "endpoints_controller_invalid_pods_excluded_total",
		Help: "Pods or ports left out of Endpoints as invalid, counted when first reported for their Service, by reason.",
	}, []string{"reason"})

	// addressesPublished is the number of addresses in all managed Endpoints,
	// by state: ready or not_ready.
	addressesPublished = prometheus.NewDesc("endpoints_controller_addresses",
		"Addresses published in the managed Endpoints, by state (ready, not_ready).", []string{"state"}, nil)

	// servicesTruncated is the number of Services whose Endpoints are truncated.
	servicesTruncated = prometheus.NewDesc("endpoints_controller_services_over_capacity",
		"Services whose Endpoints hold more than 1000 addresses and are truncated.", nil, nil)

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
	shadowServicesDiffering = prometheus.NewDesc("endpoints_controller_shadow_services_differing",
		"With --dry-run: Services whose live Endpoints differ from what this controller would write.", nil, nil)

	// gauges computes the four gauges above when scraped.
	gauges = &stateCollector{states: make(map[*serviceStates]struct{})}

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
	ctrlmetrics.Registry.MustRegister(syncsTotal, syncDuration, writesTotal, conflictsTotal, excludedTotal,
		shadowDifferencesTotal, changeToWrite, gauges)
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

// stateCollector computes the gauges from the per-Service states of the
// running reconcilers when they are scraped, so that they always match that
// state: a Service forgotten is a Service no longer counted. A process runs
// one reconciler; tests and embedding suites may run several, and each
// counts while its manager runs (stateGauges).
type stateCollector struct {
	mu     sync.Mutex
	states map[*serviceStates]struct{}
}

var _ prometheus.Collector = &stateCollector{}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{servicesFailing, addressesPublished, servicesTruncated, shadowServicesDiffering} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	var sum gaugeValues
	c.mu.Lock()
	for s := range c.states {
		g := s.gauges()
		sum.ready += g.ready
		sum.notReady += g.notReady
		sum.overCapacity += g.overCapacity
		sum.failing += g.failing
		sum.shadowDiffering += g.shadowDiffering
	}
	c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	gauge(servicesFailing, sum.failing)
	gauge(addressesPublished, sum.ready, "ready")
	gauge(addressesPublished, sum.notReady, "not_ready")
	gauge(servicesTruncated, sum.overCapacity)
	gauge(shadowServicesDiffering, sum.shadowDiffering)
}

// add makes s count in the gauges, until remove.
func (c *stateCollector) add(s *serviceStates) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.states[s] = struct{}{}
}

func (c *stateCollector) remove(s *serviceStates) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.states, s)
}

// stateGauges makes a reconciler's states count in the gauges while its
// manager runs, on every replica (a standby counts nothing).
type stateGauges struct{ states *serviceStates }

var _ manager.LeaderElectionRunnable = stateGauges{}

// Start counts the states until ctx ends.
func (g stateGauges) Start(ctx context.Context) error {
	gauges.add(g.states)
	<-ctx.Done()
	gauges.remove(g.states)
	return nil
}

// NeedLeaderElection lets a standby report its gauges (zero) too.
func (stateGauges) NeedLeaderElection() bool { return false }

// publishedOf is what the Endpoints computed as res publish.
func publishedOf(res endpoints.Result) published {
	return published{ready: res.Ready, notReady: res.NotReady, truncated: res.Truncated}
}
