package main

import (
	"flag"
	"fmt"
	"strings"
)

// commandDiff is the one subcommand; the controller runs without one.
const commandDiff = "diff"

// splitCommand finds the subcommand wherever it stands among args, as kubectl
// users type it (`endpoints-controller --kubeconfig=X diff` as well as
// `endpoints-controller diff --kubeconfig=X`), and returns it ("" for the
// controller) with the other arguments in their order. Values of flags that
// take one (`--kubeconfig X`) are skipped, knowing the flags of both the
// controller and diff. Any other word is an unknown command, refused: a typo
// such as `dif` must not start the controller.
func splitCommand(args []string) (string, []string, error) {
	known := flagsTakingValues()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break // what follows is arguments, which neither command takes
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && known[name] {
				i++ // the flag's value
			}
			continue
		}
		if a == commandDiff {
			return commandDiff, append(append([]string{}, args[:i]...), args[i+1:]...), nil
		}
		// Report a malformed flag before it, which may be why a value
		// stands here; else the word itself.
		if err := parseOnly(args[:i]); err != nil {
			return "", nil, err
		}
		return "", nil, fmt.Errorf("unknown command %q: the only command is %q; the controller runs without one", a, commandDiff)
	}
	return "", args, nil
}

// flagsTakingValues returns the names of the flags of the controller and of
// diff that take a value (all but the boolean ones).
func flagsTakingValues() map[string]bool {
	out := map[string]bool{}
	var cf controllerFlags
	var df diffFlags
	dfs := flag.NewFlagSet(commandDiff, flag.ContinueOnError)
	df.bind(dfs)
	for _, fs := range []*flag.FlagSet{newControllerFlags(&cf), dfs} {
		fs.VisitAll(func(f *flag.Flag) {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				out[f.Name] = true
			}
		})
	}
	return out
}

// parseOnly parses args with the controller's flags and returns the error.
func parseOnly(args []string) error {
	var cf controllerFlags
	return newControllerFlags(&cf).Parse(args)
}
