package e2e

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Malformed flags are refused at start, before anything connects: the binary
// exits 2 (a usage error) with a message naming the flag. No kubeconfig is given, so a binary
// that got as far as loading one would fail on that instead.
func TestMalformedFlagsRefused(t *testing.T) {
	bin, err := buildBinary(repoRoot(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		arg, want string
	}{
		{"--namespaces=a,", "--namespaces: entry 2 is empty"},
		{"--namespaces=Shop", `--namespaces: "Shop" is not a valid namespace name`},
		{"--leader-elect-retry-period=-1s", "--leader-elect-retry-period must not be negative"},
		{"--endpoint-updates-batch-period=-5ms", "--endpoint-updates-batch-period must not be negative"},
		{"--service-label-selector=a in (b", "--service-label-selector"},
		{"--write-method=replace", "--write-method must be one of"},
		{"dif", `unknown command "dif"`},
		{"--concurrent-syncs=x", `invalid value "x" for flag -concurrent-syncs`},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			cmd := exec.CommandContext(t.Context(), bin, tc.arg)
			cmd.Env = append(os.Environ(), "KUBECONFIG=", "HOME="+t.TempDir())
			cmd.WaitDelay = 10 * time.Second
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit: %v, want code 2; output:\n%s", err, out)
			}
			if !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "kubeconfig") {
				t.Errorf("output:\n%s\nwant it to contain %q and not to mention the kubeconfig", out, tc.want)
			}
		})
	}
}
