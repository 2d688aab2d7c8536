package main

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

const taskBody = "## Plan\n\n- [ ] **second** step\n- [x] first step, see [the notes](https://example.com/notes)\n\n```go\nfmt.Println(\"hi\")\n```\n"

// TestHomeLeadsSignedInUsersToTheirIdeas: / is the product page signed
// out, and a redirect to /ideas signed in.
func TestHomeLeadsSignedInUsersToTheirIdeas(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, nil))
	resp, err := noRedirect().Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed out: got %d, want 200", resp.StatusCode)
	}
	ada := ideasSignIn(t, s, "ada@example.com")
	st, hdr, _ := ada.do("GET", "/", nil, "")
	if st != http.StatusSeeOther || hdr.Get("Location") != "/ideas" {
		t.Fatalf("signed in: got %d to %q, want 303 to /ideas", st, hdr.Get("Location"))
	}
}

// TestIdeasReadWell checks the plain-text excerpts, the normalisation of
// what is stored, and ticking tasks with versions through the API and
// the list page.
func TestIdeasReadWell(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"RATE_LIMIT_SCALE": "0"}))
	ada := ideasSignIn(t, s, "ada@example.com")
	bob := ideasSignIn(t, s, "bob@example.com")

	t.Run("stored as sent, but for CRLF and the title's spaces", func(t *testing.T) {
		st, got := ada.json("POST", "/api/ideas", map[string]any{"title": "  Spaced  ", "body": "line one  \r\nline two\r\n\r\n  ", "tags": []string{"#Home"}})
		if st != 201 {
			t.Fatalf("create: %d %v", st, got)
		}
		if got["title"] != "Spaced" || got["body"] != "line one  \nline two\n\n  " || field(got, "tags").([]any)[0] != "home" {
			t.Fatalf("stored %q %q %v", got["title"], got["body"], got["tags"])
		}
	})

	st, it := ada.json("POST", "/api/ideas", map[string]any{"title": "Plan the shed", "body": taskBody, "tags": []string{"diy"}})
	if st != 201 {
		t.Fatalf("create: %d %v", st, it)
	}
	id := it["id"].(string)
	t.Run("excerpt is plain text", func(t *testing.T) {
		want := `Plan second step first step, see the notes fmt.Println("hi")`
		if it["excerpt"] != want {
			t.Fatalf("excerpt %q, want %q", it["excerpt"], want)
		}
		st, _, page := ada.do("GET", "/ideas", nil, "")
		body := string(page)
		if st != 200 || !strings.Contains(body, `<p class="idea-snippet">Plan fmt.Println(&#34;hi&#34;)</p>`) {
			t.Fatalf("list page snippet:\n%s", grepLines(body, "idea-snippet"))
		}
		for _, raw := range []string{"## Plan", "**second**", "```"} {
			if strings.Contains(body, raw) {
				t.Fatalf("the list shows raw Markdown %q", raw)
			}
		}
		// The tasks show as checkboxes, in order, with their state.
		if !strings.Contains(body, `<input type="checkbox" data-task="0" disabled> <span>second step</span>`) ||
			!strings.Contains(body, `<input type="checkbox" data-task="1" checked disabled> <span>first step, see the notes</span>`) {
			t.Fatalf("list page tasks:\n%s", grepLines(body, "data-task"))
		}
		st, _, found := ada.do("GET", "/ideas?q=second", nil, "")
		if st != 200 || !strings.Contains(string(found), "<mark>second</mark> step") || strings.Contains(string(found), "**") {
			t.Fatalf("search snippet:\n%s", grepLines(string(found), "idea-snippet"))
		}
		st, list := ada.json("GET", "/api/ideas?q=second", nil)
		snip := field(list["ideas"].([]any)[0].(map[string]any), "highlight", "snippet")
		if st != 200 || !strings.Contains(snip.(string), "<mark>second</mark>") || strings.Contains(snip.(string), "**") {
			t.Fatalf("API search snippet %q", snip)
		}
	})

	t.Run("tick a task", func(t *testing.T) {
		st, got := ada.json("POST", "/api/ideas/"+id+"/tasks/0", map[string]any{"done": true, "version": 1})
		if st != 200 || got["version"] != 2.0 || !strings.Contains(got["body"].(string), "- [x] **second** step") {
			t.Fatalf("tick: %d %v", st, got)
		}
		st, got = ada.json("POST", "/api/ideas/"+id+"/tasks/1", map[string]any{"done": false, "version": 2})
		if st != 200 || got["version"] != 3.0 || !strings.Contains(got["body"].(string), "- [ ] first step") {
			t.Fatalf("clear: %d %v", st, got)
		}
		// The rest of the body is byte for byte what it was.
		want := strings.Replace(strings.Replace(taskBody, "- [ ] **second**", "- [x] **second**", 1), "- [x] first", "- [ ] first", 1)
		if got["body"] != want {
			t.Fatalf("body after two ticks %q, want %q", got["body"], want)
		}
	})
	t.Run("a stale version is a conflict", func(t *testing.T) {
		st, got := ada.json("POST", "/api/ideas/"+id+"/tasks/0", map[string]any{"done": false, "version": 1})
		if st != http.StatusConflict || field(got, "current", "version") != 3.0 || field(got, "error", "code") != "conflict" {
			t.Fatalf("stale tick: %d %v", st, got)
		}
		if _, now := ada.json("GET", "/api/ideas/"+id, nil); now["version"] != 3.0 {
			t.Fatalf("a refused tick changed the idea: %v", now)
		}
	})
	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			who    *ideasClient
			path   string
			body   any
			status int
		}{
			{ada, "/api/ideas/" + id + "/tasks/2", map[string]any{"done": true, "version": 3}, 404},
			{bob, "/api/ideas/" + id + "/tasks/0", map[string]any{"done": true, "version": 3}, 404},
			{ada, "/api/ideas/" + id + "/tasks/x", map[string]any{"done": true, "version": 3}, 422},
			{ada, "/api/ideas/" + id + "/tasks/0", map[string]any{"done": true}, 422},
			{ada, "/api/ideas/" + id + "/tasks/0", map[string]any{"done": true, "version": 3, "extra": 1}, 422},
		} {
			st, got := tc.who.json("POST", tc.path, tc.body)
			if st != tc.status || field(got, "error", "message") == nil {
				t.Errorf("POST %s %v: got %d %v, want %d with an error", tc.path, tc.body, st, got, tc.status)
			}
		}
	})
}

// TestImportIDs moves ideas between accounts and between servers: on
// another server every ID is kept; into a second account on the same
// server they are taken, so each gets a new one and the answer and the
// page list both IDs.
func TestImportIDs(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"RATE_LIMIT_SCALE": "0"}))
	ada := ideasSignIn(t, s, "ada@example.com")
	var ids []string
	for _, title := range []string{"One", "Two", "Three"} {
		_, it := ada.json("POST", "/api/ideas", map[string]any{"title": title})
		ids = append(ids, it["id"].(string))
	}
	st, _, export := ada.do("GET", "/api/ideas/export?format=json", nil, "")
	if st != 200 {
		t.Fatalf("export: %d", st)
	}

	type result struct {
		Imported int `json:"imported"`
		KeptIDs  int `json:"keptIds"`
		NewIDs   []struct {
			From, To, Reason string
		} `json:"newIds"`
	}
	importInto := func(c *ideasClient) result {
		st, _, b := c.do("POST", "/api/ideas/import", export, "")
		var r result
		if st != 200 || json.Unmarshal(b, &r) != nil {
			t.Fatalf("import: %d %s", st, b)
		}
		return r
	}

	t.Run("another server keeps every ID", func(t *testing.T) {
		s2 := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"RATE_LIMIT_SCALE": "0"}))
		ada2 := ideasSignIn(t, s2, "ada@example.com")
		r := importInto(ada2)
		if r.Imported != 3 || r.KeptIDs != 3 || len(r.NewIDs) != 0 {
			t.Fatalf("got %+v, want 3 imported with their IDs", r)
		}
		for _, id := range ids {
			if st, _ := ada2.json("GET", "/api/ideas/"+id, nil); st != 200 {
				t.Fatalf("idea %s after the move: %d", id, st)
			}
		}
	})
	t.Run("a second account on the same server gets new IDs, listed", func(t *testing.T) {
		bob := ideasSignIn(t, s, "bob@example.com")
		r := importInto(bob)
		if r.Imported != 3 || r.KeptIDs != 0 || len(r.NewIDs) != 3 {
			t.Fatalf("got %+v, want 3 imported with new IDs", r)
		}
		for i, c := range r.NewIDs {
			if c.From != ids[i] || c.Reason != "taken" || c.To == c.From {
				t.Fatalf("newIds[%d] = %+v", i, c)
			}
			if st, _ := bob.json("GET", "/api/ideas/"+c.To, nil); st != 200 {
				t.Fatalf("new ID %s: %d", c.To, st)
			}
		}
	})
	t.Run("the import page says which IDs changed", func(t *testing.T) {
		cy := ideasSignIn(t, s, "cy@example.com")
		st, page := uploadImport(t, cy, export)
		if st != 200 || !strings.Contains(page, "Imported 3 ideas.") || !strings.Contains(page, "3 got a new ID") ||
			!strings.Contains(page, "<code>"+ids[0]+"</code> →") {
			t.Fatalf("import page: %d\n%s", st, grepLines(page, "import"))
		}
	})
}

// uploadImport posts file to the import page as its form does.
func uploadImport(t *testing.T, c *ideasClient, file []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "ideas.json")
	fw.Write(file)
	mw.Close()
	st, _, b := c.do("POST", "/ideas/import", buf.Bytes(), mw.FormDataContentType())
	return st, string(b)
}
