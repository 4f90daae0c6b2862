package version

import (
	"runtime"
	"testing"

	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// TestBuildInfoMetric gathers the metric from the registry that the manager
// serves on /metrics.
func TestBuildInfoMetric(t *testing.T) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"version": "dev", "revision": Get().Revision, "goversion": runtime.Version()}
	found := 0
	for _, f := range families {
		if f.GetName() != "endpoints_controller_build_info" {
			continue
		}
		for _, m := range f.GetMetric() {
			found++
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if len(got) != len(want) || got["version"] != want["version"] || got["revision"] != want["revision"] ||
				got["goversion"] != want["goversion"] {
				t.Errorf("labels = %v, want %v", got, want)
			}
			if v := m.GetGauge().GetValue(); v != 1 {
				t.Errorf("value = %v, want 1", v)
			}
		}
	}
	if found != 1 {
		t.Errorf("found %d endpoints_controller_build_info series, want 1", found)
	}
}

func TestString(t *testing.T) {
	got := Info{Version: "v1.2.3", Revision: "0123abc", GoVersion: "go1.26.8"}.String()
	if want := "endpoints-controller v1.2.3 (revision 0123abc, go1.26.8)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
