package chatstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/chat/chatstore"
)

// TestHistoryFromRecent: History serves the text of the turns this store
// wrote from memory (seen here by changing a row behind its back, which a
// read from the database would show), and is exact anyway: a message
// deleted or added by another process (a second store on the same
// database), an answer another process finished, and a member or
// community that is not the conversation's all come out as the database
// says.
func TestHistoryFromRecent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, other := chatstore.New(db), chatstore.New(db)
		addUser(t, db, "u1")
		addUser(t, db, "u2")
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		if err := s.CreateConversation(ctx, chat.Conversation{ID: "c1", CommunityID: "alpha", UserID: "u1", Title: "T", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		turn := func(st *chatstore.Store, i int, finish bool) chat.Message {
			t.Helper()
			um := chat.Message{ID: fmt.Sprintf("m%02d1", i), ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: ai.User, Content: fmt.Sprintf("question %d", i), Status: chat.Complete, CreatedAt: now}
			ans := chat.Message{ID: fmt.Sprintf("m%02d2", i), ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: ai.Assistant, Status: chat.Streaming, CreatedAt: now}
			if _, took, err := st.StartTurn(ctx, chat.Turn{Day: "2026-11-23", User: &um, Answer: ans}); err != nil || !took {
				t.Fatalf("turn %d: %v %v", i, took, err)
			}
			if finish {
				ans.Content, ans.Status = fmt.Sprintf("answer %d", i), chat.Complete
				if err := st.FinishMessage(ctx, ans); err != nil {
					t.Fatal(err)
				}
			}
			return ans
		}
		contents := func(ms []chat.Message) string {
			out := ""
			for _, m := range ms {
				out += m.ID + "=" + string(m.Status) + ":" + m.Content + " "
			}
			return out
		}
		history := func(st *chatstore.Store, community, user string, limit int) string {
			t.Helper()
			h, err := st.History(ctx, community, user, "c1", limit)
			if err != nil {
				t.Fatal(err)
			}
			return contents(h)
		}
		for i := range 3 {
			turn(s, i, true)
		}
		want := "m001=complete:question 0 m002=complete:answer 0 m011=complete:question 1 m012=complete:answer 1 m021=complete:question 2 m022=complete:answer 2 "
		if got := history(s, "alpha", "u1", 20); got != want {
			t.Fatalf("history:\n got %s\nwant %s", got, want)
		}
		// Served from memory: a change made behind the store's back (which
		// nothing in the product makes) does not show here, but does from
		// a store that never saw these turns.
		if _, err := db.Exec(ctx, `UPDATE voyager_messages SET content = 'changed' WHERE id = 'm012'`); err != nil {
			t.Fatal(err)
		}
		if got := history(s, "alpha", "u1", 20); got != want {
			t.Fatalf("history after a change behind its back was read anew:\n got %s\nwant %s", got, want)
		}
		if got := history(other, "alpha", "u1", 20); got == want {
			t.Fatalf("the other store served what it never read: %s", got)
		}
		// Forgotten with the member's account: read anew.
		s.ForgetUser("u1")
		if got := history(s, "alpha", "u1", 20); got == want {
			t.Fatalf("ForgetUser left the member's messages served from memory: %s", got)
		}
		if _, err := db.Exec(ctx, `UPDATE voyager_messages SET content = 'answer 1' WHERE id = 'm012'`); err != nil {
			t.Fatal(err)
		}
		s.ForgetUser("u1") // it kept the changed text it read
		if got := history(s, "alpha", "u1", 20); got != want {
			t.Fatalf("history:\n got %s\nwant %s", got, want)
		}
		// The last limit messages only.
		if got := history(s, "alpha", "u1", 2); got != "m021=complete:question 2 m022=complete:answer 2 " {
			t.Fatalf("history limit 2: %s", got)
		}
		// Another member, another community: nothing, cached or not.
		for _, who := range [][2]string{{"alpha", "u2"}, {"beta", "u1"}} {
			if got := history(s, who[0], who[1], 20); got != "" {
				t.Fatalf("history as %v: %s", who, got)
			}
		}
		// Deleted by another process: gone from the history at once.
		if err := other.DeleteMessage(ctx, "c1", "m011"); err != nil {
			t.Fatal(err)
		}
		want = "m001=complete:question 0 m002=complete:answer 0 m012=complete:answer 1 m021=complete:question 2 m022=complete:answer 2 "
		if got := history(s, "alpha", "u1", 20); got != want {
			t.Fatalf("after another's delete:\n got %s\nwant %s", got, want)
		}
		// A turn another process started shows streaming, and its answer
		// once that process finished it.
		ans := turn(other, 3, false)
		if got := history(s, "alpha", "u1", 2); got != "m031=complete:question 3 m032=streaming: " {
			t.Fatalf("another's streaming turn: %s", got)
		}
		ans.Content, ans.Status = "answer 3", chat.Stopped
		if err := other.FinishMessage(ctx, ans); err != nil {
			t.Fatal(err)
		}
		if got := history(s, "alpha", "u1", 2); got != "m031=complete:question 3 m032=stopped:answer 3 " {
			t.Fatalf("another's finished answer: %s", got)
		}
		// A deleted conversation has no history.
		if err := s.DeleteConversation(ctx, "alpha", "u1", "c1"); err != nil {
			t.Fatal(err)
		}
		if got := history(s, "alpha", "u1", 20); got != "" {
			t.Fatalf("deleted conversation: %s", got)
		}
	}, voyager.Migrations())
}
