// Package monitoring_test checks the alerts and the dashboard of
// config/monitoring against the controller: every expression parses with
// Prometheus's own PromQL parser, and every metric it uses (and every label
// it matches on) is exposed on /metrics by the controller running against an
// envtest API server. A renamed metric or label fails here, not silently in
// an operator's Grafana.
package monitoring_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/kube-endpoints/endpoints-controller/internal/app"
	"github.com/kube-endpoints/endpoints-controller/internal/testenv"
)

// generatedByPrometheus are series that Prometheus writes itself for each
// scrape target, which no /metrics exposes.
var generatedByPrometheus = map[string]bool{"up": true}

// grafanaVariables are replaced by values of the right kind before parsing,
// as Grafana does before it sends a query.
var grafanaVariables = strings.NewReplacer("$__rate_interval", "5m", "$job", "endpoints-controller")

// expression is one PromQL expression and where it comes from.
type expression struct {
	where, expr string
}

// selector is one vector selector of an expression: the metric and the label
// matchers other than the metric name and job, which the scrape adds.
type selector struct {
	where, metric string
	// labels maps the label names matched on to the value a series must have,
	// or "" when only the label must exist: a series such as
	// syncs_total{result="error"} exists only once an error happened, while
	// the name of the work queue and of the Lease must be right from the start.
	labels map[string]string
}

// identityLabels are the labels whose matched values must exist: they name
// the controller's queue and Lease, which a rename would break.
var identityLabels = map[string]bool{"name": true}

func monitoringDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		panic("runtime.Caller cannot tell where this file is")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "config", "monitoring")
}

// expressions returns every alert expression and every dashboard query.
func expressions(t *testing.T) []expression {
	t.Helper()
	var out []expression
	data, err := os.ReadFile(filepath.Join(monitoringDir(), "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
		Spec struct {
			Groups []struct {
				Name  string
				Rules []struct {
					Alert, Record, Expr string
				}
			}
		}
	}
	if err := yaml.Unmarshal(data, &rule); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			out = append(out, expression{"alert " + r.Alert + r.Record, r.Expr})
		}
	}
	data, err = os.ReadFile(filepath.Join(monitoringDir(), "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ RefID, Expr string }
		}
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			out = append(out, expression{fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), grafanaVariables.Replace(tg.Expr)})
		}
	}
	return out
}

// TestExpressionsParse parses every expression with Prometheus's parser and
// checks that there are as many as the files hold: 5 alerts, 12 panels.
func TestExpressionsParse(t *testing.T) {
	exprs := expressions(t)
	alerts, panels := 0, 0
	for _, e := range exprs {
		if strings.HasPrefix(e.where, "alert ") {
			alerts++
		} else {
			panels++
		}
	}
	if alerts != 5 || panels < 12 {
		t.Errorf("found %d alert and %d panel expressions, want 5 alerts and a query per panel (12 panels)", alerts, panels)
	}
	selectors(t, exprs)
}

// selectors parses exprs and returns their vector selectors.
func selectors(t *testing.T, exprs []expression) []selector {
	t.Helper()
	p := parser.NewParser(parser.Options{})
	var out []selector
	for _, e := range exprs {
		ast, err := p.ParseExpr(e.expr)
		if err != nil {
			t.Errorf("%s: %q does not parse: %v", e.where, e.expr, err)
			continue
		}
		parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
			vs, ok := node.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			s := selector{where: e.where, metric: vs.Name, labels: map[string]string{}}
			for _, m := range vs.LabelMatchers {
				switch {
				case m.Name == model.MetricNameLabel:
					if s.metric == "" {
						s.metric = m.Value
					}
				case m.Name == "job":
				case m.Type.String() == "=" && identityLabels[m.Name]:
					s.labels[m.Name] = m.Value
				default:
					s.labels[m.Name] = ""
				}
			}
			out = append(out, s)
			return nil
		})
	}
	return out
}

// TestMetricsExposed runs the controller as in a cluster (leader election on,
// metrics served) against envtest, gives it a Service with a ready Pod and a
// Pod with an invalid IP, scrapes /metrics, and checks that every metric the
// alerts and the dashboard use is there, with the labels they match on.
func TestMetricsExposed(t *testing.T) {
	sels := selectors(t, expressions(t))
	ctrllog.SetLogger(logr.Discard())
	cfg := testenv.Start(t)

	addr, pprofAddr := freeAddr(t), freeAddr(t)
	opts := app.DefaultOptions()
	opts.MetricsAddr, opts.MetricsSecure, opts.ProbeAddr = addr, false, "0"
	opts.PprofAddr = pprofAddr
	opts.LeaderElect, opts.LeaderElectionNamespace = true, metav1.NamespaceDefault
	opts.GracefulShutdownTimeout = 5 * time.Second
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, opts) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("The controller: %v", err)
		}
	})

	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	seed(t, c)

	// Some series appear only once something happened (a write, an exclusion,
	// an election): poll until every metric is there, or report what lacks.
	var missing []string
	err = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		families, err := scrape(addr)
		if err != nil {
			missing = []string{err.Error()}
			return false, nil
		}
		missing = check(sels, families)
		return len(missing) == 0, nil
	})
	if err != nil {
		t.Errorf("After a minute, /metrics still lacks what the alerts and the dashboard use:\n  %s", strings.Join(missing, "\n  "))
	}

	// --pprof-bind-address serves the Go profiler of the running controller.
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/goroutine?debug=1") //nolint:noctx // a local test server
	if err != nil {
		t.Fatalf("Profiler on --pprof-bind-address=%s: %v", pprofAddr, err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile:") {
		t.Errorf("GET /debug/pprof/goroutine: %v %s %.100q; want 200 and a goroutine profile", err, resp.Status, body)
	}
}

// check returns, for each selector, what /metrics lacks.
func check(sels []selector, families map[string]*dto.MetricFamily) []string {
	var missing []string
	for _, s := range sels {
		if generatedByPrometheus[s.metric] {
			continue
		}
		f := family(families, s.metric)
		if f == nil {
			missing = append(missing, fmt.Sprintf("%s: metric %s", s.where, s.metric))
			continue
		}
		for name, value := range s.labels {
			if !hasLabel(f, name, value) {
				missing = append(missing, fmt.Sprintf("%s: %s{%s=%q}", s.where, s.metric, name, value))
			}
		}
	}
	sort.Strings(missing)
	return missing
}

// family returns the family of a series name: histograms expose name_bucket,
// name_sum and name_count under the family name.
func family(families map[string]*dto.MetricFamily, name string) *dto.MetricFamily {
	if f, ok := families[name]; ok {
		return f
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := families[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) &&
			(f.GetType() == dto.MetricType_HISTOGRAM || f.GetType() == dto.MetricType_SUMMARY) {
			return f
		}
	}
	return nil
}

// hasLabel reports whether a series of f has label name (equal to value,
// unless value is "").
func hasLabel(f *dto.MetricFamily, name, value string) bool {
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == name && (value == "" || l.GetValue() == value) {
				return true
			}
		}
	}
	return false
}

// scrape reads the controller's /metrics.
func scrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics") //nolint:noctx // bounded by the poll
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	text := expfmt.NewTextParser(model.UTF8Validation)
	return text.TextToMetricFamilies(resp.Body)
}

// seed creates a Service with a ready Pod and a Pod whose IP is loopback,
// which the controller leaves out as invalid.
func seed(t *testing.T, c client.Client) {
	t.Helper()
	ctx := t.Context()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, obj := range []client.Object{ns, svc} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	for i, ip := range []string{"10.244.0.10", "127.0.0.1"} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{
				NodeName:   "node-0",
				Containers: []corev1.Container{{Name: "web", Image: "registry.k8s.io/e2e-test-images/agnhost:2.53"}},
			},
		}
		if err := c.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		pod.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		}
		if err := c.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
}

// freeAddr returns a local address with a port free at the time of the call.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
