package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kube-endpoints/endpoints-controller/internal/clusterdiff"
)

// Exit statuses of the diff subcommand, those of `kubectl diff`.
const (
	diffNoChange = 0
	diffChanges  = 1
	diffError    = 2
)

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
	kubeconfig := fs.String("kubeconfig", "", "Path of the kubeconfig; $KUBECONFIG or ~/.kube/config when empty, else in-cluster.")
	kubeContext := fs.String("context", "", "Kubeconfig context to use; the current one when empty.")
	namespaces := fs.String("namespaces", "", "Comma-separated namespaces to compare, as the controller's flag; empty compares all.")
	selector := fs.String("service-label-selector", "",
		"Compare only the Services whose labels match this selector, as the controller's flag; empty compares all.")
	output := fs.String("o", "text", "Output format: text (unified diffs and a summary line) or json.")
	colour := fs.String("color", "auto", "Colour the diff: auto (when stdout is a terminal and NO_COLOR is unset), always or never.")
	pageSize := fs.Int64("page-size", clusterdiff.DefaultPageSize, "Objects per list request.")
	timeout := fs.Duration("request-timeout", 30*time.Second, "Timeout of each API request.")
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
	if *output != "text" && *output != "json" {
		return fail("-o must be text or json, not %q", *output)
	}
	if *colour != "auto" && *colour != "always" && *colour != "never" {
		return fail("--color must be auto, always or never, not %q", *colour)
	}
	if *pageSize < 1 {
		return fail("--page-size must be at least 1, not %d", *pageSize)
	}
	opts := clusterdiff.Options{PageSize: *pageSize}
	if *selector != "" {
		sel, err := labels.Parse(*selector)
		if err != nil {
			return fail("--service-label-selector: %v", err)
		}
		opts.ServiceSelector = sel
	}
	for _, ns := range strings.Split(*namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			opts.Namespaces = append(opts.Namespaces, ns)
		}
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = *kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: *kubeContext}).ClientConfig()
	if err != nil {
		return fail("loading kubeconfig: %v", err)
	}
	cfg.Timeout = *timeout
	cfg.WarningHandler = quietEndpointsDeprecation{rest.NewWarningWriter(stderr, rest.WarningWriterOptions{Deduplicate: true})}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fail("creating a client for %s: %v", cfg.Host, err)
	}
	report, err := clusterdiff.Compare(ctx, cs, opts)
	if err != nil {
		return fail("%v (API server %s)", err, cfg.Host)
	}

	if *output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	} else {
		err = report.WriteText(stdout, useColour(*colour, stdout))
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
