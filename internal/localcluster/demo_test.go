package localcluster

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestLiveDemo seeds the demo on a local control plane and makes ten steps
// of the live demo, checking after each the state of every demo Pod: which
// one flipped, which one was replaced (new UID, new IP, ready).
func TestLiveDemo(t *testing.T) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: it must name the directory holding etcd and kube-apiserver (make test sets it)")
	}
	cluster, err := Start(assets, filepath.Join(t.TempDir(), "cluster"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(); err != nil {
			t.Errorf("Stopping the control plane: %v", err)
		}
	})
	ctx := t.Context()
	c, err := client.New(cluster.Config, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := SeedDemo(ctx, c); err != nil {
		t.Fatal(err)
	}

	type podState struct {
		uid   types.UID
		ip    string
		ready bool
	}
	read := func() [demoPods]podState {
		var s [demoPods]podState
		for i := range demoPods {
			pod := &corev1.Pod{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: DemoNamespace, Name: DemoPodName(i)}, pod); err != nil {
				t.Fatal(err)
			}
			s[i] = podState{uid: pod.UID, ip: pod.Status.PodIP, ready: podReady(pod)}
		}
		return s
	}
	state := read()
	for i, want := range []bool{true, true, false} {
		if state[i].ready != want || state[i].ip != DemoPodIP(i, 0) {
			t.Fatalf("seeded Pod %d: %+v, want ready %v, IP %s", i, state[i], want, DemoPodIP(i, 0))
		}
	}

	for n := range 10 {
		msg, err := DemoStep(ctx, c, n)
		if err != nil {
			t.Fatalf("step %d: %v", n, err)
		}
		want := state
		if n%replaceEvery == replaceEvery-1 {
			i := (n / replaceEvery) % demoPods
			want[i].ip, want[i].ready = DemoPodIP(i, n/replaceEvery+1), true
		} else {
			want[n%demoPods].ready = !state[n%demoPods].ready
		}
		got := read()
		for i := range demoPods {
			replaced := n%replaceEvery == replaceEvery-1 && i == (n/replaceEvery)%demoPods
			if replaced == (got[i].uid == state[i].uid) {
				t.Errorf("step %d (%s): Pod %d UID %s -> %s, replaced %v", n, msg, i, state[i].uid, got[i].uid, replaced)
			}
			if got[i].ip != want[i].ip || got[i].ready != want[i].ready {
				t.Errorf("step %d (%s): Pod %d is %+v, want IP %s ready %v", n, msg, i, got[i], want[i].ip, want[i].ready)
			}
		}
		state = got
	}
}
