package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// TestVersionStamped builds the binary the way `make build` and the
// Dockerfile do, with the version and revision set by the linker, and checks
// what --version prints.
func TestVersionStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "endpoints-controller")
	const pkg = "github.com/kube-endpoints/endpoints-controller/internal/version"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X "+pkg+".Version=v9.8.7-test -X "+pkg+".Revision=0123456789abcdef", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	want := "endpoints-controller v9.8.7-test (revision 0123456789abcdef, " + runtime.Version() + ")\n"
	if string(out) != want {
		t.Errorf("--version printed %q, want %q", out, want)
	}
}
