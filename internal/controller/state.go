package controller

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// serviceState is everything the reconciler remembers of one Service, and of
// its Endpoints (same namespace and name), from one sync to the next. It
// lives in serviceStates, under its lock, and goes with forget.
type serviceState struct {
	// orphan: the start-up sweep found the Endpoints without a Service; they
	// are deleted even without the managed-by label (spec 8.6).
	orphan bool
	// verified: this process has read the live Endpoints from the API
	// server, so a write may be decided from the cache (see converge).
	verified bool
	// failures counts the syncs that failed in a row (spec 8.4); a Service
	// with failures counts in the services_failing gauge.
	failures int
	// upToDate holds the inputs of the last sync that found the Endpoints up
	// to date, when upToDateKnown (fingerprint.go).
	upToDate      inputs
	upToDateKnown bool
	// reported is the text of the invalid exclusions last reported in an
	// event, so that an event is raised when they change, not on every sync
	// (events.go).
	reported string
	// published is what the Endpoints publish, for the gauges (metrics.go).
	published published
	// stale is what the stale-cache guard knows of the Endpoints (stale.go).
	stale staleEntry
	// ownWrite is the resourceVersion of this controller's last write, whose
	// watch event is skipped once; "" when none is expected (stale.go).
	ownWrite string
	// shadow is, in shadow mode, a difference from the live Endpoints;
	// nil when there is none (shadow.go).
	shadow *shadowEntry
}

// published is what a Service's Endpoints publish.
type published struct {
	ready, notReady int
	truncated       bool
}

// serviceStates holds the serviceState of every Service that has one, behind
// one lock. The locked sections are short map and field updates; nothing
// under the lock calls out (no client, no logger, no event).
type serviceStates struct {
	// shadowSettle and clock time the differences of shadow mode.
	shadowSettle time.Duration
	clock        clock.PassiveClock

	mu       sync.Mutex
	services map[types.NamespacedName]*serviceState
}

func newServiceStates(shadowSettle time.Duration, clk clock.PassiveClock) *serviceStates {
	return &serviceStates{shadowSettle: shadowSettle, clock: clk, services: make(map[types.NamespacedName]*serviceState)}
}

// get returns key's state, created when missing; s.mu must be held.
func (s *serviceStates) get(key types.NamespacedName) *serviceState {
	st := s.services[key]
	if st == nil {
		st = &serviceState{}
		s.services[key] = st
	}
	return st
}

// update runs f on key's state, created when missing, under the lock.
func (s *serviceStates) update(key types.NamespacedName, f func(*serviceState)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.get(key))
}

// forget drops everything remembered of key. Every way out of management
// ends here once its outcome is final: the Service deleted (and its
// Endpoints with it), turned ExternalName, its selector removed, or no longer
// selected by --service-label-selector. A Service that comes back starts
// afresh: its invalid Pods are reported again, its first write is decided
// from the live Endpoints, and it publishes nothing until synced.
func (s *serviceStates) forget(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.services, key)
}

// markOrphan records that the start-up sweep found key's Endpoints without a
// Service.
func (s *serviceStates) markOrphan(key types.NamespacedName) {
	s.update(key, func(st *serviceState) { st.orphan = true })
}

// managed records that key has a Service that is synced: its Endpoints are
// no orphan, whatever the sweep found before the Service appeared.
func (s *serviceStates) managed(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.services[key]; st != nil {
		st.orphan = false
	}
}

// isOrphan reports whether the sweep found key's Endpoints without a Service.
func (s *serviceStates) isOrphan(key types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.services[key]
	return st != nil && st.orphan
}

// isVerified reports whether this process has read key's live Endpoints.
func (s *serviceStates) isVerified(key types.NamespacedName) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.services[key]
	return st != nil && st.verified
}

// setVerified records that this process has read key's live Endpoints, or
// written them without a conflict.
func (s *serviceStates) setVerified(key types.NamespacedName) {
	s.update(key, func(st *serviceState) { st.verified = true })
}

// failed counts a failed sync of key and returns how many in a row failed.
func (s *serviceStates) failed(key types.NamespacedName) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.get(key)
	st.failures++
	return st.failures
}

// succeeded records that key's last sync succeeded.
func (s *serviceStates) succeeded(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.services[key]; st != nil {
		st.failures = 0
	}
}

// setPublished records what key's Endpoints publish after a sync.
func (s *serviceStates) setPublished(key types.NamespacedName, p published) {
	s.update(key, func(st *serviceState) { st.published = p })
}

// report records text as the invalid exclusions of key and reports whether
// they differ from those last recorded: only then is an event raised.
func (s *serviceStates) report(key types.NamespacedName, text string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.services[key]
	if st == nil {
		if text == "" {
			return false // nothing to report, nothing to remember
		}
		st = s.get(key)
	}
	if st.reported == text {
		return false
	}
	st.reported = text
	return true
}

// gaugeValues are the totals over all Services that the gauges show.
type gaugeValues struct {
	ready, notReady, overCapacity, failing, shadowDiffering int
}

// gauges sums the gauges over every Service's state, when they are scraped.
func (s *serviceStates) gauges() gaugeValues {
	s.mu.Lock()
	defer s.mu.Unlock()
	var g gaugeValues
	for _, st := range s.services {
		g.ready += st.published.ready
		g.notReady += st.published.notReady
		if st.published.truncated {
			g.overCapacity++
		}
		if st.failures > 0 {
			g.failing++
		}
		if st.shadow != nil && st.shadow.reported != "" {
			g.shadowDiffering++
		}
	}
	return g
}
