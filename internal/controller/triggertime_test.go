package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Spec 7.3: the last-change-trigger-time annotation is the Service's creation
// time on the first sync after start; then the Ready transition time of the
// Pod whose change is published; and it is removed by a write that no Pod or
// Service change caused (here: new Service labels).
func TestTriggerTimeAnnotation(t *testing.T) {
	ns := newNamespace(t)
	web := map[string]string{"app": "web"}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := createPod(t, newPod(ns, "a", web), podState{ip: "10.0.0.1", ready: true, readySince: t0})
	b := createPod(t, newPod(ns, "b", web), podState{ip: "10.0.0.2", ready: false, readySince: t0})
	svc := newService(ns, "web", web)
	create(t, svc)
	ports := []corev1.EndpointPort{tcpPort("http", 8080)}

	startController(t, ns, nil)
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a), NotReadyAddresses: addrs(b), Ports: ports},
	}})
	eventuallyTriggerTime(t, ns, "web", svc.CreationTimestamp.UTC().Format(time.RFC3339Nano))

	t1 := t0.Add(time.Hour)
	setPodStatus(t, b, podState{ip: "10.0.0.2", ready: true, readySince: t1})
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a, b), Ports: ports},
	}})
	eventuallyTriggerTime(t, ns, "web", "2026-01-02T04:04:05Z")

	labels := map[string]string{"team": "blue"}
	change(t, svc, func(s *corev1.Service) { s.Labels = labels })
	eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(labels, false), subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a, b), Ports: ports},
	}})
	eventuallyTriggerTime(t, ns, "web", "")
}

// eventuallyTriggerTime waits until the trigger-time annotation of the
// Endpoints ns/name is value ("": absent).
func eventuallyTriggerTime(t *testing.T, ns, name, value string) {
	t.Helper()
	waitFor(t, "the trigger-time annotation", func(ctx context.Context) (bool, string, error) {
		ep := &corev1.Endpoints{}
		if err := k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, ep); err != nil {
			return false, "", err
		}
		got, ok := ep.Annotations[triggerTimeKey]
		if value == "" {
			return !ok, fmt.Sprintf("annotation is %q, want none", got), nil
		}
		return got == value, fmt.Sprintf("annotation is %q (present %v), want %q", got, ok, value), nil
	})
}
