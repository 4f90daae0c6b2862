// Command helmlint runs Helm's chart linter, the one behind `helm lint
// --strict`, on the charts named as arguments, through Helm's Go library (so
// that `make helm-lint` needs no helm binary). It prints every finding and
// exits 1 when there is a warning or an error.
package main

import (
	"fmt"
	"os"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: helmlint CHART_DIR...")
		os.Exit(2)
	}
	lint := action.NewLint()
	lint.Strict = true
	res := lint.Run(os.Args[1:], nil)
	failed := len(res.Errors) > 0
	for _, m := range res.Messages {
		fmt.Println(m)
		failed = failed || m.Severity >= support.WarningSev
	}
	for _, err := range res.Errors {
		fmt.Println("[ERROR]", err)
	}
	fmt.Printf("%d chart(s) linted\n", res.TotalChartsLinted)
	if failed {
		os.Exit(1)
	}
}
