package chatstore_test

import (
	"context"
	"fmt"
	"sync"
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

// TestConcurrentTurns starts and finishes many turns at once (so they
// share commits): the daily limit holds exactly, a turn whose write fails
// fails alone and leaves nothing behind (not even its count), and every
// answer's final state is saved.
func TestConcurrentTurns(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := chatstore.New(db)
		addUser(t, db, "u1")
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		if err := s.CreateConversation(ctx, chat.Conversation{ID: "c1", CommunityID: "alpha", UserID: "u1", Title: "T", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		taken := chat.Message{ID: "taken", ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: ai.User, Content: "x", Status: chat.Complete, CreatedAt: now}
		if err := s.AddMessage(ctx, taken); err != nil {
			t.Fatal(err)
		}
		const n, limit = 40, 30
		type result struct {
			id   string
			took bool
			err  error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				um := chat.Message{ID: fmt.Sprintf("u%02d", i), ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: ai.User, Content: "q", Status: chat.Complete, CreatedAt: now}
				day := "2026-11-23"
				if i == 7 {
					// This turn's insert fails (on a day of its own, so the
					// limit never refuses it first).
					um.ID, day = "taken", "2026-11-24"
				}
				ans := chat.Message{ID: fmt.Sprintf("a%02d", i), ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: ai.Assistant, Status: chat.Streaming, CreatedAt: now}
				<-start
				_, took, err := s.StartTurn(ctx, chat.Turn{Day: day, Limit: limit, User: &um, Answer: ans})
				results[i] = result{ans.ID, took, err}
			}()
		}
		close(start)
		wg.Wait()
		took := 0
		for i, r := range results {
			switch {
			case i == 7 && (r.err == nil || r.took):
				t.Fatalf("turn with a taken message ID: got took %v err %v, want an error", r.took, r.err)
			case i != 7 && r.err != nil:
				t.Fatalf("turn %d failed with another's write: %v", i, r.err)
			case r.took:
				took++
			}
		}
		if took != limit {
			t.Fatalf("got %d turns taken, want %d", took, limit)
		}
		if used, _ := s.Usage(ctx, "alpha", "u1", "2026-11-23"); used != limit {
			t.Fatalf("got usage %d, want %d (the failed turn is not counted)", used, limit)
		}
		if used, _ := s.Usage(ctx, "alpha", "u1", "2026-11-24"); used != 0 {
			t.Fatalf("got usage %d on the failed turn's day, want 0", used)
		}
		if _, err := s.Message(ctx, "alpha", "u1", "a07"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("failed turn's answer: got %v, want not found", err)
		}

		// Finish every answer at once, and one that does not exist.
		errs := make([]error, n+1)
		for i := range n + 1 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.FinishMessage(ctx, chat.Message{ID: fmt.Sprintf("a%02d", i), Content: fmt.Sprintf("answer %d", i), Status: chat.Complete})
			}()
		}
		wg.Wait()
		for i, r := range results {
			if !r.took {
				if !apperr.Is(errs[i], apperr.NotFound) {
					t.Fatalf("finish of unwritten answer %s: got %v, want not found", r.id, errs[i])
				}
				continue
			}
			if errs[i] != nil {
				t.Fatalf("finish %s: %v", r.id, errs[i])
			}
			m, err := s.Message(ctx, "alpha", "u1", r.id)
			if err != nil || m.Status != chat.Complete || m.Content != fmt.Sprintf("answer %d", i) {
				t.Fatalf("answer %s: got %q %s %v", r.id, m.Content, m.Status, err)
			}
		}
		if !apperr.Is(errs[n], apperr.NotFound) {
			t.Fatalf("finish of a missing answer: got %v, want not found", errs[n])
		}
	}, voyager.Migrations())
}
