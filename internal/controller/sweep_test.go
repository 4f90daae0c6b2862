package controller_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Spec 8.6: at start, Endpoints without a Service are deleted, with or
// without the managed-by label; Endpoints whose Service exists are not.
func TestOrphansSweptAtStart(t *testing.T) {
	ns := newNamespace(t)
	create(t, userEndpoints(ns, "orphan", "192.0.2.1"))
	managed := userEndpoints(ns, "orphan-managed", "192.0.2.2")
	managed.Labels = labelsFor(nil, false)
	create(t, managed)
	create(t, newService(ns, "kept", nil))
	create(t, userEndpoints(ns, "kept", "192.0.2.3"))
	keptRV := getEndpoints(t, ns, "kept").ResourceVersion

	startController(t, ns, nil)
	eventuallyGone(t, ns, "orphan")
	eventuallyGone(t, ns, "orphan-managed")

	// The sweep queued its orphans long before this Service exists: once it
	// has Endpoints, everything the start caused has been handled.
	web := map[string]string{"app": "web"}
	a := createPod(t, newPod(ns, "a", web), running("10.0.0.1", true))
	create(t, newService(ns, "probe", web))
	eventuallyEndpoints(t, ns, "probe", want{labels: labelsFor(nil, false), subsets: []corev1.EndpointSubset{
		{Addresses: addrs(a), Ports: []corev1.EndpointPort{tcpPort("http", 8080)}},
	}})
	assertUnchanged(t, ns, "kept", keptRV)
}

// Spec 8.6: Endpoints used as a leader-election lock (annotation
// control-plane.alpha.kubernetes.io/leader) have no Service by design and
// are never deleted, neither by the start-up sweep nor by a sync.
func TestLeaderElectionLockSpared(t *testing.T) {
	ns := newNamespace(t)
	lock := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: "lock",
		Annotations: map[string]string{leaderAnnotationKey: `{"holderIdentity":"old-component"}`},
	}}
	create(t, lock)

	for range 2 { // the start-up of two controllers in turn
		// The lock is the only object: the one sync is of its key, and finds
		// nothing to do.
		skipped := syncs(t, "skipped")
		rm := startController(t, ns, nil)
		waitForSyncs(t, "skipped", skipped, 1)
		assertUnchanged(t, ns, "lock", lock.ResourceVersion)
		rm.stop(t)
	}
}
