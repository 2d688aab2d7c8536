package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

// TestArchiveCommand runs `voyager archive` as an operator would: a dry
// run, a real run writing under DATA_DIR/archives, and refused input.
func TestArchiveCommand(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, nil)
	out, _, err := apptest.Command(t, run, env, "archive", "--before", "2026-01-01", "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: 0 conversation(s)") {
		t.Fatalf("archive --dry-run: %q, %v", out, err)
	}
	out, _, err = apptest.Command(t, run, env, "archive", "--before", "2026-01-01")
	if err != nil || !strings.Contains(out, "archived 0 conversation(s)") {
		t.Fatalf("archive: %q, %v", out, err)
	}
	files, _ := filepath.Glob(filepath.Join(env["DATA_DIR"], "archives", "voyager-conversations-before-2026-01-01-*.json"))
	if len(files) != 1 {
		t.Fatalf("archive files: %v", files)
	}
	if b, _ := os.ReadFile(files[0]); !strings.Contains(string(b), `"format":"voyager-archive"`) {
		t.Fatalf("archive file: %s", b)
	}
	for _, args := range [][]string{{"archive"}, {"archive", "--before", "last spring"}, {"archive", "--before", "2999-01-01"}} {
		if _, _, err := apptest.Command(t, run, env, args...); err == nil {
			t.Errorf("%v: got nil error, want a refusal", args)
		}
	}
}
