package endpoints

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// benchService has two ports: one named targetPort resolved from the
// containers, one integer.
func benchService() *corev1.Service {
	return service(ports(sport("http", "http", tcp), sport("metrics", 9100, tcp)))
}

// benchPods returns n ready Pods with distinct IPs in 10.0.0.0/8.
func benchPods(n int) []*corev1.Pod {
	ps := make([]*corev1.Pod, n)
	for i := range ps {
		ps[i] = pod(fmt.Sprintf("pod-%d", i), ipFor(i+1), true)
	}
	return ps
}

// BenchmarkCompute measures Compute for one Service as it grows; above
// MaxCapacity the result is truncated to 1000 addresses.
func BenchmarkCompute(b *testing.B) {
	svc := benchService()
	for _, n := range []int{10, 1000, 10000} {
		ps := benchPods(n)
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compute(svc, ps)
			}
		})
	}
}

// BenchmarkUpToDate measures the steady-state check: Endpoints that already
// hold what Compute says, as read back from the API server (the Pods'
// resourceVersions in the target references).
func BenchmarkUpToDate(b *testing.B) {
	svc := benchService()
	desired := Desired(svc, nil, Compute(svc, benchPods(1000)), time.Time{})
	current := desired.DeepCopy()
	for i := range current.Subsets {
		for j := range current.Subsets[i].Addresses {
			current.Subsets[i].Addresses[j].TargetRef.ResourceVersion = "12345"
		}
	}
	if !UpToDate(current, desired, nil) {
		b.Fatal("setup: current is not up to date")
	}
	b.ReportAllocs()
	for b.Loop() {
		UpToDate(current, desired, nil)
	}
}

// BenchmarkComputeSplit is BenchmarkCompute with the Pods split in two
// halves that serve "http" on different container ports, as during a
// rolling update that moves the port: two subsets, which are then ordered
// by the digest of their whole text (spec 5.5).
func BenchmarkComputeSplit(b *testing.B) {
	svc := benchService()
	for _, n := range []int{1000, 10000} {
		ps := benchPods(n)
		for i := 1; i < n; i += 2 {
			containerPorts(cport("http", 8081, tcp))(ps[i])
		}
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Compute(svc, ps)
			}
		})
	}
}
