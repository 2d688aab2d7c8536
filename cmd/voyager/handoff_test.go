package main

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

// TestSignInOnCustomDomain: signed in on the platform's host, the member is
// handed over to the community's own domain with a one-time token.
func TestSignInOnCustomDomain(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	public := "http://localhost:" + port
	s := apptest.Start(t, run, voyagerEnv(t, nil, nil, map[string]string{"PUBLIC_URL": public, "PORT": port}))
	admin := signIn(t, s, "root@example.com", true)
	if r := do(t, admin, "POST", s.URL+"/c/beta/join", "", nil); r.status != 200 {
		t.Fatalf("join: %d", r.status)
	}
	// Signed out on the custom domain: the page offers sign-in through the platform.
	if r := page(t, http.DefaultClient, s.URL+"/", "beta.example"); strings.Count(r.body, `href="`+public+`/c/beta/handoff"`) != 2 {
		t.Fatalf("custom-domain page lacks the handoff sign-in link:\n%s", r.body)
	}
	noFollow := func(c *http.Client) *http.Client {
		cc := *c
		cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &cc
	}
	req, _ := http.NewRequest("GET", s.URL+"/c/beta/handoff", nil)
	resp, err := noFollow(admin).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Host != "beta.example" || loc.Path != "/auth/handoff" {
		t.Fatalf("handoff start: %d %s", resp.StatusCode, loc)
	}
	// On the domain: the token starts a session there.
	fresh := noFollow(&http.Client{})
	get := func(path, host, cookie string) *http.Response {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.Host = host
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := fresh.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if r := get("/auth/handoff?"+loc.RawQuery, "alpha.example", ""); r.StatusCode != 404 {
		t.Fatalf("token on an unknown host: got %d", r.StatusCode)
	}
	r := get("/auth/handoff?"+loc.RawQuery, "beta.example", "")
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) == 0 {
		t.Fatalf("handoff: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	cookie := r.Cookies()[0].Name + "=" + r.Cookies()[0].Value
	pg := get("/", "beta.example", cookie)
	body := new(strings.Builder)
	buf := make([]byte, 32<<10)
	for {
		n, err := pg.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	pg.Body.Close()
	if pg.StatusCode != 200 || !strings.Contains(body.String(), "Your conversations") {
		t.Fatalf("signed in on the custom domain: %d\n%s", pg.StatusCode, body)
	}
	if r := get("/auth/handoff?"+loc.RawQuery, "beta.example", ""); r.StatusCode != 404 && r.StatusCode != 410 {
		t.Fatalf("token reused: got %d", r.StatusCode)
	}
}
