package metricsauth

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/clock"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// Config chooses the API servers that review the metrics requests.
type Config struct {
	// AuthenticationKubeconfig and AuthorizationKubeconfig, when set, name
	// the kubeconfigs of the API servers that review tokens and access, in
	// place of the cluster the controller manages: a hosted control plane
	// whose scrapers live in another cluster.
	AuthenticationKubeconfig string
	AuthorizationKubeconfig  string
	// Options bound the reviews.
	Options Options
}

// FilterProvider returns a metricsserver.Options.FilterProvider that
// protects the metrics endpoint with an Authorizer. Without kubeconfigs in
// c, the reviews go to the controller's own API server through the
// manager's config and HTTP client.
func FilterProvider(c Config) func(*rest.Config, *http.Client) (metricsserver.Filter, error) {
	return func(cfg *rest.Config, httpClient *http.Client) (metricsserver.Filter, error) {
		authn, err := clientset(cfg, httpClient, c.AuthenticationKubeconfig)
		if err != nil {
			return nil, fmt.Errorf("creating the TokenReview client of the metrics endpoint: %w", err)
		}
		authz, err := clientset(cfg, httpClient, c.AuthorizationKubeconfig)
		if err != nil {
			return nil, fmt.Errorf("creating the SubjectAccessReview client of the metrics endpoint: %w", err)
		}
		return New(authn.AuthenticationV1(), authz.AuthorizationV1(), c.Options).Filter, nil
	}
}

// clientset returns a clientset of the cluster of kubeconfig, or of cfg
// through httpClient when kubeconfig is empty.
func clientset(cfg *rest.Config, httpClient *http.Client, kubeconfig string) (kubernetes.Interface, error) {
	if kubeconfig == "" {
		return kubernetes.NewForConfigAndClient(cfg, httpClient)
	}
	own, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", kubeconfig, err)
	}
	own = rest.AddUserAgent(own, "endpoints-controller-metrics-auth")
	return kubernetes.NewForConfig(own)
}

// logLimiter lets one message through per interval and counts the others.
type logLimiter struct {
	clock clock.PassiveClock
	every time.Duration

	mu     sync.Mutex
	last   time.Time
	missed int
}

// allow reports whether to log now, and how many events (this one
// included) happened since the last message.
func (l *logLimiter) allow() (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.missed++
	now := l.clock.Now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		return 0, false
	}
	n := l.missed
	l.last, l.missed = now, 0
	return n, true
}
