package coachstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager"
	"github.com/relaywork/suite/internal/voyager/coach"
	"github.com/relaywork/suite/internal/voyager/coach/coachstore"
)

func addUser(t *testing.T, db *store.DB, id string) {
	t.Helper()
	if _, err := db.Exec(context.Background(), `INSERT INTO users (id, email, name, role, created_at, last_seen_at) VALUES (?, ?, '', 'user', ?, ?)`, id, id+"@example.com", time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		addUser(t, db, "u1")
		addUser(t, db, "u2")
		st := coachstore.New(db)
		svc := coach.NewService(st, coach.Settings{ContextTokens: 500}, nil)

		// Profile: empty, saved, scoped to community and member.
		if p, err := st.Profile(ctx, "c1", "u1"); err != nil || !p.Empty() {
			t.Fatalf("fresh profile: %+v %v", p, err)
		}
		if _, err := svc.SaveProfile(ctx, coach.Profile{CommunityID: "c1", UserID: "u1", CurrentRole: " Data analyst ", Goals: "Senior data engineer"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.SaveProfile(ctx, coach.Profile{CommunityID: "c1", UserID: "u1", CurrentRole: "Data analyst", Goals: "Senior data engineer", Location: "Lisbon"}); err != nil {
			t.Fatal(err)
		}
		if p, _ := st.Profile(ctx, "c1", "u1"); p.CurrentRole != "Data analyst" || p.Location != "Lisbon" {
			t.Fatalf("saved profile: %+v", p)
		}
		if p, _ := st.Profile(ctx, "c2", "u1"); !p.Empty() {
			t.Fatal("profile leaked into another community")
		}
		// Memories: proposed, kept, edited; another member's is not found.
		prop, err := svc.Propose(ctx, "c1", "u1", "m1", "You are preparing for a senior data-engineering interview")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.UpdateMemory(ctx, "c1", "u2", prop.ID, nil, true); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("another member's memory: got %v, want not found", err)
		}
		edited := "You are preparing for a senior data-engineering interview at a bank"
		if m, err := svc.UpdateMemory(ctx, "c1", "u1", prop.ID, &edited, true); err != nil || m.Status != coach.Kept || m.Text != edited {
			t.Fatalf("accept with edit: %+v %v", m, err)
		}
		if _, err := svc.Remember(ctx, "c1", "u1", "You prefer remote work"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Propose(ctx, "c1", "u1", "m2", "You like cats"); err != nil {
			t.Fatal(err)
		}
		b, err := svc.Build(ctx, "c1", "u1", "conv1", true)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Current role: Data analyst", "Location: Lisbon", "at a bank", "remote work"} {
			if !contains(b.Block, want) {
				t.Errorf("context block lacks %q:\n%s", want, b.Block)
			}
		}
		if contains(b.Block, "cats") {
			t.Error("a proposal the member has not accepted went to the coach")
		}
		if off, _ := svc.Build(ctx, "c1", "u1", "conv1", false); off.Block != "" {
			t.Error("memory off: the block still went")
		}
		if err := st.DeleteMemory(ctx, "c1", "u2", prop.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("delete another's memory: %v", err)
		}
		if err := st.DeleteMemory(ctx, "c1", "u1", prop.ID); err != nil {
			t.Fatal(err)
		}

		// Documents: stored with text and data, scoped, counted in the quota.
		cv, err := svc.Attach(ctx, "c1", "u1", "", "cv.md", []byte("# Ada Lovelace\n\n- Analyst at Babbage & Co\n"), 0)
		if err != nil {
			t.Fatal(err)
		}
		jd, err := svc.Attach(ctx, "c1", "u1", "conv1", "job.txt", []byte("Senior data engineer, Lisbon. Spark, SQL."), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Attach(ctx, "c1", "u1", "conv2", "big.txt", []byte("x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x x"), 10); !apperr.Is(err, apperr.RateLimited) {
			t.Fatalf("over the document-token limit: got %v", err)
		}
		docs, err := st.DocumentsForContext(ctx, "c1", "u1", "conv1")
		if err != nil || len(docs) != 2 || docs[0].ID != cv.ID || docs[1].ID != jd.ID || len(docs[0].Data) == 0 || !contains(docs[1].Text, "Spark") {
			t.Fatalf("context documents: %+v %v", docs, err)
		}
		if other, _ := st.DocumentsForContext(ctx, "c1", "u1", "conv9"); len(other) != 1 {
			t.Fatalf("another conversation sees %d documents, want the profile's 1", len(other))
		}
		if _, err := st.Document(ctx, "c1", "u2", cv.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("another member's document: %v", err)
		}
		if list, _ := st.Documents(ctx, "c1", "u1", ""); len(list) != 1 || list[0].Name != "cv.md" || list[0].Kind != coach.KindMarkdown {
			t.Fatalf("profile documents: %+v", list)
		}
		var tokens int
		if err := db.QueryRow(ctx, `SELECT SUM(document_tokens) FROM voyager_usage WHERE user_id = 'u1'`).Scan(&tokens); err != nil || tokens != cv.Tokens+jd.Tokens {
			t.Fatalf("document tokens counted: %d %v, want %d", tokens, err, cv.Tokens+jd.Tokens)
		}
		if err := st.DeleteDocument(ctx, "c1", "u1", jd.ID); err != nil {
			t.Fatal(err)
		}

		// Cached answers expire.
		now := time.Now().UTC()
		a := coach.CachedAnswer{Key: "k", CommunityID: "c1", Content: "Ask for a raise by…", Provider: "anthropic", Model: "m", CostMicros: 120, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := st.PutCachedAnswer(ctx, a); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := st.CachedAnswer(ctx, "k", now); err != nil || !ok || got.Content != a.Content || got.CostMicros != 120 {
			t.Fatalf("cache hit: %+v %v %v", got, ok, err)
		}
		if _, ok, _ := st.CachedAnswer(ctx, "k", now.Add(2*time.Hour)); ok {
			t.Fatal("expired answer served")
		}
		if n, err := st.PurgeCache(ctx, now.Add(2*time.Hour)); err != nil || n != 1 {
			t.Fatalf("purge: %d %v", n, err)
		}

		// Erasure: deleting the user removes every row of theirs.
		if _, err := db.Exec(ctx, `DELETE FROM users WHERE id = 'u1'`); err != nil {
			t.Fatal(err)
		}
		for _, table := range []string{"voyager_profiles", "voyager_memories", "voyager_documents"} {
			var n int
			if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM `+table+` WHERE user_id = 'u1'`).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s after account deletion: %d rows (%v)", table, n, err)
			}
		}
	}, voyager.Migrations())
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
