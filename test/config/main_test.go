// Package config_test checks the kustomize manifests under config/ against a
// real kube-apiserver (envtest): that they render, that the API server accepts
// every object they render, and that the objects fit together (bindings name
// the ServiceAccount the Deployment runs as, Services select its Pods, ...).
//
// It runs bin/kustomize and bin/controller-gen, which `make test` installs,
// and needs KUBEBUILDER_ASSETS, which `make test` sets.
package config_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kube-endpoints/endpoints-controller/internal/testenv"
)

// fieldOwner is the field manager of every apply this package makes.
const fieldOwner = client.FieldOwner("manifests-test")

// restConfig reaches the envtest API server that TestMain starts.
var restConfig *rest.Config

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests starts one API server for the whole package, with the stand-in
// ServiceMonitor CRD installed, and stops it after the tests.
func runTests(m *testing.M) int {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot(), "test", "config", "testdata")},
		ErrorIfCRDPathMissing: true,
	}
	return testenv.Main(env, func(cfg *rest.Config) int {
		restConfig = cfg
		return m.Run()
	})
}

// repoRoot returns the directory of go.mod above this file.
func repoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("runtime.Caller cannot tell where this file is")
	}
	for dir := filepath.Dir(file); ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		if filepath.Dir(dir) == dir {
			panic("no go.mod above " + file)
		}
	}
}

// tool returns the path of a tool the Makefile installs under bin/, failing
// the test when it is missing.
func tool(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(repoRoot(), "bin", name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run `make %s` (or `make test`, which installs it): %v", path, name, err)
	}
	return path
}

// render runs `kustomize build dir` and decodes the objects it prints.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), tool(t, "kustomize"), "build", dir)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	objs, err := decode(stdout.Bytes())
	if err != nil {
		t.Fatalf("Decoding the output of kustomize build %s: %v", dir, err)
	}
	return objs
}

// decode splits a YAML stream into objects, skipping empty documents.
func decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(obj.Object) == 0 {
			continue
		}
		if obj.GetKind() == "" || obj.GetName() == "" {
			return nil, fmt.Errorf("object without kind or name: %v", obj.Object)
		}
		objs = append(objs, obj)
	}
}

// keys lists objs as sorted "Kind/namespace/name" strings.
func keys(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	slices.Sort(out)
	return out
}

// find returns the rendered object of that kind and name, failing the test
// when there is none.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("No %s %q among the rendered objects %v", kind, name, keys(objs))
	return nil
}

// ofKind returns the rendered objects of one kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// typed converts obj into a typed API object, failing on fields the type
// does not have.
func typed[T any](t *testing.T, obj *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, out, true); err != nil {
		t.Fatalf("Converting %s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	return out
}

// warnings records the warnings the API server returns, such as Pod Security
// Admission's "would violate PodSecurity" on a workload.
type warnings struct {
	mu   sync.Mutex
	list []string
}

// HandleWarningHeaderWithContext implements rest.WarningHandlerWithContext.
func (w *warnings) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) get() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.list)
}

// newClient returns a client of the envtest API server and the warnings it
// receives.
func newClient(t *testing.T) (client.Client, *warnings) {
	t.Helper()
	w := &warnings{}
	cfg := rest.CopyConfig(restConfig)
	cfg.WarningHandlerWithContext = w
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatalf("Creating a client: %v", err)
	}
	return c, w
}

// apply server-side applies obj for real.
func apply(t *testing.T, c client.Client, obj *unstructured.Unstructured) {
	t.Helper()
	if err := c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(obj.DeepCopy()),
		fieldOwner, client.ForceOwnership); err != nil {
		t.Fatalf("Applying %s: %v", describe(obj), err)
	}
}

// dryRunApply server-side applies every object in dry-run mode: the API server
// defaults, validates and admits each one, and stores none.
func dryRunApply(t *testing.T, c client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, obj := range objs {
		if err := c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(obj.DeepCopy()),
			client.DryRunAll, fieldOwner, client.ForceOwnership); err != nil {
			t.Errorf("Dry-run apply of %s: %v", describe(obj), err)
		}
	}
}

// ensureNamespace creates (or updates) a namespace for real.
func ensureNamespace(t *testing.T, c client.Client, name string, labels map[string]string) {
	t.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	ns.SetLabels(labels)
	apply(t, c, ns)
}

// describe names obj in messages: "Kind namespace/name", or "Kind name".
func describe(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetKind() + " " + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
}
