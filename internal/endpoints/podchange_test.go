package endpoints

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodChangeMatters(t *testing.T) {
	base := func() *corev1.Pod {
		p := pod("a", "10.0.0.1", true, podIPs("10.0.0.1", "fd00::1"), hostname("web-0", testService),
			readySince(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)))
		p.ResourceVersion = "1"
		p.Annotations = map[string]string{"note": "a"}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue})
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Ready: true}}
		return p
	}
	tests := []struct {
		name string
		edit func(p *corev1.Pod)
		want bool
	}{
		{"9.3 readiness change matters", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"9.3 Ready condition removed matters", func(p *corev1.Pod) { p.Status.Conditions = p.Status.Conditions[1:] }, true},
		{"9.3 podIPs entry added matters", func(p *corev1.Pod) {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "10.0.0.9"})
		}, true},
		{"9.3 podIPs entry changed matters", func(p *corev1.Pod) { p.Status.PodIPs[1].IP = "fd00::2" }, true},
		{"9.3 podIPs cleared matters", func(p *corev1.Pod) { p.Status.PodIP, p.Status.PodIPs = "", nil }, true},
		{"9.3 podIPs reordered matters (the first of a family may change)", func(p *corev1.Pod) {
			p.Status.PodIPs[0], p.Status.PodIPs[1] = p.Status.PodIPs[1], p.Status.PodIPs[0]
		}, true},
		{"9.3 podIP changed matters", func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.2" }, true},
		{"9.3 deletion matters", func(p *corev1.Pod) { terminating()(p) }, true},
		{"9.3 label change matters", func(p *corev1.Pod) { p.Labels["app"] = "db" }, true},
		{"9.3 label added matters", func(p *corev1.Pod) { p.Labels["tier"] = "front" }, true},
		{"9.3 labels removed matter", func(p *corev1.Pod) { p.Labels = nil }, true},
		{"9.3 hostname change matters", func(p *corev1.Pod) { p.Spec.Hostname = "web-1" }, true},
		{"9.3 subdomain change matters", func(p *corev1.Pod) { p.Spec.Subdomain = "other" }, true},
		{"9.3 phase change matters (a Pod that turns Failed leaves promptly)", func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }, true},
		{"9.3 phase Running to Succeeded matters", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }, true},
		{"3.3 nodeName change matters", func(p *corev1.Pod) { p.Spec.NodeName = "node-2" }, true},

		{"9.3 annotation-only change does not matter", func(p *corev1.Pod) { p.Annotations["note"] = "b" }, false},
		{"9.3 heartbeat does not matter", func(p *corev1.Pod) {
			p.Status.Conditions[0].LastProbeTime = metav1.NewTime(time.Date(2031, 2, 1, 0, 0, 0, 0, time.UTC))
			p.Status.Conditions[1].Status = corev1.ConditionFalse
			p.Status.ContainerStatuses[0].RestartCount = 3
		}, false},
		{"9.3 Ready lastTransitionTime alone does not matter", func(p *corev1.Pod) {
			p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC))
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old, cur := base(), base()
			cur.ResourceVersion = "2"
			tc.edit(cur)
			if got := PodChangeMatters(old, cur); got != tc.want {
				t.Errorf("PodChangeMatters = %v, want %v", got, tc.want)
			}
			if got := PodChangeMatters(cur, old); got != tc.want {
				t.Errorf("PodChangeMatters (reversed) = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("9.3 resync of the same resourceVersion does not matter", func(t *testing.T) {
		p := base()
		if PodChangeMatters(p, p.DeepCopy()) {
			t.Error("PodChangeMatters = true, want false")
		}
	})
}
