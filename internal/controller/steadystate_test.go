package controller_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/controller"
)

// Spec 8.1, 7.3: steady state costs zero writes. Once the Endpoints are
// right, syncs forced by a Pod change that does not matter, by Service
// changes that do not matter, and by a restart of the controller (a new
// trigger time, the headless label) write nothing: the resourceVersions stay
// and the write counter does not move. For each write method.
func TestSteadyStateWritesNothing(t *testing.T) {
	for _, method := range controller.WriteMethods {
		t.Run(string(method), func(t *testing.T) {
			ns := newNamespace(t)
			setMethod := func(o *app.Options) { o.WriteMethod = string(method) }
			rm := startController(t, ns, setMethod)
			web := map[string]string{"app": "web"}
			a := createPod(t, newPod(ns, "a", web), running("10.0.0.10", true))
			b := createPod(t, newPod(ns, "b", web), running("10.0.0.2", true))
			c := createPod(t, newPod(ns, "c", web), running("10.0.0.3", false))
			svc := newService(ns, "web", web, corev1.ServicePort{
				Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP,
			})
			svc.Labels = map[string]string{"team": "blue"}
			create(t, svc)
			headless := newService(ns, "web-headless", web)
			headless.Spec.ClusterIP = corev1.ClusterIPNone
			create(t, headless)
			subsets := []corev1.EndpointSubset{{
				Addresses: addrs(a, b), NotReadyAddresses: addrs(c), Ports: []corev1.EndpointPort{tcpPort("http", 8080)},
			}}
			rv := eventuallyEndpoints(t, ns, "web", want{labels: labelsFor(svc.Labels, false), subsets: subsets}).ResourceVersion
			headlessRV := eventuallyEndpoints(t, ns, "web-headless", want{labels: labelsFor(nil, true), subsets: subsets}).ResourceVersion
			written := writes(t, "", false)

			// A Pod change that cannot change the Endpoints.
			change(t, a, func(p *corev1.Pod) { p.Annotations = map[string]string{"touch": "1"} })
			// Service changes that cannot change the Endpoints: both sync.
			unchanged := syncs(t, "unchanged")
			change(t, svc, func(s *corev1.Service) { s.Annotations = map[string]string{"touch": "1"} })
			change(t, headless, func(s *corev1.Service) { s.Annotations = map[string]string{"touch": "1"} })
			waitForSyncs(t, "unchanged", unchanged, 2)

			// A restart: the first sync of each Service has a new trigger time.
			rm.stop(t)
			unchanged = syncs(t, "unchanged")
			startController(t, ns, setMethod)
			waitForSyncs(t, "unchanged", unchanged, 2)

			assertUnchanged(t, ns, "web", rv)
			assertUnchanged(t, ns, "web-headless", headlessRV)
			if got := writes(t, "", false) - written; got != 0 {
				t.Errorf("Writes in steady state: %v, want 0", got)
			}
		})
	}
}
