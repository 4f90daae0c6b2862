package rollout

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// state is what a Pod's address should be in its Service's Endpoints.
type state int8

const (
	absent   state = iota // no IP yet, terminating or deleted
	notReady              // an IP, running, not ready
	ready                 // an IP, ready, not terminating
)

func (s state) String() string { return [...]string{"absent", "not ready", "ready"}[s] }

// podState is the state of pod's address, as Endpoints and EndpointSlices
// both derive it for a Service without publishNotReadyAddresses.
func podState(pod *corev1.Pod) state {
	if pod.DeletionTimestamp != nil || pod.Status.PodIP == "" {
		return absent
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		return absent
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return ready
		}
	}
	return notReady
}

// view is one publisher's (Endpoints or EndpointSlices) addresses of a
// Service: IP to state.
type view map[string]state

// change is a Pod readiness change not yet shown by a publisher.
type change struct {
	want state
	at   time.Time
}

// publisher follows one way of publishing (the Endpoints, or the
// EndpointSlices): its current view of each Service, the changes it has not
// shown yet, and what it costs the users.
type publisher struct {
	name      string
	views     map[string]view              // Service -> addresses
	pending   map[string]map[string]change // Service -> IP -> change not shown
	latencies []time.Duration
	replaced  int
	// staleSeconds integrates, over time, the addresses listed as ready
	// whose Pod is not ready or gone; stale is their count now.
	staleSeconds float64
	stale        int
	// staleBy is stale per Service, so that an event recounts only its own.
	staleBy map[string]int
}

// observer watches Pods, Endpoints and EndpointSlices of one namespace and
// measures, for each Pod readiness change, when each publisher showed it.
// Its methods are called from informer handlers with the time they ran.
type observer struct {
	mu sync.Mutex
	// pods: Service -> Pod key -> (IP, state).
	pods map[string]map[string]podAddr
	// want: Service -> IP -> the state the Pods say.
	want map[string]map[string]state
	eps  *publisher
	eps2 *publisher // the EndpointSlices
	// slices: Service -> slice name -> its view.
	slices  map[string]map[string]view
	last    time.Time
	measure bool
}

type podAddr struct {
	ip string
	st state
}

func newObserver() *observer {
	newPub := func(name string) *publisher {
		return &publisher{name: name, views: map[string]view{}, pending: map[string]map[string]change{}, staleBy: map[string]int{}}
	}
	return &observer{
		pods:   map[string]map[string]podAddr{},
		want:   map[string]map[string]state{},
		eps:    newPub("Endpoints"),
		eps2:   newPub("EndpointSlices"),
		slices: map[string]map[string]view{},
	}
}

// start begins measuring: changes before it (the cluster's creation) are
// not counted.
func (o *observer) start(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.advance(now)
	o.measure = true
}

// advance adds the stale address-seconds since the last event.
func (o *observer) advance(now time.Time) {
	if o.measure && !o.last.IsZero() {
		dt := now.Sub(o.last).Seconds()
		o.eps.staleSeconds += dt * float64(o.eps.stale)
		o.eps2.staleSeconds += dt * float64(o.eps2.stale)
	}
	if now.After(o.last) {
		o.last = now
	}
}

// pod records a Pod as the informer saw it at now; deleted Pods come with
// gone set. svc is the Service selecting it ("" for none).
func (o *observer) pod(now time.Time, svc, key string, pod *corev1.Pod, gone bool) {
	if svc == "" {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.advance(now)
	byKey := o.pods[svc]
	if byKey == nil {
		byKey = map[string]podAddr{}
		o.pods[svc] = byKey
	}
	old := byKey[key]
	next := podAddr{}
	if !gone {
		next = podAddr{ip: pod.Status.PodIP, st: podState(pod)}
	}
	if next == old {
		return
	}
	if next.ip == "" && next.st == absent {
		delete(byKey, key)
	} else {
		byKey[key] = next
	}
	for _, ip := range []string{old.ip, next.ip} {
		if ip != "" {
			o.recompute(now, svc, ip)
		}
	}
}

// recompute sets the wanted state of ip in svc from the Pods that have it
// (the most available wins while an IP moves between Pods) and opens a
// change for each publisher when it differs from before.
func (o *observer) recompute(now time.Time, svc, ip string) {
	st := absent
	for _, pa := range o.pods[svc] {
		if pa.ip == ip && pa.st > st {
			st = pa.st
		}
	}
	want := o.want[svc]
	if want == nil {
		want = map[string]state{}
		o.want[svc] = want
	}
	if want[ip] == st {
		return
	}
	if st == absent {
		delete(want, ip)
	} else {
		want[ip] = st
	}
	for _, p := range []*publisher{o.eps, o.eps2} {
		o.open(p, now, svc, ip, st)
		o.recountStale(p, svc)
	}
}

// open records that ip of svc should now be st in p, unless p shows it.
func (o *observer) open(p *publisher, now time.Time, svc, ip string, st state) {
	pend := p.pending[svc]
	if pend == nil {
		pend = map[string]change{}
		p.pending[svc] = pend
	}
	if _, ok := pend[ip]; ok && o.measure {
		p.replaced++
	}
	if p.views[svc][ip] == st {
		delete(pend, ip)
		return
	}
	pend[ip] = change{want: st, at: now}
}

// publish replaces p's view of svc and closes the changes it shows.
func (o *observer) publish(p *publisher, now time.Time, svc string, v view) {
	p.views[svc] = v
	for ip, ch := range p.pending[svc] {
		if v[ip] == ch.want {
			if o.measure {
				p.latencies = append(p.latencies, now.Sub(ch.at))
			}
			delete(p.pending[svc], ip)
		}
	}
	o.recountStale(p, svc)
}

// recountStale recounts the addresses of svc that p lists as ready while
// the Pods say they are not ready or gone: the cost of an event is its
// Service's addresses, not the namespace's.
func (o *observer) recountStale(p *publisher, svc string) {
	n := 0
	want := o.want[svc]
	for ip, st := range p.views[svc] {
		if st == ready && want[ip] != ready {
			n++
		}
	}
	p.stale += n - p.staleBy[svc]
	if n == 0 {
		delete(p.staleBy, svc)
	} else {
		p.staleBy[svc] = n
	}
}

// endpoints records the Endpoints of svc (nil when deleted).
func (o *observer) endpoints(now time.Time, svc string, ep *corev1.Endpoints) {
	v := view{}
	if ep != nil {
		for _, s := range ep.Subsets {
			for _, a := range s.Addresses {
				v[a.IP] = ready
			}
			for _, a := range s.NotReadyAddresses {
				if v[a.IP] != ready {
					v[a.IP] = notReady
				}
			}
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.advance(now)
	o.publish(o.eps, now, svc, v)
}

// slice records an EndpointSlice of svc (nil when deleted).
func (o *observer) slice(now time.Time, svc, name string, es *discoveryv1.EndpointSlice) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.advance(now)
	byName := o.slices[svc]
	if byName == nil {
		byName = map[string]view{}
		o.slices[svc] = byName
	}
	if es == nil {
		delete(byName, name)
	} else {
		byName[name] = sliceView(es)
	}
	v := view{}
	for _, sv := range byName {
		for ip, st := range sv {
			if st > v[ip] {
				v[ip] = st
			}
		}
	}
	o.publish(o.eps2, now, svc, v)
}

// sliceView maps a slice's endpoints to states: ready as such, not ready
// unless terminating (Endpoints leave terminating Pods out).
func sliceView(es *discoveryv1.EndpointSlice) view {
	v := view{}
	for _, e := range es.Endpoints {
		st := notReady
		if e.Conditions.Ready != nil && *e.Conditions.Ready {
			st = ready
		} else if e.Conditions.Terminating != nil && *e.Conditions.Terminating {
			continue
		}
		for _, ip := range e.Addresses {
			if st > v[ip] {
				v[ip] = st
			}
		}
	}
	return v
}

// Latency summarises the times from Pod readiness changes to a publisher
// showing them.
type Latency struct {
	Count         int
	P50, P99, Max time.Duration
	Replaced      int     // changes replaced by a newer one before shown
	Unshown       int     // changes never shown by the end
	StaleAddrSecs float64 // address-seconds listed ready while not ready or gone
}

func (p *publisher) summary() Latency {
	l := Latency{Count: len(p.latencies), Replaced: p.replaced, StaleAddrSecs: p.staleSeconds}
	for _, pend := range p.pending {
		l.Unshown += len(pend)
	}
	if len(p.latencies) == 0 {
		return l
	}
	s := slices.Clone(p.latencies)
	slices.Sort(s)
	q := func(f float64) time.Duration { return s[min(len(s)-1, int(f*float64(len(s))))] }
	l.P50, l.P99, l.Max = q(0.50), q(0.99), s[len(s)-1]
	return l
}

// summaries returns the Endpoints' and the EndpointSlices' figures.
func (o *observer) summaries(now time.Time) (eps, es Latency) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.advance(now)
	return o.eps.summary(), o.eps2.summary()
}

// mismatches lists the Services whose Endpoints or EndpointSlices differ
// from what the Pods say, by address and state.
func (o *observer) mismatches(services []string) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, svc := range services {
		want := o.want[svc]
		for _, p := range []*publisher{o.eps, o.eps2} {
			if d := viewDiff(want, p.views[svc]); d != "" {
				out = append(out, fmt.Sprintf("%s %s: %s", svc, p.name, d))
			}
		}
	}
	return out
}

func viewDiff(want map[string]state, got view) string {
	var d []string
	for ip, st := range want {
		if got[ip] != st {
			d = append(d, fmt.Sprintf("%s is %v, want %v", ip, got[ip], st))
		}
	}
	for ip, st := range got {
		if _, ok := want[ip]; !ok {
			d = append(d, fmt.Sprintf("%s is %v, want absent", ip, st))
		}
	}
	sort.Strings(d)
	return strings.Join(d, "; ")
}
