// Package envtestendpoints gives envtest suites the Endpoints that a real
// cluster's kube-controller-manager would write. controller-runtime's envtest
// runs only etcd and kube-apiserver, so a Service created there never gets
// Endpoints; Run starts this project's Endpoints controller in-process against
// the envtest API server, with the same wiring as the released binary
// (internal/app) and defaults fit for tests:
//
//   - no leader election, no metrics server, no health probes;
//   - the start-up sweep deletes only Endpoints this controller wrote, so
//     Endpoints a test created by hand (without a Service) are left alone;
//   - several controllers may run in one process (one per suite or test).
//
// Logs go to controller-runtime's logger (ctrl.SetLogger).
package envtestendpoints

import (
	"context"
	"strings"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
)

// Options tune the controller; the zero value is right for most suites.
type Options struct {
	// Namespaces limits the controller to these namespaces; all when empty.
	Namespaces []string
	// ServiceLabelSelector limits the controller to Services whose labels
	// match (e.g. "endpoints=managed"); all Services when empty.
	ServiceLabelSelector string
	// BatchPeriod delays Pod-triggered syncs to merge bursts; 0 (the
	// default) syncs at once.
	BatchPeriod time.Duration
}

// shutdownTimeout bounds how long Run waits for in-flight syncs once ctx
// ends: a sync takes milliseconds against envtest, and a suite's teardown
// should not wait for the 30s of the binary.
const shutdownTimeout = 5 * time.Second

// Run runs the Endpoints controller against the API server of cfg (an
// envtest.Environment's) until ctx ends, then returns nil; it returns an
// error at once when the options are invalid or the manager cannot start.
// Run blocks: start it in a goroutine.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	o := app.DefaultOptions()
	o.MetricsAddr = "0"
	o.ProbeAddr = "0"
	o.LeaderElect = false
	o.SkipNameValidation = true
	o.SweepManagedOnly = true
	o.GracefulShutdownTimeout = shutdownTimeout
	o.Namespaces = strings.Join(opts.Namespaces, ",")
	o.ServiceSelector = opts.ServiceLabelSelector
	o.BatchPeriod = opts.BatchPeriod
	return app.Run(ctx, cfg, o)
}
