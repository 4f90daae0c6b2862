package config_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// pinnedFrom is a FROM line whose image is pinned by digest, e.g.
// "FROM golang:1.26@sha256:<64 hex> AS builder".
var pinnedFrom = regexp.MustCompile(`^FROM\s+(--platform=\S+\s+)?\S+@sha256:[0-9a-f]{64}(\s+AS\s+\S+)?$`)

// TestDockerfileBaseImagesPinned checks that every base image of the
// Dockerfile is pinned by digest: a tag moves, and the image built from one
// commit must not change with it.
func TestDockerfileBaseImagesPinned(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot(), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	stages := map[string]bool{}
	froms := 0
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		froms++
		// An earlier stage of this Dockerfile needs no pin.
		if !stages[fields[1]] && !pinnedFrom.MatchString(line) {
			t.Errorf("Dockerfile: %q is not pinned by digest", line)
		}
		if len(fields) >= 4 && strings.EqualFold(fields[len(fields)-2], "AS") {
			stages[fields[len(fields)-1]] = true
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	if froms < 2 {
		t.Errorf("Dockerfile has %d FROM lines, want the build and runtime stages", froms)
	}
}
