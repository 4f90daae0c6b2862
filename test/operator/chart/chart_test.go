package chart_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
)

// fullName is the name of the release's objects.
const fullName = releaseName + "-endpoints-controller"

// defaultArgs are the controller's arguments with the default values.
var defaultArgs = []string{
	"--leader-elect", "--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s", "--leader-elect-retry-period=2s",
	"--metrics-bind-address=:8443", "--health-probe-bind-address=:8081", "--graceful-shutdown-timeout=5s",
	"--write-method=update", "--dry-run=false", "--concurrent-syncs=20", "--endpoint-updates-batch-period=0s",
	"--zap-log-level=info",
}

// defaultObjects are the objects rendered with the default values.
var defaultObjects = []string{
	"ClusterRole " + fullName + "-manager",
	"ClusterRole " + fullName + "-metrics-auth",
	"ClusterRole " + fullName + "-metrics-reader",
	"ClusterRoleBinding " + fullName + "-manager",
	"ClusterRoleBinding " + fullName + "-metrics-auth",
	"Deployment " + fullName,
	"PodDisruptionBudget " + fullName,
	"Role " + fullName + "-leader-election",
	"RoleBinding " + fullName + "-leader-election",
	"Service " + fullName + "-metrics",
	"ServiceAccount " + fullName,
}

// TestRender renders the default values and non-default sets, checks the
// objects, the controller's arguments (which the binary's own flag parsing
// must accept) and selected fields, and applies everything to the API server
// with server-side dry-run.
func TestRender(t *testing.T) {
	c := newClient(t)
	ns := &corev1.Namespace{}
	ns.Name = releaseNamespace
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("Creating namespace %s: %v", releaseNamespace, err)
	}

	for _, tc := range []struct {
		name    string
		values  string
		objects []string
		args    []string
		check   func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment)
	}{{
		name:    "defaults",
		objects: defaultObjects,
		args:    defaultArgs,
		check: func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment) {
			if *dep.Spec.Replicas != 2 {
				t.Errorf("replicas = %d, want 2", *dep.Spec.Replicas)
			}
			ctr := dep.Spec.Template.Spec.Containers[0]
			if ctr.Image != "endpoints-controller:0.1.0" {
				t.Errorf("image = %q, want the chart's appVersion", ctr.Image)
			}
			sc := ctr.SecurityContext
			if sc == nil || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
				t.Errorf("container securityContext = %+v, want no escalation, read-only root, no capabilities", sc)
			}
			if psc := dep.Spec.Template.Spec.SecurityContext; psc == nil || !*psc.RunAsNonRoot {
				t.Errorf("Pod securityContext = %+v, want runAsNonRoot", psc)
			}
			if sa := dep.Spec.Template.Spec.ServiceAccountName; sa != fullName {
				t.Errorf("serviceAccountName = %q, want %q", sa, fullName)
			}
			pdb := find(t, objs, "PodDisruptionBudget", fullName)
			if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); fmt.Sprint(v) != "1" {
				t.Errorf("PodDisruptionBudget minAvailable = %v, want 1", v)
			}
			checkRules(t, objs, "ClusterRole", fullName+"-manager", "role.yaml")
			checkRules(t, objs, "Role", fullName+"-leader-election", "leader_election_role.yaml")
			checkRules(t, objs, "ClusterRole", fullName+"-metrics-auth", "metrics_auth_role.yaml")
			checkRules(t, objs, "ClusterRole", fullName+"-metrics-reader", "metrics_reader_role.yaml")
		},
	}, {
		name: "one replica, no election, apply, chosen Services, no metrics, existing ServiceAccount",
		values: `
replicaCount: 1
leaderElection: {enabled: false}
controller:
  writeMethod: apply
  dryRun: true
  serviceSelector: endpoints=managed
  namespaces: [team-a, team-b]
  concurrentSyncs: 10
  endpointUpdatesBatchPeriod: 500ms
  logLevel: 4
metrics: {enabled: false}
podDisruptionBudget: {enabled: false}
serviceAccount: {create: false, name: existing}
extraArgs: [--pprof-bind-address=localhost:8082]
`,
		objects: []string{
			"ClusterRole " + fullName + "-manager",
			"ClusterRoleBinding " + fullName + "-manager",
			"Deployment " + fullName,
		},
		args: []string{
			"--metrics-bind-address=0", "--health-probe-bind-address=:8081", "--graceful-shutdown-timeout=5s",
			"--write-method=apply", "--dry-run=true", "--concurrent-syncs=10", "--endpoint-updates-batch-period=500ms",
			"--service-label-selector=endpoints=managed", "--namespaces=team-a,team-b", "--zap-log-level=4",
			"--pprof-bind-address=localhost:8082",
		},
		check: func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment) {
			if *dep.Spec.Replicas != 1 {
				t.Errorf("replicas = %d, want 1", *dep.Spec.Replicas)
			}
			if sa := dep.Spec.Template.Spec.ServiceAccountName; sa != "existing" {
				t.Errorf("serviceAccountName = %q, want existing", sa)
			}
			binding := typed[rbacv1.ClusterRoleBinding](t, find(t, objs, "ClusterRoleBinding", fullName+"-manager"))
			want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "existing", Namespace: releaseNamespace}}
			if !reflect.DeepEqual(binding.Subjects, want) {
				t.Errorf("manager binding subjects = %+v, want %+v", binding.Subjects, want)
			}
			for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
				if p.Name == "https" {
					t.Errorf("metrics port %+v declared with metrics disabled", p)
				}
			}
		},
	}, {
		name: "ServiceMonitor, NetworkPolicy, own image and scheduling",
		values: `
image: {repository: registry.example.com/ec, tag: v1.2.3, pullPolicy: Always}
serviceMonitor: {enabled: true, interval: 15s, labels: {release: prom}}
prometheusRule: {enabled: true, labels: {release: prom}}
grafanaDashboard: {enabled: true}
networkPolicy: {enabled: true}
podDisruptionBudget: {minAvailable: 50%}
metrics: {port: 9443}
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]
priorityClassName: system-cluster-critical
podAnnotations: {example.com/team: net}
resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 2Gi}}
`,
		objects: sorted(append(slices.Clone(defaultObjects),
			"NetworkPolicy "+fullName+"-allow-metrics-traffic", "ServiceMonitor "+fullName,
			"PrometheusRule "+fullName, "ConfigMap "+fullName+"-dashboard")),
		args: append(append(slices.Clone(defaultArgs[:4]), "--metrics-bind-address=:9443"), defaultArgs[5:]...),
		check: func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment) {
			spec := dep.Spec.Template.Spec
			ctr := spec.Containers[0]
			if ctr.Image != "registry.example.com/ec:v1.2.3" || ctr.ImagePullPolicy != corev1.PullAlways {
				t.Errorf("image = %q (%s), want registry.example.com/ec:v1.2.3 (Always)", ctr.Image, ctr.ImagePullPolicy)
			}
			if spec.PriorityClassName != "system-cluster-critical" || spec.NodeSelector["kubernetes.io/os"] != "linux" ||
				len(spec.Tolerations) != 1 || dep.Spec.Template.Annotations["example.com/team"] != "net" {
				t.Errorf("scheduling = %q %v %v %v, want the values'", spec.PriorityClassName, spec.NodeSelector, spec.Tolerations,
					dep.Spec.Template.Annotations)
			}
			if got := ctr.Resources.Limits.Memory().String(); got != "2Gi" {
				t.Errorf("memory limit = %s, want 2Gi", got)
			}
			svc := typed[corev1.Service](t, find(t, objs, "Service", fullName+"-metrics"))
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 9443 {
				t.Errorf("metrics Service ports = %+v, want 9443", svc.Spec.Ports)
			}
			monitor := find(t, objs, "ServiceMonitor", fullName)
			if monitor.GetLabels()["release"] != "prom" || monitor.GetNamespace() != releaseNamespace {
				t.Errorf("ServiceMonitor %s labels %v, want release: prom", describe(monitor), monitor.GetLabels())
			}
			sel, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
			for k, v := range sel {
				if svc.Labels[k] != v {
					t.Errorf("ServiceMonitor selects %s=%s, which the metrics Service (labels %v) lacks", k, v, svc.Labels)
				}
			}
			checkMonitoring(t, objs)
			pdb := find(t, objs, "PodDisruptionBudget", fullName)
			if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); v != "50%" {
				t.Errorf("PodDisruptionBudget minAvailable = %v, want 50%%", v)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.values), &vals); err != nil {
				t.Fatal(err)
			}
			objs, err := render(t, vals)
			if err != nil {
				t.Fatalf("Rendering: %v", err)
			}
			if got := keys(objs); !slices.Equal(got, tc.objects) {
				t.Errorf("rendered\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.objects, "\n  "))
			}
			for _, o := range objs {
				if o.GetLabels()["app.kubernetes.io/instance"] != releaseName {
					t.Errorf("%s lacks the release's labels: %v", describe(o), o.GetLabels())
				}
			}
			dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", fullName))
			args := dep.Spec.Template.Spec.Containers[0].Args
			if !slices.Equal(args, tc.args) {
				t.Errorf("args\n  %s\nwant\n  %s", strings.Join(args, "\n  "), strings.Join(tc.args, "\n  "))
			}
			if err := parseArgs(args); err != nil {
				t.Errorf("The controller would refuse its arguments: %v", err)
			}
			tc.check(t, objs, dep)

			for _, o := range objs {
				if err := c.Apply(t.Context(), client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
					client.DryRunAll, client.FieldOwner("chart-test"), client.ForceOwnership); err != nil {
					t.Errorf("Dry-run apply of %s: %v", describe(o), err)
				}
			}
		})
	}
}

// TestSchemaRejects checks that values.schema.json refuses values of the
// wrong type or shape, and unknown keys, naming the value.
func TestSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"replicas as a string", `replicaCount: two`, "replicaCount"},
		{"unknown write method", `controller: {writeMethod: put}`, "writeMethod"},
		{"boolean as a string", `leaderElection: {enabled: "yes"}`, "enabled"},
		{"misspelt key", `replicas: 3`, "replicas"},
		{"malformed duration", `controller: {endpointUpdatesBatchPeriod: soon}`, "endpointUpdatesBatchPeriod"},
		{"namespaces as a string", `controller: {namespaces: "a,b"}`, "namespaces"},
		{"extra argument that is no flag", `extraArgs: [pprof]`, "extraArgs"},
		{"port out of range", `metrics: {port: 70000}`, "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.values), &vals); err != nil {
				t.Fatal(err)
			}
			_, err := render(t, vals)
			if err == nil || !strings.Contains(err.Error(), "schema") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("rendering with %s: %v; want a schema error naming %s", tc.values, err, tc.want)
			}
		})
	}
}

// TestLint runs Helm's linter (what `helm lint --strict` runs) on the chart.
func TestLint(t *testing.T) {
	lint := action.NewLint()
	lint.Strict = true
	lint.Namespace = releaseNamespace
	res := lint.Run([]string{chartDir()}, nil)
	for _, err := range res.Errors {
		t.Errorf("lint error: %v", err)
	}
	for _, m := range res.Messages {
		t.Logf("lint: %s", m)
	}
	if res.TotalChartsLinted != 1 {
		t.Errorf("linted %d charts, want 1", res.TotalChartsLinted)
	}
}

// checkRules checks that the chart's role kind/name grants exactly the rules
// of config/rbac/file, which the kustomize install uses (and which
// controller-gen generates from the RBAC markers for the manager's role).
func checkRules(t *testing.T, objs []*unstructured.Unstructured, kind, name, file string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(), "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	want := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(data, want); err != nil {
		t.Fatal(err)
	}
	role := typed[rbacv1.ClusterRole](t, find(t, objs, kind, name))
	if !reflect.DeepEqual(role.Rules, want.Rules) {
		t.Errorf("%s %s rules\n  %+v\ndiffer from config/rbac/%s\n  %+v", kind, name, role.Rules, file, want.Rules)
	}
}

// checkMonitoring checks that the chart's PrometheusRule and dashboard are
// those of config/monitoring.
func checkMonitoring(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	dir := filepath.Join(repoRoot(), "config", "monitoring")
	data, err := os.ReadFile(filepath.Join(dir, "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{}
	if err := yaml.Unmarshal(data, &want); err != nil {
		t.Fatal(err)
	}
	rule := find(t, objs, "PrometheusRule", fullName)
	if !reflect.DeepEqual(rule.Object["spec"], want["spec"]) {
		t.Errorf("the chart's PrometheusRule spec differs from config/monitoring/alerts.yaml:\n%v\nwant\n%v", rule.Object["spec"], want["spec"])
	}
	if rule.GetLabels()["release"] != "prom" {
		t.Errorf("PrometheusRule labels %v, want release: prom", rule.GetLabels())
	}
	dashboard, err := os.ReadFile(filepath.Join(dir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	cm := typed[corev1.ConfigMap](t, find(t, objs, "ConfigMap", fullName+"-dashboard"))
	if got := cm.Data["endpoints-controller.json"]; got != strings.TrimSuffix(string(dashboard), "\n") {
		t.Errorf("the chart's dashboard differs from config/monitoring/dashboard.json")
	}
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("dashboard ConfigMap labels %v, want grafana_dashboard: \"1\"", cm.Labels)
	}
}

// sorted returns s sorted.
func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

// parseArgs parses args with the controller's own flags, as the binary does.
func parseArgs(args []string) error {
	fs := flag.NewFlagSet("endpoints-controller", flag.ContinueOnError)
	opts := app.DefaultOptions()
	opts.BindFlags(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &unexpectedArgs{fs.Args()}
	}
	return opts.Validate()
}

type unexpectedArgs struct{ args []string }

func (e *unexpectedArgs) Error() string { return "unexpected arguments " + strings.Join(e.args, " ") }

// typed converts obj to T.
func typed[T any](t *testing.T, obj *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, out); err != nil {
		t.Fatalf("Converting %s: %v", describe(obj), err)
	}
	return out
}
