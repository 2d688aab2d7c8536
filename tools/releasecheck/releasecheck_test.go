// Package releasecheck checks .goreleaser.yaml with GoReleaser's own
// configuration loader (strict: an unknown or misspelt field fails), so
// `make test` validates the release configuration even where the
// goreleaser binary is not installed (a cold `go install` of it takes
// about 6 minutes on these 2-core machines; this needs a few seconds).
// It is its own module so GoReleaser's many dependencies stay out of the
// suite's go.mod.
package releasecheck

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goreleaser/goreleaser/v2/pkg/config"
)

func TestGoReleaserConfig(t *testing.T) {
	p, err := config.Load("../../.goreleaser.yaml")
	if err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if p.Version != 2 {
		t.Fatalf("version: %d, want 2", p.Version)
	}
	if !slices.Contains(p.Before.Hooks, "make assets") {
		t.Fatalf("before hooks %q: the front-end bundle must be built first", p.Before.Hooks)
	}
	src, err := os.ReadFile("../../internal/platform/version/version.go")
	if err != nil || !strings.Contains(string(src), "\nvar tag string") {
		t.Fatalf("internal/platform/version no longer has the tag variable the ldflags set: %v", err)
	}
	want := map[string]string{"coda": "./cmd/coda", "voyager": "./cmd/voyager", "coda-runner": "./cmd/coda-runner"}
	for _, b := range p.Builds {
		main, ok := want[b.ID]
		if !ok {
			t.Fatalf("unexpected build %q", b.ID)
		}
		delete(want, b.ID)
		if b.Main != main || b.Binary != b.ID {
			t.Fatalf("build %s: main %q binary %q", b.ID, b.Main, b.Binary)
		}
		if !slices.Contains(b.Env, "CGO_ENABLED=0") {
			t.Fatalf("build %s: env %q, want CGO_ENABLED=0 (static binaries)", b.ID, b.Env)
		}
		if len(b.Ldflags) != 1 || !strings.Contains(b.Ldflags[0], "-X github.com/relaywork/suite/internal/platform/version.tag=v{{ .Version }}") {
			t.Fatalf("build %s: ldflags %q do not set the version tag", b.ID, b.Ldflags)
		}
		if !slices.Equal(b.Goos, []string{"linux", "darwin", "windows"}) || !slices.Equal(b.Goarch, []string{"amd64", "arm64"}) ||
			len(b.Ignore) != 1 || b.Ignore[0].Goos != "windows" || b.Ignore[0].Goarch != "arm64" {
			t.Fatalf("build %s: targets %v × %v minus %+v, want linux/darwin amd64+arm64 and windows amd64", b.ID, b.Goos, b.Goarch, b.Ignore)
		}
		if b.ID == "coda-runner" && (len(b.Hooks.Post) == 0 || !strings.Contains(b.Hooks.Post[0].Cmd, "./tools/runnerdist -dir dist/runner")) {
			t.Fatalf("coda-runner: the post hook must fill dist/runner: %+v", b.Hooks.Post)
		}
	}
	if len(want) != 0 {
		t.Fatalf("missing builds: %v", want)
	}
	archives := map[string]config.Archive{}
	for _, a := range p.Archives {
		archives[a.ID] = a
	}
	if a := archives["coda"]; !slices.Contains(a.Formats, "tar.gz") || !hasFile(a, "dist/runner/*", "runner") {
		t.Fatalf("coda archive %+v: want tar.gz with the runner folder", a)
	}
	if a := archives["voyager"]; !slices.Contains(a.Formats, "tar.gz") {
		t.Fatalf("voyager archive %+v", a)
	}
	if a := archives["coda-runner"]; !slices.Equal(a.Formats, []string{"binary"}) || a.NameTemplate != "coda-runner-{{ .Os }}-{{ .Arch }}" {
		t.Fatalf("runner archive %+v: want bare binaries named as the DevMode page links them", a)
	}
	if p.Checksum.Algorithm != "sha256" || p.Checksum.NameTemplate != "checksums.txt" {
		t.Fatalf("checksum %+v, want sha256 in checksums.txt", p.Checksum)
	}
	if p.Changelog.Use != "git" || p.Changelog.Disable == "true" {
		t.Fatalf("changelog %+v", p.Changelog)
	}
}

func hasFile(a config.Archive, src, dst string) bool {
	for _, f := range a.Files {
		if f.Source == src && f.Destination == dst {
			return true
		}
	}
	return false
}

// TestLoaderIsStrict proves the check above would catch a misspelt field.
func TestLoaderIsStrict(t *testing.T) {
	b, err := os.ReadFile("../../.goreleaser.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "  algorithm: sha256", "  algoritm: sha256", 1)
	if _, err := config.LoadReader(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "algoritm") {
		t.Fatalf("a misspelt field loaded: %v", err)
	}
}
