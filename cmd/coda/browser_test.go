package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

// TestHomePageInBrowser loads the home page in headless Chromium: the
// harness fails the test on any console error or CSP violation.
func TestHomePageInBrowser(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, nil))
	b := browsertest.New(t)
	b.Navigate(s.URL + "/")
	b.WaitVisible("main h1")
	if got := b.Text("main h1"); got != "Catch the idea before it goes." {
		t.Fatalf("got heading %q, want %q", got, "Catch the idea before it goes.")
	}
	if got := b.Text(".site-header .brand"); !strings.Contains(got, "Coda") {
		t.Fatalf("got brand %q, want Coda", got)
	}
	if got := browsertest.Eval[bool](b, "document.documentElement.classList.contains('js')"); !got {
		t.Fatal("the product script did not run")
	}
	if w := browsertest.Eval[int](b, "document.documentElement.scrollWidth"); w > 1400 {
		t.Fatalf("page is %d px wide", w)
	}
	b.Screenshot(filepath.Join(t.TempDir(), "home.png"))
}

// shotDir is where browser tests save their screenshots: $SCREENSHOT_DIR
// when set (to look at them), else the test's temporary directory.
func shotDir(t *testing.T) string {
	if d := os.Getenv("SCREENSHOT_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}
