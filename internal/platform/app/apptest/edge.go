package apptest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var loginLink = regexp.MustCompile(`token=([A-Za-z0-9_\-]+)`)

// SignIn signs email in through `admin login-link` and the confirm form
// and returns a client holding the session cookie that does not follow
// redirects.
func SignIn(t testing.TB, run RunFunc, s *Server, email string) *http.Client {
	t.Helper()
	out, errOut, err := Command(t, run, s.Env, "admin", "login-link", email)
	if err != nil {
		t.Fatalf("login-link: %v\n%s", err, errOut)
	}
	m := loginLink.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no sign-in link in %q", out)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(s.URL+"/auth/email/confirm", url.Values{"token": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm sign-in: got %d, want 303", resp.StatusCode)
	}
	return c
}

// Routes returns every route pattern of the server, from its `routes`
// command (so a route added later is walked without touching the tests).
func Routes(t testing.TB, run RunFunc, env map[string]string) []string {
	t.Helper()
	out, errOut, err := Command(t, run, env, "routes")
	if err != nil {
		t.Fatalf("routes: %v\n%s", err, errOut)
	}
	var pats []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			pats = append(pats, l)
		}
	}
	if len(pats) < 5 {
		t.Fatalf("routes listed only %q", out)
	}
	return pats
}

// wildcard matches one {name} or {name...} of a pattern.
var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// WalkBadBytes sends every route of the server (signed in with c) a NUL
// byte and invalid UTF-8 in each path value and in query parameters, and
// a form value on unsafe methods, and fails the test for any answer that
// is not 422 (the edge refuses them before any handler or store sees them).
func WalkBadBytes(t *testing.T, s *Server, c *http.Client, patterns []string) {
	t.Helper()
	bads := map[string]string{"nul": "a%00b", "utf8": "a%FF%FEb"}
	for _, pat := range patterns {
		method, path, ok := strings.Cut(pat, " ")
		if !ok {
			method, path = "GET", pat
		}
		if strings.HasSuffix(path, "/{$}") {
			path = strings.TrimSuffix(path, "{$}")
		}
		for kind, bad := range bads {
			var targets []string
			// Each path value in turn (the others a plain value).
			locs := wildcard.FindAllStringIndex(path, -1)
			for i := range locs {
				var b strings.Builder
				prev := 0
				for j, loc := range locs {
					b.WriteString(path[prev:loc[0]])
					if i == j {
						b.WriteString(bad)
					} else {
						b.WriteString("x")
					}
					prev = loc[1]
				}
				b.WriteString(path[prev:])
				targets = append(targets, b.String())
			}
			plain := wildcard.ReplaceAllString(path, "x")
			for _, q := range []string{"q", "tag", "cursor", "next", "token", "title"} {
				targets = append(targets, plain+"?"+q+"="+bad)
			}
			for _, target := range targets {
				req, _ := http.NewRequest(method, s.URL+target, nil)
				if method == "POST" || method == "PATCH" || method == "PUT" {
					req, _ = http.NewRequest(method, s.URL+target, strings.NewReader("title=ok"))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				if strings.HasPrefix(target, "/api/") {
					req.Header.Set("Accept", "application/json")
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, target, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnprocessableEntity {
					t.Errorf("%s (%s) %s %s: got %d, want 422\n%.300s", pat, kind, method, target, resp.StatusCode, b)
				}
			}
		}
		// A form value with a NUL on routes that take forms.
		if method == "POST" && !strings.HasPrefix(path, "/api/") {
			target := wildcard.ReplaceAllString(path, "x")
			req, _ := http.NewRequest(method, s.URL+target, strings.NewReader("title=a%00b&email=a%00b%40example.com"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, target, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s form: got %d, want 422\n%.300s", pat, resp.StatusCode, b)
			}
		}
	}
}
