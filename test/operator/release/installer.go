package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// buildInstaller writes install.yaml: config/default built by kustomize, as
// kubebuilder's `make build-installer` does, with the release's image and an
// app.kubernetes.io/version label on every object. Instead of editing
// config/manager in place (`kustomize edit set image`), which would leave the
// tree changed, it builds a throw-away overlay of config/default.
func buildInstaller(ctx context.Context, opts Options, meta Meta) (string, error) {
	kustomize := opts.Kustomize
	if kustomize == "" {
		kustomize = filepath.Join(opts.Root, "bin", "kustomize")
	}
	if _, err := os.Stat(kustomize); err != nil {
		return "", errNoKustomize
	}
	repo := opts.ImageRepo
	if repo == "" {
		repo = DefaultImageRepository
	}
	overlay, err := os.MkdirTemp(opts.Out, ".installer-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(overlay) }()
	base, err := filepath.Rel(overlay, filepath.Join(opts.Root, "config", "default"))
	if err != nil {
		return "", err
	}
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- %s
images:
- name: controller
  newName: %s
  newTag: %q
labels:
- pairs:
    app.kubernetes.io/version: %q
  includeSelectors: false
`, filepath.ToSlash(base), repo, meta.Version, meta.Version)
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, kustomize, "build", overlay)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kustomize build of config/default: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	header := fmt.Sprintf("# endpoints-controller %s (revision %s): namespace, RBAC, Deployment and metrics\n"+
		"# Service, built from config/default. Apply with: kubectl apply --server-side -f install.yaml\n",
		meta.Version, meta.Revision)
	if err := os.WriteFile(filepath.Join(opts.Out, InstallerName), append([]byte(header), stdout.Bytes()...), 0o644); err != nil {
		return "", err
	}
	return InstallerName, nil
}
