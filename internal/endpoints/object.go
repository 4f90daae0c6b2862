package endpoints

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HasClusterIP reports whether svc has a cluster IP; a Service without one is
// headless.
func HasClusterIP(svc *corev1.Service) bool {
	return svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

// Labels returns the labels of svc's Endpoints (spec 7.1): the Service's own,
// the headless marker when it has no cluster IP, and ManagedByLabel with this
// controller's value.
func Labels(svc *corev1.Service) map[string]string {
	return LabelsManagedBy(svc, ControllerName)
}

// LabelsManagedBy is Labels with managedBy as the value of ManagedByLabel:
// ControllerName, or ReferenceControllerName in the mode that keeps
// kube-controller-manager's value (see ManagedByValues).
func LabelsManagedBy(svc *corev1.Service, managedBy string) map[string]string {
	labels := make(map[string]string, len(svc.Labels)+2)
	for k, v := range svc.Labels {
		labels[k] = v
	}
	if HasClusterIP(svc) {
		delete(labels, HeadlessLabel)
	} else {
		labels[HeadlessLabel] = ""
	}
	labels[ManagedByLabel] = managedBy
	return labels
}

// IsManaged reports whether ep was written by an endpoints controller, this
// one or the reference one it takes over from (spec 1.2, 1.3, 8.6).
func IsManaged(ep *corev1.Endpoints) bool {
	v := ep.Labels[ManagedByLabel]
	return v == ControllerName || v == ReferenceControllerName
}

// TakenOver reports whether ep still carries the reference controller's
// managed-by value: written by kube-controller-manager and not rewritten by
// this controller since.
func TakenOver(ep *corev1.Endpoints) bool {
	return ep.Labels[ManagedByLabel] == ReferenceControllerName
}

// Desired returns the Endpoints to write for svc: current (nil when there is
// none) with the computed subsets, the labels of spec 7.1 and the annotations
// of spec 6.1 and 7.2-7.3 in place. triggerTime is zero when no trigger is
// known. current is not modified.
func Desired(svc *corev1.Service, current *corev1.Endpoints, res Result, triggerTime time.Time) *corev1.Endpoints {
	return DesiredManagedBy(svc, current, res, triggerTime, ControllerName)
}

// DesiredManagedBy is Desired with managedBy, one of ManagedByValues, as the
// value of ManagedByLabel.
func DesiredManagedBy(svc *corev1.Service, current *corev1.Endpoints, res Result, triggerTime time.Time,
	managedBy string) *corev1.Endpoints {
	var ep *corev1.Endpoints
	if current != nil {
		// Only the metadata is kept: the subsets are replaced, and copying
		// them (up to 1000 addresses) would cost more than all the rest.
		ep = &corev1.Endpoints{TypeMeta: current.TypeMeta}
		current.ObjectMeta.DeepCopyInto(&ep.ObjectMeta)
	} else {
		ep = &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace}}
	}
	ep.Subsets = res.Subsets
	ep.Labels = LabelsManagedBy(svc, managedBy)

	annotations := make(map[string]string, len(ep.Annotations)+2)
	for k, v := range ep.Annotations {
		annotations[k] = v
	}
	delete(annotations, TriggerTimeAnnotation)
	delete(annotations, OverCapacityAnnotation)
	if !triggerTime.IsZero() {
		annotations[TriggerTimeAnnotation] = triggerTime.UTC().Format(time.RFC3339Nano)
	}
	if res.Truncated {
		annotations[OverCapacityAnnotation] = TruncatedValue
	}
	ep.Annotations = nil
	if len(annotations) > 0 {
		ep.Annotations = annotations
	}
	return ep
}

// UpToDate reports whether current already says what desired says, so that
// no write is needed (spec 8.1): the same subsets, ignoring the Pods'
// resourceVersion and accepting another writer's order; the same labels,
// ignoring the headless marker and accepting the reference controller's
// managed-by value (spec 7.1: a take-over from kube-controller-manager costs
// no write; the next write needed anyway sets this controller's value); and
// the over-capacity annotation in the same state. The trigger-time annotation
// never causes a write by itself.
//
// foreign, when not nil, names labels that another field manager owns: they
// are ignored unless desired sets them. Server-side apply leaves such labels
// in place, so they must not count as a difference.
func UpToDate(current, desired *corev1.Endpoints, foreign func(key string) bool) bool {
	if current.Annotations[OverCapacityAnnotation] != desired.Annotations[OverCapacityAnnotation] {
		return false
	}
	if !labelsEqual(current.Labels, desired.Labels, foreign) {
		return false
	}
	if SubsetsEqual(current.Subsets, desired.Subsets) {
		return true
	}
	// Another writer may have stored the same addresses and ports in another
	// order or grouping. Compare canonical forms: desired is canonical unless
	// it was truncated, which can leave two subsets with the same addresses
	// that re-packing merges, so it is re-packed too, on this slow path only.
	repacked := Repack(current.Subsets)
	return SubsetsEqual(repacked, desired.Subsets) || SubsetsEqual(repacked, Repack(desired.Subsets))
}

func labelsEqual(current, desired map[string]string, foreign func(string) bool) bool {
	n := 0
	for k, v := range current {
		if k == HeadlessLabel {
			continue
		}
		want, ok := desired[k]
		if !ok {
			if foreign != nil && foreign(k) {
				continue
			}
			return false
		}
		if v != want && (k != ManagedByLabel || v != ReferenceControllerName || want != ControllerName) {
			return false
		}
		n++
	}
	for k := range desired {
		if k != HeadlessLabel {
			n--
		}
	}
	return n == 0
}

// SubsetsEqual compares subsets field by field, in order, ignoring the
// resourceVersion of target references: a Pod's resourceVersion changes on
// every status heartbeat and is no reason to rewrite its Endpoints. Nil and
// empty lists are equal, as they are once stored.
func SubsetsEqual(a, b []corev1.EndpointSubset) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !addressesEqual(a[i].Addresses, b[i].Addresses) ||
			!addressesEqual(a[i].NotReadyAddresses, b[i].NotReadyAddresses) ||
			!portsEqual(a[i].Ports, b[i].Ports) {
			return false
		}
	}
	return true
}

func addressesEqual(a, b []corev1.EndpointAddress) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.IP != y.IP || x.Hostname != y.Hostname || stringValue(x.NodeName) != stringValue(y.NodeName) {
			return false
		}
		if (x.TargetRef == nil) != (y.TargetRef == nil) {
			return false
		}
		if x.TargetRef != nil {
			rx, ry := *x.TargetRef, *y.TargetRef
			rx.ResourceVersion, ry.ResourceVersion = "", ""
			if rx != ry {
				return false
			}
		}
	}
	return true
}

func portsEqual(a, b []corev1.EndpointPort) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if keyOfPort(&a[i]) != keyOfPort(&b[i]) {
			return false
		}
	}
	return true
}

func stringValue(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
