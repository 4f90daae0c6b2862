package e2e

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// minMonitorRounds is the fewest scrape rounds that show the monitor watched
// the run: the SIGKILL take-over alone lasts about 20 rounds.
const minMonitorRounds = 10

// monitorInterval is how often the write monitor scrapes every replica.
const monitorInterval = 200 * time.Millisecond

// writeMonitor scrapes every replica each monitorInterval for the whole test
// and records a violation when, between two rounds, more than one replica's
// writes_total went up, or a replica's went up while it did not report
// itself leader. Both are sound whatever the timing: a replica counts a write
// only after its elector set leader_election_master_status to 1, it keeps
// that value until it exits or loses the Lease (and then it exits too), and a
// replica stopping with SIGTERM stops serving metrics before it releases the
// Lease. A replica that cannot be scraped (not up yet, or gone) is skipped.
type writeMonitor struct {
	// minRounds is the fewest scrape rounds that show the monitor watched
	// the run; minMonitorRounds unless the test sets it before report.
	minRounds int
	stop      chan struct{}
	done      chan struct{}
	reported  sync.Once

	mu         sync.Mutex
	replicas   []*replica
	rounds     int
	violations []string
	claims     []string // rounds in which two replicas reported themselves leader
}

// startWriteMonitor scrapes the replicas once for a baseline and goes on
// scraping them in the background.
func startWriteMonitor(replicas []*replica) *writeMonitor {
	m := &writeMonitor{replicas: replicas, minRounds: minMonitorRounds, stop: make(chan struct{}), done: make(chan struct{})}
	prev := make(map[*replica]float64)
	m.round(prev)
	go m.run(prev)
	return m
}

func (m *writeMonitor) run(prev map[*replica]float64) {
	defer close(m.done)
	tick := time.NewTicker(monitorInterval)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		m.round(prev)
	}
}

// round scrapes every replica once and compares with prev, the writes seen
// in the previous round, which it updates.
func (m *writeMonitor) round(prev map[*replica]float64) {
	var wrote, leaders []string
	m.mu.Lock()
	replicas := slices.Clone(m.replicas)
	m.mu.Unlock()
	for _, r := range replicas {
		s, err := r.scrape()
		if err != nil {
			continue
		}
		if s.leader {
			leaders = append(leaders, r.name)
		}
		if p, seen := prev[r]; seen && s.writes != p {
			wrote = append(wrote, fmt.Sprintf("%s %g->%g", r.name, p, s.writes))
			if !s.leader {
				m.record(&m.violations, "%s wrote (%g->%g) without reporting itself leader", r.name, p, s.writes)
			}
		}
		prev[r] = s.writes
	}
	if len(wrote) > 1 {
		m.record(&m.violations, "several replicas wrote between two scrape rounds: %s", strings.Join(wrote, ", "))
	}
	if len(leaders) > 1 {
		m.record(&m.claims, "several replicas reported themselves leader: %s", strings.Join(leaders, ", "))
	}
	m.mu.Lock()
	m.rounds++
	m.mu.Unlock()
}

// add watches r too, from the next round on: a replica started during the
// run (one restarted after it was killed).
func (m *writeMonitor) add(r *replica) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replicas = append(m.replicas, r)
}

// sync waits until a whole scrape round has run after the call, so that the
// writes made so far have been checked before the test moves on to the next
// phase.
func (m *writeMonitor) sync(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	target := m.rounds + 2
	m.mu.Unlock()
	eventually(t, 10*time.Second, "the write monitor to complete a scrape round", func() (bool, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.rounds >= target, nil
	})
}

func (m *writeMonitor) record(to *[]string, format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	*to = append(*to, fmt.Sprintf(format, args...))
}

// report stops the monitor, once, and fails t with the violations it saw.
// The test calls it at the end and from t.Cleanup, so that violations show
// also when the test stopped early.
func (m *writeMonitor) report(t *testing.T) {
	t.Helper()
	m.reported.Do(func() {
		close(m.stop)
		<-m.done
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, v := range m.violations {
			t.Error(v)
		}
		for _, c := range m.claims {
			t.Logf("Note: %s", c)
		}
		if m.rounds < m.minRounds && !t.Failed() {
			t.Errorf("The write monitor completed %d scrape rounds, want at least %d", m.rounds, m.minRounds)
		}
		t.Logf("Write monitor: %d scrape rounds, %d violations", m.rounds, len(m.violations))
	})
}
