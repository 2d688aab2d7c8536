package chatstore_test

import (
	"context"
	"strings"
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

func TestFindConversations(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := chatstore.New(db)
		addUser(t, db, "u1")
		addUser(t, db, "u2")
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		add := func(id, community, user, title string, texts ...string) {
			t.Helper()
			if err := s.CreateConversation(ctx, chat.Conversation{ID: id, CommunityID: community, UserID: user, Title: title, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
			for i, text := range texts {
				now = now.Add(time.Minute)
				role := ai.User
				if i%2 == 1 {
					role = ai.Assistant
				}
				if err := s.AddMessage(ctx, chat.Message{ID: id + "-m" + string(rune('a'+i)), ConversationID: id, UserID: user, CommunityID: community, Role: role, Content: text, Status: chat.Complete, CreatedAt: now}); err != nil {
					t.Fatal(err)
				}
			}
		}
		add("c-raise", "alpha", "u1", "Asking for a raise", "How do I ask for a raise?", "Start with your **market rate**, then book a meeting.")
		add("c-pm", "alpha", "u1", "Moving into product", "Should I move to product management?", "It depends on what you enjoy: the Market is wide.")
		add("c-pct", "alpha", "u1", "Equity", "Is 100% equity_vesting normal?")
		add("c-empty", "alpha", "u1", chat.DefaultTitle)
		add("c-other-user", "alpha", "u2", "Raise", "raise please")
		add("c-other-community", "beta", "u1", "Raise in beta", "market rate")

		ids := func(cs []chat.Conversation) string {
			var out []string
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return strings.Join(out, ",")
		}
		for _, tc := range []struct{ q, want string }{
			{"", "c-pct,c-pm,c-raise"}, // newest first; the empty one and others' are left out
			{"raise", "c-raise"},       // title and text
			{"MARKET", "c-pm,c-raise"}, // case-insensitive, assistant text too
			{"product", "c-pm"},        // title only
			{"100%", "c-pct"},          // LIKE wildcards are literal
			{"100_", ""},               // "_" is not "any character"
			{"_", "c-pct"},
			{"nothing like this", ""},
		} {
			got, err := s.FindConversations(ctx, "alpha", "u1", tc.q, 0)
			if err != nil {
				t.Fatal(err)
			}
			if ids(got) != tc.want {
				t.Errorf("q %q: got %q, want %q", tc.q, ids(got), tc.want)
			}
		}
		got, _ := s.FindConversations(ctx, "alpha", "u1", "market", 0)
		if len(got) != 2 || !strings.Contains(got[1].Snippet, "**market rate**") {
			t.Errorf("got snippets %+v, want the matching answer's text", got)
		}
		if got, _ := s.FindConversations(ctx, "alpha", "u1", "market", 1); len(got) != 1 {
			t.Errorf("limit 1: got %d", len(got))
		}

		// The newest empty conversation is reused by "New conversation".
		if c, err := s.EmptyConversation(ctx, "alpha", "u1"); err != nil || c.ID != "c-empty" {
			t.Fatalf("got %v %v, want c-empty", c.ID, err)
		}
		if _, err := s.EmptyConversation(ctx, "alpha", "u2"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("got %v, want not found", err)
		}
	}, voyager.Migrations())
}

func TestInvitesListAndRevoke(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := chatstore.New(db)
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		for i, id := range []string{"i1", "i2"} {
			inv := chat.Invite{ID: id, CommunityID: "alpha", Role: chat.RoleMember, MaxUses: 2, CreatedAt: now.Add(time.Duration(i) * time.Minute), ExpiresAt: now.Add(24 * time.Hour)}
			if err := s.CreateInvite(ctx, inv, "hash-"+id); err != nil {
				t.Fatal(err)
			}
		}
		s.CreateInvite(ctx, chat.Invite{ID: "b1", CommunityID: "beta", Role: chat.RoleMember, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, "hash-b1")
		if _, err := s.UseInvite(ctx, "alpha", "hash-i1", now); err != nil {
			t.Fatal(err)
		}
		list, err := s.Invites(ctx, "alpha")
		if err != nil || len(list) != 2 || list[0].ID != "i2" || list[1].Uses != 1 {
			t.Fatalf("got %+v %v, want i2 then i1 with one use", list, err)
		}
		if err := s.RevokeInvite(ctx, "beta", "i1"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("revoked another community's invite: %v", err)
		}
		if err := s.RevokeInvite(ctx, "alpha", "i1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseInvite(ctx, "alpha", "hash-i1", now); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("a revoked invite still works: %v", err)
		}
	}, voyager.Migrations())
}
