// Command release builds the release artifacts of endpoints-controller with
// nothing but Go (`make release`, `make build-installer`):
//
//   - static binaries for each platform, endpoints-controller-<os>-<arch>;
//   - install.yaml, config/default built by kustomize with the release's image;
//   - the Helm chart of dist/chart packaged with the release's version, linted;
//   - a multi-architecture OCI image (the static binary on an empty base with
//     CA certificates and a non-root user), written as an OCI archive that
//     `docker load`, `kind load image-archive` and `ctr import` accept;
//   - an SBOM (CycloneDX JSON) of the module graph linked into the binary;
//   - SHA256SUMS of all of them.
//
// It lives in the test/operator module, beside the chart tests, so that Helm
// and go-containerregistry stay out of the controller's go.mod. The version
// comes from the repository's VERSION file; --require-clean refuses a tree
// with uncommitted changes, so that what is released is what is committed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

func run() error {
	var opts Options
	var platforms, only string
	flag.StringVar(&opts.Root, "root", "../..", "the repository's root directory")
	flag.StringVar(&opts.Out, "out", "dist/release", "directory to write the artifacts to (relative to --root)")
	flag.StringVar(&opts.ImageRepo, "image-repository", DefaultImageRepository, "repository of the image, as install.yaml and the chart name it")
	flag.StringVar(&platforms, "platforms", "linux/amd64,linux/arm64", "comma-separated os/arch list of binaries and image")
	flag.StringVar(&opts.Kustomize, "kustomize", "", "kustomize binary (default: <root>/bin/kustomize)")
	flag.BoolVar(&opts.RequireClean, "require-clean", false, "refuse a tree with uncommitted changes")
	flag.StringVar(&only, "only", "", "build only this artifact: installer")
	flag.Parse()
	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	opts.Platforms = strings.Split(platforms, ",")
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return err
	}
	opts.Root = root
	if !filepath.IsAbs(opts.Out) {
		opts.Out = filepath.Join(opts.Root, opts.Out)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch only {
	case "":
		res, err := Build(ctx, opts)
		if err != nil {
			return err
		}
		for _, f := range res.Files {
			fmt.Println(filepath.Join(opts.Out, f))
		}
		return nil
	case "installer":
		meta, err := readMeta(ctx, opts)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(opts.Out, 0o755); err != nil {
			return err
		}
		f, err := buildInstaller(ctx, opts, meta)
		if err != nil {
			return err
		}
		fmt.Println(filepath.Join(opts.Out, f))
		return nil
	default:
		return errors.New("--only takes installer or nothing")
	}
}
