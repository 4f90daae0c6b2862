package chart_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
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
	"--leader-elect", "--leader-election-namespace=kube-system", "--leader-elect-resource-name=" + leaseName,
	"--leader-elect-lease-duration=15s", "--leader-elect-renew-deadline=10s", "--leader-elect-retry-period=2s",
	"--metrics-bind-address=:8443", "--metrics-secure=true", "--health-probe-bind-address=:8081", "--graceful-shutdown-timeout=5s",
	"--write-method=update", "--dry-run=false", "--concurrent-syncs=20", "--endpoint-updates-batch-period=0s",
	"--zap-log-level=info", "--zap-time-encoding=iso8601",
}

// leaseName is the controller's leader-election Lease.
const leaseName = "endpoints-controller.kube-endpoints.io"

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
		name       string
		values     string
		deployment string // fullName when empty
		objects    []string
		args       []string
		check      func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment)
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
			checkDefaultPod(t, dep)
			// Two releases in different namespaces compete for one Lease.
			role := find(t, objs, "Role", fullName+"-leader-election")
			binding := find(t, objs, "RoleBinding", fullName+"-leader-election")
			if role.GetNamespace() != "kube-system" || binding.GetNamespace() != "kube-system" {
				t.Errorf("leader-election Role in %q, RoleBinding in %q, want both in kube-system", role.GetNamespace(), binding.GetNamespace())
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
			"--zap-time-encoding=iso8601", "--pprof-bind-address=localhost:8082",
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
serviceMonitor: {enabled: true, interval: 15s, labels: {release: prom}, authorization: {secretName: prom-token}}
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
		args: append(append(slices.Clone(defaultArgs[:6]), "--metrics-bind-address=:9443"), defaultArgs[7:]...),
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
			endpoint := monitorEndpoint(t, monitor)
			wantEndpoint := map[string]any{
				"path": "/metrics", "port": "https", "scheme": "https", "interval": "15s",
				"authorization": map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "prom-token", "key": "token"}},
				"tlsConfig":     map[string]any{"insecureSkipVerify": true},
			}
			if !reflect.DeepEqual(endpoint, wantEndpoint) {
				t.Errorf("ServiceMonitor endpoint\n  %v\nwant\n  %v", endpoint, wantEndpoint)
			}
			checkMonitoring(t, objs)
			pdb := find(t, objs, "PodDisruptionBudget", fullName)
			if v, _, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); v != "50%" {
				t.Errorf("PodDisruptionBudget minAvailable = %v, want 50%%", v)
			}
		},
	}, {
		name: "own names, image digest, cert-manager, extras",
		values: `
fullnameOverride: edge
commonLabels: {team: net}
image: {registry: ghcr.io/kube-endpoints, tag: v9, digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
leaderElection: {namespace: "", leaseName: edge}
metrics: {port: 8443}
certManager: {enabled: true}
serviceMonitor: {enabled: true, authorization: {secretName: prom-token, secretKey: t}}
podDisruptionBudget: {maxUnavailable: 1}
resources: {requests: {cpu: 10m, memory: 64Mi}, limits: {memory: 1Gi}}
extraEnv: [{name: GODEBUG, value: "madvdontneed=1"}]
extraVolumes: [{name: scratch, emptyDir: {}}]
extraVolumeMounts: [{name: scratch, mountPath: /scratch}]
topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: DoNotSchedule}]
livenessProbe: {httpGet: {path: /healthz, port: health}, periodSeconds: 7}
strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 1}}
revisionHistoryLimit: 3
priorityClassName: ""
`,
		deployment: "edge",
		objects: []string{
			"Certificate edge-metrics", "ClusterRole edge-manager", "ClusterRole edge-metrics-auth", "ClusterRole edge-metrics-reader",
			"ClusterRoleBinding edge-manager", "ClusterRoleBinding edge-metrics-auth", "Deployment edge", "Issuer edge-selfsigned",
			"PodDisruptionBudget edge", "Role edge-leader-election", "RoleBinding edge-leader-election", "Service edge-metrics",
			"ServiceAccount edge", "ServiceMonitor edge",
		},
		args: append(append(append([]string{"--leader-elect", "--leader-election-namespace=" + releaseNamespace, "--leader-elect-resource-name=edge"},
			defaultArgs[3:8]...), "--metrics-cert-path=/tmp/k8s-metrics-server/metrics-certs"), defaultArgs[8:]...),
		check: func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment) {
			for _, o := range objs {
				if o.GetLabels()["team"] != "net" {
					t.Errorf("%s lacks commonLabels: %v", describe(o), o.GetLabels())
				}
			}
			spec := dep.Spec.Template.Spec
			ctr := spec.Containers[0]
			if want := "ghcr.io/kube-endpoints/endpoints-controller@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"; ctr.Image != want {
				t.Errorf("image = %q, want %q", ctr.Image, want)
			}
			if dep.Spec.Template.Labels["team"] != "net" || *dep.Spec.RevisionHistoryLimit != 3 || spec.PriorityClassName != "" ||
				dep.Spec.Strategy.RollingUpdate == nil || dep.Spec.Strategy.RollingUpdate.MaxSurge.IntValue() != 0 {
				t.Errorf("pod labels %v, revisionHistoryLimit %d, priorityClassName %q, strategy %+v: want the values'",
					dep.Spec.Template.Labels, *dep.Spec.RevisionHistoryLimit, spec.PriorityClassName, dep.Spec.Strategy)
			}
			// 90% of 1Gi.
			if got := envValue(ctr, "GOMEMLIMIT"); got != "966367641" {
				t.Errorf("GOMEMLIMIT = %q, want 966367641", got)
			}
			if got := envValue(ctr, "GODEBUG"); got != "madvdontneed=1" {
				t.Errorf("GODEBUG = %q, want the extraEnv value", got)
			}
			if ctr.LivenessProbe == nil || ctr.LivenessProbe.PeriodSeconds != 7 {
				t.Errorf("livenessProbe = %+v, want the values'", ctr.LivenessProbe)
			}
			if len(spec.TopologySpreadConstraints) != 1 || spec.TopologySpreadConstraints[0].TopologyKey != "topology.kubernetes.io/zone" ||
				spec.TopologySpreadConstraints[0].LabelSelector == nil ||
				!reflect.DeepEqual(spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels, dep.Spec.Selector.MatchLabels) {
				t.Errorf("topologySpreadConstraints = %+v, want the zone one, selecting the release's Pods", spec.TopologySpreadConstraints)
			}
			mounts := map[string]string{}
			for _, m := range ctr.VolumeMounts {
				mounts[m.Name] = m.MountPath
			}
			volumes := map[string]corev1.Volume{}
			for _, v := range spec.Volumes {
				volumes[v.Name] = v
			}
			if mounts["scratch"] != "/scratch" || volumes["scratch"].EmptyDir == nil {
				t.Errorf("mounts %v, volumes %v: want the extra scratch volume", mounts, volumes)
			}
			if mounts["metrics-certs"] != "/tmp/k8s-metrics-server/metrics-certs" || volumes["metrics-certs"].Secret == nil ||
				volumes["metrics-certs"].Secret.SecretName != "edge-metrics-cert" {
				t.Errorf("mounts %v, volumes %v: want the certificate's Secret edge-metrics-cert where --metrics-cert-path points", mounts, volumes)
			}
			cert := find(t, objs, "Certificate", "edge-metrics")
			dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
			secret, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName")
			issuer, _, _ := unstructured.NestedString(cert.Object, "spec", "issuerRef", "name")
			if !slices.Contains(dnsNames, "edge-metrics.endpoints.svc") || secret != "edge-metrics-cert" || issuer != "edge-selfsigned" {
				t.Errorf("Certificate dnsNames %v, secretName %q, issuer %q: want the metrics Service's name, edge-metrics-cert, edge-selfsigned",
					dnsNames, secret, issuer)
			}
			endpoint := monitorEndpoint(t, find(t, objs, "ServiceMonitor", "edge"))
			wantTLS := map[string]any{"ca": map[string]any{"secret": map[string]any{"name": "edge-metrics-cert", "key": "ca.crt"}},
				"serverName": "edge-metrics.endpoints.svc"}
			wantAuth := map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "prom-token", "key": "t"}}
			if !reflect.DeepEqual(endpoint["tlsConfig"], wantTLS) || !reflect.DeepEqual(endpoint["authorization"], wantAuth) {
				t.Errorf("ServiceMonitor endpoint %v, want tlsConfig %v and authorization %v", endpoint, wantTLS, wantAuth)
			}
			pdb := typed[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget", "edge"))
			if pdb.Spec.MinAvailable != nil || pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
				t.Errorf("PodDisruptionBudget minAvailable %v, maxUnavailable %v; want only maxUnavailable 1",
					pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
			}
			role := typed[rbacv1.Role](t, find(t, objs, "Role", "edge-leader-election"))
			if role.Namespace != releaseNamespace {
				t.Errorf("leader-election Role in %q, want the release's namespace with leaderElection.namespace empty", role.Namespace)
			}
			if len(role.Rules) != 2 || !slices.Equal(role.Rules[1].ResourceNames, []string{"edge"}) {
				t.Errorf("leader-election Role rules %+v, want get and update on the Lease edge only", role.Rules)
			}
		},
	}, {
		name:   "plain HTTP metrics",
		values: `{metrics: {secure: false, port: 8080}, serviceMonitor: {enabled: true}}`,
		objects: []string{
			"ClusterRole " + fullName + "-manager", "ClusterRoleBinding " + fullName + "-manager", "Deployment " + fullName,
			"PodDisruptionBudget " + fullName, "Role " + fullName + "-leader-election", "RoleBinding " + fullName + "-leader-election",
			"Service " + fullName + "-metrics", "ServiceAccount " + fullName, "ServiceMonitor " + fullName,
		},
		args: append(append(slices.Clone(defaultArgs[:6]), "--metrics-bind-address=:8080", "--metrics-secure=false"), defaultArgs[8:]...),
		check: func(t *testing.T, objs []*unstructured.Unstructured, dep *appsv1.Deployment) {
			endpoint := monitorEndpoint(t, find(t, objs, "ServiceMonitor", fullName))
			want := map[string]any{"path": "/metrics", "port": "http", "scheme": "http", "interval": "30s"}
			if !reflect.DeepEqual(endpoint, want) {
				t.Errorf("ServiceMonitor endpoint %v, want %v", endpoint, want)
			}
			svc := typed[corev1.Service](t, find(t, objs, "Service", fullName+"-metrics"))
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.String() != "http" {
				t.Errorf("metrics Service ports %+v, want http", svc.Spec.Ports)
			}
			if p := dep.Spec.Template.Spec.Containers[0].Ports[0]; p.Name != "http" || p.ContainerPort != 8080 {
				t.Errorf("container port %+v, want http 8080", p)
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
			depName := tc.deployment
			if depName == "" {
				depName = fullName
			}
			dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", depName))
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
		{"Lease name that is no name", `leaderElection: {leaseName: Endpoints_Lease}`, "leaseName"},
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

// checkDefaultPod checks the defaults of the Pod that operators of
// control-plane components expect.
func checkDefaultPod(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	spec := dep.Spec.Template.Spec
	ctr := spec.Containers[0]
	if spec.PriorityClassName != "system-cluster-critical" {
		t.Errorf("priorityClassName = %q, want system-cluster-critical", spec.PriorityClassName)
	}
	// A CFS quota would throttle the latency-critical sync loop.
	if _, ok := ctr.Resources.Limits[corev1.ResourceCPU]; ok {
		t.Errorf("CPU limit %v set by default", ctr.Resources.Limits.Cpu())
	}
	// 90% of the 512Mi memory limit.
	if got := envValue(ctr, "GOMEMLIMIT"); got != "483183820" {
		t.Errorf("GOMEMLIMIT = %q, want 483183820 (90%% of 512Mi)", got)
	}
	if r := dep.Spec.RevisionHistoryLimit; r == nil || *r != 10 {
		t.Errorf("revisionHistoryLimit = %v, want 10", r)
	}
	if s := dep.Spec.Strategy.RollingUpdate; s == nil || s.MaxUnavailable.IntValue() != 0 || s.MaxSurge.IntValue() != 1 {
		t.Errorf("strategy = %+v, want a surge of 1 and none unavailable, keeping a standby", dep.Spec.Strategy)
	}
	if p := ctr.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("livenessProbe = %+v, want GET /healthz", p)
	}
	if p := ctr.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
		t.Errorf("readinessProbe = %+v, want GET /readyz", p)
	}
	if len(spec.TopologySpreadConstraints) != 1 || spec.TopologySpreadConstraints[0].LabelSelector == nil ||
		!reflect.DeepEqual(spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels, dep.Spec.Selector.MatchLabels) {
		t.Errorf("topologySpreadConstraints = %+v, want one selecting the release's Pods", spec.TopologySpreadConstraints)
	}
}

// envValue returns the value of the container's environment variable name.
func envValue(ctr corev1.Container, name string) string {
	for _, e := range ctr.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// monitorEndpoint returns the only endpoint of a ServiceMonitor.
func monitorEndpoint(t *testing.T, monitor *unstructured.Unstructured) map[string]any {
	t.Helper()
	endpoints, _, _ := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor %s has %d endpoints, want 1", describe(monitor), len(endpoints))
	}
	ep, _ := endpoints[0].(map[string]any)
	return ep
}

// TestRenderRefuses checks that values which would install something unsafe
// or broken fail to render, with a message that says why.
func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, values, want string
	}{
		{"two replicas without leader election", `{replicaCount: 2, leaderElection: {enabled: false}}`, "leaderElection.enabled"},
		{"five replicas without leader election", `{replicaCount: 5, leaderElection: {enabled: false}}`, "leaderElection.enabled"},
		{"ServiceMonitor without a token", `serviceMonitor: {enabled: true}`, "serviceMonitor.authorization.secretName"},
		{"memory limit GOMEMLIMIT cannot follow", `resources: {limits: {memory: 2E}}`, "GOMEMLIMIT"},
		{"image digest that is no digest", `image: {digest: latest}`, "digest"},
		{"unknown issuer kind", `certManager: {enabled: true, issuerRef: {name: ca, kind: Vault}}`, "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.values), &vals); err != nil {
				t.Fatal(err)
			}
			_, err := render(t, vals)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("rendering with %s: %v; want an error naming %s", tc.values, err, tc.want)
			}
		})
	}
}

// TestRenderWithoutPDB checks that one replica renders no
// PodDisruptionBudget, which would block `kubectl drain` forever.
func TestRenderWithoutPDB(t *testing.T) {
	for _, values := range []string{`replicaCount: 1`, `{replicaCount: 1, leaderElection: {enabled: false}}`, `replicaCount: 0`} {
		vals := map[string]any{}
		if err := yaml.Unmarshal([]byte(values), &vals); err != nil {
			t.Fatal(err)
		}
		objs, err := render(t, vals)
		if err != nil {
			t.Fatalf("Rendering %s: %v", values, err)
		}
		for _, o := range objs {
			if o.GetKind() == "PodDisruptionBudget" {
				t.Errorf("%s renders %s", values, describe(o))
			}
		}
	}
}

// TestArgsAreQuoted checks that a value cannot inject YAML into the
// controller's arguments: a selector with a newline stays one argument.
func TestArgsAreQuoted(t *testing.T) {
	const selector = "team=a\n- --leader-elect=false"
	objs, err := render(t, map[string]any{"controller": map[string]any{"serviceSelector": selector}})
	if err != nil {
		t.Fatalf("Rendering: %v", err)
	}
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", fullName))
	args := dep.Spec.Template.Spec.Containers[0].Args
	if !slices.Contains(args, "--service-label-selector="+selector) || slices.Contains(args, "--leader-elect=false") {
		t.Errorf("args %q: want the selector as one argument and no injected --leader-elect=false", args)
	}
}

// TestSubchart checks that the chart renders as a subchart: with global
// values, which Helm passes to every subchart, and with its helpers named
// after the chart so that they cannot collide with another chart's.
func TestSubchart(t *testing.T) {
	vals := map[string]any{"global": map[string]any{"imageRegistry": "registry.example.com", "storageClass": "fast"}}
	if _, err := render(t, vals); err != nil {
		t.Errorf("Rendering with global values: %v", err)
	}
	define := regexp.MustCompile(`define "([^"]+)"`)
	include := regexp.MustCompile(`(?:include|template) "([^"]+)"`)
	err := filepath.WalkDir(filepath.Join(chartDir(), "templates"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range []*regexp.Regexp{define, include} {
			for _, m := range re.FindAllStringSubmatch(string(data), -1) {
				if !strings.HasPrefix(m[1], "endpoints-controller.") {
					t.Errorf("%s: template %q is not named after the chart", filepath.Base(path), m[1])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNameOverride checks nameOverride in the names and labels.
func TestNameOverride(t *testing.T) {
	objs, err := render(t, map[string]any{"nameOverride": "ep"})
	if err != nil {
		t.Fatalf("Rendering: %v", err)
	}
	dep := find(t, objs, "Deployment", releaseName+"-ep")
	if dep.GetLabels()["app.kubernetes.io/name"] != "ep" {
		t.Errorf("Deployment labels %v, want app.kubernetes.io/name: ep", dep.GetLabels())
	}
}

// TestNotes checks what NOTES.txt tells the installer: to switch off
// kube-controller-manager's endpoints controller first, and how to check.
func TestNotes(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		want, not    []string
	}{
		{"defaults", ``, []string{"--controllers=*,-endpoints-controller", "endpoints-controller --kubeconfig=$HOME/.kube/config diff",
			"kubectl -n kube-system get lease " + leaseName, "endpoints_controller_writes_total", fullName + "-metrics-reader"},
			[]string{"WARNING", "Shadow mode"}},
		{"shadow mode", `controller: {dryRun: true}`, []string{"Shadow mode", "endpoints_controller_shadow_services_differing"},
			[]string{"BEFORE IT WRITES"}},
		{"plain HTTP metrics", `metrics: {secure: false}`, []string{"WARNING: metrics.secure is false"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals := map[string]any{}
			if err := yaml.Unmarshal([]byte(tc.values), &vals); err != nil {
				t.Fatal(err)
			}
			files, err := renderFiles(t, vals)
			if err != nil {
				t.Fatalf("Rendering: %v", err)
			}
			notes, ok := files["endpoints-controller/templates/NOTES.txt"]
			if !ok {
				t.Fatalf("no NOTES.txt among %d files", len(files))
			}
			for _, w := range tc.want {
				if !strings.Contains(notes, w) {
					t.Errorf("NOTES.txt lacks %q:\n%s", w, notes)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(notes, n) {
					t.Errorf("NOTES.txt says %q:\n%s", n, notes)
				}
			}
		})
	}
}
