package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// TestEdgeRefusesBadBytes walks every route Voyager serves, on SQLite and
// on PostgreSQL, with a NUL and invalid UTF-8 in each path value, query
// parameter and form value, signed in as a member, and wants 422
// everywhere; then JSON fields: a message with invalid UTF-8 or a NUL, a
// title with a NUL (422 naming the field) and a title over the limit (a
// field error, not a silent cut).
func TestEdgeRefusesBadBytes(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{}
			if backend == "postgres" {
				extra["DATABASE_URL"] = storetest.NewPostgresDB(t)
			}
			ant := aitest.Anthropic(aitest.Script{Chunks: []string{"ok"}})
			defer ant.Close()
			env := voyagerEnv(t, ant, nil, extra)
			s := apptest.Start(t, run, env)
			c := signIn(t, s, "edge@example.com", false)
			if r := do(t, c, "POST", s.URL+"/c/alpha/join", "", nil); r.status != 200 {
				t.Fatalf("join: %d %s", r.status, r.body)
			}
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			apptest.WalkBadBytes(t, s, c, apptest.Routes(t, run, env))

			raw := func(method, path, body string) (int, string) {
				t.Helper()
				req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			st, b := raw("POST", "/api/c/alpha/conversations", `{"title":"Raise"}`)
			if st != 201 {
				t.Fatalf("create conversation: %d %s", st, b)
			}
			conv := decode[struct {
				ID string `json:"id"`
			}](t, response{status: st, body: b}).ID
			for _, body := range []string{"{\"content\":\"hello \xff\xfe there\"}", `{"content":"hello \u0000"}`} {
				if st, b := raw("POST", "/api/c/alpha/conversations/"+conv+"/messages", body); st != 422 || !strings.Contains(b, `"content"`) {
					t.Errorf("message %q: got %d %s, want 422 naming content", body, st, b)
				}
			}
			if st, b := raw("PATCH", "/api/c/alpha/conversations/"+conv, `{"title":"a\u0000b"}`); st != 422 || !strings.Contains(b, `"title"`) {
				t.Errorf("title with a NUL: got %d %s, want 422 naming title", st, b)
			}
			long := strings.Repeat("é", 81)
			for _, req := range [][2]string{{"PATCH", "/api/c/alpha/conversations/" + conv}, {"POST", "/api/c/alpha/conversations"}} {
				if st, b := raw(req[0], req[1], `{"title":"`+long+`"}`); st != 400 || !strings.Contains(b, `"title":"Keep it to 80 characters (it has 81)."`) {
					t.Errorf("%s a title of 81 characters: got %d %s, want 400 with a title field error", req[0], st, b)
				}
			}
			if st, b := raw("PATCH", "/api/c/alpha/conversations/"+conv, `{"title":"`+strings.Repeat("é", 80)+`"}`); st != 200 {
				t.Errorf("a title of 80 characters: got %d %s", st, b)
			}
			if strings.Contains(s.Stderr.String(), `"level":"ERROR"`) {
				t.Errorf("bad bytes were logged as errors:\n%s", s.Stderr.String())
			}
		})
	}
}
