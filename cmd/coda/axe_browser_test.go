package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

// TestAccessibilityInBrowser runs axe-core on every Coda page, in the
// light and the dark colour scheme, signed out and signed in: no
// violation is allowed.
func TestAccessibilityInBrowser(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"RATE_LIMIT_SCALE": "0", "RUNNER_DOWNLOAD_BASE": "https://example.com/releases/v1"})
	s := apptest.Start(t, run, env)
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	b := browsertest.New(t)
	b.AllowConsoleError("status of 404")

	n := 0
	check := func(name, u string) {
		t.Helper()
		b.Navigate(u)
		b.WaitVisible("main")
		n++
		for _, size := range []struct {
			name          string
			width, height int
			mobile        bool
		}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
			b.Viewport(size.width, size.height, size.mobile)
			for _, scheme := range []string{"light", "dark"} {
				b.ColorScheme(scheme)
				if vs := b.Axe(); len(vs) > 0 {
					var lines []string
					for _, v := range vs {
						lines = append(lines, "  "+v.String())
					}
					t.Errorf("%s (%s, %s, %s): %d axe violation(s):\n%s", name, u, size.name, scheme, len(vs), strings.Join(lines, "\n"))
				}
				b.Screenshot(filepath.Join(shots, "coda-axe-"+strings.ReplaceAll(name, " ", "-")+"-"+size.name+"-"+scheme+".png"))
			}
		}
		b.Viewport(1280, 800, false)
		b.ColorScheme("light")
	}

	check("home signed out", s.URL+"/")
	check("sign-in", s.URL+"/signin")
	check("not found", s.URL+"/nope")

	out, _, err := apptest.Command(t, run, env, "admin", "login-link", "grace@example.com")
	m := ideasLoginLink.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
	check("sign-in confirm", s.URL+"/auth/email/confirm?token="+m[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".avatar")

	check("ideas empty", s.URL+"/ideas")
	b.Type("#capture-input", "Paint the fence blue #home\n")
	b.WaitVisible("#idea-list li.idea:not(.is-pending) .idea-delete")
	check("ideas", s.URL+"/ideas")
	idea := browsertest.Eval[string](b, `document.querySelector("#idea-list .idea-title a").getAttribute("href")`)
	check("idea", s.URL+idea)
	check("deleted ideas", s.URL+"/ideas/deleted")
	check("transfer", s.URL+"/ideas/transfer")
	check("tokens", s.URL+"/settings/tokens")
	check("devmode", s.URL+"/devmode")
	check("devmode pair", s.URL+"/devmode/pair?code=ABCD-EFGH")
	check("account", s.URL+"/account")
	check("home signed in", s.URL+"/")
	t.Logf("axe checked %d Coda pages × 2 colour schemes × desktop and phone", n)
}
