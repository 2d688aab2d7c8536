package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// TestAccountDeletionErasesBytes: a member writes distinctive text (a
// message, an answer, a conversation title, their address), downloads it
// (usage counts included), deletes the account at /account/delete, and
// then none of it is in the SQLite database, -wal or -shm file; on
// PostgreSQL the rows are gone and the tables were vacuumed.
func TestAccountDeletionErasesBytes(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			const (
				email    = "quokka.erasure.member@example.com"
				question = "Xylophone-umbrella salary question, please forget me"
				answer   = "Zanzibar-lantern answer text"
				title    = "Marmalade-octopus conversation title"
			)
			ant := aitest.Anthropic(aitest.Script{Chunks: []string{answer}})
			defer ant.Close()
			extra := map[string]string{}
			if dialect == "postgres" {
				extra["DATABASE_URL"] = storetest.NewPostgresDB(t)
			}
			env := voyagerEnv(t, ant, nil, extra)
			s := apptest.Start(t, run, env)
			m := signIn(t, s, email, false)
			if r := do(t, m, "POST", s.URL+"/c/alpha/join", "", nil); r.status != 200 {
				t.Fatalf("join: %d", r.status)
			}
			r := do(t, m, "POST", s.URL+"/api/c/alpha/conversations", "", map[string]string{"title": title})
			conv := decode[struct{ ID string }](t, r).ID
			sent := decode[sentJSON](t, do(t, m, "POST", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", map[string]string{"content": question}))
			if evs := stream(t, m, s.URL+sent.StreamURL); len(evs) == 0 || !strings.Contains(evs[len(evs)-1], answer) {
				t.Fatalf("answer: %v", evs)
			}
			if dialect == "sqlite" {
				// Copy what is written so far into the database file, so the
				// text is in both the file's pages and the WAL (the rename).
				db, err := sql.Open("sqlite", filepath.Join(env["DATA_DIR"], "voyager.db"))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
					t.Fatal(err)
				}
				db.Close()
				if r := do(t, m, "PATCH", s.URL+"/api/c/alpha/conversations/"+conv, "", map[string]string{"title": title + " (renamed)"}); r.status != 200 {
					t.Fatalf("rename: %d %s", r.status, r.body)
				}
			}
			// The download holds the daily usage count.
			exp := page(t, m, s.URL+"/account/export", "")
			var export struct {
				Voyager struct {
					Usage []struct {
						CommunityID string `json:"community_id"`
						Day         string `json:"day"`
						Answers     int    `json:"answers"`
					} `json:"usage"`
				} `json:"voyager"`
			}
			if err := json.Unmarshal([]byte(exp.body), &export); err != nil {
				t.Fatalf("export %d: %v\n%s", exp.status, err, exp.body)
			}
			today := time.Now().UTC().Format(time.DateOnly)
			if u := export.Voyager.Usage; len(u) != 1 || u[0].CommunityID != "alpha" || u[0].Day != today || u[0].Answers != 1 {
				t.Fatalf("export usage: got %+v, want one day (alpha, %s, 1)", u, today)
			}

			secrets := []string{email, question, answer, title}
			if dialect == "sqlite" {
				if n := found(t, env["DATA_DIR"], secrets); n == 0 {
					t.Fatal("the member's text is not in the database files before the delete; the test proves nothing")
				}
			}
			resp, err := m.PostForm(s.URL+"/account/delete", url.Values{"confirm": {email}})
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("delete: %v %v", err, resp)
			}
			resp.Body.Close()

			switch dialect {
			case "sqlite":
				if n := found(t, env["DATA_DIR"], secrets); n != 0 {
					t.Fatalf("found the deleted member's text %d times in voyager.db, -wal or -shm", n)
				}
			case "postgres":
				db, err := sql.Open("pgx", env["DATABASE_URL"])
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				ctx := context.Background()
				var n int
				db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM voyager_messages) + (SELECT count(*) FROM voyager_conversations) + (SELECT count(*) FROM users WHERE email = $1)`, email).Scan(&n)
				if n != 0 {
					t.Fatalf("got %d rows left, want 0", n)
				}
				for _, table := range []string{"users", "sessions", "voyager_messages", "voyager_conversations", "voyager_usage", "audit_log"} {
					var vacuumed bool
					if err := db.QueryRowContext(ctx, "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = $1", table).Scan(&vacuumed); err != nil || !vacuumed {
						t.Errorf("%s vacuumed after the deletion: %v (%v), want true", table, vacuumed, err)
					}
				}
			}
		})
	}
}

// found counts the strings in DATA_DIR's voyager.db, -wal and -shm.
func found(t *testing.T, dir string, ss []string) int {
	t.Helper()
	n := 0
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(filepath.Join(dir, "voyager.db"+suffix))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, s := range ss {
			if c := bytes.Count(b, []byte(s)); c > 0 {
				t.Logf("%q appears %d times in voyager.db%s", s, c, suffix)
				n += c
			}
		}
	}
	return n
}
