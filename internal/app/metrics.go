package app

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// bindMetricsTLSFlags registers the flags of the metrics server's TLS, as the
// kubebuilder scaffold names them.
func (o *Options) bindMetricsTLSFlags(fs *flag.FlagSet) {
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", o.EnableHTTP2,
		"Serve metrics over HTTP/2 too. Off by default: HTTP/2 exposes the server to the rapid-reset and "+
			"stream-cancellation attacks (CVE-2023-44487, CVE-2023-39325).")
	fs.StringVar(&o.MetricsCertPath, "metrics-cert-path", o.MetricsCertPath,
		"Directory holding the metrics server's certificate and key, reloaded when they change; "+
			"empty serves a self-signed certificate.")
	fs.StringVar(&o.MetricsCertName, "metrics-cert-name", o.MetricsCertName,
		"File name of the metrics server's certificate in --metrics-cert-path.")
	fs.StringVar(&o.MetricsCertKey, "metrics-cert-key", o.MetricsCertKey, "File name of the metrics server's key in --metrics-cert-path.")
	fs.StringVar(&o.AuthenticationKubeconfig, "authentication-kubeconfig", o.AuthenticationKubeconfig,
		"Kubeconfig of the API server that reviews the bearer tokens of metrics requests (TokenReview), when it is not the "+
			"managed cluster's, e.g. a hosted control plane whose scrapers live in another cluster; empty uses the managed cluster.")
	fs.StringVar(&o.AuthorizationKubeconfig, "authorization-kubeconfig", o.AuthorizationKubeconfig,
		"Kubeconfig of the API server that authorizes metrics requests (SubjectAccessReview); empty uses the managed cluster.")
}

// validateMetricsTLS checks the metrics TLS and authentication flags.
func (o *Options) validateMetricsTLS() []error {
	var errs []error
	for _, kc := range []struct{ flag, path string }{
		{"--authentication-kubeconfig", o.AuthenticationKubeconfig},
		{"--authorization-kubeconfig", o.AuthorizationKubeconfig},
	} {
		if kc.path == "" {
			continue
		}
		if !o.MetricsSecure {
			errs = append(errs, fmt.Errorf("%s needs --metrics-secure: plain HTTP metrics are not authenticated", kc.flag))
		}
		if _, err := os.Stat(kc.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", kc.flag, err))
		}
	}
	if o.MetricsCertPath == "" {
		return errs
	}
	if !o.MetricsSecure {
		errs = append(errs, errors.New("--metrics-cert-path needs --metrics-secure: plain HTTP has no certificate"))
	}
	if o.MetricsCertName == "" {
		errs = append(errs, errors.New("--metrics-cert-name must not be empty"))
	}
	if o.MetricsCertKey == "" {
		errs = append(errs, errors.New("--metrics-cert-key must not be empty"))
	}
	return errs
}

// metricsTLS sets the TLS options of the metrics server: HTTP/1.1 only
// unless --enable-http2, and the certificate from --metrics-cert-path when
// set. It returns the watcher that reloads that certificate, which must run
// with the manager, or nil.
func (o *Options) metricsTLS(opts *metricsserver.Options) (*certwatcher.CertWatcher, error) {
	if !o.EnableHTTP2 {
		opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	if o.MetricsCertPath == "" {
		return nil, nil
	}
	w, err := certwatcher.New(filepath.Join(o.MetricsCertPath, o.MetricsCertName), filepath.Join(o.MetricsCertPath, o.MetricsCertKey))
	if err != nil {
		return nil, fmt.Errorf("--metrics-cert-path: loading the metrics certificate: %w", err)
	}
	opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.GetCertificate = w.GetCertificate })
	return w, nil
}
