package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// pacer merges bursts of Pod changes per Service without delaying a lone
// change. The first Pod change of a Service syncs at once and opens a window
// of length window; further changes inside the window are merged into one sync
// at its end (the workqueue keeps one delayed entry per Service). So a Service
// is written at most twice per window however many of its Pods change, and a
// change that comes alone is never delayed. A rolling update or a readiness
// storm then costs a few writes per Service instead of one per Pod.
type pacer struct {
	window time.Duration
	clock  clock.PassiveClock

	mu sync.Mutex
	// opened holds when each Service's current window opened. Entries older
	// than the window are swept once the map has doubled since the last
	// sweep, so it stays proportional to the Services that are changing.
	opened    map[types.NamespacedName]time.Time
	sweptSize int
}

func newPacer(window time.Duration, clk clock.PassiveClock) *pacer {
	return &pacer{window: window, clock: clk, opened: make(map[types.NamespacedName]time.Time)}
}

// delay returns how long to wait before syncing key after a Pod change: zero
// when no window of key is open (and opens one), else the rest of the window.
func (p *pacer) delay(key types.NamespacedName) time.Duration {
	if p == nil || p.window <= 0 {
		return 0
	}
	now := p.clock.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if at, ok := p.opened[key]; ok {
		if elapsed := now.Sub(at); elapsed < p.window {
			return p.window - elapsed
		}
	}
	p.opened[key] = now
	if len(p.opened) > 2*p.sweptSize+64 {
		for k, at := range p.opened {
			if now.Sub(at) >= p.window {
				delete(p.opened, k)
			}
		}
		p.sweptSize = len(p.opened)
	}
	return 0
}
