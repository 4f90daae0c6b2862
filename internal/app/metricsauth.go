package app

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// How long review results are reused. Prometheus scrapes every 15-30 s with
// the same token, so without a cache every scrape would cost the API server a
// TokenReview and a SubjectAccessReview. The durations are those of
// controller-runtime's metrics filter (and of kube-apiserver's delegated
// authentication and authorization): a revoked token or binding takes effect
// within a minute or five, and a newly granted binding within 30 seconds.
const (
	tokenReviewTTL = time.Minute
	sarAllowTTL    = 5 * time.Minute
	sarDenyTTL     = 30 * time.Second
)

// reviewTimeout bounds each TokenReview and SubjectAccessReview, so that a
// slow API server fails a scrape instead of piling up waiting requests.
const reviewTimeout = 10 * time.Second

// maxCacheEntries bounds each review cache. A cluster has a handful of
// scrapers, each with one identity; a few thousand entries (each a hash and a
// user's name, groups and extra) stay well under a megabyte however many
// distinct tokens clients send.
const maxCacheEntries = 4096

// metricsAuthFilter protects the metrics endpoint (and the extra handlers the
// metrics server serves) the way kube-apiserver protects its own: the bearer
// token of a request is authenticated with a TokenReview and its user is
// authorized with a SubjectAccessReview on the request's path and verb. It is
// a metricsserver.Options.FilterProvider that replaces controller-runtime's
// filters.WithAuthenticationAndAuthorization, which links k8s.io/apiserver
// (and through it cel-go, gRPC and OpenTelemetry): 41 MB of binary and 14 MB
// of resident memory for two API calls.
//
// The controller's ServiceAccount needs create on tokenreviews
// (authentication.k8s.io) and subjectaccessreviews (authorization.k8s.io),
// which config/rbac/metrics_auth_role.yaml and the Helm chart grant. A scraper
// needs get on the non-resource URL /metrics, as in
// config/rbac/metrics_reader_role.yaml.
func metricsAuthFilter(c *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
	authn, err := authenticationv1client.NewForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating the TokenReview client of the metrics endpoint: %w", err)
	}
	authz, err := authorizationv1client.NewForConfigAndClient(c, httpClient)
	if err != nil {
		return nil, fmt.Errorf("creating the SubjectAccessReview client of the metrics endpoint: %w", err)
	}
	return newMetricsAuth(authn, authz, clock.RealClock{}).filter, nil
}

// metricsAuth authenticates and authorizes metrics requests, with caches of
// the reviews' results.
type metricsAuth struct {
	authn authenticationv1client.TokenReviewsGetter
	authz authorizationv1client.SubjectAccessReviewsGetter
	// tokens holds the users of authenticated tokens, by the SHA-256 of the
	// token so that no token is kept in memory.
	tokens *ttlCache[[sha256.Size]byte, authenticationv1.UserInfo]
	// decisions holds whether a user may use a verb on a path, by sarKey.
	decisions *ttlCache[[sha256.Size]byte, bool]
}

// newMetricsAuth returns a metricsAuth that reviews through authn and authz
// and reads the time, for its caches, from clk.
func newMetricsAuth(
	authn authenticationv1client.TokenReviewsGetter,
	authz authorizationv1client.SubjectAccessReviewsGetter,
	clk clock.PassiveClock,
) *metricsAuth {
	return &metricsAuth{
		authn:     authn,
		authz:     authz,
		tokens:    newTTLCache[[sha256.Size]byte, authenticationv1.UserInfo](clk, maxCacheEntries),
		decisions: newTTLCache[[sha256.Size]byte, bool](clk, maxCacheEntries),
	}
}

// filter is a metricsserver.Filter: it wraps handler so that only authorized
// users reach it.
func (m *metricsAuth) filter(log logr.Logger, handler http.Handler) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := req.Context()
		token, ok := bearerToken(req.Header.Get("Authorization"))
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user, authenticated, err := m.authenticate(ctx, token)
		if err != nil {
			log.Error(err, "Authenticating a metrics request")
			http.Error(w, "Authentication failed", http.StatusInternalServerError)
			return
		}
		if !authenticated {
			log.V(4).Info("Metrics request with an unauthenticated token", "path", req.URL.Path)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		verb := strings.ToLower(req.Method)
		allowed, reason, err := m.authorize(ctx, user, verb, req.URL.Path)
		if err != nil {
			log.Error(err, "Authorizing a metrics request", "user", user.Username, "verb", verb, "path", req.URL.Path)
			http.Error(w, "Authorization failed", http.StatusInternalServerError)
			return
		}
		if !allowed {
			log.V(4).Info("Metrics request denied", "user", user.Username, "verb", verb, "path", req.URL.Path, "reason", reason)
			http.Error(w, "Authorization denied for user "+user.Username, http.StatusForbidden)
			return
		}
		// The token has done its job; the handlers behind the filter never
		// see it, as behind kube-apiserver's authentication.
		req.Header.Del("Authorization")
		handler.ServeHTTP(w, req)
	}), nil
}

// bearerToken returns the token of an Authorization header of the scheme
// Bearer (in any case), and false when there is none or it is empty.
func bearerToken(header string) (string, bool) {
	scheme, token, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authenticate returns the user of token and whether the API server
// authenticated it. Only authenticated tokens are cached: a client that sends
// random tokens then cannot fill the cache, and a refused token is asked
// about again, as a caller fixing its token expects.
func (m *metricsAuth) authenticate(ctx context.Context, token string) (authenticationv1.UserInfo, bool, error) {
	key := sha256.Sum256([]byte(token))
	if user, ok := m.tokens.get(key); ok {
		return user, true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	// No audiences: the API server checks the token against its own.
	review, err := m.authn.TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token},
	}, metav1.CreateOptions{})
	if err != nil {
		return authenticationv1.UserInfo{}, false, fmt.Errorf("creating a TokenReview: %w", err)
	}
	if !review.Status.Authenticated {
		return authenticationv1.UserInfo{}, false, nil
	}
	m.tokens.add(key, review.Status.User, tokenReviewTTL)
	return review.Status.User, true, nil
}

// authorize returns whether user may use verb on the non-resource path, and
// the API server's reason when not. Both answers are cached, a denial for
// less time so that a scraper that was just granted access gets in soon.
func (m *metricsAuth) authorize(ctx context.Context, user authenticationv1.UserInfo, verb, path string) (bool, string, error) {
	spec := authorizationv1.SubjectAccessReviewSpec{
		User:   user.Username,
		UID:    user.UID,
		Groups: user.Groups,
		Extra:  authorizationExtra(user.Extra),
		NonResourceAttributes: &authorizationv1.NonResourceAttributes{
			Path: path,
			Verb: verb,
		},
	}
	key, err := sarKey(spec)
	if err != nil {
		return false, "", err
	}
	if allowed, ok := m.decisions.get(key); ok {
		return allowed, "cached", nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	review, err := m.authz.SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("creating a SubjectAccessReview: %w", err)
	}
	allowed := review.Status.Allowed && !review.Status.Denied
	ttl := sarDenyTTL
	if allowed {
		ttl = sarAllowTTL
	}
	m.decisions.add(key, allowed, ttl)
	return allowed, review.Status.Reason, nil
}

// authorizationExtra converts the extra of a reviewed token to that of a
// SubjectAccessReview: the same values under another type name.
func authorizationExtra(extra map[string]authenticationv1.ExtraValue) map[string]authorizationv1.ExtraValue {
	if extra == nil {
		return nil
	}
	out := make(map[string]authorizationv1.ExtraValue, len(extra))
	for k, v := range extra {
		out[k] = authorizationv1.ExtraValue(v)
	}
	return out
}

// sarKey identifies the question a SubjectAccessReview asks. The JSON encoding
// of the spec is unambiguous (strings are quoted, map keys sorted), and its
// hash keeps keys small whatever the number of groups.
func sarKey(spec authorizationv1.SubjectAccessReviewSpec) ([sha256.Size]byte, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("encoding a SubjectAccessReview: %w", err)
	}
	return sha256.Sum256(b), nil
}

// ttlCache is a map whose entries expire, with at most max entries.
type ttlCache[K comparable, V any] struct {
	clock clock.PassiveClock
	max   int

	mu      sync.Mutex
	entries map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	value   V
	expires time.Time
}

func newTTLCache[K comparable, V any](clk clock.PassiveClock, maxEntries int) *ttlCache[K, V] {
	return &ttlCache[K, V]{clock: clk, max: maxEntries, entries: map[K]ttlEntry[V]{}}
}

// get returns the value under key unless it expired.
func (c *ttlCache[K, V]) get(key K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.clock.Now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// add stores value under key for ttl. When the cache is full it first drops
// the expired entries; if it is still full, the value is not stored: the
// entries already there (the regular scrapers) keep being served from the
// cache, and the newcomer is reviewed at each request until room frees up.
func (c *ttlCache[K, V]) add(key K, value V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			return
		}
	}
	c.entries[key] = ttlEntry[V]{value: value, expires: now.Add(ttl)}
}

// len returns the number of entries, expired ones included.
func (c *ttlCache[K, V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
