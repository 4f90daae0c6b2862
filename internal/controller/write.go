package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// WriteMethod is how existing Endpoints are changed (endpoints.WriteMethod).
type WriteMethod = endpoints.WriteMethod

// The write methods, as package endpoints names them.
const (
	WriteUpdate = endpoints.WriteUpdate
	WritePatch  = endpoints.WritePatch
	WriteApply  = endpoints.WriteApply
)

// writeCreate labels the metric and logs of a create (POST); it is not a
// configurable method: missing Endpoints are always created.
const writeCreate WriteMethod = "create"

// WriteMethods lists the valid values of WriteMethod, for flag help.
var WriteMethods = endpoints.WriteMethods

// FieldManager is the field manager of every write.
const FieldManager = endpoints.FieldManager

// write sends the one write that makes the Endpoints equal desired, decided
// from current (nil when there are none: a create), and accounts for it. It
// returns the sync result, or the error of the sync: a create in a
// terminating namespace is dropped (spec 8.3); a conflict is counted and
// returned for converge to resolve; any other refusal raises a Warning event
// (spec 8.4).
func (r *EndpointsReconciler) write(ctx context.Context, svc *corev1.Service, current, desired *corev1.Endpoints) (string, error) {
	logger := log.FromContext(ctx)
	if r.DryRun {
		r.states.differs(ctx, client.ObjectKeyFromObject(desired), current, desired)
	}
	method := r.WriteMethod
	create := current == nil
	partial := false // the write leaves part of the change to the next sync
	if create && method != WriteApply {
		method = writeCreate
	}
	if method == WriteApply && !create {
		if stripped, ok := endpoints.WithoutForeignLeftovers(current, desired); ok {
			// Server-side apply cannot remove a field that another field
			// manager owns too (the reference controller before a take-over,
			// this controller with another write method, a hand edit): the
			// field would stay, and every sync would apply again. Remove such
			// fields alone with a merge patch, which leaves the ownership of
			// all other fields as it is; whatever else differs is applied by
			// the sync that this change of the Endpoints triggers.
			method, desired, partial = WritePatch, stripped, true
		}
	}
	if err := r.send(ctx, method, current, desired); err != nil {
		if errors.Is(err, errFenced) {
			return "", err
		}
		if create && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// Spec 8.3: the namespace is going away; creates will keep failing.
			logger.V(5).Info("Namespace is terminating, not creating Endpoints")
			return resultDropped, nil
		}
		reason, verb := ReasonFailedToUpdateEndpoint, "update"
		if create {
			reason, verb = ReasonFailedToCreateEndpoint, "create"
		}
		if isConflict(err) {
			// Not for a user to act on: converge resolves it.
			conflictsTotal.WithLabelValues(string(method)).Inc()
		} else {
			r.Recorder.Eventf(svc, desired, corev1.EventTypeWarning, reason, "Sync",
				"Failed to %s Endpoints %s/%s: %v", verb, svc.Namespace, svc.Name, err)
		}
		return "", fmt.Errorf("%s Endpoints %s/%s (%s): %w", strings.TrimSuffix(verb, "e")+"ing", svc.Namespace, svc.Name, method, err)
	}

	result, msg := resultUpdated, "Wrote Endpoints"
	if create {
		result = resultCreated
	}
	if r.DryRun {
		msg = "Dry run: would write Endpoints"
	} else {
		if !create && desired.ResourceVersion != current.ResourceVersion {
			// Spec 8.5: until the cache shows a newer version than the one
			// just replaced, syncing from it would act on stale data.
			r.states.replaced(current, desired.ResourceVersion)
		}
		if !partial {
			r.states.wrote(desired)
		}
		observeChangeToWrite(desired, r.Clock.Now())
	}
	ready, notReady := endpoints.CountAddresses(desired.Subsets)
	logger.Info(msg, "action", result, "method", method, "endpoints", klog.KObj(desired),
		"ready", ready, "notReady", notReady, "subsets", len(desired.Subsets))
	return result, nil
}

// errFenced marks a write that the fence refused: it was not sent.
var errFenced = errors.New("refusing to write")

// send sends desired with method, through the fence, and counts it.
func (r *EndpointsReconciler) send(ctx context.Context, method WriteMethod, current, desired *corev1.Endpoints) error {
	ctx, cancel, err := r.fence(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	// Counted before it is sent: a test or an operator that sees the
	// written object in the API also sees it counted.
	writesTotal.WithLabelValues(string(method), dryRunLabel(r.DryRun)).Inc()
	switch method {
	case writeCreate:
		return r.Client.Create(ctx, desired, writeOptions{r.DryRun})
	case WriteUpdate:
		return r.Client.Update(ctx, desired, writeOptions{r.DryRun})
	case WritePatch:
		return r.Client.Patch(ctx, desired, client.MergeFromWithOptions(current, client.MergeFromWithOptimisticLock{}), writeOptions{r.DryRun})
	case WriteApply:
		return r.apply(ctx, desired)
	}
	return fmt.Errorf("unknown write method %q", method)
}

// fence asks WriteFence whether a write may be sent now; when it may, it
// returns ctx bounded by the fence's deadline, to be cancelled once the
// write is done.
func (r *EndpointsReconciler) fence(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if r.WriteFence == nil {
		return ctx, func() {}, nil
	}
	deadline, err := r.WriteFence()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errFenced, err)
	}
	if deadline.IsZero() {
		return ctx, func() {}, nil
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	return ctx, cancel, nil
}

// isConflict reports whether err is an HTTP 409 from a write: the cached
// Endpoints were not the live ones (a stale resourceVersion, or a create of
// Endpoints the cache did not show yet).
func isConflict(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
}

// apply writes desired with server-side apply: the subsets, the labels and
// the two annotations this controller owns, with the resourceVersion desired
// was decided from, when it has one. Annotations it does not own are
// not part of its intent and stay as other managers left them.
func (r *EndpointsReconciler) apply(ctx context.Context, desired *corev1.Endpoints) error {
	ac := corev1ac.Endpoints(desired.Name, desired.Namespace).WithLabels(desired.Labels)
	if desired.ResourceVersion != "" {
		// The version the write was decided from: if the Endpoints changed
		// since, the apply fails with a conflict, resolved from a live read
		// as for the other methods, instead of overwriting newer Endpoints.
		ac.WithResourceVersion(desired.ResourceVersion)
	}
	for _, k := range []string{endpoints.TriggerTimeAnnotation, endpoints.OverCapacityAnnotation} {
		if v, ok := desired.Annotations[k]; ok {
			ac.WithAnnotations(map[string]string{k: v})
		}
	}
	if len(desired.Subsets) > 0 {
		// The apply configuration types mirror the API types field for field;
		// a JSON round trip converts between them.
		raw, err := json.Marshal(desired.Subsets)
		if err != nil {
			return fmt.Errorf("encoding subsets: %w", err)
		}
		var subsets []corev1ac.EndpointSubsetApplyConfiguration
		if err := json.Unmarshal(raw, &subsets); err != nil {
			return fmt.Errorf("decoding subsets: %w", err)
		}
		for i := range subsets {
			ac.WithSubsets(&subsets[i])
		}
	}
	opts := []client.ApplyOption{client.FieldOwner(FieldManager), client.ForceOwnership}
	if r.DryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := r.Client.Apply(ctx, ac, opts...); err != nil {
		return err
	}
	// The response is decoded into ac; its resourceVersion feeds the stale guard.
	if ac.ResourceVersion != nil {
		desired.ResourceVersion = *ac.ResourceVersion
	}
	return nil
}

// remove deletes ep, only the very version read (UID and resourceVersion
// preconditions): Endpoints recreated meanwhile, or changed since (a user
// who took them over by removing the managed-by label a moment ago), are
// not lost. A changed object makes the delete fail with a conflict; the
// retry decides again from what the cache then shows.
func (r *EndpointsReconciler) remove(ctx context.Context, ep *corev1.Endpoints) error {
	uid, version := ep.UID, ep.ResourceVersion
	opts := []client.DeleteOption{client.Preconditions{UID: &uid, ResourceVersion: &version}}
	if r.DryRun {
		opts = append(opts, client.DryRunAll)
		r.states.differs(ctx, client.ObjectKeyFromObject(ep), ep, nil)
	}
	ctx, cancel, err := r.fence(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	writesTotal.WithLabelValues("delete", dryRunLabel(r.DryRun)).Inc()
	err = r.Client.Delete(ctx, ep, opts...)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting Endpoints %s: %w", client.ObjectKeyFromObject(ep), err)
	}
	if r.DryRun {
		log.FromContext(ctx).Info("Dry run: would delete Endpoints", "endpoints", klog.KObj(ep))
	} else if err == nil {
		log.FromContext(ctx).Info("Deleted Endpoints", "endpoints", klog.KObj(ep))
	}
	return nil
}

// writeOptions are what every create, update and patch carries: the field
// manager, strict field validation (an unknown field is an error, not a
// warning) and, in dry-run mode, dryRun=All.
type writeOptions struct{ dryRun bool }

func (o writeOptions) dryRunValue() []string {
	if o.dryRun {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// ApplyToCreate implements client.CreateOption.
func (o writeOptions) ApplyToCreate(c *client.CreateOptions) {
	c.FieldManager, c.FieldValidation, c.DryRun = FieldManager, metav1.FieldValidationStrict, o.dryRunValue()
}

// ApplyToUpdate implements client.UpdateOption.
func (o writeOptions) ApplyToUpdate(u *client.UpdateOptions) {
	u.FieldManager, u.FieldValidation, u.DryRun = FieldManager, metav1.FieldValidationStrict, o.dryRunValue()
}

// ApplyToPatch implements client.PatchOption.
func (o writeOptions) ApplyToPatch(p *client.PatchOptions) {
	p.FieldManager, p.FieldValidation, p.DryRun = FieldManager, metav1.FieldValidationStrict, o.dryRunValue()
}

func dryRunLabel(dryRun bool) string {
	if dryRun {
		return "true"
	}
	return "false"
}
