package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// flagGroups sorts the controller's flags into the sections of --help, in
// the Kubernetes components' style; a flag in none of them is listed under
// "Other flags" (and a test fails).
var flagGroups = []struct {
	title string
	flags []string
}{
	{"Controller flags", []string{
		"kubeconfig", "namespaces", "service-label-selector", "write-method", "managed-by", "dry-run", "shadow-settle-period",
		"concurrent-syncs", "concurrent-endpoint-syncs", "endpoint-updates-batch-period", "pod-burst-max-delay",
		"kube-api-qps", "kube-api-burst", "graceful-shutdown-timeout", "health-probe-bind-address", "pprof-bind-address", "version",
	}},
	{"Leader election flags", []string{
		"leader-elect", "leader-election-namespace", "leader-elect-resource-namespace", "leader-elect-resource-name",
		"leader-elect-lease-duration", "leader-elect-renew-deadline", "leader-elect-retry-period",
	}},
	{"Metrics flags", []string{
		"metrics-bind-address", "metrics-secure", "metrics-cert-path", "metrics-cert-name", "metrics-cert-key", "enable-http2",
		"authentication-kubeconfig", "authorization-kubeconfig",
	}},
	{"Logging flags", []string{"zap-devel", "zap-encoder", "zap-log-level", "zap-stacktrace-level", "zap-time-encoding"}},
}

// printUsage writes the controller's help: the commands, then the flags by
// group.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `endpoints-controller keeps the core/v1 Endpoints of every Service with a selector in line with its Pods,
as kube-controller-manager's endpoints controller does.

Usage:
  endpoints-controller [flags]         Run the controller.
  endpoints-controller diff [flags]    Show what the controller would change, without writing anything
                                       (exit status 0 nothing, 1 changes, 2 error).

Run 'endpoints-controller diff --help' for the flags of diff.
`)
	listed := map[string]bool{}
	for _, g := range flagGroups {
		var flags []*flag.Flag
		for _, name := range g.flags {
			if f := fs.Lookup(name); f != nil {
				flags = append(flags, f)
				listed[name] = true
			}
		}
		printFlags(w, g.title, flags)
	}
	var other []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if !listed[f.Name] {
			other = append(other, f)
		}
	})
	sort.Slice(other, func(i, j int) bool { return other[i].Name < other[j].Name })
	printFlags(w, "Other flags", other)
}

// printFlags writes one section of flags: "--name type", the usage, and the
// default when it is not the zero value.
func printFlags(w io.Writer, title string, flags []*flag.Flag) {
	if len(flags) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	heads := make([]string, len(flags))
	width := 0
	for i, f := range flags {
		typ, _ := flag.UnquoteUsage(f)
		heads[i] = "      --" + f.Name
		if typ != "" {
			heads[i] += " " + typ
		}
		width = max(width, len(heads[i]))
	}
	for i, f := range flags {
		_, usage := flag.UnquoteUsage(f)
		if def := f.DefValue; def != "" && def != "false" && def != "0" && def != "0s" {
			usage += fmt.Sprintf(" (default %s)", quoteIfString(f, def))
		}
		fmt.Fprintf(w, "%-*s   %s\n", width, heads[i], strings.ReplaceAll(usage, "\n", "\n"+strings.Repeat(" ", width+3)))
	}
}

// quoteIfString quotes the default of a string flag, as the flag package does.
func quoteIfString(f *flag.Flag, def string) string {
	if typ, _ := flag.UnquoteUsage(f); typ == "string" {
		return fmt.Sprintf("%q", def)
	}
	return def
}
