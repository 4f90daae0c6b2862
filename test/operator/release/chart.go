package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
)

// packageChart packages dist/chart as `helm package --version V --app-version
// V` does, so that the chart's version and the image tag it installs by
// default are the release's, then lints the package with Helm's strict linter:
// a chart that does not lint is not released.
func packageChart(opts Options, meta Meta) (string, error) {
	dir := filepath.Join(opts.Root, "dist", "chart")
	ch, err := loader.Load(dir)
	if err != nil {
		return "", fmt.Errorf("loading the chart %s: %w", dir, err)
	}
	ch.Metadata.Version = meta.Version
	ch.Metadata.AppVersion = meta.Version
	path, err := chartutil.Save(ch, opts.Out)
	if err != nil {
		return "", fmt.Errorf("packaging the chart: %w", err)
	}
	if name := filepath.Base(path); name != ChartPackageName(meta.Version) {
		return "", fmt.Errorf("the chart was packaged as %s, not %s: is it still named endpoints-controller?", name, ChartPackageName(meta.Version))
	}
	if err := lintChart(path); err != nil {
		return "", err
	}
	return filepath.Base(path), nil
}

// lintChart runs Helm's linter (`helm lint --strict`) on a chart directory or
// package; warnings count as failures.
func lintChart(path string) error {
	lint := action.NewLint()
	lint.Strict = true
	res := lint.Run([]string{path}, nil)
	var problems []string
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			problems = append(problems, m.Error())
		}
	}
	for _, err := range res.Errors {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 || res.TotalChartsLinted != 1 {
		return fmt.Errorf("the chart %s does not lint: %s", path, strings.Join(problems, "; "))
	}
	return nil
}
