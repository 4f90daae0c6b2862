// Package controllers_test runs the Endpoints controller, wired as the binary
// wires it (app.NewManager), against a real kube-apiserver and etcd (envtest)
// and asserts the Endpoints objects it leaves in the API.
//
// One control plane serves the whole package (TestMain). Every test creates
// its own namespace and runs its own manager whose cache is restricted to that
// namespace, so tests cannot see each other's objects. Tests do not run in
// parallel: the controller's metrics are process-global, and several tests
// use before/after differences of them to know that a sync happened.
//
// There is no kubelet and no controller-manager: Pods get spec.nodeName at
// creation and their status (phase, IPs, Ready condition) through the status
// subresource; deleted namespaces stay Terminating for ever.
//
// KUBEBUILDER_ASSETS names the directory with the etcd and kube-apiserver
// binaries (`make test` sets it). TEST_LOG=1 prints the controller's logs.
package controller_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/podcache"
	"github.com/kube-endpoints/endpoints-controller/internal/testenv"
)

// Bounds of every wait. The controller reacts within milliseconds; the
// timeout only bounds how long a failing test hangs on a loaded machine.
const (
	pollInterval = 25 * time.Millisecond
	pollTimeout  = 20 * time.Second
)

var (
	// restConfig reaches the envtest API server.
	restConfig *rest.Config
	// k8sClient talks to the API server directly, without a cache: what a
	// test reads is what is stored.
	k8sClient client.Client
	scheme    = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests starts one control plane for the package and stops it after the tests.
func runTests(m *testing.M) int {
	if os.Getenv("TEST_LOG") != "" {
		ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		fmt.Fprintln(os.Stderr, "Building the scheme:", err)
		return 1
	}
	return testenv.Main(&envtest.Environment{}, func(cfg *rest.Config) int {
		restConfig = cfg
		direct := rest.CopyConfig(cfg)
		// Every Endpoints call carries a deprecation warning; the test client need not print it.
		direct.WarningHandler = rest.NoWarnings{}
		c, err := client.New(direct, client.Options{Scheme: scheme})
		if err != nil {
			fmt.Fprintln(os.Stderr, "Creating the test client:", err)
			return 1
		}
		k8sClient = c
		return m.Run()
	})
}

// newNamespace creates a namespace for one test and returns its name. It is
// deleted after the test (and its manager) ended; without a namespace
// controller it then merely stays Terminating.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ep-test-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("Creating namespace: %v", err)
	}
	t.Cleanup(func() {
		// A namespace a test deleted already is Terminating: deleting it again is a conflict.
		err := k8sClient.Delete(context.Background(), ns)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			t.Errorf("Deleting namespace %s: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// testOptions returns the production defaults for a manager limited to
// namespaces, with no metrics or probe server.
func testOptions(namespaces string) app.Options {
	opts := app.DefaultOptions()
	opts.Namespaces = namespaces
	opts.MetricsAddr = "0"
	opts.ProbeAddr = "0"
	opts.SkipNameValidation = true
	return opts
}

// runningManager is a manager started by a test.
type runningManager struct {
	mgr    ctrl.Manager
	cancel context.CancelFunc
	done   chan error
}

// startController builds the production manager (app.NewManager) for
// namespaces with the options changed by mutate, starts it and stops it when
// the test ends.
func startController(t *testing.T, namespaces string, mutate func(*app.Options)) *runningManager {
	t.Helper()
	opts := testOptions(namespaces)
	if mutate != nil {
		mutate(&opts)
	}
	mgr, err := app.NewManager(restConfig, opts)
	if err != nil {
		t.Fatalf("Creating manager: %v", err)
	}
	return startManager(t, mgr)
}

// startControllerSwept is startController, and waits until the start-up
// sweep (spec 8.6) has listed the Endpoints: Endpoints without a Service that
// exist at that moment are orphans and deleted, so a test that creates such
// Endpoints while the controller runs must not race with the sweep. A
// sentinel orphan created before the start is deleted only by the sweep.
func startControllerSwept(t *testing.T, namespace string, mutate func(*app.Options)) *runningManager {
	t.Helper()
	sentinel := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "sweep-sentinel"}}
	if err := k8sClient.Create(context.Background(), sentinel); err != nil {
		t.Fatalf("Creating the sweep sentinel: %v", err)
	}
	rm := startController(t, namespace, mutate)
	eventuallyGone(t, namespace, sentinel.Name)
	return rm
}

// newBareManager returns a manager with the production cache settings (for
// the default write method) and namespaces, and the index to give the reconciler, but no
// controller: for tests that build the reconciler themselves (to wrap its
// client or record its events).
func newBareManager(t *testing.T, namespaces ...string) (ctrl.Manager, *podcache.Index) {
	t.Helper()
	cfg := rest.CopyConfig(restConfig)
	cfg.WarningHandler = rest.NoWarnings{}
	opts := ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{}},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	}
	for _, ns := range namespaces {
		opts.Cache.DefaultNamespaces[ns] = cache.Config{}
	}
	index := podcache.Install(&opts, false)
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		t.Fatalf("Creating manager: %v", err)
	}
	return mgr, index
}

// startManager runs mgr until stop is called or the test ends.
func startManager(t *testing.T, mgr ctrl.Manager) *runningManager {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rm := &runningManager{mgr: mgr, cancel: cancel, done: make(chan error, 1)}
	go func() { rm.done <- mgr.Start(ctx) }()
	t.Cleanup(func() { rm.stop(t) })
	return rm
}

// stop cancels the manager and waits for Start to return; it may be called
// more than once.
func (rm *runningManager) stop(t *testing.T) {
	t.Helper()
	rm.cancel()
	err, ok := <-rm.done
	if !ok {
		return
	}
	close(rm.done)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Manager stopped with an error: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test with the last reason
// cond gave once pollTimeout has passed.
func waitFor(t *testing.T, what string, cond func(ctx context.Context) (ok bool, reason string, err error)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), pollInterval, pollTimeout, true,
		func(ctx context.Context) (bool, error) {
			ok, reason, err := cond(ctx)
			if reason != "" {
				last = reason
			}
			return ok, err
		})
	if err != nil {
		t.Fatalf("Waiting for %s: %v\n%s", what, err, last)
	}
}
