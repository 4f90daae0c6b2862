package controllers

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Every create, update and patch names the field manager and asks for strict
// field validation; in dry-run mode it also carries dryRun=All.
func TestWriteOptions(t *testing.T) {
	for _, dryRun := range []bool{false, true} {
		var wantDryRun []string
		if dryRun {
			wantDryRun = []string{metav1.DryRunAll}
		}
		o := writeOptions{dryRun: dryRun}

		create := (&client.CreateOptions{}).ApplyOptions([]client.CreateOption{o})
		if want := (&client.CreateOptions{FieldManager: FieldManager, FieldValidation: "Strict", DryRun: wantDryRun}); !reflect.DeepEqual(create, want) {
			t.Errorf("dryRun=%v: create options %+v, want %+v", dryRun, create, want)
		}
		update := (&client.UpdateOptions{}).ApplyOptions([]client.UpdateOption{o})
		if want := (&client.UpdateOptions{FieldManager: FieldManager, FieldValidation: "Strict", DryRun: wantDryRun}); !reflect.DeepEqual(update, want) {
			t.Errorf("dryRun=%v: update options %+v, want %+v", dryRun, update, want)
		}
		patch := (&client.PatchOptions{}).ApplyOptions([]client.PatchOption{o})
		if want := (&client.PatchOptions{FieldManager: FieldManager, FieldValidation: "Strict", DryRun: wantDryRun}); !reflect.DeepEqual(patch, want) {
			t.Errorf("dryRun=%v: patch options %+v, want %+v", dryRun, patch, want)
		}
	}
}

// Spec 8.4: a change is retried at most maxRetries times; the next failure
// drops it, and the count starts afresh after that or after a success.
func TestRetriesAreBounded(t *testing.T) {
	r := &EndpointsReconciler{}
	_ = r.init() // only the counters matter here
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	for i := 1; i <= maxRetries; i++ {
		if r.giveUp(key) {
			t.Fatalf("gave up after %d failures, want %d retries first", i, maxRetries)
		}
	}
	if !r.giveUp(key) {
		t.Fatalf("failure %d was retried, want it dropped", maxRetries+1)
	}
	if r.giveUp(key) {
		t.Errorf("the count did not start afresh after dropping")
	}
	r.succeeded(key)
	for i := 1; i <= maxRetries; i++ {
		if r.giveUp(key) {
			t.Fatalf("after a success: gave up after %d failures", i)
		}
	}
	if other := (types.NamespacedName{Namespace: "ns", Name: "other"}); r.giveUp(other) {
		t.Errorf("another Service's first failure was dropped")
	}
}
