package endpoints

import (
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// PodChangeMatters reports whether an update from old to cur can change any
// Endpoints (spec 9.3): readiness, the set of Pod IPs, deletion, phase (so a
// Pod that turns Failed leaves promptly), labels, hostname, subdomain or the
// node. Everything else — most of all the status heartbeats that make up
// the bulk of Pod updates — is ignored.
func PodChangeMatters(old, cur *corev1.Pod) bool {
	if old.ResourceVersion != "" && old.ResourceVersion == cur.ResourceVersion {
		// A resync of an unchanged object.
		return false
	}
	return podReady(old) != podReady(cur) ||
		(old.DeletionTimestamp == nil) != (cur.DeletionTimestamp == nil) ||
		old.Status.Phase != cur.Status.Phase ||
		old.Status.PodIP != cur.Status.PodIP ||
		!samePodIPs(old.Status.PodIPs, cur.Status.PodIPs) ||
		!maps.Equal(old.Labels, cur.Labels) ||
		old.Spec.Hostname != cur.Spec.Hostname ||
		old.Spec.Subdomain != cur.Spec.Subdomain ||
		old.Spec.NodeName != cur.Spec.NodeName
}

func samePodIPs(a, b []corev1.PodIP) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.PodIP) bool { return x.IP == y.IP })
}
