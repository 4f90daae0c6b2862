package metricsauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kube-endpoints/endpoints-controller/internal/testenv"
)

// Against a real kube-apiserver, a ServiceAccount's token is refused without
// a token, forbidden without RBAC, and let through once a ClusterRole grants
// get on /metrics; the FilterProvider does the same, with the manager's
// config or with a kubeconfig of its own.
func TestAPIServer(t *testing.T) {
	cfg := testenv.Start(t)
	ctx := t.Context()
	admin := kubernetes.NewForConfigOrDie(cfg)

	const ns = "monitoring"
	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "prometheus"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bearer := "Bearer " + tr.Status.Token
	user := "system:serviceaccount:monitoring:prometheus"

	clk := clocktesting.NewFakeClock(time.Now())
	a := New(admin.AuthenticationV1(), admin.AuthorizationV1(), Options{Clock: clk})
	if res := scrape(t, a, ""); res.code != 401 || res.body != "Unauthorized" {
		t.Errorf("no token: %d %q, want 401 Unauthorized", res.code, res.body)
	}
	if res := scrape(t, a, bearer+"x"); res.code != 401 || res.body != "Unauthorized" {
		t.Errorf("forged token: %d %q, want 401 Unauthorized", res.code, res.body)
	}
	if res := scrape(t, a, bearer); res.code != 403 || res.body != "Authorization denied for user "+user {
		t.Errorf("token without RBAC: %d %q, want 403 Authorization denied for user %s", res.code, res.body, user)
	}

	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-metrics-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: sa.Name}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The denial is remembered for 30 s.
	clk.Step(DenyTTL)
	if res := scrape(t, a, bearer); res.code != 403 {
		t.Errorf("within the deny TTL: %d, want 403", res.code)
	}
	// Past it, the binding counts once the API server's RBAC authorizer
	// has seen it (its informers lag the write by a few milliseconds).
	var res response
	err = wait.PollUntilContextTimeout(ctx, 25*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		clk.Step(DenyTTL + time.Millisecond)
		res = scrape(t, a, bearer)
		return res.code == 200, nil
	})
	if err != nil || !res.called {
		t.Fatalf("with RBAC: %d, handler called %t, want 200 and called", res.code, res.called)
	}

	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, cfg)
	for _, c := range []Config{{}, {AuthenticationKubeconfig: kubeconfig, AuthorizationKubeconfig: kubeconfig}} {
		filter, err := FilterProvider(c)(cfg, httpClient)
		if err != nil {
			t.Fatal(err)
		}
		h, err := filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) }))
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			auth string
			want int
		}{{"", 401}, {bearer + "x", 401}, {bearer, 200}} {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("FilterProvider %+v, Authorization %t: %d, want %d", c, tc.auth != "", rec.Code, tc.want)
			}
		}
	}

	// A kubeconfig that cannot be loaded is an error naming it.
	missing := filepath.Join(t.TempDir(), "missing.kubeconfig")
	if _, err := FilterProvider(Config{AuthorizationKubeconfig: missing})(cfg, httpClient); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing authorization kubeconfig: %v, want an error naming %s", err, missing)
	}
}

// writeKubeconfig writes a kubeconfig of cfg (envtest's admin, by client
// certificate) and returns its path.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
