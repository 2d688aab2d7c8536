package chatstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/chat/chatstore"
)

// TestConsoleStats covers the admin console's figures: activity per
// community in a period, members, quota use and provider use.
func TestConsoleStats(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := chatstore.New(db)
		addUser(t, db, "u1")
		addUser(t, db, "u2")
		now := time.Date(2026, 11, 23, 10, 30, 0, 0, time.UTC)
		for _, m := range []chat.Membership{{CommunityID: "alpha", UserID: "u1"}, {CommunityID: "alpha", UserID: "u2"}, {CommunityID: "beta", UserID: "u1"}} {
			m.Role, m.CreatedAt = chat.RoleMember, now
			if _, err := s.Join(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		conv := chat.Conversation{ID: "c1", CommunityID: "alpha", UserID: "u1", Title: "T", CreatedAt: now, UpdatedAt: now}
		if err := s.CreateConversation(ctx, conv); err != nil {
			t.Fatal(err)
		}
		add := func(id string, role ai.Role, at time.Time) {
			if err := s.AddMessage(ctx, chat.Message{ID: id, ConversationID: "c1", UserID: "u1", CommunityID: "alpha", Role: role, Content: "x", Status: chat.Complete, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		add("m1", ai.User, now)
		add("m2", ai.Assistant, now.Add(time.Second))
		add("m3", ai.User, now.Add(-2*time.Hour)) // outside the hour
		if err := s.FinishMessage(ctx, chat.Message{ID: "m2", Content: "a", Status: chat.Complete, Provider: "anthropic", Usage: ai.Usage{Input: 10, Output: 20, CacheRead: 5}, LatencyMS: 300, CostMicros: 1500}); err != nil {
			t.Fatal(err)
		}
		hour := now.Truncate(time.Hour)
		act, err := s.ActivityBetween(ctx, hour, hour.Add(time.Hour))
		if err != nil || act["alpha"] != (chatstore.CommunityActivity{Messages: 2, Tokens: 35, CostMicros: 1500}) || len(act) != 1 {
			t.Fatalf("activity %+v %v", act, err)
		}
		members, err := s.MemberCounts(ctx)
		if err != nil || members["alpha"] != 2 || members["beta"] != 1 {
			t.Fatalf("members %v %v", members, err)
		}
		for i := 0; i < 2; i++ {
			if _, _, err := s.TakeAnswer(ctx, "alpha", "u1", "2026-11-23", 2); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.TakeAnswer(ctx, "alpha", "u2", "2026-11-23", 2); err != nil {
			t.Fatal(err)
		}
		use, err := s.UsageOn(ctx, "2026-11-23", map[string]int{"alpha": 2})
		if err != nil || use["alpha"] != (chatstore.DayUsage{Answers: 3, Members: 2, AtLimit: 1}) {
			t.Fatalf("usage %+v %v", use, err)
		}
		prov, err := s.ProviderUseSince(ctx, hour)
		if err != nil || prov["anthropic"].Answers != 1 || prov["anthropic"].AvgLatencyMs != 300 {
			t.Fatalf("providers %+v %v", prov, err)
		}
	}, voyager.Migrations())
}
