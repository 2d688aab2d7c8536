package runnerdist

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWriteReadVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Write(dir, "v1.0.0", time.Now()); err == nil || !strings.Contains(err.Error(), "no runner build") {
		t.Fatalf("empty folder: %v", err)
	}
	for name, body := range map[string]string{"coda-runner-linux-amd64": "linux", "coda-runner-windows-amd64.exe": "windows", "coda-runner-plan9-386": "ignored", "notes.txt": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Write(dir, "v1.2.3", time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Files) != 2 || m.Files[0].Name != "coda-runner-linux-amd64" || m.Files[0].Size != 5 || m.Files[1].OS != "windows" {
		t.Fatalf("got %+v", m.Files)
	}
	got, err := Read(dir)
	if err != nil || got.Version != "v1.2.3" || !got.Has("coda-runner-windows-amd64.exe") || got.Has("coda-runner-plan9-386") {
		t.Fatalf("read back %+v, %v", got, err)
	}
	if err := VerifyChecksums(dir); err != nil {
		t.Fatal(err)
	}
	// A build replaced without rewriting the manifest is caught.
	if err := os.WriteFile(filepath.Join(dir, "coda-runner-linux-amd64"), []byte("linux, but longer"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "missing or of another size") {
		t.Fatalf("stale manifest: %v", err)
	}
	if err := VerifyChecksums(dir); err == nil {
		t.Fatal("checksums pass for a changed file")
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body string }{
		{"not json", "<html>"},
		{"other format", `{"format":"x","version":"v1"}`},
		{"no version", `{"format":"coda-runner-release","version":""}`},
		{"bad name", `{"format":"coda-runner-release","version":"v1","files":[{"name":"../etc/passwd","os":"linux","arch":"amd64","sha256":"` + strings.Repeat("a", 64) + `"}]}`},
	} {
		if _, err := Parse([]byte(tc.body)); err == nil {
			t.Errorf("%s: parsed", tc.name)
		}
	}
}

func TestRemote(t *testing.T) {
	t.Parallel()
	var version atomic.Value
	version.Store("v1.0.0")
	var fail atomic.Bool
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if fail.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Write([]byte(`{"format":"coda-runner-release","version":"` + version.Load().(string) + `","files":[]}`))
	}))
	defer srv.Close()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	var errs atomic.Int32
	r := &Remote{URL: srv.URL, TTL: time.Minute, Now: func() time.Time { return *clock.Load() }, OnError: func(error) { errs.Add(1) }}
	ctx := context.Background()
	if m := r.Get(ctx); m == nil || m.Version != "v1.0.0" {
		t.Fatalf("first get: %+v", m)
	}
	version.Store("v1.1.0")
	if m := r.Get(ctx); m.Version != "v1.0.0" || hits.Load() != 1 {
		t.Fatalf("within the TTL: %+v after %d fetches", m, hits.Load())
	}
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	r.Get(ctx) // starts a background refresh, answers the stale copy
	deadline := time.Now().Add(10 * time.Second)
	for r.Get(ctx).Version != "v1.1.0" {
		if time.Now().After(deadline) {
			t.Fatal("the manifest was not refreshed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A failing source keeps the last good manifest and reports once.
	fail.Store(true)
	for i := 2; i < 5; i++ {
		next := now.Add(time.Duration(i) * 2 * time.Minute)
		clock.Store(&next)
		before := hits.Load()
		r.Get(ctx)
		for hits.Load() == before && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if m := r.Get(ctx); m == nil || m.Version != "v1.1.0" {
		t.Fatalf("after failures: %+v", m)
	}
	for errs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := errs.Load(); n != 1 {
		t.Fatalf("%d error reports, want 1 per failure streak", n)
	}
}
