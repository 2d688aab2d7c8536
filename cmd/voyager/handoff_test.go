package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

// handoffRig is a server with PUBLIC_URL set and a way to send requests to
// it under any Host, with or without a cookie, never following redirects.
type handoffRig struct {
	t      *testing.T
	s      *apptest.Server
	public string
}

func newHandoffRig(t *testing.T) *handoffRig {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	public := "http://localhost:" + port
	s := apptest.Start(t, run, voyagerEnv(t, nil, nil, map[string]string{"PUBLIC_URL": public, "PORT": port}))
	return &handoffRig{t: t, s: s, public: public}
}

// get sends GET path to host with the client's cookies for the platform
// (c may be nil) plus cookie (a "name=value" for the custom domain).
func (h *handoffRig) get(c *http.Client, path, host, cookie string) (*http.Response, string) {
	h.t.Helper()
	if c == nil {
		c = &http.Client{}
	}
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequest("GET", h.s.URL+path, nil)
	if host != "" {
		req.Host = host
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := cc.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// begin runs the domain's /auth/handoff/start for a browser signed in on
// the platform as c: it returns the handoff cookie the domain set and the
// token URL the platform redirected to.
func (h *handoffRig) begin(c *http.Client) (cookie string, tokenURL *url.URL) {
	h.t.Helper()
	resp, _ := h.get(nil, "/auth/handoff/start", "beta.example", "")
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || loc.Path != "/c/beta/handoff" || len(loc.Query().Get("state")) != 64 {
		h.t.Fatalf("handoff start on the domain: %d %s %v", resp.StatusCode, loc, resp.Cookies())
	}
	ck := resp.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || strings.Contains(loc.String(), ck.Value) {
		h.t.Fatalf("handoff cookie %+v (the URL must carry only its hash)", ck)
	}
	resp, _ = h.get(c, loc.RequestURI(), "", "")
	tokenURL, _ = url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || tokenURL.Host != "beta.example" || tokenURL.Path != "/auth/handoff" {
		h.t.Fatalf("handoff on the platform: %d %s", resp.StatusCode, tokenURL)
	}
	return ck.Name + "=" + ck.Value, tokenURL
}

// TestSignInOnCustomDomain: the domain's Sign in starts the handoff on the
// domain (binding this browser with a cookie), the member signs in on the
// platform's host and comes back with a one-time token that starts a
// session on the domain.
func TestSignInOnCustomDomain(t *testing.T) {
	t.Parallel()
	h := newHandoffRig(t)
	admin := signIn(t, h.s, "root@example.com", true)
	if r := do(t, admin, "POST", h.s.URL+"/c/beta/join", "", nil); r.status != 200 {
		t.Fatalf("join: %d", r.status)
	}
	// Signed out on the custom domain: the page offers sign-in through the handoff.
	if r := page(t, http.DefaultClient, h.s.URL+"/", "beta.example"); strings.Count(r.body, `href="/auth/handoff/start"`) != 2 {
		t.Fatalf("custom-domain page lacks the handoff sign-in link:\n%s", r.body)
	}
	// Signed out on the platform: sign in first, then back to the handoff.
	_, tokenURL := h.begin(admin)
	cookie, tokenURL2 := h.begin(admin)
	if resp, _ := h.get(nil, "/auth/handoff?"+tokenURL2.RawQuery, "alpha.example", cookie); resp.StatusCode != 404 {
		t.Fatalf("token on an unknown host: got %d", resp.StatusCode)
	}
	resp, _ := h.get(nil, "/auth/handoff?"+tokenURL2.RawQuery, "beta.example", cookie)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if strings.Contains(c.Name, "session") && c.Value != "" {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("handoff: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	pg, body := h.get(nil, "/", "beta.example", session.Name+"="+session.Value)
	if pg.StatusCode != 200 || !strings.Contains(body, "Your conversations") {
		t.Fatalf("signed in on the custom domain: %d\n%s", pg.StatusCode, body)
	}
	if resp, _ := h.get(nil, "/auth/handoff?"+tokenURL2.RawQuery, "beta.example", cookie); resp.StatusCode != 404 && resp.StatusCode != 410 {
		t.Fatalf("token reused: got %d", resp.StatusCode)
	}
	// The first token's cookie was replaced by the second start: refused.
	if resp, _ := h.get(nil, "/auth/handoff?"+tokenURL.RawQuery, "beta.example", cookie); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("token of an earlier start: got %d, want 403", resp.StatusCode)
	}
	// Opening the platform's handoff address directly (no state) starts the trip on the domain.
	resp, _ = h.get(admin, "/c/beta/handoff", "", "")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "http://beta.example/auth/handoff/start" {
		t.Fatalf("handoff without state: %d %s", resp.StatusCode, loc)
	}
}

// TestHandoffTokenOfAnotherBrowserSignsNobodyIn is the login CSRF: the
// attacker runs the handoff in their own browser, stops before spending
// the token and sends the victim the /auth/handoff?token= link. The
// victim's browser (with no handoff cookie, or with one of its own) is not
// signed in as the attacker, and the token is spent.
func TestHandoffTokenOfAnotherBrowserSignsNobodyIn(t *testing.T) {
	t.Parallel()
	h := newHandoffRig(t)
	attacker := signIn(t, h.s, "mallory@example.com", true)
	if r := do(t, attacker, "POST", h.s.URL+"/c/beta/join", "", nil); r.status != 200 {
		t.Fatalf("join: %d", r.status)
	}
	victimCookie, _ := h.begin(signIn(t, h.s, "victim@example.com", true)) // the victim's own, unrelated start
	for name, cookie := range map[string]string{"no handoff cookie": "", "its own handoff cookie": victimCookie} {
		attackerCookie, tokenURL := h.begin(attacker)
		_ = attackerCookie // stays in the attacker's browser
		resp, body := h.get(nil, "/auth/handoff?"+tokenURL.RawQuery, "beta.example", cookie)
		for _, c := range resp.Cookies() {
			if strings.Contains(c.Name, "session") && c.Value != "" {
				t.Fatalf("%s: the victim's browser got a session: %v", name, c)
			}
		}
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "started in another browser") {
			t.Fatalf("%s: got %d, want 403 with an explanation\n%s", name, resp.StatusCode, body)
		}
		// Spent: not even the attacker's own browser can use it now.
		if resp, _ := h.get(nil, "/auth/handoff?"+tokenURL.RawQuery, "beta.example", attackerCookie); resp.StatusCode != 404 {
			t.Fatalf("%s: token after the refusal: %d, want 404", name, resp.StatusCode)
		}
	}
	if !strings.Contains(h.s.Stderr.String(), "handoff refused: token presented by another browser") {
		t.Error("the refusal was not logged")
	}
}
