package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// TestEdgeRefusesBadBytes walks every route Coda serves, on SQLite and on
// PostgreSQL, with a NUL and invalid UTF-8 in each path value, in query
// parameters and in form values, signed in, and wants 422 everywhere; then
// it sends the same bytes in JSON fields, the search box and the sign-in
// email, which the databases refuse (PostgreSQL) or FTS5 misreads (SQLite).
func TestEdgeRefusesBadBytes(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{"RATE_LIMIT_SCALE": "0", "EMAIL_SERVER": "stream", "ENABLE_DEVMODE": "true"}
			if backend == "postgres" {
				extra["DATABASE_URL"] = storetest.NewPostgresDB(t)
			}
			env := apptest.BaseEnv(t, extra)
			s := apptest.Start(t, run, env)
			c := apptest.SignIn(t, run, s, "edge@example.com")
			apptest.WalkBadBytes(t, s, c, apptest.Routes(t, run, env))

			send := func(method, path, ct, body string) (int, string) {
				t.Helper()
				req, _ := http.NewRequest(method, s.URL+path, bytes.NewBufferString(body))
				if ct != "" {
					req.Header.Set("Content-Type", ct)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			// JSON string fields: \u0000 and raw invalid UTF-8, named.
			for _, body := range []string{`{"title":"a\u0000b"}`, "{\"title\":\"a\xff\xfeb\"}", `{"title":"ok","tags":["x","a\u0000"]}`} {
				st, b := send("POST", "/api/ideas", "application/json", body)
				if st != 422 || !strings.Contains(b, `"fields":{"t`) {
					t.Errorf("POST /api/ideas %q: got %d %s, want 422 naming the field", body, st, b)
				}
			}
			// A real idea, then searches with FTS5 syntax and quotes: never 5xx.
			if st, b := send("POST", "/api/ideas", "application/json", `{"title":"Paint the fence","body":"before \"winter\""}`); st != 201 {
				t.Fatalf("create: %d %s", st, b)
			}
			for _, q := range []string{`a"b`, `"`, `fence*`, `NEAR(a b)`, `title:fence`, `-`, `a OR`, `(`, `'`, `^x`, `fence AND NOT`} {
				st, b := send("GET", "/api/ideas?q="+urlQuery(q), "", "")
				if st >= 500 {
					t.Errorf("search %q: got %d %s", q, st, b)
				}
			}
			if st, b := send("GET", "/api/ideas?q=a%00b", "", ""); st != 422 || !strings.Contains(b, `"q"`) {
				t.Errorf("search with a NUL: got %d %s, want 422 naming q", st, b)
			}
			// The sign-in email with a NUL: refused as input, never "couldn't send".
			anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := anon.Post(s.URL+"/api/auth/signin/email", "application/json", strings.NewReader(`{"email":"a\u0000b@example.com"}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 422 || !strings.Contains(string(b), `"email"`) {
				t.Errorf("API sign-in email with a NUL: got %d %s, want 422 naming email", resp.StatusCode, b)
			}
			resp, err = anon.Post(s.URL+"/signin/email", "application/x-www-form-urlencoded", strings.NewReader("email=a%00b%40example.com"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 422 || !strings.Contains(string(b), "<html") {
				t.Errorf("sign-in form email with a NUL: got %d, want a 422 page\n%.300s", resp.StatusCode, b)
			}
			if strings.Contains(s.Stderr.String(), `"level":"ERROR"`) {
				t.Errorf("bad bytes were logged as errors:\n%s", errorLines(s.Stderr.String()))
			}
		})
	}
}

func urlQuery(s string) string {
	r := strings.NewReplacer("%", "%25", " ", "%20", `"`, "%22", "'", "%27", "(", "%28", ")", "%29", "^", "%5E", "*", "%2A", ":", "%3A", "&", "%26", "#", "%23", "+", "%2B")
	return r.Replace(s)
}

func errorLines(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
