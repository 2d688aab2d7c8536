package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

func TestExportAndDeleteAccount(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := newTestService(t, db)
		_, u := signIn(t, s, "ada@example.com")
		_, other := signIn(t, s, "grace@example.com")
		if err := s.linkAccount(ctx, u.ID, "google", "sub-ada", "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.LoginLink(ctx, "ada@example.com", ""); err != nil {
			t.Fatal(err)
		}

		// A product section with its own rows, keyed by user.
		notes := map[string][]string{u.ID: {"first", `quote " and <tag>`}, other.ID: {"theirs"}}
		var deleted []string
		s.AddDataSection(DataSection{
			Name: "notes",
			Export: func(ctx context.Context, userID string, w io.Writer) error {
				return json.NewEncoder(w).Encode(notes[userID])
			},
			Delete: func(ctx context.Context, userID string) error {
				deleted = append(deleted, userID)
				delete(notes, userID)
				return nil
			},
		})

		var buf bytes.Buffer
		if err := s.ExportAccount(ctx, u.ID, &buf); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Format   string
			Version  int
			User     map[string]any
			Accounts []map[string]any
			Sessions []map[string]any
			Notes    []string
		}
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatalf("export is not JSON: %v\n%s", err, buf.String())
		}
		if got.Format != ExportFormat || got.Version != ExportVersion || got.User["email"] != "ada@example.com" ||
			len(got.Accounts) != 1 || len(got.Sessions) != 1 || fmt.Sprint(got.Notes) != fmt.Sprint([]string{"first", `quote " and <tag>`}) {
			t.Fatalf("export: got %+v", got)
		}

		if err := s.DeleteAccount(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(deleted) != fmt.Sprint([]string{u.ID}) {
			t.Fatalf("sections deleted for %v, want only %s", deleted, u.ID)
		}
		if _, err := s.UserByID(ctx, u.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("user after delete: got %v, want NotFound", err)
		}
		for _, q := range []string{
			"SELECT COUNT(*) FROM sessions WHERE user_id = ?",
			"SELECT COUNT(*) FROM accounts WHERE user_id = ?",
		} {
			var n int
			if err := db.QueryRow(ctx, q, u.ID).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s: got %d, %v; want 0", q, n, err)
			}
		}
		var links int
		if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM login_tokens WHERE email = ?", "ada@example.com").Scan(&links); err != nil || links != 0 {
			t.Fatalf("sign-in links left: %d, %v", links, err)
		}
		// The other user is untouched.
		if _, err := s.UserByID(ctx, other.ID); err != nil {
			t.Fatalf("other user: %v", err)
		}
		// The audit log keeps the history, without personal details.
		entries, err := s.o.Audit.List(ctx, audit.Filter{ActorID: u.ID})
		if err != nil || len(entries) < 2 {
			t.Fatalf("audit entries of the deleted user: %d, %v; want the sign-in and the deletion", len(entries), err)
		}
		for _, e := range entries {
			if e.IP != "" || e.UserAgent != "" {
				t.Fatalf("audit entry %s kept personal details: %+v", e.Action, e)
			}
		}
		if entries[0].Action != "account_deleted" {
			t.Fatalf("newest audit entry: got %s, want account_deleted", entries[0].Action)
		}
		if err := s.DeleteAccount(ctx, u.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("second delete: got %v, want NotFound", err)
		}
	})
}
