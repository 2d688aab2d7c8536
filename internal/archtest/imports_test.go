package archtest

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/relaywork/suite/"

// TestImportBoundaries enforces DESIGN.md: imports point down (cmd →
// product → platform); the platform never imports a product; the products
// never import each other.
func TestImportBoundaries(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found: %v", err)
	}
	bad, checked, err := violations(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
	if checked < 20 {
		t.Fatalf("checked only %d files; is the walk rooted at the module?", checked)
	}
}

// TestImportBoundariesCatchViolations proves the check fails on a tree
// where the platform imports a product and one product imports the other.
func TestImportBoundariesCatchViolations(t *testing.T) {
	root := t.TempDir()
	write := func(rel, src string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("internal/platform/store/x.go", "package store\nimport _ \""+module+"internal/coda/idea\"\n")
	write("internal/voyager/chat/x.go", "package chat\nimport _ \""+module+"internal/coda\"\n")
	write("internal/coda/idea/x.go", "package idea\nimport _ \""+module+"internal/platform/store\"\n")
	bad, _, err := violations(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 2 {
		t.Fatalf("got %d violations %v, want 2", len(bad), bad)
	}
}

func violations(root string) (bad []string, checked int, err error) {
	rules := []struct {
		from      string // directory prefix, slash-separated, relative to the module root
		forbidden []string
	}{
		{"internal/platform/", []string{"internal/coda", "internal/voyager", "cmd/"}},
		{"internal/coda/", []string{"internal/voyager", "cmd/"}},
		{"internal/voyager/", []string{"internal/coda", "cmd/"}},
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module) {
				continue
			}
			target := strings.TrimPrefix(p, module)
			for _, r := range rules {
				if !strings.HasPrefix(rel, r.from) {
					continue
				}
				for _, forbidden := range r.forbidden {
					f := strings.TrimSuffix(forbidden, "/")
					if target == f || strings.HasPrefix(target, f+"/") {
						bad = append(bad, fmt.Sprintf("%s imports %s: %s must not depend on %s", rel, p, r.from, forbidden))
					}
				}
			}
		}
		return nil
	})
	return bad, checked, err
}
