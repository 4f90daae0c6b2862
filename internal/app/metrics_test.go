package app

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// The metrics server speaks HTTP/1.1 only unless --enable-http2.
func TestMetricsHTTP2(t *testing.T) {
	for _, enable := range []bool{false, true} {
		o := DefaultOptions()
		o.EnableHTTP2 = enable
		var opts metricsserver.Options
		w, err := o.metricsTLS(&opts)
		if err != nil || w != nil {
			t.Fatalf("metricsTLS: %v, %v", w, err)
		}
		c := &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
		for _, f := range opts.TLSOpts {
			f(c)
		}
		want := "h2,http/1.1"
		if !enable {
			want = "http/1.1"
		}
		if got := strings.Join(c.NextProtos, ","); got != want {
			t.Errorf("--enable-http2=%t: ALPN protocols %s, want %s", enable, got, want)
		}
	}
}

// A certificate directory without the files is an error naming the flag.
func TestMetricsCertMissing(t *testing.T) {
	o := DefaultOptions()
	o.MetricsCertPath = t.TempDir()
	_, err := o.metricsTLS(&metricsserver.Options{})
	if err == nil || !strings.Contains(err.Error(), "--metrics-cert-path") {
		t.Errorf("metricsTLS = %v, want an error naming --metrics-cert-path", err)
	}
}

// The metrics server itself negotiates HTTP/1.1 only, unless --enable-http2.
func TestMetricsServerALPN(t *testing.T) {
	for _, enable := range []bool{false, true} {
		o := DefaultOptions()
		o.EnableHTTP2 = enable
		opts := metricsserver.Options{BindAddress: "127.0.0.1:0", SecureServing: true}
		if _, err := o.metricsTLS(&opts); err != nil {
			t.Fatal(err)
		}
		srv, err := metricsserver.NewServer(opts, &rest.Config{}, http.DefaultClient)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- srv.Start(ctx) }()
		addr := ""
		err = wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			if a, ok := srv.(interface{ GetBindAddr() string }); ok {
				addr = a.GetBindAddr()
			}
			return addr != "", nil
		})
		if err != nil {
			t.Fatalf("the metrics server did not listen: %v", err)
		}
		conn, err := tls.Dial("tcp", addr, &tls.Config{NextProtos: []string{"h2", "http/1.1"}, InsecureSkipVerify: true}) //nolint:gosec // a self-signed test server
		if err != nil {
			t.Fatal(err)
		}
		got := conn.ConnectionState().NegotiatedProtocol
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := "http/1.1"
		if enable {
			want = "h2"
		}
		if got != want {
			t.Errorf("--enable-http2=%t: negotiated %q, want %q", enable, got, want)
		}
	}
}
