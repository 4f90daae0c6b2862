// Package version holds the version and revision of the build, stamped by the
// linker (`make build`, the Dockerfile):
//
//	go build -ldflags "-X github.com/kube-endpoints/endpoints-controller/internal/version.Version=v0.1.0 \
//	    -X github.com/kube-endpoints/endpoints-controller/internal/version.Revision=$(git rev-parse HEAD)"
//
// and exposes them as the endpoints_controller_build_info metric.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Version is the release of the build (`git describe`), set by the linker;
// "dev" for a plain `go build`.
var Version = "dev"

// Revision is the git commit of the build, set by the linker. When it is not,
// the revision that the go command stamped into the binary (-buildvcs) is used,
// else "unknown".
var Revision = ""

// Info describes a build.
type Info struct {
	Version   string
	Revision  string
	GoVersion string
}

// Get returns the build's version, revision and Go version.
func Get() Info {
	rev := Revision
	if rev == "" {
		rev = vcsRevision()
	}
	return Info{Version: Version, Revision: rev, GoVersion: runtime.Version()}
}

// String is the line that `--version` prints.
func (i Info) String() string {
	return fmt.Sprintf("endpoints-controller %s (revision %s, %s)", i.Version, i.Revision, i.GoVersion)
}

// vcsRevision is the revision the go command recorded, else "unknown".
func vcsRevision() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// buildInfo is always 1; its labels describe the build, so that dashboards can
// show which version runs and alerts can join on it.
var buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "endpoints_controller_build_info",
	Help: "Always 1; the labels say which build runs: version, revision (git commit), goversion.",
}, []string{"version", "revision", "goversion"})

func init() {
	i := Get()
	buildInfo.WithLabelValues(i.Version, i.Revision, i.GoVersion).Set(1)
	ctrlmetrics.Registry.MustRegister(buildInfo)
}
