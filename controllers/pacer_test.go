package controllers

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

// A lone change syncs at once; changes inside the window that the first one
// opened merge into one sync at the window's end; Services are independent.
func TestPacer(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	p := newPacer(200*time.Millisecond, clk)
	web := types.NamespacedName{Namespace: "ns", Name: "web"}
	api := types.NamespacedName{Namespace: "ns", Name: "api"}
	steps := []struct {
		advance time.Duration
		key     types.NamespacedName
		want    time.Duration
	}{
		{0, web, 0}, // first change: at once
		{50 * time.Millisecond, web, 150 * time.Millisecond}, // merged into the window's end
		{0, api, 0}, // another Service: its own window
		{100 * time.Millisecond, web, 50 * time.Millisecond},
		{50 * time.Millisecond, web, 0}, // the window has passed: at once again
		{199 * time.Millisecond, web, time.Millisecond},
	}
	for i, s := range steps {
		clk.SetTime(clk.Now().Add(s.advance))
		if got := p.delay(s.key); got != s.want {
			t.Errorf("step %d (%s): delay %s, want %s", i, s.key.Name, got, s.want)
		}
	}
	var off *pacer
	if got := off.delay(web); got != 0 {
		t.Errorf("nil pacer: delay %s, want 0", got)
	}
	if got := newPacer(0, clk).delay(web); got != 0 {
		t.Errorf("window 0: delay %s, want 0", got)
	}
}

// The map of open windows is swept, so it does not grow with every Service
// that ever changed.
func TestPacerSweeps(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	p := newPacer(time.Second, clk)
	for i := range 1000 {
		clk.SetTime(clk.Now().Add(2 * time.Second))
		p.delay(types.NamespacedName{Namespace: "ns", Name: string(rune('a'+i%26)) + string(rune(i))})
	}
	if n := len(p.opened); n > 66 {
		t.Errorf("%d windows remembered after 1000 Services changed one at a time, want at most 66", n)
	}
}
