package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-endpoints/endpoints-controller/internal/clusterdiff"
	"github.com/kube-endpoints/endpoints-controller/internal/controller"
	"github.com/kube-endpoints/endpoints-controller/internal/endpoints"
)

// Exit statuses of the diff subcommand, those of `kubectl diff`.
const (
	diffNoChange = 0
	diffChanges  = 1
	diffError    = 2
)

// diffFlags are the flags of the diff subcommand.
type diffFlags struct {
	kubeconfig, context, namespaces, selector, method, output, colour string
	pageSize                                                          int64
	managedBy                                                         string
	timeout                                                           time.Duration
}

func (f *diffFlags) bind(fs *flag.FlagSet) {
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "Path of the kubeconfig; $KUBECONFIG or ~/.kube/config when empty, else in-cluster.")
	fs.StringVar(&f.context, "context", "", "Kubeconfig context to use; the current one when empty.")
	fs.StringVar(&f.namespaces, "namespaces", "", "Comma-separated namespaces to compare, as the controller's flag; empty compares all.")
	fs.StringVar(&f.selector, "service-label-selector", "",
		"Compare only the Services whose labels match this selector, as the controller's flag; empty compares all.")
	fs.StringVar(&f.method, "write-method", string(controller.WriteUpdate),
		"The controller's --write-method: with apply, labels that other field managers own are no difference.")
	fs.StringVar(&f.managedBy, "managed-by", endpoints.ControllerName,
		"The controller's --managed-by: the managed-by label value it writes, its own or kube-controller-manager's.")
	fs.StringVar(&f.output, "o", "text", "Output format: text (unified diffs and a summary line) or json.")
	fs.StringVar(&f.colour, "color", "auto", "Colour the diff: auto (when stdout is a terminal and NO_COLOR is unset), always or never.")
	fs.Int64Var(&f.pageSize, "page-size", clusterdiff.DefaultPageSize, "Objects per list request.")
	fs.DurationVar(&f.timeout, "request-timeout", 30*time.Second, "Timeout of each API request.")
}

// options checks the flags and returns the comparison's options.
func (f *diffFlags) options() (clusterdiff.Options, error) {
	opts := clusterdiff.Options{PageSize: f.pageSize, WriteMethod: controller.WriteMethod(f.method), ManagedBy: f.managedBy}
	switch {
	case !slices.Contains(endpoints.ManagedByValues, f.managedBy):
		return opts, fmt.Errorf("--managed-by must be one of %q, not %q", endpoints.ManagedByValues, f.managedBy)
	case f.output != "text" && f.output != "json":
		return opts, fmt.Errorf("-o must be text or json, not %q", f.output)
	case f.colour != "auto" && f.colour != "always" && f.colour != "never":
		return opts, fmt.Errorf("--color must be auto, always or never, not %q", f.colour)
	case !slices.Contains(controller.WriteMethods, opts.WriteMethod):
		return opts, fmt.Errorf("--write-method must be one of %v, not %q", controller.WriteMethods, f.method)
	case f.pageSize < 1:
		return opts, fmt.Errorf("--page-size must be at least 1, not %d", f.pageSize)
	}
	if f.selector != "" {
		sel, err := labels.Parse(f.selector)
		if err != nil {
			return opts, fmt.Errorf("--service-label-selector: %w", err)
		}
		opts.ServiceSelector = sel
	}
	if f.timeout <= 0 {
		// A zero timeout would mean none: a hung API server would hang diff.
		return opts, fmt.Errorf("--request-timeout must be positive, not %s", f.timeout)
	}
	if f.namespaces != "" {
		// As the controller's flag: an empty entry (a stray comma) would
		// mean all namespaces, and compare what the controller does not
		// manage.
		for i, ns := range strings.Split(f.namespaces, ",") {
			ns = strings.TrimSpace(ns)
			if ns == "" {
				return opts, fmt.Errorf("--namespaces: entry %d is empty (a stray comma?)", i+1)
			}
			if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
				return opts, fmt.Errorf("--namespaces: %q is not a valid namespace name: %s", ns, strings.Join(msgs, "; "))
			}
			opts.Namespaces = append(opts.Namespaces, ns)
		}
	}
	return opts, nil
}

// runDiff runs `endpoints-controller diff args...` and returns its exit
// status: 0 when the controller would change nothing, 1 when it would, 2 on
// an error, which is printed to stderr naming what failed. It never writes
// to the cluster.
func runDiff(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: endpoints-controller diff [flags]\n\n"+
			"Show what the controller would change in the Endpoints of the cluster, without writing anything.\n"+
			"Exit status: 0 nothing would change, 1 something would, 2 an error.\n\nFlags:")
		fs.PrintDefaults()
	}
	var f diffFlags
	f.bind(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return diffNoChange
		}
		return diffError // the flag package printed the error and usage
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "endpoints-controller diff: "+format+"\n", a...)
		return diffError
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments %q", fs.Args())
	}
	opts, err := f.options()
	if err != nil {
		return fail("%v", err)
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = f.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: f.context}).ClientConfig()
	if err != nil {
		return fail("loading kubeconfig: %v", err)
	}
	cfg.Timeout = f.timeout
	cfg.WarningHandler = quietEndpointsDeprecation{rest.NewWarningWriter(stderr, rest.WarningWriterOptions{Deduplicate: true})}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail("creating a client for %s: %v", cfg.Host, err)
	}
	report, err := clusterdiff.Compare(ctx, cs, opts)
	if err != nil {
		return fail("%v (API server %s)", err, cfg.Host)
	}

	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	} else {
		err = report.WriteText(stdout, useColour(f.colour, stdout))
	}
	if err != nil {
		return fail("writing the report: %v", err)
	}
	if report.Changed() {
		return diffChanges
	}
	return diffNoChange
}

// useColour decides whether to colour the diff written to w.
func useColour(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if _, set := os.LookupEnv("NO_COLOR"); set {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// quietEndpointsDeprecation passes API warnings on, except the deprecation
// warning of the v1 Endpoints API that comes with every Endpoints list: a
// command about Endpoints does not need to repeat it.
type quietEndpointsDeprecation struct{ rest.WarningHandler }

func (q quietEndpointsDeprecation) HandleWarningHeader(code int, agent, text string) {
	if code == 299 && strings.HasPrefix(text, "v1 Endpoints is deprecated") {
		return
	}
	q.WarningHandler.HandleWarningHeader(code, agent, text)
}
