package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/kube-endpoints/endpoints-controller/internal/testenv"
)

// fakeReviewer stands for the API server's TokenReview and
// SubjectAccessReview: it knows tokens and who may do what, counts the
// reviews and records the SubjectAccessReviews it was asked.
type fakeReviewer struct {
	users              map[string]authenticationv1.UserInfo // by token
	allowed            map[string]bool                      // by user name
	authnErr, authzErr error

	tokenReviews int
	sars         []authorizationv1.SubjectAccessReviewSpec
}

// newTestMetricsAuth returns a metricsAuth backed by r, with a fake clock.
func newTestMetricsAuth(r *fakeReviewer) (*metricsAuth, *clocktesting.FakeClock) {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "tokenreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r.tokenReviews++
		if r.authnErr != nil {
			return true, nil, r.authnErr
		}
		tr := a.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview).DeepCopy()
		if len(tr.Spec.Audiences) != 0 {
			return true, nil, fmt.Errorf("unexpected audiences %v", tr.Spec.Audiences)
		}
		user, ok := r.users[tr.Spec.Token]
		tr.Status = authenticationv1.TokenReviewStatus{Authenticated: ok, User: user}
		return true, tr, nil
	})
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview).DeepCopy()
		r.sars = append(r.sars, sar.Spec)
		if r.authzErr != nil {
			return true, nil, r.authzErr
		}
		allowed := r.allowed[sar.Spec.User]
		sar.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Denied: !allowed}
		return true, sar, nil
	})
	return newMetricsAuthClock(cs)
}

// newMetricsAuthClock returns a metricsAuth that reviews through cs, with a
// fake clock.
func newMetricsAuthClock(cs kubernetes.Interface) (*metricsAuth, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return newMetricsAuth(cs.AuthenticationV1(), cs.AuthorizationV1(), clk), clk
}

// scrape sends GET /metrics with the Authorization header auth (none if
// empty) through m's filter, and returns the status code and body, and the
// Authorization header the wrapped handler saw, if it was called.
func scrape(t *testing.T, m *metricsAuth, auth string) (code int, body string, called bool, seenAuth string) {
	t.Helper()
	h, err := m.filter(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		called = true
		seenAuth = req.Header.Get("Authorization")
		_, _ = w.Write([]byte("metrics"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, strings.TrimSpace(rec.Body.String()), called, seenAuth
}

var (
	scraper = authenticationv1.UserInfo{
		Username: "system:serviceaccount:monitoring:prometheus",
		UID:      "uid-1",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:monitoring", "system:authenticated"},
		Extra:    map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"prometheus-0"}},
	}
	stranger = authenticationv1.UserInfo{Username: "system:serviceaccount:default:default", UID: "uid-2"}
)

func newReviewer() *fakeReviewer {
	return &fakeReviewer{
		users:   map[string]authenticationv1.UserInfo{"scraper-token": scraper, "stranger-token": stranger},
		allowed: map[string]bool{scraper.Username: true},
	}
}

// Each request gets the answer of the API server's reviews, and asks only the
// reviews it needs.
func TestMetricsAuthFilter(t *testing.T) {
	for _, tc := range []struct {
		name               string
		auth               string
		authnErr, authzErr error
		wantCode           int
		wantBody           string
		wantTokenReviews   int
		wantSARs           int
	}{
		{name: "no header", auth: "", wantCode: 401, wantBody: "Unauthorized"},
		{name: "basic scheme", auth: "Basic c2NyYXBlcjpzZWNyZXQ=", wantCode: 401, wantBody: "Unauthorized"},
		{name: "bearer without token", auth: "Bearer   ", wantCode: 401, wantBody: "Unauthorized"},
		{name: "token without scheme", auth: "scraper-token", wantCode: 401, wantBody: "Unauthorized"},
		{name: "unknown token", auth: "Bearer forged", wantCode: 401, wantBody: "Unauthorized", wantTokenReviews: 1},
		{name: "allowed", auth: "Bearer scraper-token", wantCode: 200, wantBody: "metrics", wantTokenReviews: 1, wantSARs: 1},
		{name: "scheme in any case, spaces trimmed", auth: "  bEaReR   scraper-token  ", wantCode: 200, wantBody: "metrics", wantTokenReviews: 1, wantSARs: 1},
		{name: "denied", auth: "Bearer stranger-token", wantCode: 403, wantBody: "Authorization denied for user system:serviceaccount:default:default", wantTokenReviews: 1, wantSARs: 1},
		{name: "TokenReview fails", auth: "Bearer scraper-token", authnErr: errors.New("etcdserver: request timed out"), wantCode: 500, wantBody: "Authentication failed", wantTokenReviews: 1},
		{name: "SubjectAccessReview fails", auth: "Bearer scraper-token", authzErr: errors.New("etcdserver: request timed out"), wantCode: 500, wantBody: "Authorization failed", wantTokenReviews: 1, wantSARs: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReviewer()
			r.authnErr, r.authzErr = tc.authnErr, tc.authzErr
			m, _ := newTestMetricsAuth(r)
			code, body, called, seenAuth := scrape(t, m, tc.auth)
			if code != tc.wantCode || body != tc.wantBody {
				t.Errorf("response %d %q, want %d %q", code, body, tc.wantCode, tc.wantBody)
			}
			if called != (tc.wantCode == 200) {
				t.Errorf("wrapped handler called: %t, want %t", called, tc.wantCode == 200)
			}
			if seenAuth != "" {
				t.Errorf("wrapped handler saw Authorization %q, want none", seenAuth)
			}
			if r.tokenReviews != tc.wantTokenReviews || len(r.sars) != tc.wantSARs {
				t.Errorf("%d TokenReviews and %d SubjectAccessReviews, want %d and %d",
					r.tokenReviews, len(r.sars), tc.wantTokenReviews, tc.wantSARs)
			}
		})
	}
}

// The SubjectAccessReview asks about exactly the reviewed user, on the
// request's path with its method as the verb.
func TestMetricsAuthSubjectAccessReview(t *testing.T) {
	r := newReviewer()
	m, _ := newTestMetricsAuth(r)
	if code, _, _, _ := scrape(t, m, "Bearer scraper-token"); code != 200 {
		t.Fatalf("code %d, want 200", code)
	}
	want := []authorizationv1.SubjectAccessReviewSpec{{
		User:   scraper.Username,
		UID:    scraper.UID,
		Groups: scraper.Groups,
		Extra:  map[string]authorizationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"prometheus-0"}},
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{
			Path: "/metrics",
			Verb: "get",
		},
	}}
	if !reflect.DeepEqual(r.sars, want) {
		t.Errorf("SubjectAccessReviews %+v, want %+v", r.sars, want)
	}
}

// Review results are reused for their TTL (TokenReview 1 min, allow 5 min,
// deny 30 s); a token the API server did not authenticate is not remembered.
func TestMetricsAuthCache(t *testing.T) {
	type step struct {
		advance          time.Duration // before the request
		auth             string
		wantCode         int
		wantTokenReviews int // in total, since the start
		wantSARs         int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"allowed scraper", []step{
			{0, "Bearer scraper-token", 200, 1, 1},
			{15 * time.Second, "Bearer scraper-token", 200, 1, 1},
			{44 * time.Second, "Bearer scraper-token", 200, 1, 1},
			// One minute after the first TokenReview: the token is
			// reviewed again, the allow still holds.
			{time.Second, "Bearer scraper-token", 200, 2, 1},
			{3*time.Minute + 59*time.Second, "Bearer scraper-token", 200, 3, 1},
			// Five minutes after the first SubjectAccessReview.
			{time.Second, "Bearer scraper-token", 200, 3, 2},
		}},
		{"denied user", []step{
			{0, "Bearer stranger-token", 403, 1, 1},
			{29 * time.Second, "Bearer stranger-token", 403, 1, 1},
			{time.Second, "Bearer stranger-token", 403, 1, 2},
		}},
		{"unknown token", []step{
			{0, "Bearer forged", 401, 1, 0},
			{time.Second, "Bearer forged", 401, 2, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReviewer()
			m, clk := newTestMetricsAuth(r)
			for i, s := range tc.steps {
				clk.Step(s.advance)
				code, _, _, _ := scrape(t, m, s.auth)
				if code != s.wantCode || r.tokenReviews != s.wantTokenReviews || len(r.sars) != s.wantSARs {
					t.Errorf("step %d: code %d, %d TokenReviews, %d SubjectAccessReviews; want %d, %d, %d",
						i, code, r.tokenReviews, len(r.sars), s.wantCode, s.wantTokenReviews, s.wantSARs)
				}
			}
		})
	}
}

// A failed review is not remembered: the next request asks again and gets
// through once the API server answers.
func TestMetricsAuthErrorsNotCached(t *testing.T) {
	r := newReviewer()
	m, _ := newTestMetricsAuth(r)

	r.authnErr = errors.New("connection refused")
	if code, _, _, _ := scrape(t, m, "Bearer scraper-token"); code != 500 {
		t.Fatalf("TokenReview failing: code %d, want 500", code)
	}
	r.authnErr, r.authzErr = nil, errors.New("connection refused")
	if code, _, _, _ := scrape(t, m, "Bearer scraper-token"); code != 500 {
		t.Fatalf("SubjectAccessReview failing: code %d, want 500", code)
	}
	r.authzErr = nil
	if code, _, _, _ := scrape(t, m, "Bearer scraper-token"); code != 200 {
		t.Fatalf("API server back: code %d, want 200", code)
	}
	// The second request's TokenReview succeeded and is reused by the
	// third; its SubjectAccessReview failed and is asked again.
	if r.tokenReviews != 2 || len(r.sars) != 2 {
		t.Errorf("%d TokenReviews and %d SubjectAccessReviews, want 2 and 2", r.tokenReviews, len(r.sars))
	}
}

// However many distinct tokens clients send, a cache holds at most its
// bound; expired entries make room for new ones, and the entries already
// there keep being served while it is full.
func TestMetricsAuthCacheBound(t *testing.T) {
	const bound = 3
	r := newReviewer()
	m, clk := newTestMetricsAuth(r)
	m.tokens.max = bound
	for i := range 2 * bound {
		r.users[fmt.Sprintf("token-%d", i)] = scraper
	}
	// Unauthenticated tokens never take room.
	for i := range 10 {
		scrape(t, m, fmt.Sprintf("Bearer forged-%d", i))
	}
	if n := m.tokens.len(); n != 0 {
		t.Fatalf("%d cached tokens after unknown ones, want 0", n)
	}
	for i := range 2 * bound {
		if code, _, _, _ := scrape(t, m, fmt.Sprintf("Bearer token-%d", i)); code != 200 {
			t.Fatalf("token-%d: code %d, want 200", i, code)
		}
	}
	if n := m.tokens.len(); n != bound {
		t.Fatalf("%d cached tokens, want %d", n, bound)
	}
	// The first ones stayed cached, the ones over the bound were not.
	before := r.tokenReviews
	for i := range 2 * bound {
		scrape(t, m, fmt.Sprintf("Bearer token-%d", i))
	}
	if got := r.tokenReviews - before; got != bound {
		t.Errorf("%d TokenReviews for %d cached and %d uncached tokens, want %d", got, bound, bound, bound)
	}
	// Once they expired, the next token replaces them all.
	clk.Step(tokenReviewTTL)
	scrape(t, m, "Bearer token-5")
	if n := m.tokens.len(); n != 1 {
		t.Errorf("%d cached tokens after expiry, want 1", n)
	}
	before = r.tokenReviews
	scrape(t, m, "Bearer token-5")
	if r.tokenReviews != before {
		t.Errorf("token-5 reviewed again, want it cached")
	}
}

// The cache keys never hold the token itself.
func TestMetricsAuthCacheKeepsNoToken(t *testing.T) {
	r := newReviewer()
	m, _ := newTestMetricsAuth(r)
	scrape(t, m, "Bearer scraper-token")
	for k := range m.tokens.entries {
		if strings.Contains(string(k[:]), "scraper-token") {
			t.Errorf("cache key %x holds the token", k)
		}
		if k != sha256.Sum256([]byte("scraper-token")) {
			t.Errorf("cache key %x, want the SHA-256 of the token", k)
		}
	}
}

// Against a real kube-apiserver, a ServiceAccount's token is refused without
// a token, forbidden without RBAC, and let through once a ClusterRole grants
// get on /metrics; the FilterProvider wired into the manager does the same.
func TestMetricsAuthAPIServer(t *testing.T) {
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

	m, clk := newMetricsAuthClock(admin)
	if code, body, _, _ := scrape(t, m, ""); code != 401 || body != "Unauthorized" {
		t.Errorf("no token: %d %q, want 401 Unauthorized", code, body)
	}
	if code, body, _, _ := scrape(t, m, "Bearer "+tr.Status.Token+"x"); code != 401 || body != "Unauthorized" {
		t.Errorf("forged token: %d %q, want 401 Unauthorized", code, body)
	}
	if code, body, _, _ := scrape(t, m, bearer); code != 403 || body != "Authorization denied for user "+user {
		t.Errorf("token without RBAC: %d %q, want 403 Authorization denied for user %s", code, body, user)
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
	// The denial is remembered for 30 s: still forbidden just before.
	clk.Step(sarDenyTTL - time.Second)
	if code, _, _, _ := scrape(t, m, bearer); code != 403 {
		t.Errorf("within the deny TTL: %d, want 403", code)
	}
	// Past it, the binding counts once the API server's RBAC authorizer
	// has seen it (its informers lag the write by a few milliseconds).
	var code int
	var called bool
	err = wait.PollUntilContextTimeout(ctx, 25*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		clk.Step(sarDenyTTL)
		code, _, called, _ = scrape(t, m, bearer)
		return code == 200, nil
	})
	if err != nil || !called {
		t.Fatalf("with RBAC: %d, handler called %t, want 200 and called", code, called)
	}

	// The FilterProvider the manager uses, with its own clients and caches.
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	filter, err := metricsAuthFilter(cfg, httpClient)
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
	}{{"", 401}, {bearer, 200}} {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("FilterProvider, Authorization %t: %d, want %d", tc.auth != "", rec.Code, tc.want)
		}
	}
}
