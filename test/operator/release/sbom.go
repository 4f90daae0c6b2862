package main

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// CycloneDX is the subset of a CycloneDX 1.5 BOM that the release writes.
type CycloneDX struct {
	BOMFormat    string      `json:"bomFormat"`
	SpecVersion  string      `json:"specVersion"`
	SerialNumber string      `json:"serialNumber"`
	Version      int         `json:"version"`
	Metadata     BOMMetadata `json:"metadata"`
	Components   []Component `json:"components"`
}

// BOMMetadata says what the BOM describes.
type BOMMetadata struct {
	Timestamp string    `json:"timestamp"`
	Component Component `json:"component"`
}

// Component is one module.
type Component struct {
	BOMRef     string     `json:"bom-ref"`
	Type       string     `json:"type"`
	Name       string     `json:"name"`
	Version    string     `json:"version"`
	PURL       string     `json:"purl"`
	Properties []Property `json:"properties,omitempty"`
}

// Property is a name/value pair of a component.
type Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// buildSBOM writes a CycloneDX BOM of the modules linked into the binary of
// the first platform, read from the build information the Go linker embeds
// (what `go version -m` prints): the module graph as built, not as declared.
func buildSBOM(_ context.Context, opts Options, meta Meta, res *Result) (string, error) {
	binary := filepath.Join(opts.Out, res.Binaries[opts.Platforms[0]])
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return "", fmt.Errorf("reading the build information of %s: %w", binary, err)
	}
	main := Component{
		BOMRef: purl(info.Main.Path, meta.Version), Type: "application", Name: info.Main.Path,
		Version: meta.Version, PURL: purl(info.Main.Path, meta.Version),
		Properties: []Property{
			{Name: "go:toolchain", Value: info.GoVersion},
			{Name: "vcs:revision", Value: meta.Revision},
		},
	}
	for _, s := range info.Settings {
		if s.Key == "GOOS" || s.Key == "GOARCH" || s.Key == "CGO_ENABLED" || s.Key == "-ldflags" || s.Key == "-trimpath" {
			main.Properties = append(main.Properties, Property{Name: "go:build:" + s.Key, Value: s.Value})
		}
	}
	bom := CycloneDX{
		BOMFormat: "CycloneDX", SpecVersion: "1.5", Version: 1,
		SerialNumber: serialNumber(meta.Revision),
		Metadata:     BOMMetadata{Timestamp: meta.Created.Format(time.RFC3339), Component: main},
		Components:   []Component{},
	}
	for _, d := range info.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		c := Component{BOMRef: purl(m.Path, m.Version), Type: "library", Name: m.Path, Version: m.Version, PURL: purl(m.Path, m.Version)}
		if m.Sum != "" {
			c.Properties = append(c.Properties, Property{Name: "go:module:sum", Value: m.Sum})
		}
		if d.Replace != nil {
			c.Properties = append(c.Properties, Property{Name: "go:module:replaces", Value: d.Path + "@" + d.Version})
		}
		bom.Components = append(bom.Components, c)
	}
	b, err := json.MarshalIndent(bom, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(opts.Out, SBOMName), append(b, '\n'), 0o644); err != nil {
		return "", err
	}
	return SBOMName, nil
}

// purl is a module's package URL.
func purl(path, version string) string { return "pkg:golang/" + path + "@" + version }

// serialNumber is a UUID (version 5 layout) derived from the revision, so
// that the BOM of one commit is always the same.
func serialNumber(revision string) string {
	h := sha256.Sum256([]byte("endpoints-controller sbom " + revision))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
