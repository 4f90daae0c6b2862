package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Issue 16: the subcommand is found wherever it stands, as kubectl users type
// it, and any other word is refused instead of starting the controller.
func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantCmd  string
		wantRest []string
		wantErr  string
	}{
		{name: "controller", args: []string{"--leader-elect", "--namespaces=a"}, wantRest: []string{"--leader-elect", "--namespaces=a"}},
		{name: "no arguments", args: nil, wantRest: nil},
		{name: "diff first", args: []string{"diff", "--kubeconfig=x"}, wantCmd: "diff", wantRest: []string{"--kubeconfig=x"}},
		{name: "diff after a flag", args: []string{"--kubeconfig=x", "diff"}, wantCmd: "diff", wantRest: []string{"--kubeconfig=x"}},
		{name: "diff after a flag and its value", args: []string{"--kubeconfig", "x", "diff", "-o", "json"}, wantCmd: "diff",
			wantRest: []string{"--kubeconfig", "x", "-o", "json"}},
		{name: "single dash", args: []string{"-kubeconfig", "x", "diff"}, wantCmd: "diff", wantRest: []string{"-kubeconfig", "x"}},
		{name: "diff after a boolean flag", args: []string{"--leader-elect", "diff"}, wantCmd: "diff", wantRest: []string{"--leader-elect"}},
		{name: "a value named diff", args: []string{"--namespaces", "diff"}, wantRest: []string{"--namespaces", "diff"}},
		{name: "typo", args: []string{"dif"}, wantErr: `unknown command "dif"`},
		{name: "typo after flags", args: []string{"--kubeconfig=x", "dif"}, wantErr: `unknown command "dif"`},
		{name: "value of a boolean flag", args: []string{"--leader-elect", "false"}, wantErr: `unknown command "false"`},
		{name: "unknown flag before a word", args: []string{"--no-such-flag", "x"}, wantErr: "flag provided but not defined: -no-such-flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, rest, err := splitCommand(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || cmd != tc.wantCmd || !reflect.DeepEqual(rest, tc.wantRest) {
				t.Errorf("splitCommand(%q) = %q, %q, %v; want %q, %q", tc.args, cmd, rest, err, tc.wantCmd, tc.wantRest)
			}
		})
	}
}

// Issue 16: every malformed argument is refused before anything connects,
// with a message naming it and exit status 2; a missing kubeconfig is one
// line; --kubeconfig=X diff runs diff.
func TestRun(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.kubeconfig")
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	for _, tc := range []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string // the whole of it when wantLines > 0
		wantLines  int
	}{
		{name: "typo of diff", args: []string{"dif"}, wantCode: 2, wantStderr: `unknown command "dif"`},
		{name: "leftover argument", args: []string{"--leader-elect", "true"}, wantCode: 2, wantStderr: `unknown command "true"`},
		{name: "unknown flag", args: []string{"--leader-elect-namespace=x"}, wantCode: 2, wantStderr: "flag provided but not defined: -leader-elect-namespace"},
		{name: "malformed value", args: []string{"--concurrent-syncs=many"}, wantCode: 2, wantStderr: `invalid value "many" for flag -concurrent-syncs`},
		{name: "invalid value", args: []string{"--concurrent-endpoint-syncs=0"}, wantCode: 2, wantStderr: "--concurrent-syncs must be at least 1, not 0"},
		{name: "stray comma", args: []string{"--namespaces=a,"}, wantCode: 2, wantStderr: "--namespaces: entry 2 is empty"},
		{name: "missing kubeconfig", args: []string{"--kubeconfig=" + missing}, wantCode: 1, wantLines: 1,
			wantStderr: "endpoints-controller: --kubeconfig: stat " + missing + ": no such file or directory\n"},
		{name: "no cluster at all", args: nil, wantCode: 1, wantLines: 1,
			wantStderr: "endpoints-controller: no cluster configured: none of --kubeconfig, $KUBECONFIG, the in-cluster config or ~/.kube/config\n"},
		{name: "kubeconfig before diff runs diff", args: []string{"--kubeconfig=" + missing, "diff"}, wantCode: 2,
			wantStderr: "endpoints-controller diff: loading kubeconfig: stat " + missing},
		{name: "diff with a leftover argument", args: []string{"diff", "default"}, wantCode: 2, wantStderr: `unexpected arguments ["default"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if tc.wantLines > 0 {
				if stderr.String() != tc.wantStderr {
					t.Errorf("stderr %q, want exactly %q", stderr.String(), tc.wantStderr)
				}
			} else if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", stderr.String(), tc.wantStderr)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// Issue 16: --help lists the commands and the flags in groups, the
// Kubernetes way, every flag in a named group.
func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, want 0; stderr %s", code, stderr.String())
	}
	help := stdout.String()
	for _, want := range []string{
		"endpoints-controller diff [flags]", "\nController flags:\n", "\nLeader election flags:\n", "\nMetrics flags:\n", "\nLogging flags:\n",
		"      --concurrent-syncs int ", "      --concurrent-endpoint-syncs int ", "      --leader-elect-resource-namespace string ",
		"      --leader-elect ", "(default 20)",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q:\n%s", want, help)
		}
	}
	if strings.Contains(help, "Other flags") {
		t.Errorf("--help lists flags outside the groups:\n%s", help[strings.Index(help, "Other flags"):])
	}
	var f controllerFlags
	newControllerFlags(&f).VisitAll(func(fl *flag.Flag) {
		if !strings.Contains(help, "      --"+fl.Name+" ") {
			t.Errorf("--help lacks --%s", fl.Name)
		}
	})
}

// The aliases set the same options as the flags they stand for.
func TestAliases(t *testing.T) {
	var f controllerFlags
	fs := newControllerFlags(&f)
	if err := fs.Parse([]string{"--concurrent-endpoint-syncs=7", "--leader-elect-resource-namespace=ops"}); err != nil {
		t.Fatal(err)
	}
	if f.opts.ConcurrentSyncs != 7 || f.opts.LeaderElectionNamespace != "ops" {
		t.Errorf("concurrent syncs %d, lease namespace %q; want 7 and ops", f.opts.ConcurrentSyncs, f.opts.LeaderElectionNamespace)
	}
}

func init() {
	// The tests run in a process without a kubeconfig of their own.
	_ = os.Unsetenv("KUBERNETES_SERVICE_HOST")
}

// Issue 16: klog's lines (client-go's) go to the same JSON logger as the
// controller's own.
func TestKlogRoutedToJSON(t *testing.T) {
	var buf syncWriter
	setupLogging(&zap.Options{}, &buf)
	klog.InfoS("From klog", "answer", 42)
	klog.Flush()
	var entry map[string]any
	line := strings.TrimSpace(buf.String())
	if err := json.Unmarshal([]byte(line), &entry); err != nil || entry["msg"] != "From klog" || entry["answer"] != float64(42) {
		t.Errorf("klog wrote %q (%v), want a JSON line with msg \"From klog\" and answer 42", line, err)
	}
}

// syncWriter is a bytes.Buffer for concurrent writers.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
