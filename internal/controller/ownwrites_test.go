package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The event of the controller's own write is skipped once; any other version,
// a repeat of the event, and every event after a stale-cache wait pass.
func TestOwnWrites(t *testing.T) {
	o := newServiceStates(0, nil)
	ep := func(rv string) *corev1.Endpoints {
		return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", ResourceVersion: rv}}
	}
	if o.isOwn(ep("1")) {
		t.Error("an Endpoints never written was taken as own")
	}
	o.wrote(ep("5"))
	if !o.isOwn(ep("5")) {
		t.Error("the event of the own write was not recognised")
	}
	if o.isOwn(ep("5")) {
		t.Error("a second event of the same version was skipped too")
	}
	o.wrote(ep("7"))
	if o.isOwn(ep("8")) {
		t.Error("another writer's version was taken as own")
	}
	o.wrote(ep("9"))
	o.waiting(types.NamespacedName{Namespace: "ns", Name: "web"})
	if o.isOwn(ep("9")) {
		t.Error("the event a stale-cache wait needs was skipped")
	}
}
