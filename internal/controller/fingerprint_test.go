package controller

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A sync whose inputs are those of the last sync that found the Endpoints up
// to date answers without computing; any changed input (a Pod's version, a
// Pod gone) is computed and written.
func TestUnchangedInputsSkipComputing(t *testing.T) {
	r, pods := upToDateService(t, 3, 3)
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	for i, want := range []string{resultUnchanged, resultUnchanged} {
		if got, err := r.sync(ctx, key); err != nil || got != want {
			t.Fatalf("sync %d: %q, %v; want %q", i+1, got, err, want)
		}
	}
	if !r.states.services[key].upToDateKnown {
		t.Fatal("the inputs of an up-to-date sync were not remembered")
	}
	notReady := benchPod("web", 1)
	notReady.ResourceVersion = "2"
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	if err := pods.Update(notReady); err != nil {
		t.Fatal(err)
	}
	if got, err := r.sync(ctx, key); err != nil || got != resultUpdated {
		t.Fatalf("sync after a Pod changed: %q, %v; want %q", got, err, resultUpdated)
	}
	if r.states.services[key].upToDateKnown {
		t.Error("the inputs of a sync that wrote were remembered as up to date")
	}
}
