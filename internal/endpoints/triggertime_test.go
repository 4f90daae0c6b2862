package endpoints

import (
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestTriggerTimeTracker(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2031, 1, 1, 0, min, 0, 0, time.UTC) }
	readyPod := func(name string, min int) *corev1.Pod {
		return pod(name, "10.0.0.1", true, readySince(at(min)))
	}
	svc := service(httpPort)
	recreated := service(httpPort)
	recreated.CreationTimestamp = metav1.NewTime(at(30))
	other := service(httpPort)
	other.Name = "other"
	other.CreationTimestamp = metav1.NewTime(at(40))

	// step is one sync: Observe(svc, pods) must return want; forget first
	// calls Forget for svc; uncommitted is a sync that did not publish.
	type step struct {
		svc         *corev1.Service
		pods        []*corev1.Pod
		forget      bool
		uncommitted bool
		want        time.Time
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "7.3 first Observe returns the Service creation time",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 1)), want: svcCreated},
			},
		},
		{
			name: "7.3 later Observe returns the earliest Ready lastTransitionTime that moved",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 1), readyPod("b", 2), readyPod("c", 3)), want: svcCreated},
				{svc: svc, pods: pods(readyPod("a", 9), readyPod("b", 7), readyPod("c", 3)), want: at(7)},
			},
		},
		{
			name: "7.3 zero when no trigger time moved",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 1)), want: svcCreated},
				{svc: svc, pods: pods(readyPod("a", 1)), want: time.Time{}},
				{svc: svc, pods: nil, want: time.Time{}},
			},
		},
		{
			name: "7.3 a new pod's Ready time counts",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 1)), want: svcCreated},
				{svc: svc, pods: pods(readyPod("a", 1), readyPod("b", 5)), want: at(5)},
			},
		},
		{
			name: "7.3 pods without a Ready condition have no trigger time",
			steps: []step{
				{svc: svc, pods: nil, want: svcCreated},
				{svc: svc, pods: pods(pod("a", "10.0.0.1", false, noConditions())), want: time.Time{}},
			},
		},
		{
			name: "7.3 a Ready time moved back (another kubelet's clock) counts as a change",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 10)), want: svcCreated},
				{svc: svc, pods: pods(readyPod("a", 8)), want: at(8)},
			},
		},
		{
			name: "7.3 Service creation-time change counts",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 1)), want: svcCreated},
				{svc: recreated, pods: pods(readyPod("a", 1)), want: at(30)},
				{svc: recreated, pods: pods(readyPod("a", 31)), want: at(31)},
			},
		},
		{
			name: "7.3 the earliest of a moved pod and a changed Service creation time wins",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 1)), want: svcCreated},
				{svc: recreated, pods: pods(readyPod("a", 35)), want: at(30)},
			},
		},
		{
			name: "7.3 Forget resets: the next Observe returns the creation time again",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 1)), want: svcCreated},
				{svc: svc, pods: pods(readyPod("a", 1)), want: time.Time{}},
				{svc: svc, pods: pods(readyPod("a", 1)), forget: true, want: svcCreated},
				{svc: svc, pods: pods(readyPod("a", 1)), want: time.Time{}},
			},
		},
		{
			name: "7.3, 8.5 a sync that did not publish leaves its changes to the next one",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 1)), uncommitted: true, want: svcCreated},
				{svc: svc, pods: pods(readyPod("a", 1)), want: svcCreated},
				{svc: svc, pods: pods(readyPod("a", 1), readyPod("b", 5)), uncommitted: true, want: at(5)},
				{svc: svc, pods: pods(readyPod("a", 1), readyPod("b", 6)), uncommitted: true, want: at(6)},
				{svc: svc, pods: pods(readyPod("a", 7), readyPod("b", 6)), want: at(6)},
				{svc: svc, pods: pods(readyPod("a", 7), readyPod("b", 6)), want: time.Time{}},
			},
		},
		{
			name: "7.3 Services are tracked independently",
			steps: []step{
				{svc: svc, pods: pods(readyPod("a", 1)), want: svcCreated},
				{svc: other, pods: pods(readyPod("a", 1)), want: at(40)},
				{svc: svc, pods: pods(readyPod("a", 1)), want: time.Time{}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTriggerTimeTracker()
			for i, s := range tc.steps {
				if s.forget {
					tr.Forget(types.NamespacedName{Namespace: s.svc.Namespace, Name: s.svc.Name})
				}
				got, commit := tr.Observe(s.svc, s.pods)
				if !got.Equal(s.want) {
					t.Errorf("step %d: Observe = %v, want %v", i, got, s.want)
				}
				if !s.uncommitted {
					commit()
				}
			}
		})
	}
}

// TestTriggerTimeTrackerConcurrent exercises the documented guarantee:
// different Services may be observed at once. Run with -race.
func TestTriggerTimeTrackerConcurrent(t *testing.T) {
	tr := NewTriggerTimeTracker()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := service(httpPort)
			svc.Name = ipFor(i)
			for range 50 {
				_, commit := tr.Observe(svc, pods(pod("a", "10.0.0.1", true)))
				commit()
			}
			tr.Forget(types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name})
		}()
	}
	wg.Wait()
}
