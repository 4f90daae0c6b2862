package main

// The diff subcommand against a real kube-apiserver and etcd (envtest):
// KUBEBUILDER_ASSETS names the directory with their binaries (`make test`
// sets it).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/clusterdiff"
	"github.com/kube-endpoints/endpoints-controller/internal/diff"
	"github.com/kube-endpoints/endpoints-controller/internal/testenv"
)

var (
	testEnv *envtest.Environment
	// restConfig reaches the API server as an administrator.
	restConfig *rest.Config
	admin      kubernetes.Interface
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(logr.Discard()) // the controller that TestDiffPredictsTheController runs
	testEnv = &envtest.Environment{}
	os.Exit(testenv.Main(testEnv, func(cfg *rest.Config) int {
		cfg = rest.CopyConfig(cfg)
		cfg.WarningHandler = rest.NoWarnings{}
		restConfig = cfg
		admin = kubernetes.NewForConfigOrDie(cfg)
		return m.Run()
	}))
}

// kubeconfigFor writes a kubeconfig of a user with the given groups and
// returns its path. Only RBAC bindings give such a user any right.
func kubeconfigFor(t *testing.T, user string) string {
	t.Helper()
	u, err := testEnv.AddUser(envtest.User{Name: user}, nil)
	if err != nil {
		t.Fatalf("Adding user %s: %v", user, err)
	}
	b, err := u.KubeConfig()
	if err != nil {
		t.Fatalf("Kubeconfig of %s: %v", user, err)
	}
	path := filepath.Join(t.TempDir(), user+".kubeconfig")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// grantRead lets user get and list resources, in namespace ns, or cluster
// wide when ns is empty. No write verb is ever granted: a diff that tried
// to write would fail.
func grantRead(t *testing.T, user, ns string, resources ...string) {
	t.Helper()
	ctx := context.Background()
	meta := metav1.ObjectMeta{GenerateName: "diff-read-"}
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: resources, Verbs: []string{"get", "list"}}}
	subjects := []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: user, APIGroup: rbacv1.GroupName}}
	var err error
	if ns == "" {
		var role *rbacv1.ClusterRole
		if role, err = admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{}); err == nil {
			_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: meta, Subjects: subjects,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name}}, metav1.CreateOptions{})
		}
	} else {
		var role *rbacv1.Role
		if role, err = admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{}); err == nil {
			_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: meta, Subjects: subjects,
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name}}, metav1.CreateOptions{})
		}
	}
	if err != nil {
		t.Fatalf("Granting %s read access to %v in %q: %v", user, resources, ns, err)
	}
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns, err := admin.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "diff-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating namespace: %v", err)
	}
	return ns.Name
}

// createPod creates a Pod serving http 8080/TCP with status Running, ip and
// the Ready condition, as a kubelet would set them.
func createPod(t *testing.T, ns, name string, labels map[string]string, ip string, ready bool) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	pod, err := admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{
			Name: "app", Image: "registry.k8s.io/pause:3.10",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("Creating Pod %s: %v", name, err)
	}
	return setReady(t, pod, ip, ready)
}

func setReady(t *testing.T, pod *corev1.Pod, ip string, ready bool) *corev1.Pod {
	t.Helper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}},
	}
	pod, err := admin.CoreV1().Pods(pod.Namespace).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("Setting the status of Pod %s: %v", pod.Name, err)
	}
	return pod
}

func createService(t *testing.T, ns, name string, selector map[string]string, mutate ...func(*corev1.Service)) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{
			Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
	}
	for _, m := range mutate {
		m(svc)
	}
	if _, err := admin.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Creating Service %s: %v", name, err)
	}
}

func createEndpoints(t *testing.T, ns, name, managedBy string, subsets ...corev1.EndpointSubset) {
	t.Helper()
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name}, Subsets: subsets}
	if managedBy != "" {
		ep.Labels = map[string]string{"endpoints.kubernetes.io/managed-by": managedBy}
		ep.Annotations = map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-30T10:11:12.123456789Z"}
	}
	if _, err := admin.CoreV1().Endpoints(ns).Create(context.Background(), ep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("Creating Endpoints %s: %v", name, err)
	}
}

func address(p *corev1.Pod) corev1.EndpointAddress {
	return corev1.EndpointAddress{IP: p.Status.PodIP, NodeName: ptr.To(p.Spec.NodeName),
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
}

// endpointsVersions returns the resourceVersion of every Endpoints in ns.
func endpointsVersions(t *testing.T, ns string) map[string]string {
	t.Helper()
	list, err := admin.CoreV1().Endpoints(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, ep := range list.Items {
		out[ep.Name] = ep.ResourceVersion
	}
	return out
}

// diffRun is the outcome of one run of the subcommand.
type diffRun struct {
	code           int
	stdout, stderr string
}

func runDiffCmd(t *testing.T, args ...string) diffRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runDiff(context.Background(), args, &stdout, &stderr)
	return diffRun{code, stdout.String(), stderr.String()}
}

// Issue 8: `diff` reports what the controller would change, with the exit
// status of `kubectl diff`, and writes nothing (its user may only read).
// In turn: nothing would change (up-to-date Endpoints, one of them still
// labelled by kube-controller-manager, a Service matching no Pod, a
// selectorless and an ExternalName Service); one Pod turns not ready; an
// orphan appears. Every run, also with one object per list page, leaves
// every resourceVersion as it was.
func TestDiff(t *testing.T) {
	ns := newNamespace(t)
	reader := kubeconfigFor(t, "diff-reader")
	grantRead(t, "diff-reader", "", "services", "endpoints", "pods")

	web := map[string]string{"app": "web"}
	kcm := map[string]string{"app": "kcm"}
	a := createPod(t, ns, "a", web, "10.0.0.1", true)
	b := createPod(t, ns, "b", web, "10.0.0.2", true)
	c := createPod(t, ns, "c", kcm, "10.0.1.1", true)
	http := []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}
	createService(t, ns, "web", web)
	createEndpoints(t, ns, "web", "endpoints-controller.kube-endpoints.io",
		corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{address(a), address(b)}, Ports: http})
	createService(t, ns, "kcm", kcm)
	createEndpoints(t, ns, "kcm", "endpoint-controller",
		corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{address(c)}, Ports: http})
	createService(t, ns, "nomatch", map[string]string{"app": "none"})
	createEndpoints(t, ns, "nomatch", "endpoint-controller")
	createService(t, ns, "manual", nil)
	createEndpoints(t, ns, "manual", "", corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}, Ports: http})
	createService(t, ns, "external", nil, func(s *corev1.Service) {
		s.Spec.Type, s.Spec.ExternalName, s.Spec.Ports = corev1.ServiceTypeExternalName, "example.com", nil
	})
	versions := endpointsVersions(t, ns)

	check := func(step string, got diffRun, code int, stdout string) {
		t.Helper()
		if got.code != code || got.stdout != stdout || got.stderr != "" {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", step, got.code, code, got.stdout, stdout, got.stderr)
		}
		if v := endpointsVersions(t, ns); !reflect.DeepEqual(v, versions) {
			t.Errorf("%s: Endpoints were written: resourceVersions %v, want %v", step, v, versions)
		}
	}
	args := []string{"--kubeconfig", reader, "--namespaces", ns}

	upToDate := "5 Services examined: 3 up to date (2 differ only by the managed-by label), 2 not managed; " +
		"would create 0, update 0, delete 0 Endpoints\n"
	check("nothing would change", runDiffCmd(t, args...), 0, upToDate)
	check("nothing would change, one object per page", runDiffCmd(t, append(args, "--page-size", "1")...), 0, upToDate)

	setReady(t, b, "10.0.0.2", false)
	flipped := runDiffCmd(t, append(args, "--color", "never")...)
	header := fmt.Sprintf("# %s/web: update: 1 address_not_ready\n#   address_not_ready http 8080/TCP: 10.0.0.2 (pod b)\n"+
		"diff -u -N live/v1.Endpoints.%s.web desired/v1.Endpoints.%s.web\n", ns, ns, ns)
	oneUpdate := "5 Services examined: 2 up to date (2 differ only by the managed-by label), 2 not managed; " +
		"would create 0, update 1, delete 0 Endpoints\n"
	if !strings.HasPrefix(flipped.stdout, header) || !strings.HasSuffix(flipped.stdout, oneUpdate) ||
		!strings.Contains(flipped.stdout, "\n+  notReadyAddresses:\n") || strings.Contains(flipped.stdout, "\x1b[") {
		t.Errorf("One Pod flipped: stdout\n%s\nwant it to start with\n%sshow notReadyAddresses added, and end with\n%s", flipped.stdout, header, oneUpdate)
	}
	check("one Pod flipped", flipped, 1, flipped.stdout)
	if coloured := runDiffCmd(t, append(args, "--color", "always")...); !strings.Contains(coloured.stdout, "\x1b[32m+  notReadyAddresses:\x1b[0m\n") {
		t.Errorf("--color always: no green addition in\n%q", coloured.stdout)
	}

	createEndpoints(t, ns, "orphan", "", corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.9"}}, Ports: http})
	versions = endpointsVersions(t, ns)
	asJSON := runDiffCmd(t, append(args, "-o", "json")...)
	check("an orphan, as JSON", asJSON, 1, asJSON.stdout)
	var report clusterdiff.Report
	if err := json.Unmarshal([]byte(asJSON.stdout), &report); err != nil {
		t.Fatalf("-o json: %v\n%s", err, asJSON.stdout)
	}
	type entry struct {
		name    string
		action  clusterdiff.Action
		changes []diff.Change
	}
	var got []entry
	for _, d := range report.Differences {
		if d.Namespace != ns || !strings.HasPrefix(d.Diff, "diff -u -N ") {
			t.Errorf("-o json: difference %s/%s without its diff: %q", d.Namespace, d.Name, d.Diff)
		}
		got = append(got, entry{d.Name, d.Action, d.Changes})
	}
	want := []entry{
		{"orphan", clusterdiff.ActionDelete, []diff.Change{{Kind: diff.KindDelete, Detail: "1 ready and 0 not ready addresses"}}},
		{"web", clusterdiff.ActionUpdate, []diff.Change{{Kind: diff.KindAddressNotReady, Port: "http 8080/TCP", Detail: "10.0.0.2 (pod b)"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("-o json differences = %+v, want %+v", got, want)
	}
	report.Differences = nil
	wantCounts := clusterdiff.Report{ServicesExamined: 5, UpToDate: 2, LabelOnly: 2, NotManaged: 2, Update: 1, Delete: 1}
	if !reflect.DeepEqual(report, wantCounts) {
		t.Errorf("-o json counts = %+v, want %+v", report, wantCounts)
	}
}

// Issue 8, bad input: a user who may not list Pods in one of the namespaces,
// and an API server that does not answer, give exit status 2 and an error
// naming what failed; bad flags give 2 and name the flag.
func TestDiffErrors(t *testing.T) {
	allowed, denied := newNamespace(t), newNamespace(t)
	limited := kubeconfigFor(t, "diff-limited")
	grantRead(t, "diff-limited", allowed, "services", "endpoints", "pods")
	grantRead(t, "diff-limited", denied, "services", "endpoints")

	unreachable := filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	if err := os.WriteFile(unreachable, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		args   []string
		stderr []string // substrings
	}{
		{
			name: "forbidden to list Pods in one namespace",
			args: []string{"--kubeconfig", limited, "--namespaces", allowed + "," + denied},
			stderr: []string{"endpoints-controller diff: listing Pods in namespace " + denied + ": ",
				`pods is forbidden: User "diff-limited" cannot list resource "pods"`},
		},
		{
			name:   "forbidden to list cluster-wide",
			args:   []string{"--kubeconfig", limited},
			stderr: []string{"listing Services in all namespaces: ", "forbidden"},
		},
		{
			name:   "API server unreachable",
			args:   []string{"--kubeconfig", unreachable},
			stderr: []string{"listing Services in all namespaces: ", "127.0.0.1:1", "(API server https://127.0.0.1:1)"},
		},
		{name: "unknown output", args: []string{"-o", "yaml"}, stderr: []string{`-o must be text or json, not "yaml"`}},
		{name: "bad selector", args: []string{"--service-label-selector", "a b"}, stderr: []string{"--service-label-selector: "}},
		{name: "bad write method", args: []string{"--write-method", "put"}, stderr: []string{`--write-method must be one of [update patch apply], not "put"`}},
		{name: "bad managed-by value", args: []string{"--managed-by", "kcm"}, stderr: []string{`--managed-by must be one of ["endpoints-controller.kube-endpoints.io" "endpoint-controller"], not "kcm"`}},
		{name: "bad page size", args: []string{"--page-size", "0"}, stderr: []string{"--page-size must be at least 1, not 0"}},
		{name: "stray argument", args: []string{"default"}, stderr: []string{`unexpected arguments ["default"]`}},
		{name: "bad colour", args: []string{"--color", "sometimes"}, stderr: []string{"--color must be auto, always or never"}},
		{name: "missing kubeconfig", args: []string{"--kubeconfig", "/nonexistent"}, stderr: []string{"loading kubeconfig: "}},
		{name: "unknown flag", args: []string{"--dry-run"}, stderr: []string{"flag provided but not defined: -dry-run"}},
		// Issue 16: as the controller, a stray comma is not "all namespaces".
		{name: "only a comma", args: []string{"--namespaces=,"}, stderr: []string{"--namespaces: entry 1 is empty"}},
		{name: "trailing comma", args: []string{"--namespaces=a,"}, stderr: []string{"--namespaces: entry 2 is empty"}},
		{name: "bad namespace", args: []string{"--namespaces=Shop"}, stderr: []string{`--namespaces: "Shop" is not a valid namespace name`}},
		// Issue 16: a timeout of 0 would mean none.
		{name: "zero timeout", args: []string{"--request-timeout=0"}, stderr: []string{"--request-timeout must be positive, not 0s"}},
		{name: "negative timeout", args: []string{"--request-timeout=-1s"}, stderr: []string{"--request-timeout must be positive, not -1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runDiffCmd(t, tc.args...)
			if got.code != 2 || got.stdout != "" {
				t.Errorf("exit %d, want 2; stdout %q", got.code, got.stdout)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(got.stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, got.stderr)
				}
			}
		})
	}
}

// Issue 8: `diff` predicts the controller. On Endpoints of every kind of
// case, the controller started after a diff writes exactly the Endpoints the
// diff named, in the way it named (create, update, delete), and leaves every
// other one as it was, the take-over ones included; a diff afterwards finds
// nothing to change.
func TestDiffPredictsTheController(t *testing.T) {
	ns := newNamespace(t)
	web := map[string]string{"app": "web"}
	kcm := map[string]string{"app": "kcm"}
	a := createPod(t, ns, "a", web, "10.0.0.1", true)
	b := createPod(t, ns, "b", web, "10.0.0.2", false)
	c := createPod(t, ns, "c", kcm, "10.0.1.1", true)
	http := []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}
	createService(t, ns, "web", web) // b is listed as ready: update
	createEndpoints(t, ns, "web", "endpoint-controller",
		corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{address(a), address(b)}, Ports: http})
	createService(t, ns, "kcm", kcm) // label only
	createEndpoints(t, ns, "kcm", "endpoint-controller",
		corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{address(c)}, Ports: http})
	createService(t, ns, "missing", kcm) // create
	createService(t, ns, "nomatch", map[string]string{"app": "none"})
	createEndpoints(t, ns, "nomatch", "endpoints-controller.kube-endpoints.io")
	createService(t, ns, "manual", nil)
	createEndpoints(t, ns, "manual", "", corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}, Ports: http})
	createService(t, ns, "external", nil, func(s *corev1.Service) { // managed Endpoints: delete
		s.Spec.Type, s.Spec.ExternalName, s.Spec.Ports = corev1.ServiceTypeExternalName, "example.com", nil
	})
	createEndpoints(t, ns, "external", "endpoint-controller",
		corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{address(c)}, Ports: http})
	createEndpoints(t, ns, "orphan", "", corev1.EndpointSubset{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.9"}}, Ports: http})
	before := endpointsVersions(t, ns)

	kubeconfig := kubeconfigFor(t, "diff-admin")
	grantRead(t, "diff-admin", "", "services", "endpoints", "pods")
	args := []string{"--kubeconfig", kubeconfig, "--namespaces", ns, "-o", "json"}
	run := runDiffCmd(t, args...)
	var report clusterdiff.Report
	if err := json.Unmarshal([]byte(run.stdout), &report); run.code != 1 || err != nil {
		t.Fatalf("diff: exit %d (want 1), %v\n%s%s", run.code, err, run.stdout, run.stderr)
	}
	predicted := map[string]clusterdiff.Action{}
	for _, d := range report.Differences {
		predicted[d.Name] = d.Action
	}
	want := map[string]clusterdiff.Action{
		"web": clusterdiff.ActionUpdate, "missing": clusterdiff.ActionCreate,
		"external": clusterdiff.ActionDelete, "orphan": clusterdiff.ActionDelete,
	}
	if !reflect.DeepEqual(predicted, want) {
		t.Fatalf("diff predicted %v, want %v", predicted, want)
	}

	opts := app.DefaultOptions()
	opts.Namespaces, opts.MetricsAddr, opts.ProbeAddr, opts.SkipNameValidation = ns, "0", "0", true
	mgr, err := app.NewManager(restConfig, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Manager: %v", err)
		}
	}()
	err = wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) {
			run = runDiffCmd(t, args...)
			return run.code == 0, nil
		})
	if err != nil {
		t.Fatalf("Waiting for diff to find nothing to change once the controller runs: %v\nlast run: exit %d\n%s%s",
			err, run.code, run.stdout, run.stderr)
	}

	after := endpointsVersions(t, ns)
	for name, rv := range before {
		switch action, written := predicted[name]; {
		case action == clusterdiff.ActionDelete:
			if _, ok := after[name]; ok {
				t.Errorf("Endpoints %s: predicted deleted, still there", name)
			}
		case written:
			if after[name] == rv {
				t.Errorf("Endpoints %s: predicted %s, not written", name, action)
			}
		case after[name] != rv:
			t.Errorf("Endpoints %s: not predicted, but written: resourceVersion %s, was %s", name, after[name], rv)
		}
	}
	if _, ok := after["missing"]; !ok {
		t.Error(`Endpoints "missing": predicted created, not there`)
	}
}
