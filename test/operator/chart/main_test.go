// Package chart_test renders the Helm chart in dist/chart with Helm's Go
// library, for the default values and several non-default sets, checks what
// it renders, and applies every object to a real kube-apiserver (envtest)
// with server-side dry-run, as test/config does for the kustomize manifests.
package chart_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kube-endpoints/endpoints-controller/internal/testenv"
)

// restConfig reaches the envtest API server that TestMain starts.
var restConfig *rest.Config

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

// runTests starts one API server for the package, with stand-ins for the
// Prometheus Operator's CRDs, and stops it after the tests.
func runTests(m *testing.M) int {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{"testdata"},
		ErrorIfCRDPathMissing: true,
	}
	return testenv.Main(env, func(cfg *rest.Config) int {
		restConfig = cfg
		return m.Run()
	})
}

// repoRoot returns the directory of the controller's go.mod, two modules up.
func repoRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("runtime.Caller cannot tell where this file is")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// chartDir is the chart under test.
func chartDir() string { return filepath.Join(repoRoot(), "dist", "chart") }

// loadChart loads the chart from disk, as `helm install ./dist/chart` does.
func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir())
	if err != nil {
		t.Fatalf("Loading %s: %v", chartDir(), err)
	}
	return ch
}

// releaseName and releaseNamespace are those of every rendered release.
const (
	releaseName      = "ec"
	releaseNamespace = "endpoints"
)

// render renders the chart with vals over its values.yaml, validating them
// against values.schema.json as helm install does, and decodes the objects.
func render(t *testing.T, vals map[string]any) ([]*unstructured.Unstructured, error) {
	t.Helper()
	files, err := renderFiles(t, vals)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		decoded, err := decode([]byte(files[name]))
		if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", name, err)
		}
		objs = append(objs, decoded...)
	}
	return objs, nil
}

// renderFiles renders the chart with vals as render does, and returns the
// rendered files (NOTES.txt too) by their path in the chart.
func renderFiles(t *testing.T, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch := loadChart(t)
	values, err := chartutil.ToRenderValuesWithSchemaValidation(ch, vals,
		common.ReleaseOptions{Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true},
		common.DefaultCapabilities, false)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, values)
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
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// describe names obj in messages: "Kind namespace/name", or "Kind name".
func describe(obj *unstructured.Unstructured) string {
	if obj.GetNamespace() == "" {
		return obj.GetKind() + " " + obj.GetName()
	}
	return obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
}

// keys lists the objects as sorted "Kind name" strings.
func keys(objs []*unstructured.Unstructured) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.GetKind()+" "+o.GetName())
	}
	sort.Strings(out)
	return out
}

// find returns the object of kind and name, failing the test without one.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("No %s %s among %v", kind, name, keys(objs))
	return nil
}

// newClient returns a client of the envtest API server.
func newClient(t *testing.T) client.Client {
	t.Helper()
	c, err := client.New(restConfig, client.Options{})
	if err != nil {
		t.Fatalf("Creating a client: %v", err)
	}
	return c
}
