package controller_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Spec 6.1, 6.2, 8.1: a Service with more than 1000 ready Pods gets the first
// 1000 addresses in sort order and the over-capacity annotation; when it
// shrinks to 1000 or fewer, all addresses are published and the annotation
// goes. The Pods exist before the controller starts, so that it writes once
// instead of once per Pod.
func TestOverCapacity(t *testing.T) {
	const total = 1005
	ns := newNamespace(t)
	web := map[string]string{"app": "web"}
	pods := make([]*corev1.Pod, total)
	var wg sync.WaitGroup
	errs := make(chan error, total)
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				p := newPod(ns, fmt.Sprintf("p%04d", i), web)
				if err := k8sClient.Create(context.Background(), p); err != nil {
					errs <- err
					continue
				}
				p.Status = corev1.PodStatus{
					Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.1.%d.%d", i/250, i%250+1),
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				}
				p.Status.PodIPs = []corev1.PodIP{{IP: p.Status.PodIP}}
				if err := k8sClient.Status().Update(context.Background(), p); err != nil {
					errs <- err
					continue
				}
				pods[i] = p
			}
		}()
	}
	for i := range total {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Creating Pods: %v", err)
	}
	svc := newService(ns, "web", web)
	create(t, svc)

	sorted := append([]*corev1.Pod(nil), pods...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Status.PodIP < sorted[j].Status.PodIP })
	ports := []corev1.EndpointPort{tcpPort("http", 8080)}

	written := writes(t, "", false)
	startController(t, ns, nil)
	eventuallyEndpoints(t, ns, "web", want{
		labels:      labelsFor(nil, false),
		annotations: map[string]string{overCapacityKey: "truncated"},
		subsets:     []corev1.EndpointSubset{{Addresses: addrs(sorted[:1000]...), Ports: ports}},
	})
	if got := writes(t, "", false) - written; got != 1 {
		t.Errorf("Writes: %v, want 1", got)
	}

	for _, p := range sorted[:total-1000] {
		deleteNow(t, p)
	}
	eventuallyEndpoints(t, ns, "web", want{
		labels:  labelsFor(nil, false),
		subsets: []corev1.EndpointSubset{{Addresses: addrs(sorted[total-1000:]...), Ports: ports}},
	})
}
