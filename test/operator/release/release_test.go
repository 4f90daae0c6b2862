package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/kube-endpoints/endpoints-controller/internal/testenv"
)

// The release under test, built once by TestMain into a temporary directory,
// as `make release` builds it (without the clean-tree check, so that the
// tests run on a tree being worked on).
var (
	built      *Result
	builtMeta  Meta
	builtOut   string
	restConfig *rest.Config
)

var testPlatforms = []string{"linux/amd64", "linux/arm64"}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	out, err := os.MkdirTemp("", "release-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(out) }()
	opts := Options{Root: repoRoot(), Out: out, Platforms: testPlatforms, Kustomize: os.Getenv("KUSTOMIZE")}
	ctx := context.Background()
	if built, err = Build(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, "Building the release:", err)
		return 1
	}
	if builtMeta, err = readMeta(ctx, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	builtOut = out
	return testenv.Main(&envtest.Environment{}, func(cfg *rest.Config) int {
		restConfig = cfg
		return m.Run()
	})
}

// repoRoot is the controller's repository, two modules up.
func repoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Join(wd, "..", "..", "..")
}

func TestVersionFromVERSIONFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(), "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(b)); builtMeta.Version != want {
		t.Errorf("version %q, want %q from VERSION", builtMeta.Version, want)
	}
	want := []string{
		"endpoints-controller-linux-amd64", "endpoints-controller-linux-arm64", InstallerName,
		ChartPackageName(builtMeta.Version), ImageArchiveName(builtMeta.Version), SBOMName, SumsName,
	}
	if !slices.Equal(built.Files, want) {
		t.Errorf("artifacts %q, want %q", built.Files, want)
	}
}

// openImage reads the OCI archive back as a layout, and returns the image
// index that index.json names, with that entry's annotations.
func openImage(t *testing.T) (v1.ImageIndex, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	if err := untar(filepath.Join(builtOut, ImageArchiveName(builtMeta.Version)), dir); err != nil {
		t.Fatalf("Unpacking the image archive: %v", err)
	}
	for _, f := range []string{"oci-layout", "index.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("The archive is not an OCI layout: %v", err)
		}
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	top, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want the one multi-platform index", len(im.Manifests))
	}
	idx, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("index.json's entry is not an image index: %v", err)
	}
	return idx, im.Manifests[0].Annotations
}

func TestImage(t *testing.T) {
	idx, annotations := openImage(t)
	if got, want := annotations["io.containerd.image.name"], "docker.io/library/endpoints-controller:"+builtMeta.Version; got != want {
		t.Errorf("image name %q, want %q", got, want)
	}
	if got := annotations["org.opencontainers.image.ref.name"]; got != builtMeta.Version {
		t.Errorf("ref name %q, want %q", got, builtMeta.Version)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.OS+"/"+d.Platform.Architecture)
		t.Run(d.Platform.Architecture, func(t *testing.T) {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != d.Platform.OS || cf.Architecture != d.Platform.Architecture {
				t.Errorf("config says %s/%s, index %s/%s", cf.OS, cf.Architecture, d.Platform.OS, d.Platform.Architecture)
			}
			if cf.Config.User != "65532:65532" {
				t.Errorf("user %q, want the non-root 65532:65532", cf.Config.User)
			}
			if !slices.Equal(cf.Config.Entrypoint, []string{"/endpoints-controller"}) || len(cf.Config.Cmd) != 0 {
				t.Errorf("entrypoint %q, cmd %q; want [/endpoints-controller] and none", cf.Config.Entrypoint, cf.Config.Cmd)
			}
			for k, v := range map[string]string{
				"org.opencontainers.image.version":  builtMeta.Version,
				"org.opencontainers.image.revision": builtMeta.Revision,
				"org.opencontainers.image.title":    "endpoints-controller",
				"org.opencontainers.image.source":   "https://github.com/kube-endpoints/endpoints-controller",
				"org.opencontainers.image.licenses": "Apache-2.0",
			} {
				if cf.Config.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
				}
			}

			files := imageFiles(t, img)
			bin, ok := files["endpoints-controller"]
			if !ok {
				t.Fatalf("the image has no /endpoints-controller; files: %v", keys(files))
			}
			if bin.mode&0o111 == 0 {
				t.Errorf("/endpoints-controller mode %o is not executable", bin.mode)
			}
			checkELF(t, bin.data, d.Platform.Architecture)
			checkCertificates(t, files["etc/ssl/certs/ca-certificates.crt"].data)
			if !strings.Contains(string(files["etc/passwd"].data), ":65532:65532:") {
				t.Errorf("/etc/passwd names no user 65532: %q", files["etc/passwd"].data)
			}
			if tmp, ok := files["tmp"]; !ok || tmp.mode&0o1777 != 0o1777 {
				t.Errorf("/tmp missing (%v) or not world-writable with the sticky bit: mode %o", ok, tmp.mode)
			}
		})
	}
	if !slices.Equal(platforms, testPlatforms) {
		t.Errorf("platforms %q, want %q", platforms, testPlatforms)
	}
}

// TestImageBinaryRuns runs the binary taken out of the image for this
// machine's architecture.
func TestImageBinaryRuns(t *testing.T) {
	idx, _ := openImage(t)
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(im.Manifests, func(d v1.Descriptor) bool { return d.Platform.Architecture == runtime.GOARCH })
	if i < 0 {
		t.Fatalf("the image has no %s variant to run here", runtime.GOARCH)
	}
	img, err := idx.Image(im.Manifests[i].Digest)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "endpoints-controller")
	if err := os.WriteFile(bin, imageFiles(t, img)["endpoints-controller"].data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v: %s", bin, err, out)
	}
	for _, want := range []string{builtMeta.Version, builtMeta.Revision} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--version printed %q, want it to name %s", out, want)
		}
	}
}

type imageFile struct {
	mode int64
	data []byte
}

// imageFiles is the image's flattened file system.
func imageFiles(t *testing.T, img v1.Image) map[string]imageFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	files := map[string]imageFile{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		// Layers spell directories "tmp/", flattened file systems "tmp".
		files[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = imageFile{mode: h.Mode, data: b}
	}
}

// checkELF checks that data is a static Linux executable for arch.
func checkELF(t *testing.T, data []byte, arch string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the binary is not ELF: %v", err)
	}
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Machine != want {
		t.Errorf("the %s binary is for %v", arch, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the %s binary is dynamically linked: it would not run on an empty base", arch)
		}
	}
}

func checkCertificates(t *testing.T, data []byte) {
	t.Helper()
	n := 0
	for rest := data; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			t.Errorf("certificate %d: %v", n, err)
		}
	}
	if n < 100 {
		t.Errorf("%d CA certificates, want Mozilla's bundle (over 100)", n)
	}
}

func TestInstallYAML(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(builtOut, InstallerName))
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeObjects(t, b)
	c, err := client.New(restConfig, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	var ns *unstructured.Unstructured
	for _, o := range objs {
		if o.GetLabels()["app.kubernetes.io/version"] != builtMeta.Version {
			t.Errorf("%s %s lacks app.kubernetes.io/version=%s", o.GetKind(), o.GetName(), builtMeta.Version)
		}
		switch o.GetKind() {
		case "Deployment":
			dep = &appsv1.Deployment{}
			if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(o.Object, dep); err != nil {
				t.Fatal(err)
			}
		case "Namespace":
			ns = o
		}
	}
	if dep == nil || ns == nil {
		t.Fatalf("install.yaml lacks the Deployment or the Namespace")
	}
	if got, want := dep.Spec.Template.Spec.Containers[0].Image, "endpoints-controller:"+builtMeta.Version; got != want {
		t.Errorf("image %q, want %q (the image in the archive)", got, want)
	}
	// The Namespace for real (a dry-run one would not exist for the rest),
	// everything else with server-side dry-run, as
	// `kubectl apply --server-side --dry-run=server -f install.yaml` does.
	if err := c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(ns), client.FieldOwner("release-test")); err != nil {
		t.Fatalf("Applying the Namespace: %v", err)
	}
	for _, o := range objs {
		if o == ns {
			continue
		}
		if err := c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(o), client.DryRunAll, client.FieldOwner("release-test")); err != nil {
			t.Errorf("Dry-run apply of %s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

func decodeObjects(t *testing.T, b []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatal(err)
		}
		o := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(doc, &o.Object); err != nil {
			t.Fatal(err)
		}
		if len(o.Object) > 0 {
			objs = append(objs, o)
		}
	}
}

func TestChartPackage(t *testing.T) {
	pkg := filepath.Join(builtOut, ChartPackageName(builtMeta.Version))
	ch, err := loader.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Metadata.Version != builtMeta.Version || ch.Metadata.AppVersion != builtMeta.Version {
		t.Errorf("chart version %q, appVersion %q; want both %q", ch.Metadata.Version, ch.Metadata.AppVersion, builtMeta.Version)
	}
	if err := lintChart(pkg); err != nil {
		t.Errorf("The package does not lint: %v", err)
	}
}

// TestChartLintFails proves the lint step can fail: a chart with a broken
// template is refused.
func TestChartLintFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "endpoints-controller")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(repoRoot(), "dist", "chart"))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "templates", "broken.yaml"), []byte("kind: ConfigMap\nmetadata: {{ .Values.nope.nope }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := lintChart(dir); err == nil {
		t.Error("a chart with a broken template linted")
	}
}

func TestSBOM(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(builtOut, SBOMName))
	if err != nil {
		t.Fatal(err)
	}
	var bom CycloneDX
	if err := json.Unmarshal(b, &bom); err != nil {
		t.Fatal(err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Version != builtMeta.Version ||
		bom.Metadata.Component.Name != "github.com/kube-endpoints/endpoints-controller" {
		t.Errorf("BOM header %q %q %q", bom.BOMFormat, bom.Metadata.Component.Name, bom.Metadata.Component.Version)
	}
	// Every module the controller's go.mod requires directly and links in
	// is listed at its version.
	want := map[string]string{}
	gomod, err := os.ReadFile(filepath.Join(repoRoot(), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(gomod), "\n") {
		if f := strings.Fields(l); len(f) == 2 && (strings.HasPrefix(f[0], "k8s.io/") || strings.HasPrefix(f[0], "sigs.k8s.io/controller-runtime")) {
			want[f[0]] = f[1]
		}
	}
	got := map[string]string{}
	for _, c := range bom.Components {
		got[c.Name] = c.Version
		if c.PURL != "pkg:golang/"+c.Name+"@"+c.Version {
			t.Errorf("purl %q of %s", c.PURL, c.Name)
		}
	}
	for m, v := range want {
		if m == "k8s.io/utils" || m == "k8s.io/klog/v2" {
			continue // required, but versions may be raised by the graph
		}
		if got[m] != v {
			t.Errorf("SBOM lists %s at %q, go.mod requires %q", m, got[m], v)
		}
	}
	if len(want) < 4 {
		t.Errorf("found only %d k8s modules in go.mod: %v", len(want), want)
	}
}

func TestSums(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(builtOut, SumsName))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("malformed line %q", l)
		}
		listed[name] = sum
	}
	for _, f := range built.Files {
		if f == SumsName {
			continue
		}
		want, err := fileSHA256(filepath.Join(builtOut, f))
		if err != nil {
			t.Fatal(err)
		}
		if listed[f] != want {
			t.Errorf("SHA256SUMS says %q for %s, the file hashes to %s", listed[f], f, want)
		}
	}
	if len(listed) != len(built.Files)-1 {
		t.Errorf("SHA256SUMS lists %d files, want %d", len(listed), len(built.Files)-1)
	}
}

// TestRequireClean: a release refuses uncommitted changes, and accepts the
// same tree once they are committed.
func TestRequireClean(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), "git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	run("init", "-q")
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte("1.2.3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run("add", "VERSION")
	run("commit", "-qm", "v")
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{Root: dir, RequireClean: true}
	_, err := readMeta(t.Context(), opts)
	if err == nil || !strings.Contains(err.Error(), "uncommitted changes") || !strings.Contains(err.Error(), "Makefile") {
		t.Fatalf("dirty tree: err = %v, want uncommitted changes naming Makefile", err)
	}
	run("add", "Makefile")
	run("commit", "-qm", "m")
	meta, err := readMeta(t.Context(), opts)
	if err != nil || meta.Version != "1.2.3" {
		t.Fatalf("clean tree: %+v, %v", meta, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte("v1.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.RequireClean = false
	if _, err := readMeta(t.Context(), opts); err == nil {
		t.Error("VERSION v1.2 was accepted")
	}
}

func keys[V any](m map[string]V) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
}

func untar(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("entry %q leaves the directory", h.Name)
		}
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
}
