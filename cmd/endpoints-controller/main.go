// Command endpoints-controller keeps the core/v1 Endpoints of every Service
// with a selector in line with its Pods. `endpoints-controller diff` shows
// what it would change, without writing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/version"
)

// Exit statuses of the controller: 2 for a usage error, as the flag package
// and kubectl use it; diff has its own (diff.go).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cmd, rest, err := splitCommand(args)
	if err != nil {
		return usageFailure(stderr, err)
	}
	if cmd == commandDiff {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runDiff(ctx, rest, stdout, stderr)
	}
	err = runController(rest, stdout)
	var usage usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage):
		return usageFailure(stderr, err)
	default:
		fmt.Fprintln(stderr, "endpoints-controller:", err)
		return exitError
	}
}

// usageError is a malformed command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usageFailure prints a usage error, kubectl's way, and returns exitUsage.
func usageFailure(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "endpoints-controller: %v\nRun 'endpoints-controller --help' for usage.\n", err)
	return exitUsage
}

// controllerFlags are the flags of the controller, and where they land.
type controllerFlags struct {
	opts        app.Options
	zap         zap.Options
	kubeconfig  string
	showVersion bool
}

// newControllerFlags returns the controller's flag set, bound to f with the
// defaults.
func newControllerFlags(f *controllerFlags) *flag.FlagSet {
	f.opts = app.DefaultOptions()
	fs := flag.NewFlagSet("endpoints-controller", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by run
	f.opts.BindFlags(fs)
	// --zap-devel, --zap-log-level, --zap-encoder (JSON by default) and friends.
	f.zap.BindFlags(fs)
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "Path of the kubeconfig; $KUBECONFIG, the in-cluster config or ~/.kube/config when empty.")
	fs.BoolVar(&f.showVersion, "version", false, "Print the version and exit.")
	// The names kube-controller-manager users carry over.
	alias(fs, "concurrent-endpoint-syncs", "concurrent-syncs")
	alias(fs, "leader-elect-resource-namespace", "leader-election-namespace")
	fs.Usage = func() {} // --help is answered by runController, errors by run
	return fs
}

// alias registers name as another name of the flag target.
func alias(fs *flag.FlagSet, name, target string) {
	t := fs.Lookup(target)
	fs.Var(t.Value, name, "Alias of --"+target+", kube-controller-manager's name.")
}

// setupLogging makes the logger of the flags, writing to w, the logger of
// controller-runtime and of klog: client-go logs through klog (reflectors,
// its rate limiter, warnings), and its lines must be JSON lines like the
// others, not klog's text.
func setupLogging(o *zap.Options, w io.Writer) logr.Logger {
	logger := zap.New(zap.UseFlagOptions(o), zap.WriteTo(w))
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)
	return logger
}

// runController parses the controller's flags from args, checks them, and
// runs the controller until a signal stops it.
func runController(args []string, stdout io.Writer) error {
	var f controllerFlags
	fs := newControllerFlags(&f)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout, fs)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if f.showVersion {
		fmt.Fprintln(stdout, version.Get())
		return nil
	}
	// Malformed flags are refused before anything connects.
	if err := f.opts.Validate(); err != nil {
		return usageError{err}
	}
	logger := setupLogging(&f.zap, os.Stderr)
	if f.opts.MetricsAddr != "0" && !f.opts.MetricsSecure {
		logger.Info("WARNING: --metrics-secure=false serves metrics over plain HTTP without authentication to anyone who reaches "+
			"the port; keep it to localhost or behind a NetworkPolicy", "metricsBindAddress", f.opts.MetricsAddr)
	}

	cfg, err := loadConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	return app.Run(ctrl.SetupSignalHandler(), cfg, f.opts)
}
