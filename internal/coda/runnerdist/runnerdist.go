// Package runnerdist is the folder of runner builds that a release fills
// and coda serves on its DevMode page: one static binary per platform
// (coda-runner-OS-ARCH, .exe on Windows), checksums.txt in sha256sum's
// format, and latest.json, the manifest that names the runner release and
// every file with its size and SHA-256. The manifest's version is what the
// DevMode page compares a connected runner with.
package runnerdist

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// File names in the folder besides the binaries.
const (
	ManifestName  = "latest.json"
	ChecksumsName = "checksums.txt"
	// Format is the manifest's "format" field.
	Format = "coda-runner-release"
)

// Platform is one supported runner build.
type Platform struct {
	OS, Arch string
	Label    string // shown on the download link
}

// Platforms are the builds a release makes, in the order the page lists them.
var Platforms = []Platform{
	{"darwin", "arm64", "macOS (Apple silicon)"},
	{"darwin", "amd64", "macOS (Intel)"},
	{"linux", "amd64", "Linux (x86-64)"},
	{"linux", "arm64", "Linux (ARM64)"},
	{"windows", "amd64", "Windows (x86-64, pairing only for now)"},
}

// BinaryName is the file name of the runner build for goos/goarch.
func BinaryName(goos, goarch string) string {
	n := "coda-runner-" + goos + "-" + goarch
	if goos == "windows" {
		n += ".exe"
	}
	return n
}

// File is one runner build in the manifest.
type File struct {
	Name   string `json:"name"`
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Label is the file's platform as people read it.
func (f File) Label() string {
	for _, p := range Platforms {
		if p.OS == f.OS && p.Arch == f.Arch {
			return p.Label
		}
	}
	return f.OS + "/" + f.Arch
}

// Manifest is latest.json.
type Manifest struct {
	Format    string    `json:"format"`
	Version   string    `json:"version"`
	Published time.Time `json:"published"`
	Files     []File    `json:"files"`
}

// Validate checks a manifest read from disk or from RUNNER_DOWNLOAD_BASE.
func (m *Manifest) Validate() error {
	if m.Format != Format {
		return fmt.Errorf("format is %q, want %q", m.Format, Format)
	}
	if strings.TrimSpace(m.Version) == "" {
		return errors.New("version is empty")
	}
	for _, f := range m.Files {
		if f.Name != BinaryName(f.OS, f.Arch) || len(f.SHA256) != 64 {
			return fmt.Errorf("file %q: name must be coda-runner-OS-ARCH and sha256 64 hex digits", f.Name)
		}
	}
	return nil
}

// Has reports whether name is a file the manifest lists.
func (m *Manifest) Has(name string) bool {
	for _, f := range m.Files {
		if f.Name == name {
			return true
		}
	}
	return false
}

// Write scans dir for runner builds and (re)writes checksums.txt and
// latest.json naming version. Binaries of unknown platforms are ignored.
func Write(dir, version string, now time.Time) (*Manifest, error) {
	m := &Manifest{Format: Format, Version: version, Published: now.UTC().Truncate(time.Second)}
	for _, p := range Platforms {
		name := BinaryName(p.OS, p.Arch)
		f, err := os.Open(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		m.Files = append(m.Files, File{Name: name, OS: p.OS, Arch: p.Arch, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	if len(m.Files) == 0 {
		return nil, fmt.Errorf("%s holds no runner build (coda-runner-OS-ARCH)", dir)
	}
	var sums bytes.Buffer
	for _, f := range m.Files {
		fmt.Fprintf(&sums, "%s  %s\n", f.SHA256, f.Name)
	}
	if err := writeAtomic(filepath.Join(dir, ChecksumsName), sums.Bytes()); err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	if err := writeAtomic(filepath.Join(dir, ManifestName), append(b, '\n')); err != nil {
		return nil, err
	}
	return m, nil
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Read reads and checks dir's latest.json, and that every file it lists is
// there with the size it says.
func Read(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, err
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, ManifestName), err)
	}
	for _, f := range m.Files {
		fi, err := os.Stat(filepath.Join(dir, f.Name))
		if err != nil || fi.Size() != f.Size {
			return nil, fmt.Errorf("%s lists %s, which is missing or of another size: run the release's runnerdist step again", filepath.Join(dir, ManifestName), f.Name)
		}
	}
	return m, nil
}

// Parse decodes and checks a manifest.
func Parse(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("not a runner manifest: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// VerifyChecksums checks every line of dir's checksums.txt against the
// files; a release test and operators (`sha256sum -c`) use the same file.
func VerifyChecksums(dir string) error {
	f, err := os.Open(filepath.Join(dir, ChecksumsName))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			return fmt.Errorf("checksums.txt: bad line %q", sc.Text())
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			return fmt.Errorf("%s: checksum mismatch", name)
		}
		n++
	}
	if n == 0 {
		return errors.New("checksums.txt is empty")
	}
	return sc.Err()
}

// Remote is a manifest fetched from RUNNER_DOWNLOAD_BASE/latest.json and
// kept for TTL; a failed refresh keeps the last good one.
type Remote struct {
	URL    string
	Client *http.Client
	TTL    time.Duration
	Now    func() time.Time
	// OnError is told about a failed fetch (once per failure streak).
	OnError func(error)

	mu         sync.Mutex
	m          *Manifest
	fetched    time.Time
	refreshing bool
	failing    bool
}

// Get returns the manifest, fetching it on first use (waiting at most the
// client's timeout) and refreshing it in the background once stale. It
// returns nil until one fetch has succeeded.
func (r *Remote) Get(ctx context.Context) *Manifest {
	now := r.now()
	r.mu.Lock()
	if r.fetched.IsZero() {
		r.mu.Unlock()
		r.refresh(ctx)
		r.mu.Lock()
	} else if now.Sub(r.fetched) >= r.ttl() && !r.refreshing {
		r.refreshing = true
		go r.refresh(context.WithoutCancel(ctx))
	}
	defer r.mu.Unlock()
	return r.m
}

func (r *Remote) refresh(ctx context.Context) {
	m, err := r.fetch(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshing = false
	r.fetched = r.now()
	if err != nil {
		if !r.failing && r.OnError != nil {
			r.OnError(err)
		}
		r.failing = true
		return
	}
	r.failing = false
	r.m = m
}

func (r *Remote) fetch(ctx context.Context) (*Manifest, error) {
	c := r.Client
	if c == nil {
		c = &http.Client{Timeout: 3 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch %s: %s", r.URL, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", r.URL, err)
	}
	m, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.URL, err)
	}
	return m, nil
}

func (r *Remote) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Remote) ttl() time.Duration {
	if r.TTL > 0 {
		return r.TTL
	}
	return 10 * time.Minute
}

// SortFiles orders files as Platforms lists them.
func SortFiles(fs []File) {
	idx := func(f File) int {
		for i, p := range Platforms {
			if p.OS == f.OS && p.Arch == f.Arch {
				return i
			}
		}
		return len(Platforms)
	}
	sort.SliceStable(fs, func(i, j int) bool { return idx(fs[i]) < idx(fs[j]) })
}
