// Command assets bundles the front end in web/src into web/dist with esbuild's
// Go API, writes web/dist/manifest.json and enforces the JavaScript budget.
//
// Run it from the repository root after `npm ci` in web/:
//
//	go run ./tools/assets          # build web/dist and report sizes
//	go run ./tools/assets -check   # build in memory, report sizes, write nothing
//
// Entry points are the *.ts files directly inside each product folder of
// web/src (web/src/coda/main.ts, web/src/voyager/main.ts, ...); web/src/shared
// holds modules and CSS that entry points import. CSS imported from an entry
// point is emitted as a sibling bundle with the same logical name and a .css
// extension, so coda/main.ts gives "coda/main.js" and "coda/main.css".
//
// The manifest maps those logical names to the content-hashed files, relative
// to web/dist, for the page renderer in internal/platform/web:
//
//	{"coda/main.css": "coda/main-5XQ3KD2M.css", "coda/main.js": "coda/main-ZP4Q7B6A.js", ...}
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/evanw/esbuild/pkg/api"
)

// jsBudget is the largest gzipped size of a page's JavaScript bundle (DESIGN,
// "Budgets": at most 30 KB of compressed JS per page except the terminal).
const jsBudget = 30 * 1024

// budgetExempt lists the logical names that may exceed jsBudget.
var budgetExempt = map[string]bool{"coda/terminal.js": true}

// ManifestFile is the name of the manifest inside the output directory.
const ManifestFile = "manifest.json"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "assets:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("assets", flag.ContinueOnError)
	fset.SetOutput(stderr)
	webDir := fset.String("web", "web", "front-end `dir` holding package.json, node_modules and src/")
	check := fset.Bool("check", false, "build in memory and report sizes and the budget; write nothing")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	root, err := filepath.Abs(*webDir)
	if err != nil {
		return err
	}
	b, err := build(root, *webDir, stderr)
	if err != nil {
		return err
	}
	over := report(stdout, b)
	if !*check {
		if err := write(filepath.Join(root, "dist"), b); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d files and %s to %s\n", len(b.files), ManifestFile, filepath.Join(*webDir, "dist"))
	}
	if len(over) > 0 {
		return fmt.Errorf("over the %s gzipped JavaScript budget: %s", strings.TrimSpace(kb(jsBudget)), strings.Join(over, ", "))
	}
	return nil
}

// bundle is the result of one build: the output files by their path relative
// to dist, and the manifest.
type bundle struct {
	files    map[string][]byte
	manifest map[string]string // logical name → path relative to dist
}

// build bundles every entry point under root/src; name is root as the user
// gave it, for messages. esbuild's warnings go to stderr.
func build(root, name string, stderr io.Writer) (*bundle, error) {
	if _, err := os.Stat(filepath.Join(root, "node_modules")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing: run npm ci in %s/", filepath.Join(name, "node_modules"), filepath.Clean(name))
		}
		return nil, err
	}
	entries, err := entryPoints(filepath.Join(root, "src"))
	if err != nil {
		return nil, err
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no entry points in %s", filepath.Join(root, "src"))
	}

	res := api.Build(api.BuildOptions{
		AbsWorkingDir:     root,
		EntryPoints:       entries,
		Outbase:           "src",
		Outdir:            "dist",
		EntryNames:        "[dir]/[name]-[hash]",
		AssetNames:        "[dir]/[name]-[hash]",
		Bundle:            true,
		Format:            api.FormatESModule,
		Platform:          api.PlatformBrowser,
		Target:            api.ES2020,
		MinifyWhitespace:  true,
		MinifyIdentifiers: true,
		MinifySyntax:      true,
		Sourcemap:         api.SourceMapNone,
		Charset:           api.CharsetUTF8,
		Metafile:          true,
		Write:             false,
		LogLevel:          api.LogLevelSilent,
	})
	if len(res.Warnings) > 0 {
		for _, m := range api.FormatMessages(res.Warnings, api.FormatMessagesOptions{Kind: api.WarningMessage}) {
			fmt.Fprint(stderr, m)
		}
	}
	if len(res.Errors) > 0 {
		msgs := api.FormatMessages(res.Errors, api.FormatMessagesOptions{Kind: api.ErrorMessage})
		return nil, fmt.Errorf("esbuild failed:\n%s", strings.Join(msgs, ""))
	}

	dist := filepath.Join(root, "dist")
	b := &bundle{files: map[string][]byte{}, manifest: map[string]string{}}
	for _, f := range res.OutputFiles {
		rel, err := filepath.Rel(dist, f.Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("esbuild wrote %s outside %s", f.Path, dist)
		}
		b.files[filepath.ToSlash(rel)] = f.Contents
	}

	// The metafile names each output's entry point and the CSS bundle that
	// esbuild split off it; its paths are relative to AbsWorkingDir.
	var meta struct {
		Outputs map[string]struct {
			EntryPoint string `json:"entryPoint"`
			CSSBundle  string `json:"cssBundle"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal([]byte(res.Metafile), &meta); err != nil {
		return nil, fmt.Errorf("read esbuild metafile: %w", err)
	}
	for out, o := range meta.Outputs {
		if o.EntryPoint == "" {
			continue
		}
		logical := strings.TrimSuffix(strings.TrimPrefix(o.EntryPoint, "src/"), path.Ext(o.EntryPoint))
		ext := path.Ext(out)
		if ext == ".js" || ext == ".mjs" {
			ext = ".js"
		}
		if err := b.add(logical+ext, out); err != nil {
			return nil, err
		}
		if o.CSSBundle != "" {
			if err := b.add(logical+".css", o.CSSBundle); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// add records that the logical name is the output at metafile path out.
func (b *bundle) add(logical, out string) error {
	rel := strings.TrimPrefix(out, "dist/")
	if _, ok := b.files[rel]; !ok {
		return fmt.Errorf("metafile names %s, which esbuild did not output", out)
	}
	if prev, ok := b.manifest[logical]; ok && prev != rel {
		return fmt.Errorf("two outputs for %s: %s and %s", logical, prev, rel)
	}
	b.manifest[logical] = rel
	return nil
}

// entryPoints lists src/<folder>/*.ts, skipping the shared folder and
// declaration and test files, as paths relative to the web folder.
func entryPoints(src string) ([]string, error) {
	dirs, err := os.ReadDir(src)
	if err != nil {
		return nil, err
	}
	var entries []string
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == "shared" || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(src, d.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			n := f.Name()
			if f.IsDir() || !strings.HasSuffix(n, ".ts") || strings.HasSuffix(n, ".d.ts") || strings.HasSuffix(n, ".test.ts") {
				continue
			}
			entries = append(entries, "src/"+d.Name()+"/"+n)
		}
	}
	slices.Sort(entries)
	return entries, nil
}

// report prints every output with its raw and gzipped size and returns the
// logical names of the JavaScript bundles over the budget.
func report(w io.Writer, b *bundle) (over []string) {
	logical := map[string]string{}
	for name, rel := range b.manifest {
		logical[rel] = name
	}
	paths := make([]string, 0, len(b.files))
	for p := range b.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "file\traw\tgzip\tbudget")
	for _, p := range paths {
		raw, gz := len(b.files[p]), gzipSize(b.files[p])
		name := logical[p]
		budget := "-"
		if strings.HasSuffix(p, ".js") {
			switch {
			case budgetExempt[name]:
				budget = "exempt"
			case gz > jsBudget:
				budget = "OVER " + kb(jsBudget)
				over = append(over, fmt.Sprintf("%s (%s)", name, strings.TrimSpace(kb(gz))))
			default:
				budget = "ok"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", path.Join("dist", p), kb(raw), kb(gz), budget)
	}
	tw.Flush()
	return over
}

// gzipSize is the size of p compressed as the server sends it.
func gzipSize(p []byte) int {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	zw.Write(p)
	zw.Close()
	return buf.Len()
}

func kb(n int) string { return fmt.Sprintf("%6.1f KB", float64(n)/1024) }

// write replaces the contents of dist (keeping dot files such as .keep) with
// the bundle and its manifest.
func write(dist string, b *bundle) error {
	old, err := os.ReadDir(dist)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range old {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dist, e.Name())); err != nil {
			return err
		}
	}
	for rel, data := range b.files {
		p := filepath.Join(dist, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	m, err := json.MarshalIndent(b.manifest, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dist, ManifestFile), append(m, '\n'), 0o644)
}
