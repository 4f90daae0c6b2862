package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultImageRepository is the image's repository when none is given: an
// unqualified name, so that the image loaded from the archive into a node's
// container runtime (kind, containerd, Docker) is found by install.yaml and
// the chart without a registry. Publishing under another name is a retag.
const DefaultImageRepository = "endpoints-controller"

// versionPkg is the package whose variables the linker stamps.
const versionPkg = "github.com/kube-endpoints/endpoints-controller/internal/version"

// Options says what to build and where.
type Options struct {
	// Root is the repository's root directory.
	Root string
	// Out is the directory the artifacts are written to; it is emptied first.
	Out string
	// ImageRepo is the image's repository; the tag is the version.
	ImageRepo string
	// Platforms are the os/arch pairs of the binaries and the image.
	Platforms []string
	// Kustomize is the kustomize binary; <Root>/bin/kustomize when empty.
	Kustomize string
	// RequireClean refuses a tree with uncommitted changes.
	RequireClean bool
}

// Meta is what every artifact is stamped with.
type Meta struct {
	// Version is the content of the VERSION file, e.g. 0.1.0.
	Version string
	// Revision is the commit the artifacts are built from.
	Revision string
	// Created is the commit's time: artifacts of one commit are reproducible.
	Created time.Time
}

// Image is the image's reference, repository:version.
func (m Meta) Image(repo string) string { return repo + ":" + m.Version }

// Result lists what Build wrote.
type Result struct {
	// Files are the artifacts' names in Out, in the order they were written.
	Files []string
	// Binaries maps each platform (os/arch) to its binary's name in Out.
	Binaries map[string]string
}

// File names of the artifacts in Out, for version v.
func binaryName(platform string) string {
	return "endpoints-controller-" + strings.ReplaceAll(platform, "/", "-")
}

// ImageArchiveName is the file name of the OCI archive of version v.
func ImageArchiveName(v string) string { return "endpoints-controller-" + v + ".oci.tar" }

// ChartPackageName is the file name of the packaged chart of version v.
func ChartPackageName(v string) string { return "endpoints-controller-" + v + ".tgz" }

// Names of the other artifacts.
const (
	InstallerName = "install.yaml"
	SBOMName      = "endpoints-controller.cdx.json"
	SumsName      = "SHA256SUMS"
)

// Build writes every artifact into opts.Out, emptied first. A broken artifact
// (a chart that does not lint, an image without a runnable binary for a
// platform) fails the build rather than a user's install.
func Build(ctx context.Context, opts Options) (*Result, error) {
	meta, err := readMeta(ctx, opts)
	if err != nil {
		return nil, err
	}
	if opts.ImageRepo == "" {
		opts.ImageRepo = DefaultImageRepository
	}
	if err := os.RemoveAll(opts.Out); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Out, 0o755); err != nil {
		return nil, err
	}
	res := &Result{Binaries: map[string]string{}}
	for _, p := range opts.Platforms {
		name, err := buildBinary(ctx, opts, meta, p)
		if err != nil {
			return nil, err
		}
		res.Binaries[p] = name
		res.Files = append(res.Files, name)
		if p == runtime.GOOS+"/"+runtime.GOARCH {
			if err := checkBinary(ctx, filepath.Join(opts.Out, name), meta); err != nil {
				return nil, err
			}
		}
	}
	steps := []func(context.Context, Options, Meta, *Result) (string, error){
		func(ctx context.Context, o Options, m Meta, _ *Result) (string, error) {
			return buildInstaller(ctx, o, m)
		},
		func(_ context.Context, o Options, m Meta, _ *Result) (string, error) { return packageChart(o, m) },
		buildImage,
		buildSBOM,
	}
	for _, step := range steps {
		name, err := step(ctx, opts, meta, res)
		if err != nil {
			return nil, err
		}
		res.Files = append(res.Files, name)
	}
	if err := writeSums(opts.Out, res.Files); err != nil {
		return nil, err
	}
	res.Files = append(res.Files, SumsName)
	return res, nil
}

// semver is what the VERSION file may hold: MAJOR.MINOR.PATCH[-PRERELEASE].
var semver = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)

// readMeta reads the version from the VERSION file and the revision and its
// time from git, refusing uncommitted changes when opts.RequireClean.
func readMeta(ctx context.Context, opts Options) (Meta, error) {
	if opts.RequireClean {
		if err := checkClean(ctx, opts.Root); err != nil {
			return Meta{}, err
		}
	}
	b, err := os.ReadFile(filepath.Join(opts.Root, "VERSION"))
	if err != nil {
		return Meta{}, fmt.Errorf("reading the version: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if !semver.MatchString(v) {
		return Meta{}, fmt.Errorf("VERSION holds %q, not a semantic version such as 0.1.0", v)
	}
	rev, err := git(ctx, opts.Root, "rev-parse", "HEAD")
	if err != nil {
		return Meta{}, err
	}
	ct, err := git(ctx, opts.Root, "log", "-1", "--format=%ct")
	if err != nil {
		return Meta{}, err
	}
	sec, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return Meta{}, fmt.Errorf("reading the commit time %q: %w", ct, err)
	}
	return Meta{Version: v, Revision: rev, Created: time.Unix(sec, 0).UTC()}, nil
}

// checkClean fails when the tree at root has uncommitted changes, naming a
// few of them.
func checkClean(ctx context.Context, root string) error {
	out, err := git(ctx, root, "status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return err
	}
	if out == "" {
		return nil
	}
	lines := strings.Split(out, "\n")
	more := ""
	if len(lines) > 5 {
		more = fmt.Sprintf(" and %d more", len(lines)-5)
		lines = lines[:5]
	}
	return fmt.Errorf("the tree has uncommitted changes (%s%s): commit or stash them, a release is built from a commit",
		strings.Join(lines, "; "), more)
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// buildBinary compiles a static binary for platform (os/arch), stamped with
// the version and revision, and returns its name in opts.Out.
func buildBinary(ctx context.Context, opts Options, meta Meta, platform string) (string, error) {
	goos, goarch, ok := strings.Cut(platform, "/")
	if !ok || goos == "" || goarch == "" {
		return "", fmt.Errorf("platform %q is not os/arch", platform)
	}
	name := binaryName(platform)
	ldflags := fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Revision=%s", versionPkg, meta.Version, versionPkg, meta.Revision)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags,
		"-o", filepath.Join(opts.Out, name), "./cmd/endpoints-controller")
	cmd.Dir = opts.Root
	// No cgo: a static binary that runs on an empty base image.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building the %s binary: %w", platform, err)
	}
	return name, nil
}

// writeSums writes SHA256SUMS of files (names in dir), in the format that
// `sha256sum -c` reads.
func writeSums(dir string, files []string) error {
	var b strings.Builder
	for _, name := range slices.Sorted(slices.Values(files)) {
		sum, err := fileSHA256(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, name)
	}
	return os.WriteFile(filepath.Join(dir, SumsName), []byte(b.String()), 0o644)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// errNoKustomize says how to get kustomize.
var errNoKustomize = errors.New("no kustomize binary: run `make kustomize` or pass --kustomize")

// checkBinary runs the binary built for this machine with --version: a
// binary that does not start, or does not know its version, is not released.
func checkBinary(ctx context.Context, path string, meta Meta) error {
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %w: %s", path, err, out)
	}
	if !strings.Contains(string(out), meta.Version) || !strings.Contains(string(out), meta.Revision) {
		return fmt.Errorf("%s --version prints %q, without version %s and revision %s", path, out, meta.Version, meta.Revision)
	}
	return nil
}
