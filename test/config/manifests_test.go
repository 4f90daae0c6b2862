package config_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// What config/default/kustomization.yaml sets.
const (
	namespace  = "endpoints-controller-system"
	namePrefix = "endpoints-controller-"

	deploymentName     = namePrefix + "controller-manager"
	serviceAccountName = namePrefix + "controller-manager"
	managerRoleName    = namePrefix + "manager-role"
	metricsServiceName = namePrefix + "controller-manager-metrics-service"
)

// defaultObjects is what `kustomize build config/default` must render, as
// sorted "Kind/namespace/name" strings.
var defaultObjects = []string{
	"ClusterRole//" + namePrefix + "manager-role",
	"ClusterRole//" + namePrefix + "metrics-auth-role",
	"ClusterRole//" + namePrefix + "metrics-reader",
	"ClusterRoleBinding//" + namePrefix + "manager-rolebinding",
	"ClusterRoleBinding//" + namePrefix + "metrics-auth-rolebinding",
	"Deployment/" + namespace + "/" + namePrefix + "controller-manager",
	"Namespace//" + namespace,
	"PodDisruptionBudget/" + namespace + "/" + namePrefix + "controller-manager",
	"Role/" + namespace + "/" + namePrefix + "leader-election-role",
	"RoleBinding/" + namespace + "/" + namePrefix + "leader-election-rolebinding",
	"Service/" + namespace + "/" + namePrefix + "controller-manager-metrics-service",
	"ServiceAccount/" + namespace + "/" + namePrefix + "controller-manager",
}

func configDir(name string) string {
	return filepath.Join(repoRoot(), "config", name)
}

func TestDefaultRendersExpectedObjects(t *testing.T) {
	got := keys(render(t, configDir("default")))
	if !slices.Equal(got, defaultObjects) {
		t.Errorf("config/default rendered\n  %s\nwant\n  %s",
			strings.Join(got, "\n  "), strings.Join(defaultObjects, "\n  "))
	}
}

// TestDefaultAppliesToAPIServer has the API server validate and admit every
// object of config/default, and the Pod the Deployment would create under the
// namespace's restricted Pod Security level.
func TestDefaultAppliesToAPIServer(t *testing.T) {
	objs := render(t, configDir("default"))
	c, warned := newClient(t)

	// A namespaced object can only be applied, even in dry-run mode, into a
	// namespace that exists.
	apply(t, c, find(t, objs, "Namespace", namespace))
	dryRunApply(t, c, objs)

	// Pod Security Admission only warns about a Deployment; it enforces on Pods.
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", deploymentName))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-security-check", Namespace: namespace, Labels: dep.Spec.Template.Labels},
		Spec:       dep.Spec.Template.Spec,
	}
	if err := c.Create(t.Context(), pod, client.DryRunAll); err != nil {
		t.Errorf("Dry-run create of the manager Pod in namespace %s: %v", namespace, err)
	}
	if w := warned.get(); len(w) > 0 {
		t.Errorf("The API server warned: %q", w)
	}
}

// TestRolesAreLeastPrivilege checks every Role and ClusterRole rendered: no
// wildcards, no Secrets, no verbs that hand out more rights.
func TestRolesAreLeastPrivilege(t *testing.T) {
	objs := render(t, configDir("default"))
	forbiddenVerbs := []string{"escalate", "bind", "impersonate"}
	for _, obj := range append(ofKind(objs, "ClusterRole"), ofKind(objs, "Role")...) {
		role := typed[rbacv1.ClusterRole](t, obj) // Role has the same fields, less one.
		if role.AggregationRule != nil {
			t.Errorf("%s aggregates other roles, so its rights are not those listed", describe(obj))
		}
		if len(role.Rules) == 0 {
			t.Errorf("%s has no rules", describe(obj))
		}
		for i, rule := range role.Rules {
			fields := map[string][]string{
				"verbs": rule.Verbs, "apiGroups": rule.APIGroups, "resources": rule.Resources,
				"resourceNames": rule.ResourceNames, "nonResourceURLs": rule.NonResourceURLs,
			}
			for field, values := range fields {
				for _, v := range values {
					if strings.Contains(v, "*") {
						t.Errorf("%s rule %d: wildcard %q in %s", describe(obj), i, v, field)
					}
				}
			}
			for _, r := range rule.Resources {
				if r == "secrets" || strings.HasPrefix(r, "secrets/") {
					t.Errorf("%s rule %d grants %v on %s", describe(obj), i, rule.Verbs, r)
				}
			}
			for _, v := range rule.Verbs {
				if slices.Contains(forbiddenVerbs, v) {
					t.Errorf("%s rule %d grants %q", describe(obj), i, v)
				}
			}
		}
	}
	// The controller's own role must be among those checked.
	find(t, objs, "ClusterRole", managerRoleName)
}

// TestManagerRoleIsGenerated fails when config/rbac/role.yaml differs from what
// controller-gen makes of the RBAC markers in internal/controller/: someone changed
// the markers and did not run `make manifests`.
func TestManagerRoleIsGenerated(t *testing.T) {
	out := t.TempDir()
	// Keep these arguments in step with the Makefile's manifests target.
	cmd := exec.CommandContext(t.Context(), tool(t, "controller-gen"),
		"rbac:roleName=manager-role", "paths=./internal/controller/...", "output:rbac:artifacts:config="+out)
	cmd.Dir = repoRoot()
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("controller-gen: %v\n%s", err, msg)
	}
	want, err := os.ReadFile(filepath.Join(out, "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(configDir("rbac/role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("config/rbac/role.yaml is stale; run `make manifests`. It is\n%s\ncontroller-gen makes\n%s", got, want)
	}
}

// TestDeploymentIsHardened checks the Deployment and its PodDisruptionBudget.
func TestDeploymentIsHardened(t *testing.T) {
	objs := render(t, configDir("default"))
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", deploymentName))
	spec := dep.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	ctr := spec.Containers[0]

	t.Run("pod", func(t *testing.T) { checkManagerPod(t, dep) })
	t.Run("container", func(t *testing.T) { checkManagerContainer(t, ctr) })
	t.Run("probes", func(t *testing.T) { checkProbes(t, ctr) })
	t.Run("spreading", func(t *testing.T) { checkSpreading(t, dep.Spec.Template) })
	t.Run("disruption budget", func(t *testing.T) {
		pdb := typed[policyv1.PodDisruptionBudget](t, find(t, objs, "PodDisruptionBudget", deploymentName))
		if m := pdb.Spec.MinAvailable; m == nil || *m != intstr.FromInt32(1) {
			t.Errorf("PodDisruptionBudget minAvailable = %v, want 1", m)
		}
		if !selects(t, pdb.Spec.Selector, dep.Spec.Template.Labels) {
			t.Errorf("PodDisruptionBudget selector %v does not select the manager Pods %v",
				pdb.Spec.Selector, dep.Spec.Template.Labels)
		}
	})
}

func checkManagerPod(t *testing.T, dep *appsv1.Deployment) {
	spec := dep.Spec.Template.Spec
	if r := dep.Spec.Replicas; r == nil || *r != 2 {
		t.Errorf("replicas = %v, want 2", r)
	}
	if spec.ServiceAccountName != serviceAccountName {
		t.Errorf("serviceAccountName = %q, want %q", spec.ServiceAccountName, serviceAccountName)
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g != 10 {
		t.Errorf("terminationGracePeriodSeconds = %v, want 10", g)
	}
	psc := spec.SecurityContext
	if psc == nil {
		t.Fatalf("the Pod has no securityContext")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod securityContext.runAsNonRoot is not true")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext.seccompProfile = %+v, want RuntimeDefault", psc.SeccompProfile)
	}
}

func checkManagerContainer(t *testing.T, ctr corev1.Container) {
	if ctr.Image != "controller:latest" {
		t.Errorf("image = %q, want controller:latest (the kustomize image name)", ctr.Image)
	}
	for _, arg := range []string{"--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081", "--graceful-shutdown-timeout=5s",
		"--zap-time-encoding=iso8601"} {
		if !slices.Contains(ctr.Args, arg) {
			t.Errorf("args %q lack %q", ctr.Args, arg)
		}
	}

	sc := ctr.SecurityContext
	if sc == nil {
		t.Fatalf("container %s has no securityContext", ctr.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities = %+v, want drop [ALL] and add none", sc.Capabilities)
	}

	// No CPU limit: a CFS quota would throttle the sync loop in a burst.
	want := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	if !apiequality.Semantic.DeepEqual(ctr.Resources, want) {
		t.Errorf("resources = %+v, want %+v", ctr.Resources, want)
	}
	// GOMEMLIMIT at 90% of the memory limit, leaving room for what the Go
	// runtime does not count.
	var memLimit string
	for _, e := range ctr.Env {
		if e.Name == "GOMEMLIMIT" {
			memLimit = e.Value
		}
	}
	if memLimit != "460MiB" {
		t.Errorf("GOMEMLIMIT = %q, want 460MiB (90%% of the 512Mi limit)", memLimit)
	}
}

func checkProbes(t *testing.T, ctr corev1.Container) {
	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"liveness", ctr.LivenessProbe, "/healthz"},
		{"readiness", ctr.ReadinessProbe, "/readyz"},
	}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s probe path = %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if port := containerPort(ctr, p.probe.HTTPGet.Port); port != 8081 {
			t.Errorf("%s probe port %s is container port %d, want 8081 (--health-probe-bind-address)",
				p.name, p.probe.HTTPGet.Port.String(), port)
		}
	}
}

// checkSpreading checks that the replicas are kept on different nodes where
// possible, and only where possible.
func checkSpreading(t *testing.T, tmpl corev1.PodTemplateSpec) {
	spec := tmpl.Spec
	spread := false
	for _, tsc := range spec.TopologySpreadConstraints {
		if tsc.TopologyKey == corev1.LabelHostname && tsc.WhenUnsatisfiable == corev1.ScheduleAnyway &&
			selects(t, tsc.LabelSelector, tmpl.Labels) {
			spread = true
		}
	}
	if !spread {
		t.Errorf("no ScheduleAnyway topology spread of the manager Pods over %s: %+v",
			corev1.LabelHostname, spec.TopologySpreadConstraints)
	}

	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		t.Fatalf("no pod anti-affinity")
	}
	anti := spec.Affinity.PodAntiAffinity
	if len(anti.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
		t.Errorf("required pod anti-affinity would leave a replica unscheduled on a one-node cluster")
	}
	preferred := false
	for _, term := range anti.PreferredDuringSchedulingIgnoredDuringExecution {
		if term.PodAffinityTerm.TopologyKey == corev1.LabelHostname && selects(t, term.PodAffinityTerm.LabelSelector, tmpl.Labels) {
			preferred = true
		}
	}
	if !preferred {
		t.Errorf("no preferred pod anti-affinity of the manager Pods over %s: %+v", corev1.LabelHostname, anti)
	}
}

// TestObjectsFitTogether checks the references between the objects of
// config/default, which kustomize's name prefix and namespace rewrite.
func TestObjectsFitTogether(t *testing.T) {
	objs := render(t, configDir("default"))
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", deploymentName))
	find(t, objs, "ServiceAccount", dep.Spec.Template.Spec.ServiceAccountName)

	for _, obj := range append(ofKind(objs, "ClusterRoleBinding"), ofKind(objs, "RoleBinding")...) {
		binding := typed[rbacv1.RoleBinding](t, obj) // ClusterRoleBinding has the same fields.
		role := find(t, objs, binding.RoleRef.Kind, binding.RoleRef.Name)
		if role.GetNamespace() != obj.GetNamespace() {
			t.Errorf("%s refers to %s in another namespace", describe(obj), describe(role))
		}
		want := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: dep.Spec.Template.Spec.ServiceAccountName, Namespace: dep.Namespace}}
		if !slices.Equal(binding.Subjects, want) {
			t.Errorf("%s binds %+v, want the manager's ServiceAccount %+v", describe(obj), binding.Subjects, want)
		}
	}

	svc := typed[corev1.Service](t, find(t, objs, "Service", metricsServiceName))
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
		t.Errorf("metrics Service selector %v does not select the manager Pods %v", svc.Spec.Selector, dep.Spec.Template.Labels)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "https" || svc.Spec.Ports[0].Port != 8443 {
		t.Fatalf("metrics Service ports = %+v, want one, https on 8443", svc.Spec.Ports)
	}
	if got := containerPort(dep.Spec.Template.Spec.Containers[0], svc.Spec.Ports[0].TargetPort); got != 8443 {
		t.Errorf("metrics Service targets container port %d, want 8443 (--metrics-bind-address)", got)
	}
}

// TestOptionalComponents enables the commented-out prometheus and
// network-policy parts of config/default, as a user would, and checks that
// the result renders, applies, and reaches the metrics endpoint.
func TestOptionalComponents(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	if err := os.CopyFS(dir, os.DirFS(configDir(""))); err != nil {
		t.Fatal(err)
	}
	kustomization := filepath.Join(dir, "default", "kustomization.yaml")
	data, err := os.ReadFile(kustomization)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"- ../prometheus\n", "- ../network-policy\n"} {
		if !bytes.Contains(data, []byte("\n#"+line)) {
			t.Fatalf("config/default/kustomization.yaml has no commented-out %q", line)
		}
		data = bytes.Replace(data, []byte("\n#"+line), []byte("\n"+line), 1)
	}
	if err := os.WriteFile(kustomization, data, 0o600); err != nil {
		t.Fatal(err)
	}

	objs := render(t, filepath.Join(dir, "default"))
	monitorName := namePrefix + "controller-manager-metrics-monitor"
	policyName := namePrefix + "allow-metrics-traffic"
	want := append(slices.Clone(defaultObjects),
		"NetworkPolicy/"+namespace+"/"+policyName,
		"ServiceMonitor/"+namespace+"/"+monitorName)
	slices.Sort(want)
	if got := keys(objs); !slices.Equal(got, want) {
		t.Errorf("config/default with the optional parts rendered\n  %s\nwant\n  %s",
			strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	c, warned := newClient(t)
	apply(t, c, find(t, objs, "Namespace", namespace))
	dryRunApply(t, c, objs)
	if w := warned.get(); len(w) > 0 {
		t.Errorf("The API server warned: %q", w)
	}

	svc := typed[corev1.Service](t, find(t, objs, "Service", metricsServiceName))
	monitor := find(t, objs, "ServiceMonitor", monitorName)
	checkMonitor(t, monitor, svc)

	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", deploymentName))
	policy := typed[networkingv1.NetworkPolicy](t, find(t, objs, "NetworkPolicy", policyName))
	if !selects(t, &policy.Spec.PodSelector, labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy podSelector %v does not select the manager Pods", policy.Spec.PodSelector)
	}
	wantIngress := []networkingv1.NetworkPolicyIngressRule{{
		From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"metrics": "enabled"}}}},
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(8443))}},
	}}
	if got := policy.Spec.Ingress; !equalJSON(t, got, wantIngress) {
		t.Errorf("NetworkPolicy ingress = %+v, want metrics traffic on 8443 from namespaces labelled metrics: enabled", got)
	}
}

// checkMonitor checks that the ServiceMonitor scrapes the metrics Service over
// HTTPS with the scraper's token.
func checkMonitor(t *testing.T, monitor *unstructured.Unstructured, svc *corev1.Service) {
	t.Helper()
	if monitor.GetNamespace() != svc.Namespace {
		t.Errorf("ServiceMonitor in %q, metrics Service in %q", monitor.GetNamespace(), svc.Namespace)
	}
	matchLabels, _, err := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	if err != nil || len(matchLabels) == 0 || !labels.SelectorFromSet(matchLabels).Matches(labels.Set(svc.Labels)) {
		t.Errorf("ServiceMonitor selector %v (%v) does not select the metrics Service, labelled %v", matchLabels, err, svc.Labels)
	}
	endpoints, _, err := unstructured.NestedSlice(monitor.Object, "spec", "endpoints")
	if err != nil || len(endpoints) != 1 {
		t.Fatalf("ServiceMonitor endpoints = %v (%v), want one", endpoints, err)
	}
	ep, _ := endpoints[0].(map[string]any)
	want := map[string]any{
		"port":   svc.Spec.Ports[0].Name,
		"path":   "/metrics",
		"scheme": "https",
		// A token from a Secret, not the deprecated bearerTokenFile.
		"authorization": map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "metrics-reader-token", "key": "token"}},
		"tlsConfig":     map[string]any{"insecureSkipVerify": true},
	}
	if _, ok := ep["bearerTokenFile"]; ok {
		t.Errorf("ServiceMonitor endpoint uses the deprecated bearerTokenFile: %v", ep)
	}
	for k, v := range want {
		if !equalJSON(t, ep[k], v) {
			t.Errorf("ServiceMonitor endpoint %s = %v, want %v", k, ep[k], v)
		}
	}
}

// TestCertManager checks config/certmanager: config/default with a metrics
// certificate from cert-manager, for the metrics Service's name, mounted where
// --metrics-cert-path points; and that the ServiceMonitor patch verifies it.
func TestCertManager(t *testing.T) {
	objs := render(t, configDir("certmanager"))
	const (
		certName   = "endpoints-controller-metrics-certs"
		secretName = "endpoints-controller-metrics-server-cert"
	)
	want := append(slices.Clone(defaultObjects),
		"Certificate/"+namespace+"/"+certName, "Issuer/"+namespace+"/endpoints-controller-selfsigned-issuer")
	slices.Sort(want)
	if got := keys(objs); !slices.Equal(got, want) {
		t.Errorf("config/certmanager rendered\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	c, _ := newClient(t)
	apply(t, c, find(t, objs, "Namespace", namespace))
	dryRunApply(t, c, objs)

	cert := find(t, objs, "Certificate", certName)
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	if svcDNS := metricsServiceName + "." + namespace + ".svc"; !slices.Contains(dnsNames, svcDNS) {
		t.Errorf("Certificate dnsNames %v lack the metrics Service's %s", dnsNames, svcDNS)
	}
	if s, _, _ := unstructured.NestedString(cert.Object, "spec", "secretName"); s != secretName {
		t.Errorf("Certificate secretName = %q, want %q", s, secretName)
	}

	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", deploymentName))
	ctr := dep.Spec.Template.Spec.Containers[0]
	const certDir = "/tmp/k8s-metrics-server/metrics-certs"
	if !slices.Contains(ctr.Args, "--metrics-cert-path="+certDir) {
		t.Errorf("args %q lack --metrics-cert-path=%s", ctr.Args, certDir)
	}
	mounted := false
	for _, m := range ctr.VolumeMounts {
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if m.Name == v.Name && m.MountPath == certDir && v.Secret != nil && v.Secret.SecretName == secretName {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("Secret %s is not mounted at %s: mounts %+v, volumes %+v", secretName, certDir, ctr.VolumeMounts, dep.Spec.Template.Spec.Volumes)
	}

	// The ServiceMonitor patch verifies the certificate by its CA and name.
	data, err := os.ReadFile(filepath.Join(configDir("prometheus"), "monitor_tls_patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var patch []struct {
		Value struct {
			CA struct {
				Secret struct{ Name, Key string }
			}
			ServerName string
		}
	}
	if err := yaml.Unmarshal(data, &patch); err != nil || len(patch) != 1 {
		t.Fatalf("monitor_tls_patch.yaml: %d operations, %v", len(patch), err)
	}
	if v := patch[0].Value; v.CA.Secret.Name != secretName || v.CA.Secret.Key != "ca.crt" || !slices.Contains(dnsNames, v.ServerName) {
		t.Errorf("monitor_tls_patch.yaml verifies against %+v, want ca.crt of %s and one of %v", v, secretName, dnsNames)
	}
}

// TestSamplesApply applies the samples into a namespace of their own and checks
// that the sample Service selects the sample Pods on a port they expose.
func TestSamplesApply(t *testing.T) {
	objs := render(t, configDir("samples"))
	want := []string{"Deployment//echo", "Service//echo"}
	if got := keys(objs); !slices.Equal(got, want) {
		t.Errorf("config/samples rendered %v, want %v", got, want)
	}

	const ns = "endpoints-controller-samples"
	c, warned := newClient(t)
	ensureNamespace(t, c, ns, map[string]string{"pod-security.kubernetes.io/warn": "restricted"})
	for _, obj := range objs {
		obj.SetNamespace(ns) // as `kubectl apply -n` would
	}
	dryRunApply(t, c, objs)
	if w := warned.get(); len(w) > 0 {
		t.Errorf("The API server warned: %q", w)
	}

	svc := typed[corev1.Service](t, find(t, objs, "Service", "echo"))
	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "echo"))
	if len(svc.Spec.Selector) == 0 {
		t.Fatalf("the sample Service has no selector, so the controller would leave its Endpoints alone")
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(dep.Spec.Template.Labels)) {
		t.Errorf("the sample Service selector %v does not select the sample Pods %v", svc.Spec.Selector, dep.Spec.Template.Labels)
	}
	for _, p := range svc.Spec.Ports {
		found := false
		for _, ctr := range dep.Spec.Template.Spec.Containers {
			found = found || containerPort(ctr, p.TargetPort) != 0
		}
		if !found {
			t.Errorf("the sample Service port %q targets %s, which no sample container exposes", p.Name, p.TargetPort.String())
		}
	}
}

// containerPort resolves a port by number or name against the container's
// ports; 0 when the container declares no such port.
func containerPort(ctr corev1.Container, port intstr.IntOrString) int32 {
	for _, p := range ctr.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) || (port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return p.ContainerPort
		}
	}
	return 0
}

// selects tells whether a non-empty label selector matches set.
func selects(t *testing.T, sel *metav1.LabelSelector, set labels.Set) bool {
	t.Helper()
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("Label selector %v: %v", sel, err)
		return false
	}
	return s.Matches(set)
}

// equalJSON compares two values by their JSON form, so that a typed value
// and its unstructured form compare equal.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		t.Fatalf("Marshalling to JSON: %v, %v", errA, errB)
	}
	return bytes.Equal(ja, jb)
}
