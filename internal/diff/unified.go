package diff

import (
	"fmt"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// contextLines is the number of unchanged lines around each change, as in
// `diff -u` and `kubectl diff`.
const contextLines = 3

// Unified returns the unified diff of the YAML of current (live) and desired
// Endpoints, in the form `kubectl diff` prints: a "diff -u -N" line naming
// both sides, then the hunks. current is nil for a create, desired nil for a
// delete; the missing side is empty. Managed fields are left out (they are
// bookkeeping, and `kubectl diff` hides them too). It returns "" when the
// YAML is the same.
func Unified(current, desired *corev1.Endpoints) (string, error) {
	ref := current
	if ref == nil {
		ref = desired
	}
	if ref == nil {
		return "", nil
	}
	name := fmt.Sprintf("v1.Endpoints.%s.%s", ref.Namespace, ref.Name)
	a, err := toYAML(current)
	if err != nil {
		return "", fmt.Errorf("encoding live Endpoints %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	b, err := toYAML(desired)
	if err != nil {
		return "", fmt.Errorf("encoding desired Endpoints %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	text, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A:        lines(a),
		B:        lines(b),
		FromFile: "live/" + name,
		ToFile:   "desired/" + name,
		Context:  contextLines,
	})
	if err != nil || text == "" {
		return "", err
	}
	return fmt.Sprintf("diff -u -N live/%s desired/%s\n%s", name, name, text), nil
}

// lines splits text after each newline; empty text has no lines.
func lines(text string) []string {
	if text == "" {
		return nil
	}
	out := strings.SplitAfter(text, "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// toYAML renders ep as kubectl shows it: apiVersion and kind first, no
// managed fields, no empty creation timestamp. nil renders as "".
func toYAML(ep *corev1.Endpoints) (string, error) {
	if ep == nil {
		return "", nil
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ep)
	if err != nil {
		return "", err
	}
	obj["apiVersion"], obj["kind"] = "v1", "Endpoints"
	if meta, ok := obj["metadata"].(map[string]any); ok {
		delete(meta, "managedFields")
		if meta["creationTimestamp"] == nil {
			delete(meta, "creationTimestamp")
		}
	}
	out, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	return string(out), nil
}

// ANSI colours of a coloured diff, those of `git diff` and `kubectl diff`
// through a colouring pager.
const (
	colourReset = "\x1b[0m"
	colourBold  = "\x1b[1m"
	colourRed   = "\x1b[31m"
	colourGreen = "\x1b[32m"
	colourCyan  = "\x1b[36m"
)

// Colourize returns the unified diff text with ANSI colours for a terminal:
// headers bold, hunk ranges cyan, removed lines red, added lines green.
func Colourize(text string) string {
	lines := strings.SplitAfter(text, "\n")
	var b strings.Builder
	for _, line := range lines {
		if line == "" {
			continue
		}
		body, nl := strings.CutSuffix(line, "\n")
		colour := ""
		switch {
		case strings.HasPrefix(body, "diff "), strings.HasPrefix(body, "--- "), strings.HasPrefix(body, "+++ "):
			colour = colourBold
		case strings.HasPrefix(body, "@@"):
			colour = colourCyan
		case strings.HasPrefix(body, "-"):
			colour = colourRed
		case strings.HasPrefix(body, "+"):
			colour = colourGreen
		}
		if colour == "" {
			b.WriteString(line)
			continue
		}
		b.WriteString(colour + body + colourReset)
		if nl {
			b.WriteString("\n")
		}
	}
	return b.String()
}
