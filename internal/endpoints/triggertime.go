package endpoints

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TriggerTimeTracker computes the last-change-trigger-time annotation (spec
// 7.3): the time of the earliest change that a write publishes, which lets SLO
// tooling measure how long a change took to reach the Endpoints.
//
// It remembers, per Service, the trigger times it saw at the previous sync.
// It is safe for concurrent use; calls for one Service must not overlap, which
// the controller's work queue guarantees.
type TriggerTimeTracker struct {
	mu     sync.Mutex
	states map[types.NamespacedName]triggerState
}

type triggerState struct {
	pods    map[string]time.Time // Pod name -> Ready condition's lastTransitionTime
	service time.Time            // the Service's creation time
}

// NewTriggerTimeTracker returns an empty tracker.
func NewTriggerTimeTracker() *TriggerTimeTracker {
	return &TriggerTimeTracker{states: make(map[types.NamespacedName]triggerState)}
}

// Observe returns the trigger time for a sync of svc with pods: the
// Service's creation time on its first sync since start; afterwards the
// earliest trigger time that changed since the last committed sync (a Pod's
// Ready lastTransitionTime, or the Service's creation time), or zero when
// none did. Nothing is recorded until commit is called: a sync that did not
// publish (its write failed, or the cache was stale) leaves the changes
// pending, so that the sync that finally publishes them reports their time
// (spec 7.3, 8.5).
func (t *TriggerTimeTracker) Observe(svc *corev1.Service, pods []*corev1.Pod) (at time.Time, commit func()) {
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	t.mu.Lock()
	prev, known := t.states[key]
	t.mu.Unlock()

	next := triggerState{pods: make(map[string]time.Time, len(pods)), service: svc.CreationTimestamp.Time}
	var earliest time.Time
	// A time counts when it changed, not only when it moved forward: a Pod
	// recreated under the same name on a node whose clock lags has an earlier
	// Ready time than its predecessor, and that is still a change to publish.
	consider := func(at, before time.Time) {
		if at.IsZero() || at.Equal(before) {
			return
		}
		if earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
	}
	for _, pod := range pods {
		at := readyTransitionTime(pod)
		if at.IsZero() {
			continue
		}
		next.pods[pod.Name] = at
		consider(at, prev.pods[pod.Name])
	}
	consider(next.service, prev.service)

	commit = func() {
		t.mu.Lock()
		t.states[key] = next
		t.mu.Unlock()
	}
	if !known {
		return svc.CreationTimestamp.Time, commit
	}
	return earliest, commit
}

// Forget drops what the tracker knows of a Service, once it is deleted.
func (t *TriggerTimeTracker) Forget(key types.NamespacedName) {
	t.mu.Lock()
	delete(t.states, key)
	t.mu.Unlock()
}

func readyTransitionTime(pod *corev1.Pod) time.Time {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return pod.Status.Conditions[i].LastTransitionTime.Time
		}
	}
	return time.Time{}
}
