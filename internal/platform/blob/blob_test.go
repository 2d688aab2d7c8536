package blob_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/relaywork/suite/internal/platform/blob"
)

// TestStores runs the contract on a folder and on S3 (gofakes3, an
// S3-compatible server in the test).
func TestStores(t *testing.T) {
	t.Parallel()
	backend := s3mem.New()
	faker := gofakes3.New(backend)
	srv := httptest.NewServer(faker.Server())
	defer srv.Close()
	if err := backend.CreateBucket("files"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, raw := range map[string]string{
		"folder": "file://" + dir,
		"s3":     "s3://files/voyager?endpoint=" + srv.URL + "&region=eu-west-1",
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, err := blob.Open(raw, blob.Credentials{AccessKeyID: "test", SecretAccessKey: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Get(ctx, "c/u/missing"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("missing: got %v", err)
			}
			if err := st.Put(ctx, "c/u/doc1", []byte("%PDF-1.7 cv")); err != nil {
				t.Fatal(err)
			}
			if b, err := st.Get(ctx, "c/u/doc1"); err != nil || string(b) != "%PDF-1.7 cv" {
				t.Fatalf("get: %q %v", b, err)
			}
			if err := st.Delete(ctx, "c/u/doc1"); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Get(ctx, "c/u/doc1"); !errors.Is(err, blob.ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
			if err := st.Delete(ctx, "c/u/doc1"); err != nil {
				t.Fatalf("delete twice: %v", err)
			}
		})
	}
	// The folder store keeps nothing behind, not even the folders named
	// after the member, while a neighbour's file stays; and it refuses keys
	// that escape it.
	d := &blob.Dir{Path: dir}
	ctx := context.Background()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left in the folder after the last delete: %v", left)
	}
	if err := d.Put(ctx, "c/u/a", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "c/v/b", []byte("b")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "c/u/a"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "c", "u")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("member folder c/u outlived its last file: %v", err)
	}
	if b, err := d.Get(ctx, "c/v/b"); err != nil || string(b) != "b" {
		t.Errorf("neighbour's file: %q %v", b, err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("the store's own folder went: %v", err)
	}
	if err := d.Put(context.Background(), "../escape", []byte("x")); err == nil {
		t.Error("a key escaping the folder was written")
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Error("file written outside the folder")
	}
	for _, bad := range []string{"s3://", "ftp://x/y", "s3://b/p?endpoint=notaurl"} {
		if _, err := blob.Open(bad, blob.Credentials{}); err == nil {
			t.Errorf("Open(%q): no error", bad)
		}
	}
}
