// Package metricsauth protects the controller's metrics endpoint the way
// kube-apiserver protects its own: the bearer token of a request is
// authenticated with a TokenReview and its user is authorized with a
// SubjectAccessReview on the request's path.
//
// The reviews are API requests under the controller's identity: they share
// its API Priority and Fairness flow with its Endpoints writes and Lease
// renewals. Whatever clients send to the endpoint, the filter must therefore
// never send more than a bounded trickle of reviews
// (https://github.com/kube-endpoints/endpoints-controller/issues/16):
//
//   - only GET and HEAD reach authentication; other methods get 405;
//   - reviews of the same token (or the same question) in flight at once are
//     merged into one;
//   - results are cached: tokens and allows for minutes, denials and refused
//     tokens for seconds, errors not at all; each cache evicts its least
//     recently used entry when full (apimachinery's LRUExpireCache), and
//     refused tokens have a cache of their own, so that junk cannot push out
//     the scrapers' entries;
//   - reviews that miss the caches are bounded, both in flight and per
//     second: a request beyond either bound gets 429 at once, without a
//     review;
//   - transient review errors are retried a few times; failures are logged
//     at info level, at most once per logInterval.
//
// It replaces controller-runtime's filters.WithAuthenticationAndAuthorization,
// which links k8s.io/apiserver (and through it cel-go, gRPC and
// OpenTelemetry): 41 MB of binary and 14 MB of resident memory for two API
// calls. The controller's ServiceAccount needs create on tokenreviews and
// subjectaccessreviews (config/rbac/metrics_auth_role.yaml); a scraper needs
// get on the non-resource URL /metrics (config/rbac/metrics_reader_role.yaml).
package metricsauth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/clock"
)

// How long review results are reused. Prometheus scrapes every 15-30 s with
// the same token, so without a cache every scrape would cost the API server a
// TokenReview and a SubjectAccessReview. The durations of the positive
// answers are those of kube-apiserver's delegated authentication and
// authorization: a revoked token or binding takes effect within a minute or
// five, and a newly granted binding within 30 seconds.
const (
	TokenTTL = time.Minute
	AllowTTL = 5 * time.Minute
	DenyTTL  = 30 * time.Second
	// RefusedTokenTTL is how long a token the API server did not
	// authenticate is refused without asking again: long enough that a
	// client repeating a bad token costs one review every few seconds, short
	// enough that a caller fixing its token (a projected token just
	// rotated in) is not kept out for long.
	RefusedTokenTTL = 10 * time.Second
)

// ReviewTimeout bounds each review, retries included, so that a slow API
// server fails a scrape instead of piling up waiting requests.
const ReviewTimeout = 10 * time.Second

// MaxCacheEntries bounds each cache. A cluster has a handful of scrapers, each
// with one identity; a few thousand entries (each a hash and a user's name,
// groups and extra) stay well under a megabyte however many distinct tokens
// clients send.
const MaxCacheEntries = 4096

// Defaults of the bounds on reviews that miss the caches. A few scrapers need
// a review a minute each; 10 a second with a burst of 20 serves dozens of
// scrapers starting at once, and keeps a flood of junk tokens to a trickle
// next to the controller's own requests.
const (
	DefaultMaxInFlight      = 4
	DefaultReviewsPerSecond = 10
	DefaultReviewBurst      = 20
)

// logInterval is how often at most a failure is logged; the ones in between
// are counted into the next message.
const logInterval = 30 * time.Second

// reviewBackoff retries transient review errors (API server overloaded,
// connection reset): three attempts within about a second.
var reviewBackoff = wait.Backoff{Steps: 3, Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1}

// errThrottled is a review refused by the bounds: the client gets 429.
var errThrottled = errors.New("too many reviews in flight or per second")

// Options are the bounds of an Authorizer; zero values take the defaults.
type Options struct {
	// MaxInFlight bounds the reviews in flight at once.
	MaxInFlight int
	// ReviewsPerSecond and ReviewBurst bound the rate of reviews.
	ReviewsPerSecond float64
	ReviewBurst      int
	// Clock reads the time for the caches; the real clock when nil.
	Clock clock.PassiveClock
	// Backoff retries transient review errors; reviewBackoff when zero.
	Backoff wait.Backoff
}

// Authorizer authenticates and authorizes requests through the API server,
// with caches of the reviews' results and bounds on the reviews it sends.
type Authorizer struct {
	authn   authenticationv1client.TokenReviewsGetter
	authz   authorizationv1client.SubjectAccessReviewsGetter
	backoff wait.Backoff

	// tokens holds the users of authenticated tokens and refused the tokens
	// the API server did not authenticate, by the SHA-256 of the token so
	// that no token is kept in memory.
	tokens, refused *cache.LRUExpireCache
	// decisions holds whether a user may use a verb on a path, by sarKey.
	decisions *cache.LRUExpireCache

	// merged merges identical reviews in flight.
	merged singleflight.Group
	// slots bounds the reviews in flight, limiter their rate.
	slots   chan struct{}
	limiter *rate.Limiter

	failures, throttled *logLimiter
}

// New returns an Authorizer that reviews through authn and authz.
func New(authn authenticationv1client.TokenReviewsGetter, authz authorizationv1client.SubjectAccessReviewsGetter, o Options) *Authorizer {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.ReviewsPerSecond <= 0 {
		o.ReviewsPerSecond = DefaultReviewsPerSecond
	}
	if o.ReviewBurst <= 0 {
		o.ReviewBurst = DefaultReviewBurst
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.Backoff.Steps == 0 {
		o.Backoff = reviewBackoff
	}
	return &Authorizer{
		authn:     authn,
		authz:     authz,
		backoff:   o.Backoff,
		tokens:    cache.NewLRUExpireCacheWithClock(MaxCacheEntries, o.Clock),
		refused:   cache.NewLRUExpireCacheWithClock(MaxCacheEntries, o.Clock),
		decisions: cache.NewLRUExpireCacheWithClock(MaxCacheEntries, o.Clock),
		slots:     make(chan struct{}, o.MaxInFlight),
		limiter:   rate.NewLimiter(rate.Limit(o.ReviewsPerSecond), o.ReviewBurst),
		failures:  &logLimiter{clock: o.Clock, every: logInterval},
		throttled: &logLimiter{clock: o.Clock, every: logInterval},
	}
}

// Filter is a metricsserver.Filter: it wraps handler so that only authorized
// users reach it.
func (a *Authorizer) Filter(log logr.Logger, handler http.Handler) (http.Handler, error) {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Metrics are read, never written: no other method is worth a
		// review. HEAD is a GET without the body, authorized as a get, as
		// kube-apiserver does.
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "Method not allowed", http.StatusMethodNotAllowed)
			return
		}
		token, ok := bearerToken(req.Header.Get("Authorization"))
		if !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user, authenticated, err := a.authenticate(req.Context(), token)
		if err != nil {
			a.fail(log, w, err, "Authenticating a metrics request failed", "Authentication failed", "path", req.URL.Path)
			return
		}
		if !authenticated {
			log.V(4).Info("Metrics request with an unauthenticated token", "path", req.URL.Path)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		const verb = "get"
		allowed, err := a.authorize(req.Context(), user, verb, req.URL.Path)
		if err != nil {
			a.fail(log, w, err, "Authorizing a metrics request failed", "Authorization failed", "user", user.Username, "path", req.URL.Path)
			return
		}
		if !allowed {
			log.V(4).Info("Metrics request denied", "user", user.Username, "verb", verb, "path", req.URL.Path)
			http.Error(w, "Authorization denied for user "+user.Username, http.StatusForbidden)
			return
		}
		// The token has done its job; the handlers behind the filter never
		// see it, as behind kube-apiserver's authentication.
		req.Header.Del("Authorization")
		handler.ServeHTTP(w, req)
	}), nil
}

// fail answers a request whose review failed: 429 when the bounds refused
// it, else 500. Both are logged at info level, at most once per logInterval:
// a client can cause them at will, and they say nothing about the
// controller's own work.
func (a *Authorizer) fail(log logr.Logger, w http.ResponseWriter, err error, msg, answer string, kv ...any) {
	if errors.Is(err, errThrottled) {
		if n, ok := a.throttled.allow(); ok {
			log.Info("Metrics requests refused: too many reviews", "refused", n)
		}
		w.Header().Set("Retry-After", "1")
		http.Error(w, "Too many requests, retry later", http.StatusTooManyRequests)
		return
	}
	if n, ok := a.failures.allow(); ok {
		log.Info(msg, append(kv, "err", err.Error(), "failures", n)...)
	}
	http.Error(w, answer, http.StatusInternalServerError)
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
// authenticated it.
func (a *Authorizer) authenticate(ctx context.Context, token string) (authenticationv1.UserInfo, bool, error) {
	key := sha256.Sum256([]byte(token))
	if user, ok := a.tokens.Get(key); ok {
		return user.(authenticationv1.UserInfo), true, nil
	}
	if _, ok := a.refused.Get(key); ok {
		return authenticationv1.UserInfo{}, false, nil
	}
	v, err := a.review(ctx, "token/"+string(key[:]), func(ctx context.Context) (any, error) {
		// No audiences: the API server checks the token against its own.
		review, err := a.authn.TokenReviews().Create(ctx, &authenticationv1.TokenReview{
			Spec: authenticationv1.TokenReviewSpec{Token: token},
		}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating a TokenReview: %w", err)
		}
		if !review.Status.Authenticated {
			a.refused.Add(key, struct{}{}, RefusedTokenTTL)
			return nil, nil
		}
		a.tokens.Add(key, review.Status.User, TokenTTL)
		return review.Status.User, nil
	})
	if err != nil || v == nil {
		return authenticationv1.UserInfo{}, false, err
	}
	return v.(authenticationv1.UserInfo), true, nil
}

// authorize returns whether user may use verb on the non-resource path. A
// denial is cached for less time than an allow, so that a scraper that was
// just granted access gets in soon.
func (a *Authorizer) authorize(ctx context.Context, user authenticationv1.UserInfo, verb, path string) (bool, error) {
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
		return false, err
	}
	if allowed, ok := a.decisions.Get(key); ok {
		return allowed.(bool), nil
	}
	v, err := a.review(ctx, "access/"+string(key[:]), func(ctx context.Context) (any, error) {
		review, err := a.authz.SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("creating a SubjectAccessReview: %w", err)
		}
		allowed := review.Status.Allowed && !review.Status.Denied
		ttl := DenyTTL
		if allowed {
			ttl = AllowTTL
		}
		a.decisions.Add(key, allowed, ttl)
		return allowed, nil
	})
	if err != nil {
		return false, err
	}
	return v.(bool), nil
}

// review runs do once for all the callers asking under key at the same time,
// within the bounds: when a slot is free and the rate allows, else it fails
// with errThrottled at once. Transient errors are retried. The review runs
// on its own deadline, not the first caller's: a caller that goes away must
// not fail the others.
func (a *Authorizer) review(ctx context.Context, key string, do func(context.Context) (any, error)) (any, error) {
	ch := a.merged.DoChan(key, func() (any, error) {
		select {
		case a.slots <- struct{}{}:
		default:
			return nil, errThrottled
		}
		defer func() { <-a.slots }()
		if !a.limiter.Allow() {
			return nil, errThrottled
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ReviewTimeout)
		defer cancel()
		var v any
		err := retry.OnError(a.backoff, transient, func() error {
			var err error
			v, err = do(ctx)
			return err
		})
		return v, err
	})
	select {
	case res := <-ch:
		return res.Val, res.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// transient tells errors worth another attempt: the API server overloaded
// or restarting, or the connection lost.
func transient(err error) bool {
	return apierrors.IsTooManyRequests(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) ||
		utilnet.IsConnectionReset(err) || utilnet.IsConnectionRefused(err) || utilnet.IsProbableEOF(err)
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
