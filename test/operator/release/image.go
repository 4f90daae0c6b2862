package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// The image's user, entrypoint and files.
const (
	// ImageUser is the non-root user the image runs as, distroless's
	// "nonroot" (65532), numeric so that runAsNonRoot can check it.
	ImageUser = "65532:65532"
	// ImageBinary is the binary's path in the image, the entrypoint.
	ImageBinary = "/endpoints-controller"
	// ImageCACertificates is where Go (and most TLS stacks) look for the
	// system's CA certificates on Linux.
	ImageCACertificates = "/etc/ssl/certs/ca-certificates.crt"
)

// ImageLabels are the image's OCI labels (annotation keys of the image spec).
func ImageLabels(meta Meta) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "endpoints-controller",
		"org.opencontainers.image.description": "Writes core/v1 Endpoints for every Service with a selector",
		"org.opencontainers.image.source":      "https://github.com/kube-endpoints/endpoints-controller",
		"org.opencontainers.image.url":         "https://github.com/kube-endpoints/endpoints-controller",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     meta.Version,
		"org.opencontainers.image.revision":    meta.Revision,
		"org.opencontainers.image.created":     meta.Created.Format(time.RFC3339),
	}
}

// buildImage writes the multi-architecture image as an OCI archive: a tar of
// an OCI image layout whose index.json names the image index of all
// platforms, annotated with the image's name for containerd (`ctr import`,
// `kind load image-archive`) and Docker (`docker load`, which reads OCI
// archives since Docker 25). Every image is an empty base plus two layers:
// the CA certificates with /etc/passwd and /tmp, shared by all platforms, and
// the platform's static binary.
func buildImage(_ context.Context, opts Options, meta Meta, res *Result) (string, error) {
	base, err := baseLayer(meta.Created)
	if err != nil {
		return "", err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range opts.Platforms {
		img, platform, err := platformImage(filepath.Join(opts.Out, res.Binaries[p]), p, base, meta)
		if err != nil {
			return "", err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: platform},
		})
	}
	idx = mutate.Annotations(idx, ImageLabels(meta)).(v1.ImageIndex)

	dir, err := os.MkdirTemp(opts.Out, ".image-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return "", fmt.Errorf("writing the image layout: %w", err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		// containerd and Docker name the imported image after this.
		"io.containerd.image.name": normalizedName(opts.ImageRepo) + ":" + meta.Version,
		// The OCI spec's tag of the entry.
		"org.opencontainers.image.ref.name": meta.Version,
	})); err != nil {
		return "", fmt.Errorf("writing the image layout: %w", err)
	}
	name := ImageArchiveName(meta.Version)
	if err := tarDir(dir, filepath.Join(opts.Out, name), meta.Created); err != nil {
		return "", err
	}
	return name, nil
}

// platformImage is the image of one platform: base, the binary, the config.
func platformImage(binary, platform string, base v1.Layer, meta Meta) (v1.Image, *v1.Platform, error) {
	goos, arch, _ := strings.Cut(platform, "/")
	p := &v1.Platform{OS: goos, Architecture: arch}
	if arch == "arm64" {
		p.Variant = "v8" // what registries and runtimes expect of arm64
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, nil, err
	}
	binLayer, err := layerOf([]tarEntry{{name: strings.TrimPrefix(ImageBinary, "/"), mode: 0o755, data: bin}}, meta.Created)
	if err != nil {
		return nil, nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: base, History: v1.History{
			Created: v1.Time{Time: meta.Created}, CreatedBy: "release: CA certificates, /etc/passwd, /tmp", Comment: "base",
		}},
		mutate.Addendum{Layer: binLayer, History: v1.History{
			Created: v1.Time{Time: meta.Created}, CreatedBy: "release: go build -trimpath ./cmd/endpoints-controller (CGO_ENABLED=0)",
		}})
	if err != nil {
		return nil, nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: meta.Created}
	cf.Author = "endpoints-controller release"
	cf.Config.User = ImageUser
	cf.Config.Entrypoint = []string{ImageBinary}
	cf.Config.Cmd = nil
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"SSL_CERT_FILE=" + ImageCACertificates}
	cf.Config.Labels = ImageLabels(meta)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, nil, err
	}
	img = mutate.Annotations(img, ImageLabels(meta)).(v1.Image)
	return img, p, nil
}

// baseLayer holds what the static binary needs around it: Mozilla's CA
// certificates (from golang.org/x/crypto/x509roots/fallback, so the image
// does not depend on the build machine), /etc/passwd and /etc/group naming the
// non-root user, and a world-writable /tmp.
func baseLayer(created time.Time) (v1.Layer, error) {
	var certs bytes.Buffer
	for root := range bundle.Roots() {
		if root.Constraint != nil {
			// A root with a distrust date cannot be expressed in a PEM file;
			// leave it out rather than trust it without the constraint.
			continue
		}
		if err := pem.Encode(&certs, &pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate}); err != nil {
			return nil, err
		}
	}
	return layerOf([]tarEntry{
		{name: "etc/", mode: fs.ModeDir | 0o755},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/ssl/", mode: fs.ModeDir | 0o755},
		{name: "etc/ssl/certs/", mode: fs.ModeDir | 0o755},
		{name: strings.TrimPrefix(ImageCACertificates, "/"), mode: 0o644, data: certs.Bytes()},
		{name: "home/", mode: fs.ModeDir | 0o755},
		{name: "home/nonroot/", mode: fs.ModeDir | 0o700, uid: 65532},
		{name: "tmp/", mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}, created)
}

type tarEntry struct {
	name string
	mode fs.FileMode
	uid  int
	data []byte
}

// layerOf is an OCI layer (gzip) of entries, with fixed times and owners so
// that the same input gives the same digest.
func layerOf(entries []tarEntry, created time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: int64(e.mode.Perm()), ModTime: created, Uid: e.uid, Gid: e.uid,
			Typeflag: tar.TypeReg, Size: int64(len(e.data)), Format: tar.FormatPAX,
		}
		if e.mode&fs.ModeSticky != 0 {
			h.Mode |= 0o1000
		}
		if e.mode.IsDir() {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// tarDir writes the files under dir into the tar archive out, sorted, with
// fixed times and owners.
func tarDir(dir, out string, created time.Time) error {
	var paths []string
	if err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			paths = append(paths, path)
		}
		return nil
	}); err != nil {
		return err
	}
	slices.Sort(paths)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, path := range paths {
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: created, Mode: 0o644, Typeflag: tar.TypeReg, Size: fi.Size()}
		if fi.IsDir() {
			h.Name += "/"
			h.Mode, h.Typeflag, h.Size = 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.IsDir() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// normalizedName is repo as containerd and Docker spell it in full:
// "endpoints-controller" is "docker.io/library/endpoints-controller".
func normalizedName(repo string) string {
	first, rest, ok := strings.Cut(repo, "/")
	switch {
	case !ok:
		return "docker.io/library/" + repo
	case strings.ContainsAny(first, ".:") || first == "localhost":
		return repo
	default:
		return "docker.io/" + first + "/" + rest
	}
}
