// Package endpoints computes the core/v1 Endpoints that a Service should have.
//
// Everything here is a plain, deterministic function of its inputs: a Service,
// the Pods its selector matches and, for the write decision, the Endpoints that
// exist today. There is no client, context or logger, so the behaviour contract
// (docs: shared spec "How the Endpoints controller must behave", sections 2-8)
// lives, and is tested, in one place. The controller in internal/controller
// reads the world from its cache, calls Compute and Desired, and writes the
// result only when UpToDate says it must.
//
// The output matches what kube-controller-manager's endpoints controller
// publishes for the same input — same addresses, same subsets, same order —
// so that a take-over causes no write storm. Where the contract marks an
// improvement (addresses the API server would reject are left out and
// reported; subsets emptied by truncation are dropped), the difference is
// confined to input the reference would fail to write at all.
package endpoints

import corev1 "k8s.io/api/core/v1"

const (
	// ManagedByLabel is the label that marks Endpoints written by an Endpoints
	// controller; spec 1.2 deletes Endpoints only when it carries ControllerName
	// or ReferenceControllerName.
	ManagedByLabel = "endpoints.kubernetes.io/managed-by"

	// ControllerName is the value of ManagedByLabel on Endpoints this controller wrote.
	ControllerName = "endpoints-controller.kube-endpoints.io"

	// ReferenceControllerName is the value of ManagedByLabel on Endpoints that
	// kube-controller-manager's endpoints controller wrote (since Kubernetes
	// v1.33). Such Endpoints are taken over as they are (spec 1.2, 7.1): they
	// count as managed, and this value as correct, so that replacing that
	// controller costs no write until something else changes.
	ReferenceControllerName = "endpoint-controller"

	// HeadlessLabel marks the Endpoints of a Service without a cluster IP (spec 7.1).
	HeadlessLabel = corev1.IsHeadlessService

	// OverCapacityAnnotation is set to TruncatedValue on Endpoints that hold more
	// addresses than MaxCapacity allows, and removed otherwise (spec 6.1).
	OverCapacityAnnotation = corev1.EndpointsOverCapacity

	// TruncatedValue is the value of OverCapacityAnnotation on truncated Endpoints.
	TruncatedValue = "truncated"

	// TriggerTimeAnnotation records when the change that led to a write happened (spec 7.3).
	TriggerTimeAnnotation = corev1.EndpointsLastChangeTriggerTime

	// LeaderElectionAnnotation marks Endpoints used as a leader-election lock by
	// old components; the start-up sweep never deletes them (spec 8.6), since
	// they have no Service by design.
	LeaderElectionAnnotation = "control-plane.alpha.kubernetes.io/leader"

	// MaxCapacity is the number of addresses one Endpoints object may hold.
	// Larger Services are truncated: EndpointSlice consumers see every
	// address, and an Endpoints object of unbounded size would strain etcd and
	// every watcher of Endpoints (KEP-1152).
	MaxCapacity = 1000
)

// ManagedByValues are the values this controller may write into
// ManagedByLabel, its own by default. Both count as managed for the deletion
// rules (spec 1.2, 8.6). Writing ReferenceControllerName instead (the binary's
// --managed-by=endpoint-controller) makes handing the Endpoints back to
// kube-controller-manager free: its endpoints controller finds its own value
// and has nothing to rewrite, where it would otherwise rewrite every
// Endpoints once to put that value back. The no-write check (spec 8.1)
// accepts ReferenceControllerName when this controller's value is wanted, not
// the other way round: in that mode Endpoints carrying ControllerName are
// rewritten once, so that a later rollback finds none.
var ManagedByValues = []string{ControllerName, ReferenceControllerName}
