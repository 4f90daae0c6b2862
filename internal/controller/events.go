package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Event reasons, for what a user can act on.
const (
	// ReasonFailedToCreateEndpoint: the API server refused to create the Endpoints.
	ReasonFailedToCreateEndpoint = "FailedToCreateEndpoint"
	// ReasonFailedToUpdateEndpoint: the API server refused to change the Endpoints.
	ReasonFailedToUpdateEndpoint = "FailedToUpdateEndpoint"
	// ReasonFailedToSyncEndpoints: the sync kept failing through the fast
	// retries; it is retried slowly until it succeeds.
	ReasonFailedToSyncEndpoints = "FailedToSyncEndpoints"
	// ReasonInvalidEndpointAddress: Pods or ports were left out because the API
	// server would reject them in an Endpoints object.
	ReasonInvalidEndpointAddress = "InvalidEndpointAddress"
)

// reportExcluded raises one Warning event for the Pods and ports left out
// because the API server would reject them (spec 3.6), when they differ from
// what was last reported for the Service, and logs the rest.
func (r *EndpointsReconciler) reportExcluded(ctx context.Context, svc *corev1.Service, excluded []endpoints.Exclusion) {
	logger := log.FromContext(ctx)
	var invalid []endpoints.Exclusion
	var lines []string
	for _, e := range excluded {
		if !e.Invalid() {
			logger.V(4).Info("Left out of Endpoints", "pod", e.Pod, "port", e.Port, "reason", e.Reason, "detail", e.Detail)
			continue
		}
		invalid = append(invalid, e)
		lines = append(lines, e.String())
	}
	key := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	joined := strings.Join(lines, "\n")
	if !r.states.report(key, joined) || len(invalid) == 0 {
		return
	}
	for _, e := range invalid {
		excludedTotal.WithLabelValues(string(e.Reason)).Inc()
	}
	const shown = 5 // keep the event readable; the count tells the rest
	msg := fmt.Sprintf("%d invalid Pod address(es) or port(s) left out of Endpoints", len(lines))
	for i, s := range lines {
		if i == shown {
			msg += "; ..."
			break
		}
		msg += "; " + s
	}
	logger.Info("Left invalid Pods or ports out of Endpoints", "count", len(lines), "first", lines[0])
	r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, ReasonInvalidEndpointAddress, "Sync", "%s", msg)
}

// reportFailing raises a Warning event on the Service whose sync has failed
// through all the fast retries, when it still exists.
func (r *EndpointsReconciler) reportFailing(key types.NamespacedName, err error) {
	svc := r.Index.Service(key)
	if svc == nil {
		return
	}
	r.Recorder.Eventf(svc, nil, corev1.EventTypeWarning, ReasonFailedToSyncEndpoints, "Sync",
		"Endpoints still not in sync after %d retries, retrying every %s: %v", maxRetries, slowRetryPeriod, err)
}
