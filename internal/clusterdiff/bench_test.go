package clusterdiff

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// BenchmarkCompare10kServices compares a cluster of 10,000 Services in 100
// namespaces, 3 Pods each, every Endpoints up to date as
// kube-controller-manager wrote them: the cost of `diff` once the lists are
// read.
func BenchmarkCompare10kServices(b *testing.B) {
	const namespaces, perNamespace = 100, 100
	var objects []runtime.Object
	for n := range namespaces {
		for s := range perNamespace {
			name := fmt.Sprintf("svc-%d", s)
			sel := map[string]string{"app": name}
			service := svc(name, sel)
			service.Namespace = fmt.Sprintf("ns-%d", n)
			objects = append(objects, service)
			var addrs []corev1.EndpointAddress
			for p := range 3 {
				pd := pod(fmt.Sprintf("%s-%d", name, p), fmt.Sprintf("10.%d.%d.%d", n, s, p+1), true, sel)
				pd.Namespace = service.Namespace
				objects = append(objects, pd)
				a := address(pd)
				a.TargetRef.Namespace = service.Namespace
				addrs = append(addrs, a)
			}
			ep := eps(name, "endpoint-controller", corev1.EndpointSubset{Addresses: addrs, Ports: http})
			ep.Namespace = service.Namespace
			objects = append(objects, ep)
		}
	}
	cs := fake.NewClientset(objects...)
	b.ResetTimer()
	for b.Loop() {
		r, err := Compare(context.Background(), cs, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if r.LabelOnly != namespaces*perNamespace || r.Changed() {
			b.Fatalf("report %s, want all %d up to date by label only", r.Summary(), namespaces*perNamespace)
		}
	}
}
