package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newWebDir makes a minimal front-end folder: an empty node_modules and the
// given files under it.
func newWebDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "node_modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuildWritesManifest(t *testing.T) {
	t.Parallel()
	dir := newWebDir(t, map[string]string{
		"src/shared/base.css":  "body { color: red }\n",
		"src/shared/greet.ts":  "export const greet = (s: string): string => `hi ${s}`;\n",
		"src/app/main.ts":      "import '../shared/base.css';\nimport { greet } from '../shared/greet';\nconsole.log(greet('x'));\n",
		"src/app/types.d.ts":   "declare const x: number;\n",
		"src/app/page.ts":      "document.documentElement.dataset.page = 'yes';\n",
		"src/shared/not-an.ts": "export {};\n",
		"dist/.keep":           "",
		"dist/stale-AAAA.js":   "old",
	})
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-web", dir}, &out, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}

	data, err := os.ReadFile(filepath.Join(dir, "dist", ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"app/main.js", "app/main.css", "app/page.js"} {
		rel, ok := m[name]
		if !ok {
			t.Errorf("manifest has no %q: %v", name, m)
			continue
		}
		if !strings.HasPrefix(rel, "app/") || rel == name {
			t.Errorf("manifest[%q] = %q, want a hashed path under app/", name, rel)
		}
		if _, err := os.Stat(filepath.Join(dir, "dist", filepath.FromSlash(rel))); err != nil {
			t.Errorf("output of %s: %v", name, err)
		}
	}
	if len(m) != 3 {
		t.Errorf("got %d manifest entries, want 3: %v", len(m), m)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", "stale-AAAA.js")); !os.IsNotExist(err) {
		t.Errorf("stale output survived the build: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", ".keep")); err != nil {
		t.Errorf(".keep was removed: %v", err)
	}
	if !strings.Contains(out.String(), "gzip") {
		t.Errorf("no size report in output:\n%s", out.String())
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	// 64 KB of random hex compresses to about 32 KB: over the budget.
	noise := make([]byte, 32*1024)
	rand.Read(noise)
	big := "console.log(" + `"` + hex.EncodeToString(noise) + `"` + ");\n"
	dir := newWebDir(t, map[string]string{
		"src/app/main.ts":      big,
		"src/coda/terminal.ts": big,
	})
	var out bytes.Buffer
	err := run(context.Background(), []string{"-web", dir, "-check"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "app/main.js") {
		t.Fatalf("got error %v, want one naming app/main.js over the budget\n%s", err, out.String())
	}
	if strings.Contains(err.Error(), "coda/terminal.js") {
		t.Errorf("the terminal bundle is exempt, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dist", ManifestFile)); !os.IsNotExist(err) {
		t.Errorf("-check wrote a manifest: %v", err)
	}
}

func TestMissingNodeModules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	err := run(context.Background(), []string{"-web", dir}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "run npm ci in") {
		t.Fatalf("got %v, want a hint to run npm ci", err)
	}
}
