package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/store"
)

var ideasLoginLink = regexp.MustCompile(`https?://\S+/auth/email/confirm\?token=([A-Za-z0-9_-]+)`)

// ideasClient is a signed-in HTTP client for the ideas API.
type ideasClient struct {
	t      *testing.T
	base   string
	c      *http.Client
	bearer string
}

// ideasSignIn signs email in through `coda admin login-link` and the
// confirm form, and returns a client holding the session cookie.
func ideasSignIn(t *testing.T, s *apptest.Server, email string) *ideasClient {
	t.Helper()
	out, errOut, err := apptest.Command(t, run, s.Env, "admin", "login-link", email)
	if err != nil {
		t.Fatalf("login-link: %v\n%s", err, errOut)
	}
	m := ideasLoginLink.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no link in %q", out)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(s.URL+"/auth/email/confirm", url.Values{"token": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm sign-in: %d", resp.StatusCode)
	}
	return &ideasClient{t: t, base: s.URL, c: c}
}

// do sends a request with a raw body and returns the status and body.
func (ic *ideasClient) do(method, path string, body []byte, ct string) (int, http.Header, []byte) {
	ic.t.Helper()
	req, _ := http.NewRequest(method, ic.base+path, bytes.NewReader(body))
	if body != nil {
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if ic.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+ic.bearer)
	}
	resp, err := ic.c.Do(req)
	if err != nil {
		ic.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// json sends v as JSON and decodes the answer into a map.
func (ic *ideasClient) json(method, path string, v any) (int, map[string]any) {
	ic.t.Helper()
	var body []byte
	if v != nil {
		body, _ = json.Marshal(v)
	}
	status, _, b := ic.do(method, path, body, "")
	out := map[string]any{}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			ic.t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, b)
		}
	}
	return status, out
}

func field(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func TestIdeasAPI(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"RATE_LIMIT_SCALE": "0", "CRON_SECRET": "cron-secret-for-tests"})
	s := apptest.Start(t, run, env)
	ada := ideasSignIn(t, s, "ada@example.com")
	bob := ideasSignIn(t, s, "bob@example.com")

	anon := &ideasClient{t: t, base: s.URL, c: http.DefaultClient}
	if st, body := anon.json("GET", "/api/ideas", nil); st != 401 || field(body, "error", "code") != "unauthorized" {
		t.Fatalf("anonymous list: %d %v", st, body)
	}

	st, created := ada.json("POST", "/api/ideas", map[string]any{"title": "Plant <script>alert(1)</script> trees", "body": "on the **roof**", "tags": []string{"Garden", "city"}})
	if st != 201 || created["version"] != 1.0 || fmt.Sprint(created["tags"]) != "[garden city]" {
		t.Fatalf("create: %d %v", st, created)
	}
	id := created["id"].(string)
	if st, got := ada.json("GET", "/api/ideas/"+id, nil); st != 200 || got["title"] != created["title"] {
		t.Fatalf("get: %d %v", st, got)
	}

	t.Run("bad input names each field and stores nothing", func(t *testing.T) {
		st, body := ada.json("POST", "/api/ideas", map[string]any{"title": strings.Repeat("x", 201), "body": strings.Repeat("y", 100*1024+1), "tags": make([]string, 21)})
		fields, _ := field(body, "error", "fields").(map[string]any)
		if st != 422 || fields["title"] == nil || fields["body"] == nil || fields["tags"] == nil {
			t.Fatalf("too long: %d %v", st, body)
		}
		raw := []byte("{\"title\":\"ok\",\"body\":\"bad \xff\xfe bytes\",\"tags\":[\"a\xc3\"]}")
		st, _, b := ada.do("POST", "/api/ideas", raw, "")
		if st != 422 || !strings.Contains(string(b), `"body":"must be valid UTF-8 text"`) || !strings.Contains(string(b), `"tags[0]":"must be valid UTF-8 text"`) {
			t.Fatalf("invalid UTF-8: %d %s", st, b)
		}
		st, _, b = ada.do("POST", "/api/ideas", []byte(`{"title": "unterminated`), "")
		if st != 400 || !strings.Contains(string(b), `"code":"invalid"`) {
			t.Fatalf("malformed JSON: %d %s", st, b)
		}
		st, body = ada.json("POST", "/api/ideas", map[string]any{"title": 5, "colour": "red"})
		if st != 422 || field(body, "error", "fields", "title") != "must be a string" || field(body, "error", "fields", "colour") != "unknown field" {
			t.Fatalf("wrong types: %d %v", st, body)
		}
		_, list := ada.json("GET", "/api/ideas", nil)
		if n := len(list["ideas"].([]any)); n != 1 {
			t.Fatalf("bad input stored ideas: %d", n)
		}
	})

	t.Run("another user's idea is not found", func(t *testing.T) {
		for _, m := range []string{"GET", "PATCH", "DELETE"} {
			st, body := bob.json(m, "/api/ideas/"+id, map[string]any{"version": 1, "title": "mine"})
			if m == "GET" {
				st, body = bob.json(m, "/api/ideas/"+id, nil)
			}
			if st != 404 || field(body, "error", "code") != "not_found" {
				t.Fatalf("bob %s: %d %v", m, st, body)
			}
		}
		if _, list := bob.json("GET", "/api/ideas", nil); len(list["ideas"].([]any)) != 0 {
			t.Fatalf("bob lists ada's ideas: %v", list)
		}
	})

	t.Run("stale update is a conflict with the current version", func(t *testing.T) {
		st, up := ada.json("PATCH", "/api/ideas/"+id, map[string]any{"version": 1, "body": "edited in tab one"})
		if st != 200 || up["version"] != 2.0 || up["title"] != created["title"] {
			t.Fatalf("update: %d %v", st, up)
		}
		st, body := ada.json("PATCH", "/api/ideas/"+id, map[string]any{"version": 1, "body": "edited in tab two"})
		if st != 409 || field(body, "error", "code") != "conflict" || field(body, "current", "version") != 2.0 || field(body, "current", "body") != "edited in tab one" {
			t.Fatalf("stale update: %d %v", st, body)
		}
		if st, body := ada.json("PATCH", "/api/ideas/"+id, map[string]any{"body": "no version"}); st != 422 || field(body, "error", "fields", "version") == nil {
			t.Fatalf("update without version: %d %v", st, body)
		}
	})

	t.Run("search highlights matches, inert", func(t *testing.T) {
		ada.json("POST", "/api/ideas", map[string]any{"title": "Birdhouse <b>cedar</b>", "tags": []string{"wood"}})
		_, res := ada.json("GET", "/api/ideas?q=birdhouse", nil)
		ideas := res["ideas"].([]any)
		if len(ideas) != 1 {
			t.Fatalf("search: %v", res)
		}
		hl := field(ideas[0].(map[string]any), "highlight", "title")
		if hl != "<mark>Birdhouse</mark> &lt;b&gt;cedar&lt;/b&gt;" {
			t.Fatalf("highlight %q", hl)
		}
		_, res = ada.json("GET", "/api/ideas?tag=wood", nil)
		if len(res["ideas"].([]any)) != 1 {
			t.Fatalf("tag filter: %v", res)
		}
		_, res = ada.json("GET", "/api/ideas?limit=1", nil)
		next, _ := res["nextCursor"].(string)
		_, res2 := ada.json("GET", "/api/ideas?limit=1&cursor="+url.QueryEscape(next), nil)
		if next == "" || len(res2["ideas"].([]any)) != 1 || res2["nextCursor"] != nil {
			t.Fatalf("pages: %v then %v", res, res2)
		}
	})

	t.Run("pages render stored script inert", func(t *testing.T) {
		st, _, b := ada.do("GET", "/ideas", nil, "")
		page := string(b)
		if st != 200 || strings.Contains(page, "<script>alert(1)") || !strings.Contains(page, "Plant &lt;script&gt;alert(1)&lt;/script&gt; trees") {
			t.Fatalf("list page: %d", st)
		}
		st, _, b = ada.do("GET", "/ideas/"+id, nil, "")
		if st != 200 || !strings.Contains(string(b), "<strong>roof</strong>") && !strings.Contains(string(b), "edited in tab one") {
			t.Fatalf("idea page: %d %s", st, b)
		}
		st, _, _ = bob.do("GET", "/ideas/"+id, nil, "")
		if st != 404 {
			t.Fatalf("bob's idea page: %d", st)
		}
		st, body := ada.json("POST", "/api/ideas/preview", map[string]any{"body": "# Hi\n<script>alert(1)</script>\n[x](javascript:alert(1))"})
		html, _ := body["html"].(string)
		if st != 200 || !strings.Contains(html, "<h1") || strings.Contains(html, "<script") || strings.Contains(html, "javascript:") {
			t.Fatalf("preview: %d %q", st, html)
		}
	})

	t.Run("delete, undo, recently deleted", func(t *testing.T) {
		st, del := ada.json("DELETE", "/api/ideas/"+id, nil)
		tok, _ := del["undoToken"].(string)
		if st != 200 || tok == "" || del["undoExpiresAt"] == nil {
			t.Fatalf("delete: %d %v", st, del)
		}
		if st, _ := ada.json("GET", "/api/ideas/"+id, nil); st != 404 {
			t.Fatalf("get deleted: %d", st)
		}
		_, rec := ada.json("GET", "/api/ideas/deleted", nil)
		if len(rec["ideas"].([]any)) != 1 || rec["undoWindowSeconds"] != 600.0 {
			t.Fatalf("recently deleted: %v", rec)
		}
		if st, _ := bob.json("POST", "/api/ideas/undo", map[string]any{"token": tok}); st != 404 {
			t.Fatalf("bob undo: %d", st)
		}
		if st, got := ada.json("POST", "/api/ideas/undo", map[string]any{"token": tok}); st != 200 || got["id"] != id {
			t.Fatalf("undo: %d %v", st, got)
		}
		if st, _ := ada.json("GET", "/api/ideas/"+id, nil); st != 200 {
			t.Fatalf("get after undo: %d", st)
		}
		if st, _ := ada.json("POST", "/api/ideas/undo", map[string]any{"token": tok}); st != 404 {
			t.Fatalf("second undo: %d", st)
		}
	})

	t.Run("export is audited and imports back", func(t *testing.T) {
		st, hdr, b := ada.do("GET", "/api/ideas/export?format=json", nil, "")
		if st != 200 || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
			t.Fatalf("export: %d %s", st, b)
		}
		var doc struct {
			Format string           `json:"format"`
			Ideas  []map[string]any `json:"ideas"`
		}
		if err := json.Unmarshal(b, &doc); err != nil || doc.Format != "coda.ideas" || len(doc.Ideas) != 2 {
			t.Fatalf("export body: %v %s", err, b)
		}
		st, hdr, zb := ada.do("GET", "/api/ideas/export?format=markdown", nil, "")
		if st != 200 || hdr.Get("Content-Type") != "application/zip" || !bytes.HasPrefix(zb, []byte("PK")) {
			t.Fatalf("markdown export: %d %s", st, hdr)
		}
		st, _, ib := bob.do("POST", "/api/ideas/import", b, "")
		if st != 200 || !strings.Contains(string(ib), `"imported":2`) {
			t.Fatalf("import: %d %s", st, ib)
		}
		st, _, ib = bob.do("POST", "/api/ideas/import", b, "")
		if st != 200 || !strings.Contains(string(ib), `"imported":0,"duplicates":2`) {
			t.Fatalf("re-import: %d %s", st, ib)
		}
		// An import may be larger than MAX_BODY_BYTES (1 MB), up to its own limit.
		big := `{"format":"coda.ideas","version":1,"ideas":[` + strings.Repeat(`{"title":"padding","body":"`+strings.Repeat("x", 1000)+`"},`, 1100) + `{"title":"last"}]}`
		st, _, ib = bob.do("POST", "/api/ideas/import", []byte(big), "")
		if st != 200 || !strings.Contains(string(ib), `"imported":2,"duplicates":1099`) {
			t.Fatalf("import of 1.1 MB: %d %s", st, ib)
		}
		huge := `{"format":"coda.ideas","version":1,"ideas":[` + strings.Repeat(`{"title":"padding","body":"`+strings.Repeat("x", 1000)+`"},`, 17000) + `{"title":"last"}]}`
		st, _, ib = bob.do("POST", "/api/ideas/import", []byte(huge), "")
		if st != 413 || !strings.Contains(string(ib), `"code":"too_large"`) {
			t.Fatalf("import over the 16 MB limit: %d %s", st, ib)
		}
		st, _, ib = bob.do("POST", "/api/ideas/import", []byte(`{"format":"other","ideas":[]}`), "")
		if st != 422 || !strings.Contains(string(ib), `"format"`) {
			t.Fatalf("import of a foreign file: %d %s", st, ib)
		}
		actions := auditActions(t, env)
		for _, want := range []string{"export/idea json", "export/idea markdown", "delete/idea", "undo/idea", "import/idea"} {
			if !strings.Contains(actions, want) {
				t.Fatalf("audit log lacks %q:\n%s", want, actions)
			}
		}
	})

	t.Run("personal API tokens", func(t *testing.T) {
		st, tok := ada.json("POST", "/api/tokens", map[string]any{"name": "backup script"})
		secret, _ := tok["token"].(string)
		if st != 201 || !strings.HasPrefix(secret, "coda_pat_") {
			t.Fatalf("create token: %d %v", st, tok)
		}
		script := &ideasClient{t: t, base: s.URL, c: http.DefaultClient, bearer: secret}
		if st, list := script.json("GET", "/api/ideas", nil); st != 200 || len(list["ideas"].([]any)) != 2 {
			t.Fatalf("list with token: %d %v", st, list)
		}
		if st, _ := script.json("POST", "/api/ideas", map[string]any{"title": "from a script"}); st != 201 {
			t.Fatalf("create with token: %d", st)
		}
		// A token cannot manage tokens.
		if st, _ := script.json("GET", "/api/tokens", nil); st != 401 {
			t.Fatalf("tokens with a token: %d", st)
		}
		wrong := &ideasClient{t: t, base: s.URL, c: http.DefaultClient, bearer: "coda_pat_wrong"}
		if st, _ := wrong.json("GET", "/api/ideas", nil); st != 401 {
			t.Fatalf("wrong token: %d", st)
		}
		_, list := ada.json("GET", "/api/tokens", nil)
		if toks := list["tokens"].([]any); len(toks) != 1 || field(toks[0].(map[string]any), "token") != nil || field(toks[0].(map[string]any), "lastUsedAt") == nil {
			t.Fatalf("token list: %v", list)
		}
		if st, _ := bob.json("DELETE", "/api/tokens/"+tok["id"].(string), nil); st != 404 {
			t.Fatalf("bob revokes ada's token: %d", st)
		}
		if st, _ := ada.json("DELETE", "/api/tokens/"+tok["id"].(string), nil); st != 204 {
			t.Fatalf("revoke: %d", st)
		}
		if st, _ := script.json("GET", "/api/ideas", nil); st != 401 {
			t.Fatalf("revoked token: %d", st)
		}
		assertNoSecret(t, env, secret)
	})

	t.Run("cron route needs the secret", func(t *testing.T) {
		for _, hdr := range []string{"", "Bearer wrong", "cron-secret-for-tests", "Basic cron-secret-for-tests"} {
			req, _ := http.NewRequest("GET", s.URL+"/api/cron/purge-soft-deletes", nil)
			if hdr != "" {
				req.Header.Set("Authorization", hdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Fatalf("Authorization %q: got %d, want 401", hdr, resp.StatusCode)
			}
		}
		for _, m := range []string{"GET", "POST"} {
			req, _ := http.NewRequest(m, s.URL+"/api/cron/purge-soft-deletes", nil)
			req.Header.Set("Authorization", "Bearer cron-secret-for-tests")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			ts, _ := body["timestamp"].(string)
			if _, perr := time.Parse(time.RFC3339, ts); resp.StatusCode != 200 || body["success"] != true || body["deleted"] != 0.0 || perr != nil {
				t.Fatalf("%s purge: %d %v", m, resp.StatusCode, body)
			}
		}
	})
}

// auditActions lists the audit log as "action/resource format" lines.
func auditActions(t *testing.T, env map[string]string) string {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{DataDir: env["DATA_DIR"], Name: "coda"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(context.Background(), `SELECT action, resource, metadata FROM audit_log ORDER BY at`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var a, r, meta string
		rows.Scan(&a, &r, &meta)
		var m map[string]any
		json.Unmarshal([]byte(meta), &m)
		fmt.Fprintf(&b, "%s/%s", a, r)
		if f, ok := m["format"]; ok {
			fmt.Fprintf(&b, " %v", f)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// assertNoSecret checks the token is stored only as a hash.
func assertNoSecret(t *testing.T, env map[string]string, secret string) {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{URL: "sqlite:" + filepath.Join(env["DATA_DIR"], "coda.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM api_tokens WHERE token_hash = ? OR name = ? OR hint = ?`, secret, secret, secret).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the token is stored in clear (%d rows, %v)", n, err)
	}
}

// TestUndoWindowAndPurge runs with UNDO_WINDOW=1s: an undo after the
// window answers 410, and both the cron route and `coda cron run` purge
// what expired.
func TestUndoWindowAndPurge(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"RATE_LIMIT_SCALE": "0", "CRON_SECRET": "cron-secret-for-tests", "UNDO_WINDOW": "1s"})
	s := apptest.Start(t, run, env)
	ada := ideasSignIn(t, s, "ada@example.com")
	var tokens []string
	for i := range 3 {
		_, it := ada.json("POST", "/api/ideas", map[string]any{"title": fmt.Sprintf("short-lived %d", i)})
		_, del := ada.json("DELETE", "/api/ideas/"+it["id"].(string), nil)
		tokens = append(tokens, del["undoToken"].(string))
	}
	// Wait (by polling, with a deadline) until the window has passed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, rec := ada.json("GET", "/api/ideas/deleted", nil)
		if len(rec["ideas"].([]any)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the undo window never ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, body := ada.json("POST", "/api/ideas/undo", map[string]any{"token": tokens[0]})
	if msg, _ := field(body, "error", "message").(string); st != 410 || field(body, "error", "code") != "gone" || !strings.Contains(msg, "undo window") {
		t.Fatalf("undo after the window: %d %v", st, body)
	}
	out, _, err := apptest.Command(t, run, env, "cron", "run", "purge-soft-deletes")
	if err != nil || !strings.Contains(out, `"deleted": 3`) || !strings.Contains(out, `"success": true`) {
		t.Fatalf("cron run: %v\n%s", err, out)
	}
	req, _ := http.NewRequest("POST", s.URL+"/api/cron/purge-soft-deletes", nil)
	req.Header.Set("Authorization", "Bearer cron-secret-for-tests")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"deleted":0`) {
		t.Fatalf("second purge: %d %s", resp.StatusCode, b)
	}
	if st, body := ada.json("POST", "/api/ideas/undo", map[string]any{"token": tokens[1]}); st != 404 {
		t.Fatalf("undo after purge: %d %v", st, body)
	}
	if !strings.Contains(auditActions(t, env), "purge/idea") {
		t.Fatal("the purge is not in the audit log")
	}
}
