package voyager_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/chat/chatstore"
)

// TestArchive archives conversations last active before a date on both
// back ends: a dry run only counts; the real run writes them, grouped by
// member in the export's shape, deletes them, keeps the newer ones and
// audits the counts.
func TestArchive(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := chatstore.New(db)
		old := time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)
		recent := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
		for _, u := range []string{"u1", "u2"} {
			if _, err := db.Exec(ctx, `INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)`, u, u+"@example.com", old); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Join(ctx, chat.Membership{CommunityID: "alpha", UserID: u, Role: chat.RoleMember, CreatedAt: old}); err != nil {
				t.Fatal(err)
			}
		}
		add := func(id, user string, at time.Time, msgs int) {
			if err := s.CreateConversation(ctx, chat.Conversation{ID: id, CommunityID: "alpha", UserID: user, Title: "T " + id, CreatedAt: at, UpdatedAt: at}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < msgs; i++ {
				m := chat.Message{ID: id + "-m" + string(rune('0'+i)), ConversationID: id, UserID: user, CommunityID: "alpha", Role: ai.User, Content: "question " + id, Status: chat.Complete, CreatedAt: at.Add(time.Duration(i) * time.Second)}
				if err := s.AddMessage(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
		}
		add("old1", "u1", old, 2)
		add("old2", "u1", old.Add(time.Hour), 1)
		add("old3", "u2", old, 3)
		add("new1", "u1", recent, 1)
		before := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		file := filepath.Join(t.TempDir(), "archive.json")

		dry, err := voyager.Archive(ctx, db, voyager.ArchiveOptions{Before: before, File: file, DryRun: true})
		if err != nil || dry.Conversations != 3 || dry.Messages != 6 || dry.Members != 2 {
			t.Fatalf("dry run: got %+v, %v; want 3 conversations, 6 messages, 2 members", dry, err)
		}
		if _, err := os.Stat(file); err == nil {
			t.Fatal("the dry run wrote a file")
		}
		if left, _ := s.StaleConversations(ctx, before); len(left) != 3 {
			t.Fatalf("the dry run deleted: %d stale conversations left, want 3", len(left))
		}

		res, err := voyager.Archive(ctx, db, voyager.ArchiveOptions{Before: before, File: file})
		if err != nil || res.Deleted != 3 {
			t.Fatalf("archive: got %+v, %v", res, err)
		}
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("archive file: %v, %v; want mode 0600", fi, err)
		}
		b, _ := os.ReadFile(file)
		var doc struct {
			Format  string
			Version int
			Members []struct {
				UserID  string `json:"user_id"`
				Voyager struct {
					Memberships   []chat.Membership
					Conversations []struct {
						ID       string
						Title    string
						Messages []chat.Message
					}
				}
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Format != voyager.ArchiveFormat || len(doc.Members) != 2 || doc.Members[0].UserID != "u1" || len(doc.Members[0].Voyager.Conversations) != 2 ||
			len(doc.Members[0].Voyager.Memberships) != 1 || len(doc.Members[1].Voyager.Conversations[0].Messages) != 3 ||
			doc.Members[1].Voyager.Conversations[0].Messages[0].Content != "question old3" {
			t.Fatalf("archive content: %s", b)
		}
		if left, _ := s.StaleConversations(ctx, before); len(left) != 0 {
			t.Fatalf("%d stale conversations left after archiving", len(left))
		}
		if msgs, _ := s.Messages(ctx, "old1", 0); len(msgs) != 0 {
			t.Fatalf("archived conversation's messages are still there: %v", msgs)
		}
		if c, err := s.Conversation(ctx, "alpha", "u1", "new1"); err != nil || c.ID != "new1" {
			t.Fatalf("the recent conversation: %v, %v", c, err)
		}
		entries, err := audit.New(db, nil).List(ctx, audit.Filter{Action: "conversations_archived"})
		if err != nil || len(entries) != 1 || entries[0].Metadata["conversations"] != float64(3) {
			t.Fatalf("audit: %+v, %v", entries, err)
		}
		if _, err := voyager.Archive(ctx, db, voyager.ArchiveOptions{Before: before, File: file}); err == nil {
			t.Fatal("archiving onto an existing file: got nil error")
		}
	}, voyager.Migrations())
}
