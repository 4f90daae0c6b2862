package controller

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// TestObserveChangeToWrite checks that a write with a trigger time observes
// the time from it, and that writes without one (or with a malformed one)
// observe nothing.
func TestObserveChangeToWrite(t *testing.T) {
	read := func() (uint64, float64) {
		var m dto.Metric
		if err := changeToWrite.Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
	}
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	ep := func(annotations map[string]string) *corev1.Endpoints {
		return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Annotations: annotations}}
	}
	count0, sum0 := read()
	observeChangeToWrite(ep(nil), now)
	observeChangeToWrite(ep(map[string]string{endpoints.TriggerTimeAnnotation: "yesterday"}), now)
	observeChangeToWrite(ep(map[string]string{endpoints.TriggerTimeAnnotation: now.Add(-1500 * time.Millisecond).Format(time.RFC3339Nano)}), now)
	// A trigger time ahead of the controller's clock (another node's clock)
	// counts as no delay, not a negative one.
	observeChangeToWrite(ep(map[string]string{endpoints.TriggerTimeAnnotation: now.Add(time.Second).Format(time.RFC3339Nano)}), now)
	count, sum := read()
	if count-count0 != 2 {
		t.Errorf("Observed %d writes, want 2", count-count0)
	}
	if d := sum - sum0; d < 1.4999 || d > 1.5001 {
		t.Errorf("Observed %v s in all, want 1.5", d)
	}
}
