package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kube-endpoints/endpoints-controller/internal/realcluster"
	"github.com/kube-endpoints/endpoints-controller/test/rollout"
)

// The --contenders: KCM's endpoints controller and this controller.
const (
	contenderKCM  = "kcm"
	contenderOurs = "ours"
)

// rolloutCommand runs the rollout scenario at size DEPLOYMENTSxREPLICAS.
func rolloutCommand(o options, size string, nodes int, contenders []contender) error {
	d, r, ok := strings.Cut(size, "x")
	deployments, err1 := strconv.Atoi(d)
	replicas, err2 := strconv.Atoi(r)
	if !ok || err1 != nil || err2 != nil || deployments < 2 || replicas < 2 || nodes < 2 {
		return fmt.Errorf("--rollout: %q is not DEPLOYMENTSxREPLICAS (each at least 2; --rollout-nodes at least 2)", size)
	}
	fmt.Printf("Work directory: %s\n", o.workdir)
	return runRollout(o, deployments, replicas, nodes, contenders)
}

// runRollout runs the rollout scenario (test/rollout) once per contender
// and run, each in a fresh realistic cluster: KCM's endpoints controller
// ("kcm": KCM runs with every controller), or this controller beside KCM
// without its endpoints controller ("ours"). Both publish beside KCM's
// EndpointSlice controller, whose latency in the same cluster is the
// yardstick that takes the machine's load out of the comparison.
func runRollout(o options, deployments, replicas, nodes int, contenders []contender) error {
	type row struct {
		name string
		run  int
		res  *rollout.Result
	}
	var rows []row
	for r := range o.runs {
		for _, ct := range contenders {
			name := ct.name
			fmt.Printf("== rollout %dx%d on %d Nodes, run %d: %s\n", deployments, replicas, nodes, r+1, name)
			res, err := rolloutOnce(o, ct, deployments, replicas, nodes, r)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			res.Print(os.Stdout, name)
			rows = append(rows, row{name, r + 1, res})
		}
	}
	fmt.Printf("\nrollout %dx%d: Pod readiness change → shown (s), Endpoints and the EndpointSlices of the same cluster\n",
		deployments, replicas)
	fmt.Println("run  controller               Endpoints p50/p99  Slices p50/p99  p99 ratio  " +
		"stale addr-s (Endpoints/Slices)  replaced  writes")
	for _, rw := range rows {
		e, s := rw.res.Endpoints, rw.res.Slices
		ratio := 0.0
		if s.P99 > 0 {
			ratio = e.P99.Seconds() / s.P99.Seconds()
		}
		fmt.Printf("%-4d %-24s %.3f/%.3f        %.3f/%.3f     %.2f       %.1f / %.1f                      %-8d  %.0f\n",
			rw.run, rw.name, e.P50.Seconds(), e.P99.Seconds(), s.P50.Seconds(), s.P99.Seconds(), ratio,
			e.StaleAddrSecs, s.StaleAddrSecs, e.Replaced, rw.res.EndpointsWrites)
	}
	return nil
}

func rolloutOnce(o options, ct contender, deployments, replicas, nodes, run int) (*rollout.Result, error) {
	dir := filepath.Join(o.workdir, fmt.Sprintf("rollout-%dx%d-run%d-%s", deployments, replicas, run+1, dirName(ct.name)))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	co := realcluster.Options{AssetsDir: o.assets, Dir: dir, Nodes: nodes}
	if ct.key == contenderKCM {
		co.Controllers = "*"
	}
	cluster, err := realcluster.Start(ctx, co)
	if err != nil {
		return nil, err
	}
	defer func() { _ = cluster.Stop() }()
	if ct.key == contenderOurs {
		proc, err := ct.start(cluster.KubeconfigPath, filepath.Join(dir, "controller.log"))
		if err != nil {
			return nil, err
		}
		defer proc.stop()
	}
	res, err := rollout.Run(ctx, cluster.Client, rollout.Options{
		Namespace: "rollout", Deployments: deployments, Replicas: replicas,
		Logf: func(f string, a ...any) { fmt.Printf("   "+f+"\n", a...) },
	})
	if err != nil {
		return nil, fmt.Errorf("%w (logs in %s)", err, dir)
	}
	return res, nil
}
