package endpoints

import corev1 "k8s.io/api/core/v1"

// Action is what the controller does with the Endpoints of a Service it
// manages: the reconciler and `diff` decide alike.
type Action int

const (
	// ActionCompute computes the Endpoints from the Service and its Pods
	// and writes them when they differ.
	ActionCompute Action = iota
	// ActionSkip leaves the Endpoints alone: a Service without a selector
	// has user-managed Endpoints (spec 1.4).
	ActionSkip
	// ActionDelete deletes the Endpoints an endpoints controller wrote: an
	// ExternalName Service has none (spec 1.3).
	ActionDelete
)

// ActionFor returns what to do with the Endpoints of svc.
func ActionFor(svc *corev1.Service) Action {
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		return ActionDelete
	case svc.Spec.Selector == nil:
		return ActionSkip
	}
	return ActionCompute
}

// IsLeaderElectionLock reports whether ep is a leader-election lock (an old
// kind of lock some components still take), which is never deleted.
func IsLeaderElectionLock(ep *corev1.Endpoints) bool {
	_, ok := ep.Annotations[LeaderElectionAnnotation]
	return ok
}

// MayDelete reports whether the controller may delete ep, whose Service is
// gone or must have no Endpoints: never a leader-election lock; otherwise
// Endpoints an endpoints controller wrote (spec 1.2, 1.3), or any Endpoints
// that the start-up sweep found without a Service (orphan, spec 8.6).
func MayDelete(ep *corev1.Endpoints, orphan bool) bool {
	if IsLeaderElectionLock(ep) {
		return false
	}
	return orphan || IsManaged(ep)
}

// SweepCandidate reports whether the start-up sweep (spec 8.6) deletes ep
// when it has no Service: not a leader-election lock and, when managedOnly
// (the controller manages some Services only, or must spare other writers'
// Endpoints), only Endpoints an endpoints controller wrote.
func SweepCandidate(ep *corev1.Endpoints, managedOnly bool) bool {
	if IsLeaderElectionLock(ep) {
		return false
	}
	return !managedOnly || IsManaged(ep)
}
