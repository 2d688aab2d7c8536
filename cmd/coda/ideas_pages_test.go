package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

// form posts a URL-encoded form and returns the status, Location and body.
func (ic *ideasClient) form(path string, v url.Values) (int, string, string) {
	ic.t.Helper()
	st, hdr, b := ic.do("POST", path, []byte(v.Encode()), "application/x-www-form-urlencoded")
	return st, hdr.Get("Location"), string(b)
}

// TestIdeasPagesWithoutJavaScript drives every page through its plain
// HTML forms, as a browser without scripts would.
func TestIdeasPagesWithoutJavaScript(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"RATE_LIMIT_SCALE": "0"})
	s := apptest.Start(t, run, env)
	ada := ideasSignIn(t, s, "ada@example.com")

	// Signed out, pages redirect to sign-in.
	st, hdr, _ := (&ideasClient{t: t, base: s.URL, c: noRedirect()}).do("GET", "/ideas", nil, "")
	if st != 303 || !strings.HasPrefix(hdr.Get("Location"), "/signin?next=") {
		t.Fatalf("signed out /ideas: %d %s", st, hdr.Get("Location"))
	}

	st, _, b := ada.do("GET", "/ideas", nil, "")
	if st != 200 || !strings.Contains(string(b), `id="empty-state"`) {
		t.Fatalf("empty list: %d", st)
	}
	st, loc, _ := ada.form("/ideas", url.Values{"capture": {"Paint the fence #home #diy"}})
	if st != 303 || loc != "/ideas" {
		t.Fatalf("capture: %d %q", st, loc)
	}
	st, _, page := ada.form("/ideas", url.Values{"capture": {strings.Repeat("x", 201)}})
	if st != 422 || !strings.Contains(page, "The title must be at most 200 characters") || !strings.Contains(page, `aria-invalid="true"`) {
		t.Fatalf("too long capture: %d", st)
	}
	_, list := ada.json("GET", "/api/ideas", nil)
	ideas := list["ideas"].([]any)
	if len(ideas) != 1 || ideas[0].(map[string]any)["title"] != "Paint the fence" {
		t.Fatalf("after capture: %v", list)
	}
	id := ideas[0].(map[string]any)["id"].(string)

	st, _, b = ada.do("GET", "/ideas?q=fence", nil, "")
	if st != 200 || !strings.Contains(string(b), "Paint the <mark>fence</mark>") {
		t.Fatalf("search page: %d", st)
	}
	st, _, b = ada.do("GET", "/ideas?tag=diy", nil, "")
	if st != 200 || !strings.Contains(string(b), `href="/ideas?tag=diy" aria-current="true"`) {
		t.Fatalf("tag page: %d\n%s", st, b)
	}

	// Save from the editor form; then a save based on the old version shows
	// both versions (409) and saving that form again keeps mine.
	st, loc, _ = ada.form("/ideas/"+id, url.Values{"version": {"1"}, "title": {"Paint the fence"}, "body": {"**blue**"}, "tags": {"home, diy"}})
	if st != 303 || loc != "/ideas/"+id+"?saved=1" {
		t.Fatalf("save: %d %q", st, loc)
	}
	st, _, page = ada.form("/ideas/"+id, url.Values{"version": {"1"}, "title": {"Paint the fence"}, "body": {"green"}, "tags": {"home"}})
	if st != 409 || !strings.Contains(page, `<pre class="conflict-body" id="conflict-saved-body">**blue**</pre>`) ||
		!strings.Contains(page, `<pre class="conflict-body" id="conflict-mine-body">green</pre>`) || !strings.Contains(page, `name="version" id="version" value="2"`) {
		t.Fatalf("conflict page: %d\n%s", st, page)
	}
	if st, _, _ = ada.form("/ideas/"+id, url.Values{"version": {"2"}, "title": {"Paint the fence"}, "body": {"green"}, "tags": {"home"}}); st != 303 {
		t.Fatalf("keep mine: %d", st)
	}
	st, _, b = ada.do("GET", "/ideas/"+id, nil, "")
	if st != 200 || !strings.Contains(string(b), ">green</textarea>") || !strings.Contains(string(b), `<div id="preview" class="markdown"><p>green</p>`) {
		t.Fatalf("editor: %d\n%s", st, b)
	}

	// Delete shows the undo toast; its form restores.
	st, loc, _ = ada.form("/ideas/"+id+"/delete", nil)
	if st != 303 || loc != "/ideas?deleted="+id {
		t.Fatalf("delete: %d %q", st, loc)
	}
	st, _, b = ada.do("GET", loc, nil, "")
	if st != 200 || !strings.Contains(string(b), "Deleted “Paint the fence”.") || !strings.Contains(string(b), `action="/ideas/`+id+`/restore"`) {
		t.Fatalf("undo toast: %d", st)
	}
	st, _, b = ada.do("GET", "/ideas/deleted", nil, "")
	if st != 200 || !strings.Contains(string(b), `id="deleted-`+id+`"`) {
		t.Fatalf("recently deleted: %d", st)
	}
	if st, loc, _ = ada.form("/ideas/"+id+"/restore", url.Values{"from": {"deleted"}}); st != 303 || loc != "/ideas/deleted" {
		t.Fatalf("restore: %d %q", st, loc)
	}
	if st, _, _ := ada.do("GET", "/api/ideas/"+id, nil, ""); st != 200 {
		t.Fatalf("restored idea: %d", st)
	}

	// Export and import through the transfer page.
	_, _, export := ada.do("GET", "/api/ideas/export?format=json", nil, "")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "ideas.json")
	fw.Write(export)
	mw.Close()
	st, _, b = ada.do("POST", "/ideas/import", buf.Bytes(), mw.FormDataContentType())
	if st != 200 || !strings.Contains(string(b), "Imported 0 ideas; skipped 1 you already had.") {
		t.Fatalf("import page: %d\n%s", st, b)
	}

	// API tokens page: create shows the token once, revoke removes it.
	st, _, page = ada.form("/settings/tokens", url.Values{"name": {"laptop"}})
	if st != 201 || !strings.Contains(page, `id="new-token"`) || !strings.Contains(page, "coda_pat_") {
		t.Fatalf("create token page: %d", st)
	}
	_, toks := ada.json("GET", "/api/tokens", nil)
	tid := toks["tokens"].([]any)[0].(map[string]any)["id"].(string)
	if st, loc, _ = ada.form("/settings/tokens/"+tid+"/revoke", nil); st != 303 || loc != "/settings/tokens" {
		t.Fatalf("revoke: %d %q", st, loc)
	}
	st, _, b = ada.do("GET", "/settings/tokens", nil, "")
	if st != 200 || !strings.Contains(string(b), `id="tokens-empty"`) || strings.Contains(string(b), "coda_pat_") {
		t.Fatalf("tokens page after revoke: %d", st)
	}
	if st, _, _ = ada.form("/settings/tokens", url.Values{"name": {""}}); st != 400 && st != 422 {
		t.Fatalf("token without a name: %d", st)
	}
}

func noRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
