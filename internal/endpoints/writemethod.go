package endpoints

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WriteMethod is how existing Endpoints are changed.
type WriteMethod string

const (
	// WriteUpdate replaces the whole object (PUT) with the cached
	// resourceVersion: a concurrent change makes it fail with a conflict.
	WriteUpdate WriteMethod = "update"
	// WritePatch sends a JSON merge patch of what changed, with the cached
	// resourceVersion as precondition.
	WritePatch WriteMethod = "patch"
	// WriteApply uses server-side apply as FieldManager, so that labels and
	// annotations other tools add to the Endpoints survive.
	WriteApply WriteMethod = "apply"
)

// WriteMethods lists the valid values of WriteMethod, for flag help.
var WriteMethods = []WriteMethod{WriteUpdate, WritePatch, WriteApply}

// FieldManager is the field manager of every write.
const FieldManager = "endpoints-controller"

// ownedFields is the part of a managed-fields entry this controller reads.
type ownedFields struct {
	Subsets  json.RawMessage `json:"f:subsets"`
	Metadata struct {
		Labels      map[string]json.RawMessage `json:"f:labels"`
		Annotations map[string]json.RawMessage `json:"f:annotations"`
	} `json:"f:metadata"`
}

// decodeOwnedFields decodes mf's fields; false when it has none or they do
// not parse (then the entry is ignored).
func decodeOwnedFields(mf *metav1.ManagedFieldsEntry) (ownedFields, bool) {
	var fields ownedFields
	if mf.FieldsV1 == nil {
		return fields, false
	}
	return fields, json.Unmarshal(mf.FieldsV1.GetRawBytes(), &fields) == nil
}

// isOwnApply reports whether mf is this controller's server-side apply entry.
func isOwnApply(mf *metav1.ManagedFieldsEntry) bool {
	return mf.Manager == FieldManager && mf.Operation == metav1.ManagedFieldsOperationApply
}

// ForeignLabels returns the foreign argument of UpToDate for
// Endpoints current written with method: which of its labels belong to other
// field managers. Only server-side apply leaves such labels in place; the
// full writes replace all labels, so nothing is foreign for them (nil).
// current must still hold its managed fields.
func ForeignLabels(method WriteMethod, current *corev1.Endpoints) func(string) bool {
	if method != WriteApply {
		return nil
	}
	owned := labelsOwnedByUs(current)
	return func(key string) bool { return !owned[key] }
}

// labelsOwnedByUs returns the label keys that this controller owns through
// server-side apply, read from ep's managed fields.
func labelsOwnedByUs(ep *corev1.Endpoints) map[string]bool {
	owned := map[string]bool{}
	for i := range ep.ManagedFields {
		mf := &ep.ManagedFields[i]
		if !isOwnApply(mf) {
			continue
		}
		fields, ok := decodeOwnedFields(mf)
		if !ok {
			continue
		}
		for k := range fields.Metadata.Labels {
			if name, ok := strings.CutPrefix(k, "f:"); ok {
				owned[name] = true
			}
		}
	}
	return owned
}

// WithoutForeignLeftovers returns a copy of current without what desired
// drops but a field manager other than this controller's apply owns, and
// whether there was any: the over-capacity annotation (spec 6.1) and the
// subsets of a Service left without Pods (spec 8.7). The copy carries
// desired's managed-by value.
func WithoutForeignLeftovers(current, desired *corev1.Endpoints) (*corev1.Endpoints, bool) {
	_, dropAnnotation := current.Annotations[OverCapacityAnnotation]
	if _, keep := desired.Annotations[OverCapacityAnnotation]; keep {
		dropAnnotation = false
	}
	dropSubsets := len(current.Subsets) > 0 && len(desired.Subsets) == 0
	if !dropAnnotation && !dropSubsets {
		return nil, false
	}
	var foreignAnnotation, foreignSubsets bool
	for i := range current.ManagedFields {
		mf := &current.ManagedFields[i]
		if isOwnApply(mf) {
			continue
		}
		fields, ok := decodeOwnedFields(mf)
		if !ok {
			continue
		}
		_, owned := fields.Metadata.Annotations["f:"+OverCapacityAnnotation]
		foreignAnnotation = foreignAnnotation || (dropAnnotation && owned)
		foreignSubsets = foreignSubsets || (dropSubsets && fields.Subsets != nil)
	}
	if !foreignAnnotation && !foreignSubsets {
		return nil, false
	}
	stripped := current.DeepCopy()
	if foreignAnnotation {
		delete(stripped.Annotations, OverCapacityAnnotation)
	}
	if foreignSubsets {
		stripped.Subsets = nil
	}
	// Endpoints taken over from the reference controller pass the no-write
	// check with its managed-by value (spec 7.1); this write, needed anyway,
	// sets this controller's, or the value would outlast the take-over.
	if v := desired.Labels[ManagedByLabel]; stripped.Labels[ManagedByLabel] != v {
		if stripped.Labels == nil {
			stripped.Labels = map[string]string{}
		}
		stripped.Labels[ManagedByLabel] = v
	}
	return stripped, true
}
