package main

import (
	"bytes"
	"database/sql"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
	"github.com/relaywork/suite/internal/voyager/coach/coachtest"
)

// TestCoachAccountDeletionErasesBytes: a member fills in a profile, keeps
// a fact, is proposed another, attaches a Word CV to a conversation and a
// Markdown note to the profile, each with its own marker text; after
// /account/delete none of the markers is left in the SQLite database, its
// -wal or -shm, nor in the FILES_URL folder when files are kept there
// (which is then empty).
func TestCoachAccountDeletionErasesBytes(t *testing.T) {
	t.Parallel()
	for _, where := range []string{"database", "folder"} {
		t.Run(where, func(t *testing.T) {
			t.Parallel()
			const (
				email    = "wombat.coach.erasure@example.com"
				profile  = "Quasar-pelican current role"
				kept     = "You keep a Vermilion-tortoise fact"
				proposed = "You were proposed a Cobalt-heron fact"
				cvLine   = "Led the Saffron-walrus platform at Obsidian-lynx Ltd"
				note     = "Tangerine-narwhal profile note"
			)
			ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Noted.\n\n[remember: " + proposed + "]"}})
			defer ant.Close()
			files := ""
			extra := map[string]string{}
			if where == "folder" {
				files = t.TempDir()
				extra["FILES_URL"] = "file://" + files
			}
			env := voyagerEnv(t, ant, nil, extra)
			s := apptest.Start(t, run, env)
			c := signIn(t, s, email, false)
			if r := do(t, c, "POST", s.URL+"/c/alpha/join", "", nil); r.status != 200 {
				t.Fatalf("join: %d", r.status)
			}
			api := s.URL + "/api/c/alpha"
			if r := do(t, c, "PUT", api+"/profile", "", map[string]string{"current_role": profile}); r.status != 200 {
				t.Fatalf("profile: %d %s", r.status, r.body)
			}
			if r := do(t, c, "POST", api+"/memories", "", map[string]string{"text": kept}); r.status != 201 {
				t.Fatalf("memory: %d %s", r.status, r.body)
			}
			conv := newConversation(t, c, s)
			if r := uploadDoc(t, c, api+"/documents?conversation="+conv, "cv.docx", coachtest.DOCX(t, "Ada", cvLine)); r.status != 201 {
				t.Fatalf("attach the CV: %d %s", r.status, r.body)
			}
			if r := uploadDoc(t, c, api+"/documents", "notes.md", []byte("# Notes\n\n"+note+"\n")); r.status != 201 {
				t.Fatalf("attach the note: %d %s", r.status, r.body)
			}
			ask(t, c, s, conv, "Read my CV please")
			if r := do(t, c, "GET", api+"/profile", "", nil); !strings.Contains(r.body, `"status":"proposed"`) {
				t.Fatalf("no proposed fact after the answer: %s", r.body)
			}
			// Some of it in the database file's pages, the rest (and the
			// edit) in the WAL.
			db, err := sql.Open("sqlite", filepath.Join(env["DATA_DIR"], "voyager.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if r := do(t, c, "PUT", api+"/profile", "", map[string]string{"current_role": profile + " (edited)"}); r.status != 200 {
				t.Fatalf("profile edit: %d %s", r.status, r.body)
			}

			markers := []string{profile, kept, proposed, cvLine, note}
			for _, m := range markers {
				if found(t, env["DATA_DIR"], []string{m}) == 0 {
					t.Fatalf("%q is not in the database files before the deletion; the test proves nothing", m)
				}
			}
			if files != "" {
				if n, _ := inFolder(t, files, []string{note}); n == 0 {
					t.Fatal("the note's bytes are not in the FILES folder before the deletion; the test proves nothing")
				}
			}

			resp, err := c.PostForm(s.URL+"/account/delete", url.Values{"confirm": {email}})
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("delete: %v %v", err, resp)
			}
			resp.Body.Close()

			if n := found(t, env["DATA_DIR"], markers); n != 0 {
				t.Fatalf("found the deleted member's coach data %d times in voyager.db, -wal or -shm", n)
			}
			if files != "" {
				if n, left := inFolder(t, files, markers); n != 0 || left != 0 {
					t.Fatalf("the FILES folder holds %d file(s) and the markers %d times after the deletion, want none", left, n)
				}
				// Nor a folder named after the member (community/userID/).
				if entries, _ := os.ReadDir(files); len(entries) != 0 {
					t.Fatalf("the FILES folder still holds %v after the deletion, want nothing", entries)
				}
			}
		})
	}
}

// inFolder counts the strings in every file under dir, and the files.
func inFolder(t *testing.T, dir string, ss []string) (n, files int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range ss {
			if c := bytes.Count(b, []byte(s)); c > 0 {
				t.Logf("%q appears %d times in %s", s, c, strings.TrimPrefix(p, dir))
				n += c
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, files
}
