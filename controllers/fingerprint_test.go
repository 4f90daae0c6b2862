package controllers

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// A sync whose inputs are those of the last sync that found the Endpoints up
// to date answers without computing; any changed input (a Pod's version, a
// Pod gone) is computed and written.
func TestUnchangedInputsSkipComputing(t *testing.T) {
	x, pods, services, eps := newTestIndex(t)
	for i := range 3 {
		if err := pods.Add(benchPod("web", i)); err != nil {
			t.Fatal(err)
		}
	}
	svc := benchService("web")
	if err := services.Add(svc); err != nil {
		t.Fatal(err)
	}
	selected, _ := x.PodsSelectedBy("ns", svc.Spec.Selector)
	current := endpoints.Desired(svc, nil, endpoints.Compute(svc, selected), time.Time{})
	current.ResourceVersion = "1"
	if err := eps.Add(current); err != nil {
		t.Fatal(err)
	}
	r := &EndpointsReconciler{Client: fake.NewClientBuilder().WithObjects(current.DeepCopy()).Build(),
		Recorder: events.NewFakeRecorder(10), Index: x}
	if err := r.init(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := types.NamespacedName{Namespace: "ns", Name: "web"}
	for i, want := range []string{resultUnchanged, resultUnchanged} {
		if got, err := r.sync(ctx, key); err != nil || got != want {
			t.Fatalf("sync %d: %q, %v; want %q", i+1, got, err, want)
		}
	}
	if _, ok := r.known.last[key]; !ok {
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
	if _, ok := r.known.last[key]; ok {
		t.Error("the inputs of a sync that wrote were remembered as up to date")
	}
}
