package coachstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager"
	"github.com/relaywork/suite/internal/voyager/coach"
	"github.com/relaywork/suite/internal/voyager/coach/coachstore"
)

// TestKnown: the one-query read of what the coach knows holds exactly what
// Profile and Memories return (memories oldest first) and says whether
// DocumentsForContext has any document (the profile's or this
// conversation's, not another conversation's, not another member's).
func TestKnown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		addUser(t, db, "u1")
		addUser(t, db, "u2")
		st := coachstore.New(db)
		if p, ms, docs, err := st.Known(ctx, "c1", "u1", "conv1"); err != nil || !p.Empty() || len(ms) != 0 || docs {
			t.Fatalf("nothing known: %+v %v %v %v", p, ms, docs, err)
		}
		now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		if err := st.PutProfile(ctx, coach.Profile{CommunityID: "c1", UserID: "u1", CurrentRole: "Analyst", Experience: "5 years", Goals: "Lead",
			TargetRoles: "Manager", Location: "Porto", Notes: "Remote", UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for i, m := range []coach.Memory{{ID: "b", Text: "second", Status: coach.Proposed}, {ID: "a", Text: "first", Status: coach.Kept}, {ID: "z", Text: "u2's", Status: coach.Kept}} {
			m.CommunityID, m.UserID, m.CreatedAt, m.UpdatedAt = "c1", "u1", now.Add(time.Duration(1-i)*time.Minute), now
			if m.ID == "z" {
				m.UserID = "u2"
			}
			if err := st.AddMemory(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		p, ms, docs, err := st.Known(ctx, "c1", "u1", "conv1")
		want, _ := st.Profile(ctx, "c1", "u1")
		if err != nil || p.CurrentRole != want.CurrentRole || p.Experience != want.Experience || p.Goals != want.Goals || p.TargetRoles != want.TargetRoles ||
			p.Location != want.Location || p.Notes != want.Notes || docs {
			t.Fatalf("profile: %+v want %+v (docs %v, %v)", p, want, docs, err)
		}
		wantMs, _ := st.Memories(ctx, "c1", "u1")
		if len(ms) != 2 || len(wantMs) != 2 {
			t.Fatalf("memories: %+v want %+v", ms, wantMs)
		}
		for i := range ms {
			if ms[i].ID != wantMs[i].ID || ms[i].Text != wantMs[i].Text || ms[i].Status != wantMs[i].Status {
				t.Fatalf("memory %d: %+v want %+v", i, ms[i], wantMs[i])
			}
		}
		doc := func(id, user, conv string) {
			t.Helper()
			d := coach.Document{ID: id, CommunityID: "c1", UserID: user, ConversationID: conv, Name: id + ".txt", Kind: "text", MediaType: "text/plain", Size: 3, Text: "abc", Data: []byte("abc"), CreatedAt: now}
			if _, ok, err := st.AddDocument(ctx, d, "2026-12-01", 0); err != nil || !ok {
				t.Fatalf("add document: %v %v", ok, err)
			}
		}
		doc("d1", "u1", "conv2") // another conversation's
		doc("d2", "u2", "")      // another member's
		if _, _, docs, _ := st.Known(ctx, "c1", "u1", "conv1"); docs {
			t.Fatal("counted another conversation's or member's document")
		}
		if _, _, docs, _ := st.Known(ctx, "c1", "u1", "conv2"); !docs {
			t.Fatal("missed the conversation's document")
		}
		doc("d3", "u1", "")
		if _, _, docs, _ := st.Known(ctx, "c1", "u1", "conv1"); !docs {
			t.Fatal("missed the profile's document")
		}
		if p, ms, docs, _ := st.Known(ctx, "c2", "u1", "conv1"); !p.Empty() || len(ms) != 0 || docs {
			t.Fatal("another community's")
		}
	}, voyager.Migrations())
}
