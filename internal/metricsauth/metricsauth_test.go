package metricsauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeReviewer stands for the API server's TokenReview and
// SubjectAccessReview: it knows tokens and who may do what, counts the
// reviews and records the SubjectAccessReviews it was asked. Safe for
// concurrent requests.
type fakeReviewer struct {
	users   map[string]authenticationv1.UserInfo // by token
	allowed map[string]bool                      // by user name

	mu sync.Mutex
	// authnErrs and authzErrs are returned by the next reviews, one each.
	authnErrs, authzErrs []error
	// hold, when set, holds every TokenReview until it is closed.
	hold         chan struct{}
	tokenReviews int
	sars         []authorizationv1.SubjectAccessReviewSpec
}

func newReviewer() *fakeReviewer {
	return &fakeReviewer{
		users:   map[string]authenticationv1.UserInfo{"scraper-token": scraper, "stranger-token": stranger},
		allowed: map[string]bool{scraper.Username: true},
	}
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

func (r *fakeReviewer) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tokenReviews, len(r.sars)
}

// testOptions bound nothing a unit test reaches, retry without waiting, and
// read the time from a fake clock.
func testOptions(clk *clocktesting.FakeClock) Options {
	return Options{MaxInFlight: 1000, ReviewsPerSecond: 1e9, ReviewBurst: 1e9, Clock: clk,
		Backoff: wait.Backoff{Steps: 3, Duration: time.Microsecond}}
}

// newTestAuthorizer returns an Authorizer backed by r with the options that
// opts makes of the test options, and its fake clock.
func newTestAuthorizer(r *fakeReviewer, opts func(*Options)) (*Authorizer, *clocktesting.FakeClock) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	o := testOptions(clk)
	if opts != nil {
		opts(&o)
	}
	return New(tokenReviews{r}, accessReviews{r}, o), clk
}

// tokenReviews and accessReviews are the review clients of a fakeReviewer.
// (client-go's fake clientset runs one reaction at a time, which would
// serialize the concurrent reviews that the tests need.)
type (
	tokenReviews  struct{ r *fakeReviewer }
	accessReviews struct{ r *fakeReviewer }
)

func (c tokenReviews) TokenReviews() authenticationv1client.TokenReviewInterface { return c }

func (c accessReviews) SubjectAccessReviews() authorizationv1client.SubjectAccessReviewInterface {
	return c
}

func (c tokenReviews) Create(_ context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	r := c.r
	r.mu.Lock()
	r.tokenReviews++
	hold := r.hold
	var err error
	if len(r.authnErrs) > 0 {
		err, r.authnErrs = r.authnErrs[0], r.authnErrs[1:]
	}
	r.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if err != nil {
		return nil, err
	}
	if len(tr.Spec.Audiences) != 0 {
		return nil, fmt.Errorf("unexpected audiences %v", tr.Spec.Audiences)
	}
	r.mu.Lock()
	user, ok := r.users[tr.Spec.Token]
	r.mu.Unlock()
	out := tr.DeepCopy()
	out.Status = authenticationv1.TokenReviewStatus{Authenticated: ok, User: user}
	return out, nil
}

func (c accessReviews) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	r := c.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sars = append(r.sars, sar.Spec)
	if len(r.authzErrs) > 0 {
		var err error
		err, r.authzErrs = r.authzErrs[0], r.authzErrs[1:]
		return nil, err
	}
	allowed := r.allowed[sar.Spec.User] || strings.HasPrefix(sar.Spec.User, "user-")
	out := sar.DeepCopy()
	out.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: allowed, Denied: !allowed}
	return out, nil
}

// response is what a client got, and what the wrapped handler saw.
type response struct {
	code     int
	body     string
	called   bool
	seenAuth string
}

// request sends method path with the Authorization header auth (none if
// empty) through a's filter, logging to log.
func request(t *testing.T, a *Authorizer, log logr.Logger, method, path, auth string) response {
	t.Helper()
	var res response
	h, err := a.Filter(log, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		res.called = true
		res.seenAuth = req.Header.Get("Authorization")
		_, _ = w.Write([]byte("metrics"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(method, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res.code, res.body = rec.Code, strings.TrimSpace(rec.Body.String())
	return res
}

// scrape sends GET /metrics with the Authorization header auth.
func scrape(t *testing.T, a *Authorizer, auth string) response {
	t.Helper()
	return request(t, a, logr.Discard(), http.MethodGet, "/metrics", auth)
}

// Each request gets the answer of the API server's reviews, and asks only the
// reviews it needs; only GET and HEAD are reviewed at all.
func TestFilter(t *testing.T) {
	unavailable := apierrors.NewServiceUnavailable("etcdserver: leader changed")
	for _, tc := range []struct {
		name                 string
		method, auth         string
		authnErrs, authzErrs []error
		wantCode             int
		wantBody             string
		wantTokenReviews     int
		wantSARs             int
	}{
		{name: "no header", auth: "", wantCode: 401, wantBody: "Unauthorized"},
		{name: "basic scheme", auth: "Basic c2NyYXBlcjpzZWNyZXQ=", wantCode: 401, wantBody: "Unauthorized"},
		{name: "bearer without token", auth: "Bearer   ", wantCode: 401, wantBody: "Unauthorized"},
		{name: "token without scheme", auth: "scraper-token", wantCode: 401, wantBody: "Unauthorized"},
		{name: "unknown token", auth: "Bearer forged", wantCode: 401, wantBody: "Unauthorized", wantTokenReviews: 1},
		{name: "allowed", auth: "Bearer scraper-token", wantCode: 200, wantBody: "metrics", wantTokenReviews: 1, wantSARs: 1},
		{name: "HEAD allowed as a get", method: http.MethodHead, auth: "Bearer scraper-token", wantCode: 200, wantTokenReviews: 1, wantSARs: 1},
		{name: "POST not reviewed", method: http.MethodPost, auth: "Bearer scraper-token", wantCode: 405, wantBody: "Method not allowed"},
		{name: "DELETE not reviewed", method: http.MethodDelete, auth: "Bearer forged", wantCode: 405, wantBody: "Method not allowed"},
		{name: "made-up method not reviewed", method: "PROPFIND", auth: "Bearer forged", wantCode: 405, wantBody: "Method not allowed"},
		{name: "scheme in any case, spaces trimmed", auth: "  bEaReR   scraper-token  ", wantCode: 200, wantBody: "metrics", wantTokenReviews: 1, wantSARs: 1},
		{name: "denied", auth: "Bearer stranger-token", wantCode: 403, wantBody: "Authorization denied for user system:serviceaccount:default:default", wantTokenReviews: 1, wantSARs: 1},
		{name: "TokenReview fails", auth: "Bearer scraper-token", authnErrs: []error{errors.New("x509: certificate signed by unknown authority")},
			wantCode: 500, wantBody: "Authentication failed", wantTokenReviews: 1},
		{name: "SubjectAccessReview fails", auth: "Bearer scraper-token", authzErrs: []error{apierrors.NewForbidden(authorizationv1.Resource("subjectaccessreviews"), "", errors.New("RBAC"))},
			wantCode: 500, wantBody: "Authorization failed", wantTokenReviews: 1, wantSARs: 1},
		{name: "transient TokenReview errors retried", auth: "Bearer scraper-token", authnErrs: []error{unavailable, apierrors.NewTooManyRequests("busy", 1)},
			wantCode: 200, wantBody: "metrics", wantTokenReviews: 3, wantSARs: 1},
		{name: "transient SubjectAccessReview error retried", auth: "Bearer scraper-token", authzErrs: []error{apierrors.NewInternalError(errors.New("x"))},
			wantCode: 200, wantBody: "metrics", wantTokenReviews: 1, wantSARs: 2},
		{name: "retries give up", auth: "Bearer scraper-token", authnErrs: []error{unavailable, unavailable, unavailable, unavailable},
			wantCode: 500, wantBody: "Authentication failed", wantTokenReviews: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReviewer()
			r.authnErrs, r.authzErrs = tc.authnErrs, tc.authzErrs
			a, _ := newTestAuthorizer(r, nil)
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			res := request(t, a, logr.Discard(), method, "/metrics", tc.auth)
			if res.code != tc.wantCode || (method != http.MethodHead && res.body != tc.wantBody) {
				t.Errorf("response %d %q, want %d %q", res.code, res.body, tc.wantCode, tc.wantBody)
			}
			if res.called != (tc.wantCode == 200) {
				t.Errorf("wrapped handler called: %t, want %t", res.called, tc.wantCode == 200)
			}
			if res.seenAuth != "" {
				t.Errorf("wrapped handler saw Authorization %q, want none", res.seenAuth)
			}
			if trs, sars := r.counts(); trs != tc.wantTokenReviews || sars != tc.wantSARs {
				t.Errorf("%d TokenReviews and %d SubjectAccessReviews, want %d and %d", trs, sars, tc.wantTokenReviews, tc.wantSARs)
			}
		})
	}
}

// The SubjectAccessReview asks about exactly the reviewed user, on the
// request's path, as a get for GET and HEAD alike: one cached decision
// serves both.
func TestSubjectAccessReview(t *testing.T) {
	r := newReviewer()
	a, _ := newTestAuthorizer(r, nil)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		if res := request(t, a, logr.Discard(), method, "/metrics", "Bearer scraper-token"); res.code != 200 {
			t.Fatalf("%s: code %d, want 200", method, res.code)
		}
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

// Review results are reused for their TTL (token 1 min, allow 5 min, deny
// 30 s, refused token 10 s); errors are not remembered.
func TestCache(t *testing.T) {
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
			{45 * time.Second, "Bearer scraper-token", 200, 1, 1},
			// Just past a minute after the first TokenReview: the token is
			// reviewed again, the allow still holds.
			{time.Millisecond, "Bearer scraper-token", 200, 2, 1},
			{3*time.Minute + 59*time.Second, "Bearer scraper-token", 200, 3, 1},
			// Just past five minutes after the first SubjectAccessReview.
			{time.Second, "Bearer scraper-token", 200, 3, 2},
		}},
		{"denied user", []step{
			{0, "Bearer stranger-token", 403, 1, 1},
			{30 * time.Second, "Bearer stranger-token", 403, 1, 1},
			{time.Millisecond, "Bearer stranger-token", 403, 1, 2},
		}},
		{"refused token", []step{
			{0, "Bearer forged", 401, 1, 0},
			{10 * time.Second, "Bearer forged", 401, 1, 0},
			{time.Millisecond, "Bearer forged", 401, 2, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReviewer()
			a, clk := newTestAuthorizer(r, nil)
			for i, s := range tc.steps {
				clk.Step(s.advance)
				res := scrape(t, a, s.auth)
				if trs, sars := r.counts(); res.code != s.wantCode || trs != s.wantTokenReviews || sars != s.wantSARs {
					t.Errorf("step %d: code %d, %d TokenReviews, %d SubjectAccessReviews; want %d, %d, %d",
						i, res.code, trs, sars, s.wantCode, s.wantTokenReviews, s.wantSARs)
				}
			}
		})
	}
}

// A failed review is not remembered: the next request asks again and gets
// through once the API server answers.
func TestErrorsNotCached(t *testing.T) {
	r := newReviewer()
	a, _ := newTestAuthorizer(r, nil)
	denied := apierrors.NewForbidden(authorizationv1.Resource("subjectaccessreviews"), "", errors.New("RBAC"))

	r.authnErrs = []error{denied}
	if res := scrape(t, a, "Bearer scraper-token"); res.code != 500 {
		t.Fatalf("TokenReview failing: code %d, want 500", res.code)
	}
	r.authzErrs = []error{denied}
	if res := scrape(t, a, "Bearer scraper-token"); res.code != 500 {
		t.Fatalf("SubjectAccessReview failing: code %d, want 500", res.code)
	}
	if res := scrape(t, a, "Bearer scraper-token"); res.code != 200 {
		t.Fatalf("API server back: code %d, want 200", res.code)
	}
	// The second request's TokenReview succeeded and is reused by the
	// third; its SubjectAccessReview failed and is asked again.
	if trs, sars := r.counts(); trs != 2 || sars != 2 {
		t.Errorf("%d TokenReviews and %d SubjectAccessReviews, want 2 and 2", trs, sars)
	}
}

// Requests with the same token while its review is in flight share that one
// review.
func TestIdenticalReviewsMerged(t *testing.T) {
	r := newReviewer()
	r.hold = make(chan struct{})
	a, _ := newTestAuthorizer(r, nil)
	const clients = 50
	codes := make(chan int, clients)
	for range clients {
		go func() { codes <- scrape(t, a, "Bearer scraper-token").code }()
	}
	// Wait until the first review is in flight, then let it answer.
	err := wait.PollUntilContextTimeout(t.Context(), time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		trs, _ := r.counts()
		return trs == 1, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	close(r.hold)
	for range clients {
		if code := <-codes; code != 200 {
			t.Errorf("code %d, want 200", code)
		}
	}
	if trs, sars := r.counts(); trs != 1 || sars != 1 {
		t.Errorf("%d TokenReviews and %d SubjectAccessReviews for %d identical requests, want 1 and 1", trs, sars, clients)
	}
}

// Reviews in flight are bounded: beyond the bound a request gets 429 at once,
// without a review; a cached token is served meanwhile.
func TestInFlightBound(t *testing.T) {
	r := newReviewer()
	a, _ := newTestAuthorizer(r, func(o *Options) { o.MaxInFlight = 2 })
	if res := scrape(t, a, "Bearer scraper-token"); res.code != 200 {
		t.Fatalf("code %d, want 200", res.code)
	}
	r.mu.Lock()
	r.hold = make(chan struct{})
	r.mu.Unlock()
	codes := make(chan int, 2)
	for i := range 2 {
		go func() { codes <- scrape(t, a, fmt.Sprintf("Bearer junk-%d", i)).code }()
	}
	err := wait.PollUntilContextTimeout(t.Context(), time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		trs, _ := r.counts()
		return trs == 3, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res := scrape(t, a, "Bearer junk-2")
	if res.code != http.StatusTooManyRequests {
		t.Errorf("third review in flight: code %d, want 429", res.code)
	}
	if res := scrape(t, a, "Bearer scraper-token"); res.code != 200 {
		t.Errorf("cached scraper during the flood: code %d, want 200", res.code)
	}
	close(r.hold)
	for range 2 {
		if code := <-codes; code != 401 {
			t.Errorf("junk token: code %d, want 401", code)
		}
	}
	if trs, _ := r.counts(); trs != 3 {
		t.Errorf("%d TokenReviews, want 3 (the refused request sent none)", trs)
	}
	if res := scrape(t, a, "Bearer junk-2"); res.code != 401 {
		t.Errorf("once the slots are free: code %d, want 401", res.code)
	}
}

// The rate of reviews is bounded: a burst of distinct junk tokens costs at
// most the burst in reviews, the rest get 429.
func TestRateBound(t *testing.T) {
	r := newReviewer()
	// A rate so low that no token comes back during the test.
	a, _ := newTestAuthorizer(r, func(o *Options) { o.ReviewsPerSecond, o.ReviewBurst = 0.001, 5 })
	codes := map[int]int{}
	for i := range 100 {
		codes[scrape(t, a, fmt.Sprintf("Bearer junk-%d", i)).code]++
	}
	if trs, _ := r.counts(); trs != 5 {
		t.Errorf("%d TokenReviews for 100 junk tokens, want 5 (the burst)", trs)
	}
	if want := map[int]int{401: 5, 429: 95}; !reflect.DeepEqual(codes, want) {
		t.Errorf("codes %v, want %v", codes, want)
	}
}

// A full cache evicts its least recently used entry: a scraper that keeps
// scraping keeps its entries however many others come, and junk tokens,
// cached apart, never push a scraper's token out.
func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	r := newReviewer()
	a, _ := newTestAuthorizer(r, nil)
	scrape(t, a, "Bearer scraper-token")
	for i := range 2 * MaxCacheEntries {
		if i%100 == 0 {
			if res := scrape(t, a, "Bearer scraper-token"); res.code != 200 {
				t.Fatalf("scraper: code %d, want 200", res.code)
			}
		}
		// An authenticated identity asking about arbitrary paths, and a
		// junk token.
		token := fmt.Sprintf("user-%d", i)
		r.mu.Lock()
		r.users[token] = authenticationv1.UserInfo{Username: token}
		r.mu.Unlock()
		request(t, a, logr.Discard(), http.MethodGet, fmt.Sprintf("/metrics/%d", i), "Bearer "+token)
		scrape(t, a, fmt.Sprintf("Bearer junk-%d", i))
	}
	if n := len(a.decisions.Keys()); n != MaxCacheEntries {
		t.Errorf("%d cached decisions, want the bound %d", n, MaxCacheEntries)
	}
	before, beforeSARs := r.counts()
	if res := scrape(t, a, "Bearer scraper-token"); res.code != 200 {
		t.Fatalf("scraper: code %d, want 200", res.code)
	}
	if trs, sars := r.counts(); trs != before || sars != beforeSARs {
		t.Errorf("the scraper was reviewed again (%d TokenReviews, %d SubjectAccessReviews): its entries were evicted",
			trs-before, sars-beforeSARs)
	}
}

// The cache keys never hold the token itself.
func TestCacheKeepsNoToken(t *testing.T) {
	r := newReviewer()
	a, _ := newTestAuthorizer(r, nil)
	scrape(t, a, "Bearer scraper-token")
	scrape(t, a, "Bearer forged")
	for _, c := range []struct {
		name  string
		keys  []any
		token string
	}{{"tokens", a.tokens.Keys(), "scraper-token"}, {"refused", a.refused.Keys(), "forged"}} {
		if len(c.keys) != 1 || c.keys[0] != sha256.Sum256([]byte(c.token)) {
			t.Errorf("%s cache keys %v, want the SHA-256 of the token", c.name, c.keys)
		}
	}
}

// Failures are logged at info level, not error, at most once per interval,
// with the count of the ones in between.
func TestFailuresLoggedRateLimited(t *testing.T) {
	r := newReviewer()
	a, clk := newTestAuthorizer(r, func(o *Options) { o.ReviewsPerSecond, o.ReviewBurst = 0.001, 1 })
	sink := &countingSink{}
	log := logr.New(sink)
	forbidden := apierrors.NewForbidden(authorizationv1.Resource("tokenreviews"), "", errors.New("RBAC"))
	for i := range 50 {
		r.mu.Lock()
		r.authnErrs = []error{forbidden}
		r.mu.Unlock()
		request(t, a, log, http.MethodGet, "/metrics", fmt.Sprintf("Bearer t-%d", i))
	}
	infos, errs := sink.counts()
	// One failure, then 49 throttled: one message each.
	if infos != 2 || errs != 0 {
		t.Errorf("%d info and %d error messages for 50 failures, want 2 and 0", infos, errs)
	}
	clk.Step(logInterval)
	request(t, a, log, http.MethodGet, "/metrics", "Bearer t-50")
	if infos, _ := sink.counts(); infos != 3 {
		t.Errorf("%d info messages after the interval, want 3", infos)
	}
}

// countingSink is a logr.LogSink that counts messages.
type countingSink struct {
	mu           sync.Mutex
	infos, errrs int
}

func (s *countingSink) Init(logr.RuntimeInfo)          {}
func (s *countingSink) Enabled(level int) bool         { return level == 0 }
func (s *countingSink) WithValues(...any) logr.LogSink { return s }
func (s *countingSink) WithName(string) logr.LogSink   { return s }
func (s *countingSink) Info(level int, _ string, _ ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.infos++
}
func (s *countingSink) Error(error, string, ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errrs++
}
func (s *countingSink) counts() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.infos, s.errrs
}
