package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

// freePort returns a port that was free a moment ago: the OIDC redirect URI
// is built from PUBLIC_URL, so the test must know the port before starting.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startMockOIDC starts a real OpenID Connect provider on loopback.
func startMockOIDC(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

type browserish struct {
	t   *testing.T
	c   *http.Client
	url string
}

func newBrowserish(t *testing.T, base string, follow bool) *browserish {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	if !follow {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &browserish{t: t, c: c, url: base}
}

func (b *browserish) do(method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	target := path
	if strings.HasPrefix(path, "/") {
		target = b.url + path
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func (b *browserish) session() map[string]any {
	b.t.Helper()
	resp, body := b.do("GET", "/api/auth/session", nil, nil)
	if resp.StatusCode != 200 {
		b.t.Fatalf("GET /api/auth/session: %d %s", resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		b.t.Fatalf("session JSON %q: %v", body, err)
	}
	return out
}

// TestSignInOverHTTP drives the sign-in routes of the real binary: the
// page lists the configured methods, a bad address is refused, the whole
// OpenID Connect code flow against a real provider lands on a safe next
// path, unsafe next paths are ignored, sign out everywhere ends the
// session, cross-site posts are refused and sign-in is rate limited.
func TestSignInOverHTTP(t *testing.T) {
	t.Parallel()
	m := startMockOIDC(t)
	port := freePort(t)
	env := apptest.BaseEnv(t, map[string]string{
		"PORT":               port,
		"PUBLIC_URL":         "http://127.0.0.1:" + port,
		"EMAIL_SERVER":       "stream",
		"OIDC_ISSUER":        m.Issuer(),
		"OIDC_CLIENT_ID":     m.ClientID,
		"OIDC_CLIENT_SECRET": m.ClientSecret,
		"OIDC_NAME":          "Acme SSO",
	})
	s := apptest.Start(t, run, env)
	b := newBrowserish(t, s.URL, true)

	resp, body := b.do("GET", "/signin?next=/account/sessions", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Continue with Acme SSO") || !strings.Contains(body, `action="/signin/email"`) {
		t.Fatalf("sign-in page: %d, want both methods:\n%s", resp.StatusCode, body)
	}
	if got := b.session(); got != nil {
		t.Fatalf("session before sign-in: got %v, want null", got)
	}

	resp, body = b.do("POST", "/signin/email", url.Values{"email": {"not an address"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="signin-error"`) {
		t.Fatalf("bad address: got %d, want 422 with the error shown:\n%s", resp.StatusCode, body)
	}

	req, _ := http.NewRequest("POST", s.URL+"/api/auth/signin/email", strings.NewReader(`{"email":"nobody@example.com","bogus":1}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("JSON with an unknown field: got %d, want 400", resp.StatusCode)
	}
	req, _ = http.NewRequest("POST", s.URL+"/api/auth/signin/email", strings.NewReader(`{"email":"nobody@example.com"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err = b.c.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("JSON link request: got %d, want 202", resp.StatusCode)
	}

	// The code flow: our redirect to the provider, its redirect back to
	// the callback, the callback's redirect to the safe next path.
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-1", Email: "grace@example.com", EmailVerified: true, PreferredUsername: "grace"})
	resp, body = b.do("GET", "/api/auth/signin/oidc?next="+url.QueryEscape("/account/sessions"), nil, nil)
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/account/sessions" || !strings.Contains(body, "Sessions and devices") {
		t.Fatalf("after the code flow: %d at %s, want the sessions page", resp.StatusCode, resp.Request.URL)
	}
	if !strings.Contains(body, "Acme SSO (grace@example.com)") {
		t.Fatalf("sessions page does not list the linked account:\n%s", body)
	}
	sess := b.session()
	user, _ := sess["user"].(map[string]any)
	if user["email"] != "grace@example.com" {
		t.Fatalf("session: got %v, want grace@example.com", sess)
	}

	// A second device with an unsafe next lands on the home page instead,
	// which leads a signed-in user to the ideas.
	b2 := newBrowserish(t, s.URL, true)
	m.QueueUser(&mockoidc.MockUser{Subject: "sub-1", Email: "grace@example.com", EmailVerified: true})
	resp, _ = b2.do("GET", "/api/auth/signin/oidc?callbackUrl="+url.QueryEscape("https://evil.example/x"), nil, nil)
	if resp.Request.URL.Host != strings.TrimPrefix(s.URL, "http://") || resp.Request.URL.Path != "/ideas" {
		t.Fatalf("unsafe next: landed on %s, want this server's / (then /ideas)", resp.Request.URL)
	}

	// A cross-site form post is refused before it does anything.
	resp, _ = b.do("POST", "/signout", url.Values{}, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site sign-out: got %d, want 403", resp.StatusCode)
	}
	if b.session() == nil {
		t.Fatal("the cross-site post signed the user out")
	}

	// Sign out everywhere ends both devices' sessions.
	resp, _ = b.do("POST", "/account/sessions/revoke-all", url.Values{}, nil)
	if resp.Request.URL.Path != "/signin" {
		t.Fatalf("sign out everywhere landed on %s, want /signin", resp.Request.URL)
	}
	if got := b.session(); got != nil {
		t.Fatalf("after sign out everywhere: session %v", got)
	}
	if got := b2.session(); got != nil {
		t.Fatalf("the other device is still signed in: %v", got)
	}

	// The sign-in routes share the guides' limit: 10 per 10 s per IP.
	var limited *http.Response
	for i := 0; i < 12 && limited == nil; i++ {
		resp, _ := b.do("GET", "/signin", nil, nil)
		if resp.StatusCode == http.StatusTooManyRequests {
			limited = resp
		}
	}
	if limited == nil || limited.Header.Get("Retry-After") == "" {
		t.Fatal("12 sign-in requests in a row were never limited with Retry-After")
	}
}

// TestAccountPage changes the display name, downloads the data and deletes
// the account through the real binary.
func TestAccountPage(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"EMAIL_SERVER": "stream"})
	s := apptest.Start(t, run, env)
	link, _, err := apptest.Command(t, run, env, "admin", "login-link", "lin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(strings.TrimSpace(link))
	b := newBrowserish(t, s.URL, true)
	if resp, _ := b.do("POST", "/auth/email/confirm", url.Values{"token": {u.Query().Get("token")}}, nil); resp.StatusCode != 200 {
		t.Fatalf("sign in: %d", resp.StatusCode)
	}

	resp, body := b.do("POST", "/account/name", url.Values{"name": {"Lin <Ma>"}}, nil)
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/account" || !strings.Contains(body, `value="Lin &lt;Ma&gt;"`) {
		t.Fatalf("rename: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, body = b.do("POST", "/account/name", url.Values{"name": {strings.Repeat("x", 201)}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="name-error"`) {
		t.Fatalf("too long a name: got %d, want 422 with the field's error", resp.StatusCode)
	}

	if resp, body := b.do("POST", "/ideas", url.Values{"capture": {"Walk the dog #home"}}, nil); resp.StatusCode != 200 {
		t.Fatalf("capture an idea: %d\n%s", resp.StatusCode, body)
	}
	resp, body = b.do("GET", "/account/export", nil, nil)
	var export struct {
		Format string
		User   struct{ Email, Name string }
		Ideas  struct {
			Format string
			Ideas  []struct{ Title string }
		}
	}
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") || json.Unmarshal([]byte(body), &export) != nil ||
		export.Format != "account-export" || export.User.Email != "lin@example.com" || export.User.Name != "Lin <Ma>" ||
		export.Ideas.Format != "coda.ideas" || len(export.Ideas.Ideas) != 1 || export.Ideas.Ideas[0].Title != "Walk the dog" {
		t.Fatalf("export: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Disposition"), body)
	}

	resp, body = b.do("POST", "/account/delete", url.Values{"confirm": {"someone@example.com"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `id="confirm-error"`) {
		t.Fatalf("delete with the wrong address: got %d, want 422", resp.StatusCode)
	}
	if b.session() == nil {
		t.Fatal("a refused delete signed the user out")
	}
	resp, body = b.do("POST", "/account/delete", url.Values{"confirm": {"LIN@example.com"}}, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="deleted-title"`) {
		t.Fatalf("delete: %d\n%s", resp.StatusCode, body)
	}
	if got := b.session(); got != nil {
		t.Fatalf("after delete the session is %v", got)
	}
	if out, _, err := apptest.Command(t, run, env, "sessions", "revoke", "--user", "lin@example.com"); err == nil {
		t.Fatalf("the deleted user still exists: %s", out)
	}
}
