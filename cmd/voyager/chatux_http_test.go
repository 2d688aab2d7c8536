package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// TestBrandFilesAndColours serves a community's logo from a file beside its
// JSON under a hashed name with a year of caching, and its colours as a
// stylesheet for both schemes.
func TestBrandFilesAndColours(t *testing.T) {
	t.Parallel()
	env := voyagerEnv(t, nil, nil, nil)
	dir := env["COMMUNITIES_DIR"]
	os.WriteFile(filepath.Join(dir, "gamma.json"), []byte(gammaJSON), 0o644)
	os.WriteFile(filepath.Join(dir, "gamma.logo.svg"), []byte(gammaLogo), 0o644)
	s := apptest.Start(t, run, env)
	c := http.DefaultClient

	home := page(t, c, s.URL+"/c/gamma/", "")
	logo := regexp.MustCompile(`<img class="brand-logo" src="(/brand/gamma/logo-[0-9a-f]{12}\.svg)"`).FindStringSubmatch(home.body)
	if logo == nil || !strings.Contains(home.body, `<link rel="icon" href="/brand/gamma/favicon-`) {
		t.Fatalf("the community page links no hashed logo or favicon:\n%s", home.body)
	}
	resp, err := c.Get(s.URL + logo[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != gammaLogo || resp.Header.Get("Content-Type") != "image/svg+xml" ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("logo: %d %v %q", resp.StatusCode, resp.Header, body)
	}
	for _, u := range []string{"/brand/gamma/logo-000000000000.svg", "/brand/nope/logo.svg", "/brand/gamma/gamma.json"} {
		if r := page(t, c, s.URL+u, ""); r.status != 404 {
			t.Errorf("%s: got %d, want 404", u, r.status)
		}
	}
	css := page(t, c, s.URL+"/brand/gamma.css", "")
	if css.status != 200 || !strings.Contains(css.body, "--bg: #f8fafc") || !strings.Contains(css.body, "@media (prefers-color-scheme: dark)") {
		t.Fatalf("brand css: %d %s", css.status, css.body)
	}
	// The community's light page colours do not leak into the dark scheme.
	dark := css.body[strings.Index(css.body, "@media"):]
	if strings.Contains(dark, "#f8fafc") || strings.Contains(dark, "#0f172a") {
		t.Errorf("the dark scheme keeps the light page colours: %s", dark)
	}
}

// TestInvitesSearchAndAdminJoin covers the invite API (create with expiry
// and uses, list with copyable links, revoke), conversation search, and a
// platform admin joining a private community.
func TestInvitesSearchAndAdminJoin(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Talk to your manager about ", "the promotion."}})
	defer ant.Close()
	s := apptest.Start(t, run, voyagerEnv(t, ant, nil, nil))
	admin := signIn(t, s, "root@example.com", true)
	member := signIn(t, s, "mia@example.com", false)

	// A platform admin sees the private community with a Join button.
	r := page(t, admin, s.URL+"/c/beta/", "")
	if r.status != 200 || !strings.Contains(r.body, `id="join"`) {
		t.Fatalf("admin on a private community: %d", r.status)
	}
	if r := page(t, member, s.URL+"/c/beta/", ""); r.status != 404 {
		t.Fatalf("a signed-in outsider got %d, want 404", r.status)
	}
	if r := do(t, admin, "POST", s.URL+"/c/beta/join", "", nil); r.status != 200 {
		t.Fatalf("admin join: %d", r.status)
	}

	// Invites: create, list (with the link), use, revoke.
	r = do(t, admin, "POST", s.URL+"/api/c/beta/invites", "", map[string]any{"max_uses": 2, "days": 7})
	if r.status != 201 {
		t.Fatalf("create invite: %d %s", r.status, r.body)
	}
	created := decode[struct {
		Invite struct {
			ID      string `json:"id"`
			MaxUses int    `json:"max_uses"`
		} `json:"invite"`
		URL string `json:"url"`
	}](t, r)
	if r := do(t, admin, "POST", s.URL+"/api/c/beta/invites", "", map[string]any{"days": 365}); r.status != 400 || !strings.Contains(r.body, `"days"`) {
		t.Errorf("a year-long invite: %d %s", r.status, r.body)
	}
	list := decode[struct {
		Invites []struct {
			ID    string `json:"id"`
			URL   string `json:"url"`
			Uses  int    `json:"uses"`
			State string `json:"state"`
		} `json:"invites"`
	}](t, do(t, admin, "GET", s.URL+"/api/c/beta/invites", "", nil))
	if len(list.Invites) != 1 || list.Invites[0].URL != created.URL || list.Invites[0].State != "active" {
		t.Fatalf("got invites %+v, want the created one with its link %s", list.Invites, created.URL)
	}
	if r := do(t, member, "GET", s.URL+"/api/c/beta/invites", "", nil); r.status != 404 {
		t.Errorf("a non-member listed invites: %d", r.status)
	}
	if r := page(t, admin, s.URL+"/c/beta/invites", ""); r.status != 200 || !strings.Contains(r.body, created.URL) || !strings.Contains(r.body, "0 of 2 uses") {
		t.Errorf("invites page: %d", r.status)
	}
	path := created.URL[len(s.URL):]
	if r := do(t, member, "POST", s.URL+path, "", nil); r.status != 200 {
		t.Fatalf("accept invite: %d", r.status)
	}
	if r := page(t, member, s.URL+"/c/beta/", ""); r.status != 200 || !strings.Contains(r.body, "Your conversations") {
		t.Fatalf("member after the invite: %d", r.status)
	}
	if r := do(t, member, "DELETE", s.URL+"/api/c/beta/invites/"+created.Invite.ID, "", nil); r.status != 404 {
		t.Errorf("a member revoked an invite: %d", r.status)
	}
	if r := do(t, admin, "DELETE", s.URL+"/api/c/beta/invites/"+created.Invite.ID, "", nil); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	late := signIn(t, s, "late@example.com", false)
	if r := do(t, late, "POST", s.URL+path, "", nil); r.status != 404 {
		t.Errorf("a revoked invite let someone in: %d", r.status)
	}

	// Search by title and text, in the API and on the page.
	do(t, member, "POST", s.URL+"/c/beta/conversations", "", nil)
	convs := decode[struct {
		Conversations []struct{ ID string } `json:"conversations"`
	}](t, do(t, member, "GET", s.URL+"/api/c/beta/conversations", "", nil))
	if len(convs.Conversations) != 1 {
		t.Fatalf("conversations: %+v", convs)
	}
	id := convs.Conversations[0].ID
	stream(t, member, s.URL+"/api/c/beta/messages/"+decode[struct {
		Answer struct{ ID string } `json:"answer"`
	}](t, do(t, member, "POST", s.URL+"/api/c/beta/conversations/"+id+"/messages", "", map[string]string{"content": "Should I ask for a promotion?"})).Answer.ID+"/stream")
	found := decode[struct {
		Conversations []struct{ ID, Snippet string } `json:"conversations"`
	}](t, do(t, member, "GET", s.URL+"/api/c/beta/conversations?q=MANAGER", "", nil))
	if len(found.Conversations) != 1 || !strings.Contains(found.Conversations[0].Snippet, "Talk to your manager") {
		t.Fatalf("search: %+v", found)
	}
	if r := page(t, member, s.URL+"/c/beta/?q=promotion", ""); !strings.Contains(r.body, "Should I ask for a promotion?") {
		t.Errorf("search page lacks the conversation")
	}
	if r := page(t, member, s.URL+"/c/beta/?q=salsa", ""); !strings.Contains(r.body, "No conversation mentions") {
		t.Errorf("empty search page lacks its message")
	}
	// "New conversation" twice leaves one empty conversation, not two.
	do(t, member, "POST", s.URL+"/c/beta/conversations", "", nil)
	do(t, member, "POST", s.URL+"/c/beta/conversations", "", nil)
	all := decode[struct {
		Conversations []struct{ ID string } `json:"conversations"`
	}](t, do(t, member, "GET", s.URL+"/api/c/beta/conversations", "", nil))
	if len(all.Conversations) != 2 {
		t.Errorf("got %d conversations after two New conversation, want 2 (one with messages, one empty)", len(all.Conversations))
	}

	// The signed-in home lists the member's communities.
	if r := page(t, member, s.URL+"/", ""); !strings.Contains(r.body, `id="my-communities"`) || !strings.Contains(r.body, "Beta Alumni") {
		t.Errorf("home does not list my communities")
	}
}

// TestValidateReportsAccessibilityAndLogoFiles: `communities validate`
// names a palette that cannot reach WCAG AA and a logo file that is not
// there, each with its fix.
func TestValidateReportsAccessibilityAndLogoFiles(t *testing.T) {
	t.Parallel()
	env := voyagerEnv(t, nil, nil, nil)
	os.WriteFile(filepath.Join(env["COMMUNITIES_DIR"], "gamma.json"), []byte(strings.NewReplacer(
		`"logo": "gamma.logo.svg"`, `"logo": "missing.svg"`,
		`"text": "#0f172a"`, `"text": "#cbd5e1"`).Replace(gammaJSON)), 0o644)
	out, _, err := apptest.Command(t, run, env, "communities", "validate", env["COMMUNITIES_DIR"])
	if err == nil {
		t.Fatal("validate passed a palette below AA")
	}
	for _, want := range []string{
		"gamma.json: branding.colors.text: text #cbd5e1 on background #f8fafc has contrast",
		"below the 4.5:1 WCAG AA needs; fix:",
		"gamma.json: branding.logo: cannot read missing.svg",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}
