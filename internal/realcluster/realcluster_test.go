package realcluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// TestKwokConfig checks that kwok's configuration is four Stages, with the
// delays given.
func TestKwokConfig(t *testing.T) {
	docs := strings.Split(kwokConfig(2*time.Second, 3*time.Second), "\n---\n")
	type stage struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			ResourceRef struct {
				Kind string `json:"kind"`
			} `json:"resourceRef"`
			Delay *struct {
				DurationMilliseconds       int64  `json:"durationMilliseconds"`
				JitterDurationMilliseconds *int64 `json:"jitterDurationMilliseconds"`
			} `json:"delay"`
		} `json:"spec"`
	}
	want := []struct {
		name, kind    string
		delay, jitter int64 // -1: no delay / no jitter
	}{
		{"node-ready", "Node", -1, -1},
		{"pod-started", "Pod", 500, 1000},
		{"pod-ready", "Pod", 2000, 3000},
		{"pod-gone", "Pod", 3000, -1},
	}
	if len(docs) != len(want) {
		t.Fatalf("%d documents, want %d", len(docs), len(want))
	}
	for i, w := range want {
		var s stage
		if err := yaml.Unmarshal([]byte(docs[i]), &s); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if s.Kind != "Stage" || s.Metadata.Name != w.name || s.Spec.ResourceRef.Kind != w.kind {
			t.Errorf("document %d is %s %s for %s, want Stage %s for %s", i, s.Kind, s.Metadata.Name, s.Spec.ResourceRef.Kind, w.name, w.kind)
		}
		var delay, jitter int64 = -1, -1
		if s.Spec.Delay != nil {
			delay = s.Spec.Delay.DurationMilliseconds
			if s.Spec.Delay.JitterDurationMilliseconds != nil {
				jitter = *s.Spec.Delay.JitterDurationMilliseconds
			}
		}
		if delay != w.delay || jitter != w.jitter {
			t.Errorf("%s: delay %d ms, jitter %d ms; want %d and %d", w.name, delay, jitter, w.delay, w.jitter)
		}
	}
}

// TestStartNamesAMissingBinary checks that a cluster whose binaries are not
// built fails at once, naming the binary and how to build it.
func TestStartNamesAMissingBinary(t *testing.T) {
	_, err := Start(context.Background(), Options{AssetsDir: t.TempDir(), Dir: t.TempDir(), Nodes: 1})
	if err == nil || !strings.Contains(err.Error(), SchedulerBinary+" is missing") || !strings.Contains(err.Error(), "make realcluster") {
		t.Fatalf("Start without binaries: %v, want an error naming %s and make realcluster", err, SchedulerBinary)
	}
}

// TestNodeCIDRs checks that the Nodes' Pod CIDRs do not overlap.
func TestNodeCIDRs(t *testing.T) {
	seen := map[string]int{}
	for i := range 600 {
		c := nodeCIDR(i)
		if j, ok := seen[c]; ok {
			t.Fatalf("Nodes %d and %d share %s", j, i, c)
		}
		seen[c] = i
	}
	if got := nodeCIDR(0); got != "10.64.0.0/24" {
		t.Errorf("Node 0 has %s, want 10.64.0.0/24", got)
	}
	if got := nodeCIDR(257); got != "10.65.1.0/24" {
		t.Errorf("Node 257 has %s, want 10.65.1.0/24", got)
	}
}
