package chatstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/chat/chatstore"
)

func addUser(t *testing.T, db *store.DB, id string) {
	t.Helper()
	if _, err := db.Exec(context.Background(), `INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)`, id, id+"@example.com", time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := chatstore.New(db)
		addUser(t, db, "u1")
		addUser(t, db, "u2")
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

		// Membership: join is idempotent and keeps the first role.
		if _, err := s.Membership(ctx, "alpha", "u1"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("got %v, want not found", err)
		}
		m, err := s.Join(ctx, chat.Membership{CommunityID: "alpha", UserID: "u1", Role: chat.RoleAdmin, CreatedAt: now})
		if err != nil || m.Role != chat.RoleAdmin {
			t.Fatalf("join: %v %v", m, err)
		}
		if m, _ := s.Join(ctx, chat.Membership{CommunityID: "alpha", UserID: "u1", Role: chat.RoleMember, CreatedAt: now}); m.Role != chat.RoleAdmin {
			t.Fatalf("rejoin changed the role to %s", m.Role)
		}

		// Conversations are scoped by community and user.
		conv := chat.Conversation{ID: "c1", CommunityID: "alpha", UserID: "u1", Title: "T", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateConversation(ctx, conv); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ community, user string }{{"beta", "u1"}, {"alpha", "u2"}} {
			if _, err := s.Conversation(ctx, tc.community, tc.user, "c1"); !apperr.Is(err, apperr.NotFound) {
				t.Fatalf("%v read another's conversation: %v", tc, err)
			}
			if err := s.DeleteConversation(ctx, tc.community, tc.user, "c1"); !apperr.Is(err, apperr.NotFound) {
				t.Fatalf("%v deleted another's conversation: %v", tc, err)
			}
		}

		// Messages keep accounting and come back oldest first.
		for i, role := range []ai.Role{ai.User, ai.Assistant, ai.User} {
			msg := chat.Message{ID: "m" + string(rune('1'+i)), ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: role, Content: "x", Status: chat.Complete, CreatedAt: now.Add(time.Duration(i) * time.Second)}
			if err := s.AddMessage(ctx, msg); err != nil {
				t.Fatal(err)
			}
		}
		fin := chat.Message{ID: "m2", Content: "answer", Status: chat.Interrupted, Provider: "anthropic", Model: "claude-sonnet-4-5",
			Usage: ai.Usage{Input: 1, Output: 2, CacheRead: 3, CacheWrite: 4}, LatencyMS: 5, FirstTokenMS: 6, FinishReason: "interrupted", CostMicros: 7, Error: "e"}
		if err := s.FinishMessage(ctx, fin); err != nil {
			t.Fatal(err)
		}
		got, err := s.Message(ctx, "alpha", "u1", "m2")
		if err != nil || got.Usage != fin.Usage || got.Status != chat.Interrupted || got.CostMicros != 7 || got.Provider != "anthropic" || got.FirstTokenMS != 6 {
			t.Fatalf("got %+v, %v", got, err)
		}
		if _, err := s.Message(ctx, "alpha", "u2", "m2"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("u2 read u1's message: %v", err)
		}
		last2, _ := s.Messages(ctx, "c1", 2)
		if len(last2) != 2 || last2[0].ID != "m2" || last2[1].ID != "m3" {
			t.Fatalf("got last two %v", last2)
		}
		// History: the same last messages with what a request needs, and
		// nothing of the conversation for another member or community.
		// (Twice: the second read reuses the prepared statement.)
		for range 2 {
			h, err := s.History(ctx, "alpha", "u1", "c1", 2)
			if err != nil || len(h) != 2 || h[0].ID != "m2" || h[0].Content != "answer" || h[0].Role != ai.Assistant || h[0].Status != chat.Interrupted || h[1].ID != "m3" || h[1].Role != ai.User {
				t.Fatalf("history: %+v %v", h, err)
			}
		}
		for _, tc := range []struct{ community, user string }{{"beta", "u1"}, {"alpha", "u2"}} {
			if h, err := s.History(ctx, tc.community, tc.user, "c1", 20); err != nil || len(h) != 0 {
				t.Fatalf("%v read another's history: %v %v", tc, h, err)
			}
		}

		// The daily limit holds and is per day.
		for i := 1; i <= 3; i++ {
			n, ok, err := s.TakeAnswer(ctx, "alpha", "u1", "2026-11-23", 2)
			if err != nil || (i <= 2) != ok || n != min(i, 2) {
				t.Fatalf("take %d: got %d %v %v", i, n, ok, err)
			}
		}
		if n, ok, _ := s.TakeAnswer(ctx, "alpha", "u1", "2026-11-24", 2); !ok || n != 1 {
			t.Fatalf("next day: %d %v", n, ok)
		}
		if n, _ := s.Usage(ctx, "alpha", "u1", "2026-11-23"); n != 2 {
			t.Fatalf("usage %d", n)
		}

		// A turn is written in one transaction and refused whole at the limit.
		um := chat.Message{ID: "t1", ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: ai.User, Content: "q", Status: chat.Complete, CreatedAt: now}
		ans := chat.Message{ID: "t2", ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: ai.Assistant, Status: chat.Streaming, CreatedAt: now}
		n, took, err := s.StartTurn(ctx, chat.Turn{Day: "2026-11-25", Limit: 1, User: &um, Answer: ans, Title: "Q"})
		if err != nil || !took || n != 1 {
			t.Fatalf("start turn: %d %v %v", n, took, err)
		}
		if c, _ := s.Conversation(ctx, "alpha", "u1", "c1"); c.Title != "Q" {
			t.Fatalf("title %q", c.Title)
		}
		ans2 := ans
		ans2.ID = "t3"
		if _, took, err := s.StartTurn(ctx, chat.Turn{Day: "2026-11-25", Limit: 1, ReplaceID: "t2", Answer: ans2}); err != nil || took {
			t.Fatalf("over the limit: %v %v", took, err)
		}
		if _, err := s.Message(ctx, "alpha", "u1", "t2"); err != nil {
			t.Fatalf("a refused turn deleted the answer: %v", err)
		}
		if _, took, _ := s.StartTurn(ctx, chat.Turn{Day: "2026-11-25", Limit: 2, ReplaceID: "t2", Answer: ans2}); !took {
			t.Fatal("regenerate refused")
		}
		if _, err := s.Message(ctx, "alpha", "u1", "t2"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("regenerated answer kept: %v", err)
		}

		// Invites: used up after max uses, scoped to their community.
		inv := chat.Invite{ID: "i1", CommunityID: "beta", Role: chat.RoleMember, MaxUses: 1, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.CreateInvite(ctx, inv, "hash"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseInvite(ctx, "alpha", "hash", now); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("invite used for another community: %v", err)
		}
		if _, err := s.UseInvite(ctx, "beta", "hash", now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseInvite(ctx, "beta", "hash", now); !apperr.Is(err, apperr.Gone) {
			t.Fatalf("second use: %v", err)
		}

		// Handoff tokens: one use, for their community, unexpired.
		if err := s.CreateHandoff(ctx, "h1", "b1", "u1", "beta", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseHandoff(ctx, "h1", "b1", "alpha", now); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("handoff for another community: %v", err)
		}
		if uid, err := s.UseHandoff(ctx, "h1", "b1", "beta", now); err != nil || uid != "u1" {
			t.Fatalf("handoff: %q %v", uid, err)
		}
		if _, err := s.UseHandoff(ctx, "h1", "b1", "beta", now); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("handoff reused: %v", err)
		}
		s.CreateHandoff(ctx, "h2", "b1", "u1", "beta", now)
		if _, err := s.UseHandoff(ctx, "h2", "b1", "beta", now); !apperr.Is(err, apperr.Gone) {
			t.Fatalf("expired handoff: %v", err)
		}
		// Presented by another browser (another binding): refused, and spent.
		s.CreateHandoff(ctx, "h3", "b1", "u1", "beta", now.Add(time.Minute))
		if uid, err := s.UseHandoff(ctx, "h3", "b2", "beta", now); !apperr.Is(err, apperr.Forbidden) || uid != "" {
			t.Fatalf("handoff from another browser: %q %v", uid, err)
		}
		if _, err := s.UseHandoff(ctx, "h3", "b1", "beta", now); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("handoff after a refusal: %v, want it spent", err)
		}
		if err := s.CreateHandoff(ctx, "h4", "", "u1", "beta", now.Add(time.Minute)); err == nil {
			t.Fatal("a handoff without a binding was stored")
		}

		// Left streaming by a dead process: interrupted.
		s.AddMessage(ctx, chat.Message{ID: "m9", ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: ai.Assistant, Status: chat.Streaming, CreatedAt: now})
		if n, err := s.InterruptStreaming(ctx, now.Add(time.Second)); err != nil || n != 2 { // m9 and the turn's t3
			t.Fatalf("interrupt: %d %v", n, err)
		}

		// Deleting the user removes memberships, conversations, messages, usage.
		if _, err := db.Exec(ctx, `DELETE FROM users WHERE id = ?`, "u1"); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"voyager_memberships", "voyager_conversations", "voyager_messages", "voyager_usage"} {
			var n int
			db.QueryRow(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n)
			if n != 0 {
				t.Fatalf("%s keeps %d rows of a deleted user", table, n)
			}
		}
	}, voyager.Migrations())
}
