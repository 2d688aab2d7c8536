package main

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// gammaJSON is a public community with its own light page colours and a
// logo file beside its JSON (as Acme ships).
const gammaJSON = `{
  "id": "gamma", "name": "Gamma Guild", "description": "A public test community with its own colours.", "visibility": "public",
  "branding": {"logo": "gamma.logo.svg", "favicon": "gamma.logo.svg", "colors": {"primary": "#0f766e", "accent": "#e11d48", "background": "#f8fafc", "text": "#0f172a"}},
  "coach": {"name": "Gus", "systemPrompt": "You are Gus.", "starterQuestions": ["What should I learn next?"]},
  "limits": {"messagesPerDay": 0}
}`

const gammaLogo = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" rx="2" fill="#0f766e"/></svg>`

// TestAccessibilityInBrowser runs axe-core on every Voyager page, in the
// light and the dark colour scheme, signed out and signed in, on the
// platform's host, on a community's own domain and on an unknown host:
// no violation is allowed. It also checks what the pages must say there
// (branded sign-in, neutral unknown host, logo files).
func TestAccessibilityInBrowser(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Ask with **numbers**: your market rate.\n\n```go\nfmt.Println(\"raise\") // ask\n```\n\n| step | what |\n|---|---|\n| 1 | research |\n"}})
	defer ant.Close()
	env := voyagerEnv(t, ant, nil, nil)
	dir := env["COMMUNITIES_DIR"]
	os.WriteFile(filepath.Join(dir, "gamma.json"), []byte(gammaJSON), 0o644)
	os.WriteFile(filepath.Join(dir, "gamma.logo.svg"), []byte(gammaLogo), 0o644)
	// Beta (private, on beta.example) gets Acme-like colours too.
	os.WriteFile(filepath.Join(dir, "beta.json"), []byte(strings.Replace(betaJSON, `"branding": {"domains": ["beta.example"]}`,
		`"branding": {"domains": ["beta.example"], "colors": {"primary": "#0f766e", "background": "#f8fafc", "text": "#0f172a"}}`, 1)), 0o644)
	s := apptest.Start(t, run, env)
	port := s.URL[strings.LastIndex(s.URL, ":"):]
	domain := "http://beta.example" + port
	unknown := "http://other.example" + port
	shots := screenshotDir(t)

	b := browsertest.New(t, browsertest.MapHosts("beta.example", "other.example"))
	// Error pages load with their status; Chromium logs those as errors.
	b.AllowConsoleError("status of 404")
	b.AllowConsoleError("status of 503")
	// Plain http on a name other than localhost: Chromium ignores COOP (production is https).
	b.AllowConsoleError("Cross-Origin-Opener-Policy header has been ignored")

	var pages []string
	check := func(name, u string) {
		t.Helper()
		b.Navigate(u)
		b.WaitVisible("main")
		pages = append(pages, name)
		// Desktop and phone, light and dark.
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
				if size.mobile {
					noOverflow(t, b, name)
				}
				b.Screenshot(filepath.Join(shots, "axe-"+fileName(name)+"-"+size.name+"-"+scheme+".png"))
			}
		}
		b.Viewport(1280, 800, false)
		b.ColorScheme("light")
	}

	// Signed out.
	check("landing", s.URL+"/")
	check("sign-in", s.URL+"/signin")
	check("community signed out", s.URL+"/c/alpha/")
	check("branded community signed out", s.URL+"/c/gamma/")
	check("not found", s.URL+"/c/alpha/nope")
	check("custom domain signed out", domain+"/")
	check("custom domain sign-in", domain+"/signin")
	// The sign-in a custom domain sends to wears the community's brand.
	check("branded sign-in", s.URL+"/signin?next="+url.QueryEscape("/c/beta/handoff"))
	if got := b.Text(".site-header .brand"); !strings.Contains(got, "Beta Alumni") {
		t.Errorf("the sign-in page for beta's domain shows brand %q, want Beta Alumni", got)
	}
	check("unknown host", unknown+"/")
	if got := b.Text("main"); strings.Contains(got, "branding.domains") || browsertest.Eval[int](b, `document.querySelectorAll("a[href]:not(.skip-link)").length`) != 0 {
		t.Errorf("the unknown-host page shows operator instructions or links: %q", got)
	}

	// Signed in as a platform admin.
	out, _, err := apptest.Command(t, run, s.Env, "admin", "login-link", "root@example.com", "--role", "admin")
	m := loginToken.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".avatar")
	b.Navigate(s.URL + "/c/alpha/")
	b.Click("#join")
	b.WaitVisible("#new-conversation")
	b.Navigate(s.URL + "/c/gamma/")
	b.Click("#join")
	b.Click("button.starter")
	b.WaitEval("answer", `(document.querySelector("#messages li.msg-assistant") || {dataset: {}}).dataset.status || ""`, "complete")
	gammaChat := browsertest.Eval[string](b, "location.href")
	if logo := browsertest.Eval[string](b, `document.querySelector(".brand-logo").getAttribute("src")`); !regexp.MustCompile(`^/brand/gamma/logo-[0-9a-f]{12}\.svg$`).MatchString(logo) {
		t.Errorf("got header logo %q, want the hashed file URL", logo)
	}
	check("home signed in", s.URL+"/")
	if got := b.Text("#my-communities"); !strings.Contains(got, "Alpha Careers") || !strings.Contains(got, "Gamma Guild") {
		t.Errorf("my communities: %q", got)
	}
	check("community member", s.URL+"/c/alpha/")
	check("branded community member", s.URL+"/c/gamma/")
	check("conversation search", s.URL+"/c/gamma/?q=learn")
	if got := b.Text(".conversation-cards"); !strings.Contains(got, "What should I learn next?") {
		t.Errorf("search results: %q", got)
	}
	check("chat", gammaChat)
	check("admin may join a private community", s.URL+"/c/beta/")
	b.Click("#join")
	b.WaitVisible("#manage-invites")
	b.Click("#manage-invites")
	b.Click("#create-invite")
	b.WaitVisible(".invite-url")
	check("invites", browsertest.Eval[string](b, "location.href"))
	check("account", s.URL+"/account")

	// Maintenance: the page's button leads somewhere that works.
	if _, _, err := apptest.Command(t, run, s.Env, "maintenance", "on"); err != nil {
		t.Fatal(err)
	}
	// A visitor (not the signed-in operator, who bypasses the switch).
	b2 := browsertest.New(t)
	b2.AllowConsoleError("status of 503")
	b2.Navigate(s.URL + "/c/alpha/?fresh")
	b2.WaitVisible(".error-page")
	for _, scheme := range []string{"light", "dark"} {
		b2.ColorScheme(scheme)
		if vs := b2.Axe(); len(vs) > 0 {
			t.Errorf("maintenance page (%s): %v", scheme, vs)
		}
	}
	href := browsertest.Eval[string](b2, `document.querySelector(".error-page a.btn").getAttribute("href")`)
	if href != "/signin" {
		t.Errorf("the maintenance page's button goes to %q, want /signin (which stays open)", href)
	}
	t.Logf("axe found no violations on %d Voyager pages × 2 colour schemes × desktop and phone (plus maintenance)", len(pages))
}

func fileName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, strings.ToLower(s))
}
