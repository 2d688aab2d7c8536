package ideastore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/coda/idea"
	"github.com/relaywork/suite/internal/coda/idea/ideastore"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// migrations are Coda's (sqlite/ and postgres/ folders).
var migrations = os.DirFS("../../migrations")

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func addUser(t testing.TB, db *store.DB, id string) {
	t.Helper()
	if _, err := db.Exec(context.Background(), `INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)`, id, id+"@example.com", time.Now()); err != nil {
		t.Fatalf("add user: %v", err)
	}
}

type env struct {
	db    *store.DB
	svc   *idea.Service
	clock *clock
}

func setup(t testing.TB, db *store.DB) env {
	addUser(t, db, "ada")
	addUser(t, db, "bob")
	c := &clock{t: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)}
	svc := idea.NewService(idea.Options{Store: ideastore.New(db), Now: c.Now, UndoWindow: 10 * time.Minute, PurgeBatch: 7})
	return env{db: db, svc: svc, clock: c}
}

func ptr[T any](v T) *T { return &v }

func create(t testing.TB, e env, user, title, body string, tags ...string) idea.Idea {
	t.Helper()
	it, err := e.svc.Create(context.Background(), user, idea.Input{Title: &title, Body: &body, Tags: &tags})
	if err != nil {
		t.Fatalf("create %q: %v", title, err)
	}
	return it
}

func TestCreateGetScoped(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		it := create(t, e, "ada", "  Plant <script>alert(1)</script> trees ", "on the *roof*", "Garden", "#city", "garden")
		if it.Title != "Plant <script>alert(1)</script> trees" || it.Version != 1 {
			t.Fatalf("created %+v", it)
		}
		if got := strings.Join(it.Tags, ","); got != "garden,city" {
			t.Fatalf("tags %q, want garden,city", got)
		}
		got, err := e.svc.Get(ctx, "ada", it.ID)
		if err != nil || got.Title != it.Title || got.Body != it.Body || !got.CreatedAt.Equal(it.CreatedAt) || strings.Join(got.Tags, ",") != "garden,city" {
			t.Fatalf("get: %+v, %v", got, err)
		}
		// Another user's idea does not exist for them.
		if _, err := e.svc.Get(ctx, "bob", it.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("bob get: got %v, want not found", err)
		}
		if _, err := e.svc.Update(ctx, "bob", it.ID, 1, idea.Input{Title: ptr("mine")}); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("bob update: got %v, want not found", err)
		}
		if _, err := e.svc.Delete(ctx, "bob", it.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("bob delete: got %v, want not found", err)
		}
	}, migrations)
}

func TestValidationNamesEveryField(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		tags := make([]string, idea.MaxTags+1)
		for i := range tags {
			tags[i] = fmt.Sprintf("t%d", i)
		}
		_, err := e.svc.Create(ctx, "ada", idea.Input{
			Title: ptr(strings.Repeat("é", idea.MaxTitleRunes+1)),
			Body:  ptr(strings.Repeat("x", idea.MaxBodyBytes+1)),
			Tags:  &tags,
		})
		ae, ok := apperr.As(err)
		if !ok || ae.Kind != apperr.Invalid || ae.Fields["title"] == "" || ae.Fields["body"] == "" || ae.Fields["tags"] == "" {
			t.Fatalf("got %v (%+v), want title, body and tags named", err, ae)
		}
		_, err = e.svc.Create(ctx, "ada", idea.Input{Title: ptr("ok"), Body: ptr("fine"), BadUTF8: map[string]bool{"body": true}})
		if ae, _ := apperr.As(err); ae == nil || ae.Fields["body"] != "must be valid UTF-8 text" {
			t.Fatalf("bad UTF-8: got %v", err)
		}
		_, err = e.svc.Create(ctx, "ada", idea.Input{Title: ptr("a\x01b")})
		if ae, _ := apperr.As(err); ae == nil || ae.Fields["title"] == "" {
			t.Fatalf("control character: got %v", err)
		}
		// Exactly at the limits is fine.
		create(t, e, "ada", strings.Repeat("é", idea.MaxTitleRunes), strings.Repeat("x", idea.MaxBodyBytes), tags[:idea.MaxTags]...)
		p, err := e.svc.List(ctx, "ada", idea.ListOptions{})
		if err != nil || len(p.Ideas) != 1 {
			t.Fatalf("after invalid creates: %d ideas, %v; want only the valid one", len(p.Ideas), err)
		}
	}, migrations)
}

func TestConcurrentEditConflict(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		it := create(t, e, "ada", "Draft", "v1")
		// Two editors both saw version 1 and save at the same moment.
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				_, errs[i] = e.svc.Update(ctx, "ada", it.ID, 1, idea.Input{Body: ptr(fmt.Sprintf("editor %d", i))})
			})
		}
		wg.Wait()
		var ok, conflicts int
		var cur idea.Idea
		for _, err := range errs {
			var ce *idea.ConflictError
			switch {
			case err == nil:
				ok++
			case apperr.Is(err, apperr.Conflict) && errors.As(err, &ce):
				conflicts++
				cur = ce.Current
			default:
				t.Fatalf("update: %v", err)
			}
		}
		if ok != 1 || conflicts != 1 {
			t.Fatalf("got %d saved and %d conflicts, want 1 and 1", ok, conflicts)
		}
		if cur.Version != 2 || !strings.HasPrefix(cur.Body, "editor ") {
			t.Fatalf("conflict carries %+v, want the winner at version 2", cur)
		}
		got, _ := e.svc.Get(ctx, "ada", it.ID)
		if got.Body != cur.Body || got.Version != 2 {
			t.Fatalf("stored %q v%d, conflict said %q v%d", got.Body, got.Version, cur.Body, cur.Version)
		}
		// A stale save after that is refused too, never a silent overwrite.
		if _, err := e.svc.Update(ctx, "ada", it.ID, 1, idea.Input{Body: ptr("late")}); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("stale update: got %v, want conflict", err)
		}
	}, migrations)
}

func TestDeleteUndoAndPurgeBoundary(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		a := create(t, e, "ada", "Keep me", "")
		b := create(t, e, "ada", "Let me go", "")
		start := e.clock.Now()
		da, err := e.svc.Delete(ctx, "ada", a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if da.Idea.UndoExpiresAt == nil || !da.Idea.UndoExpiresAt.Equal(start.Add(10*time.Minute)) || da.UndoToken == "" {
			t.Fatalf("deleted: %+v", da)
		}
		db2, err := e.svc.Delete(ctx, "ada", b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Get(ctx, "ada", a.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("get deleted: %v", err)
		}
		if del, _ := e.svc.RecentlyDeleted(ctx, "ada"); len(del) != 2 {
			t.Fatalf("recently deleted: %d, want 2", len(del))
		}
		if del, _ := e.svc.RecentlyDeleted(ctx, "bob"); len(del) != 0 {
			t.Fatalf("bob sees %d deleted ideas", len(del))
		}
		// Bob cannot use Ada's token.
		if _, err := e.svc.Undo(ctx, "bob", da.UndoToken); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("bob undo: %v", err)
		}

		// Expiry exactly now: still restorable, and purge leaves it.
		e.clock.Set(start.Add(10 * time.Minute))
		res, err := e.svc.Purge(ctx)
		if err != nil || res.Deleted != 0 {
			t.Fatalf("purge at expiry: %+v, %v; want 0 deleted", res, err)
		}
		if _, err := e.svc.Undo(ctx, "ada", da.UndoToken); err != nil {
			t.Fatalf("undo at exactly the expiry: %v", err)
		}
		if got, err := e.svc.Get(ctx, "ada", a.ID); err != nil || got.Title != "Keep me" {
			t.Fatalf("after undo: %+v, %v", got, err)
		}

		// One microsecond later: undo is Gone and purge deletes it.
		e.clock.Add(time.Microsecond)
		_, err = e.svc.Undo(ctx, "ada", db2.UndoToken)
		if !apperr.Is(err, apperr.Gone) || !strings.Contains(err.Error(), "ended at") {
			t.Fatalf("undo after the window: got %v, want gone saying why", err)
		}
		if del, _ := e.svc.RecentlyDeleted(ctx, "ada"); len(del) != 0 {
			t.Fatalf("recently deleted after the window: %d", len(del))
		}
		res, err = e.svc.Purge(ctx)
		if err != nil || res.Deleted != 1 {
			t.Fatalf("purge after expiry: %+v, %v; want 1", res, err)
		}
		if _, err := e.svc.Restore(ctx, "ada", b.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("restore purged: %v", err)
		}
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM idea_tags`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("tags left: %d %v", n, err)
		}
	}, migrations)
}

func TestPurgeInBatches(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		for i := range 30 {
			it := create(t, e, "ada", fmt.Sprintf("idea %d", i), "", "x")
			if i < 23 {
				if _, err := e.svc.Delete(ctx, "ada", it.ID); err != nil {
					t.Fatal(err)
				}
			}
		}
		e.clock.Add(time.Hour)
		res, err := e.svc.Purge(ctx)
		if err != nil || res.Deleted != 23 || res.Batches != 4 {
			t.Fatalf("purge: %+v, %v; want 23 deleted in 4 batches of 7", res, err)
		}
		p, _ := e.svc.List(ctx, "ada", idea.ListOptions{})
		if len(p.Ideas) != 7 {
			t.Fatalf("left %d, want 7", len(p.Ideas))
		}
	}, migrations)
}

func TestListCursorAndTags(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		var want []string
		for i := range 25 {
			tag := "odd"
			if i%2 == 0 {
				tag = "even"
			}
			it := create(t, e, "ada", fmt.Sprintf("idea %02d", i), "", tag)
			if i%5 != 0 {
				e.clock.Add(time.Second) // some share a creation time: the ID breaks ties
			}
			want = append([]string{it.ID}, want...)
		}
		create(t, e, "bob", "bob's", "", "even")
		var got []string
		cur := ""
		for pages := 0; ; pages++ {
			p, err := e.svc.List(ctx, "ada", idea.ListOptions{Limit: 10, Cursor: cur})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range p.Ideas {
				got = append(got, it.ID)
			}
			if p.Next == "" {
				break
			}
			cur = p.Next
		}
		if strings.Join(got, ",") != strings.Join(want[:len(got)], ",") || len(got) != 25 {
			t.Fatalf("paged %d ideas in order %v, want %d newest first", len(got), got, len(want))
		}
		p, err := e.svc.List(ctx, "ada", idea.ListOptions{Tag: "Even", Limit: 100})
		if err != nil || len(p.Ideas) != 13 {
			t.Fatalf("tag filter: %d, %v; want 13", len(p.Ideas), err)
		}
		if _, err := e.svc.List(ctx, "ada", idea.ListOptions{Cursor: "bogus!"}); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("bad cursor: %v", err)
		}
	}, migrations)
}

func TestSearchRankingAndHighlight(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		body := create(t, e, "ada", "Weekend plans", "maybe build a birdhouse for the garden")
		e.clock.Add(time.Second)
		title := create(t, e, "ada", "Birdhouse with a green roof", "cedar, screws")
		e.clock.Add(time.Second)
		create(t, e, "ada", "Unrelated", "nothing to see")
		create(t, e, "bob", "Bob's birdhouse", "")
		p, err := e.svc.List(ctx, "ada", idea.ListOptions{Query: "birdhouse"})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Ideas) != 2 || p.Ideas[0].ID != title.ID || p.Ideas[1].ID != body.ID {
			t.Fatalf("search order %v, want the title match first, then the body match", titles(p.Ideas))
		}
		h := p.Ideas[0].Highlight
		if h == nil || !strings.Contains(h.Title, idea.MarkStart+"Birdhouse"+idea.MarkEnd) {
			t.Fatalf("title highlight %+v", h)
		}
		if s := p.Ideas[1].Highlight.Snippet; !strings.Contains(s, idea.MarkStart+"birdhouse"+idea.MarkEnd) {
			t.Fatalf("body snippet %q", s)
		}
		// Search syntax in the input is inert, never an error.
		for _, q := range []string{`"unbalanced`, `roof OR`, `NEAR(a b)`, `-`, `*`, `title:x`} {
			if _, err := e.svc.List(ctx, "ada", idea.ListOptions{Query: q}); err != nil {
				t.Fatalf("search %q: %v", q, err)
			}
		}
	}, migrations)
}

func titles(ideas []idea.Idea) []string {
	var out []string
	for _, it := range ideas {
		out = append(out, it.Title)
	}
	return out
}

func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	const n = 3000
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		ctx := context.Background()
		st := ideastore.New(db)
		// Seed directly through the store's import for speed; content covers
		// Markdown, unicode, empty bodies and tags.
		i := 0
		_, err := st.Import(ctx, "ada", func() (idea.Idea, error) {
			if i == n {
				return idea.Idea{}, ioEOF
			}
			i++
			at := e.clock.Now().Add(time.Duration(i) * time.Millisecond)
			body := ""
			if i%3 != 0 {
				body = fmt.Sprintf("# Note %d\n\n*emph* «ünïcødé» 🚀 <b>x</b>\n", i)
			}
			return idea.Idea{ID: idea.NewID(), Title: fmt.Sprintf("Idea %d", i), Body: body, Tags: []string{fmt.Sprintf("t%d", i%7)}, Version: 1 + i%4, CreatedAt: at, UpdatedAt: at.Add(time.Minute)}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		count, err := e.svc.ExportJSON(ctx, "ada", &buf)
		if err != nil || count != n {
			t.Fatalf("export: %d, %v", count, err)
		}
		var doc struct {
			Format  string              `json:"format"`
			Version int                 `json:"version"`
			Ideas   []idea.ExportedIdea `json:"ideas"`
		}
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || doc.Format != idea.ExportFormat || doc.Version != 1 || len(doc.Ideas) != n {
			t.Fatalf("export document: %v %q v%d %d ideas", err, doc.Format, doc.Version, len(doc.Ideas))
		}
		// Importing into the same account finds only duplicates.
		res, err := e.svc.Import(ctx, "ada", bytes.NewReader(buf.Bytes()))
		if err != nil || res.Imported != 0 || res.Duplicates != n {
			t.Fatalf("re-import: %+v, %v; want %d duplicates", res, err, n)
		}
		// Importing into another account recreates everything without loss.
		res, err = e.svc.Import(ctx, "bob", bytes.NewReader(buf.Bytes()))
		if err != nil || res.Imported != n {
			t.Fatalf("import: %+v, %v", res, err)
		}
		var again bytes.Buffer
		if _, err := e.svc.ExportJSON(ctx, "bob", &again); err != nil {
			t.Fatal(err)
		}
		var doc2 struct {
			Ideas []idea.ExportedIdea `json:"ideas"`
		}
		if err := json.Unmarshal(again.Bytes(), &doc2); err != nil {
			t.Fatal(err)
		}
		for i := range doc.Ideas {
			a, b := doc.Ideas[i], doc2.Ideas[i]
			b.ID = a.ID // IDs held by Ada are given new ones for Bob
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Fatalf("idea %d changed in the round trip:\n got %+v\nwant %+v", i, b, a)
			}
		}
		// A bad idea in the file stores nothing and is named.
		bad := strings.Replace(buf.String(), `"title":"Idea 5"`, `"title":""`, 1)
		before := countIdeas(t, db, "bob")
		_, err = e.svc.Import(ctx, "bob", strings.NewReader(strings.Replace(bad, `"body":""`, `"body":"new"`, -1)))
		if ae, _ := apperr.As(err); ae == nil || ae.Fields["ideas[4].title"] == "" {
			t.Fatalf("bad import: got %v, want ideas[4].title named", err)
		}
		if after := countIdeas(t, db, "bob"); after != before {
			t.Fatalf("a failed import stored %d ideas", after-before)
		}
	}, migrations)
}

func countIdeas(t *testing.T, db *store.DB, user string) int {
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM ideas WHERE user_id = ?`, user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestExportMarkdown(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		create(t, e, "ada", `Say "hi": now`, "body **bold**", "a", "b")
		var buf bytes.Buffer
		n, err := e.svc.ExportMarkdown(context.Background(), "ada", &buf)
		if err != nil || n != 1 {
			t.Fatalf("export: %d %v", n, err)
		}
		files := unzip(t, buf.Bytes())
		if len(files) != 1 {
			t.Fatalf("zip holds %d files", len(files))
		}
		for name, body := range files {
			if !strings.HasPrefix(name, "2026-11-23-say-hi-now-") || !strings.HasSuffix(name, ".md") {
				t.Fatalf("file name %q", name)
			}
			if !strings.Contains(body, "title: \"Say \\\"hi\\\": now\"\ntags: [\"a\",\"b\"]\n") || !strings.HasSuffix(body, "---\n\nbody **bold**\n") {
				t.Fatalf("file:\n%s", body)
			}
		}
	}, migrations)
}

// TestConcurrentCreates checks that inserts sharing a commit (SQLite's
// group commit) each get their own result.
func TestConcurrentCreates(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		st := ideastore.New(db)
		ctx := context.Background()
		dup := idea.NewID()
		var wg sync.WaitGroup
		errs := make([]error, 200)
		for i := range errs {
			wg.Go(func() {
				id := idea.NewID()
				if i%50 == 0 {
					id = dup // four inserts share one ID: exactly one may win
				}
				at := e.clock.Now()
				errs[i] = st.Insert(ctx, idea.Idea{ID: id, UserID: "ada", Title: fmt.Sprintf("idea %d", i), Tags: []string{"x"}, Version: 1, CreatedAt: at, UpdatedAt: at})
			})
		}
		wg.Wait()
		failed := 0
		for i, err := range errs {
			if err != nil {
				if i%50 != 0 || !apperr.Is(err, apperr.Conflict) {
					t.Fatalf("insert %d: %v", i, err)
				}
				failed++
			}
		}
		if failed != 3 {
			t.Fatalf("%d duplicate inserts failed, want 3", failed)
		}
		if n := countIdeas(t, db, "ada"); n != 197 {
			t.Fatalf("stored %d ideas, want 197", n)
		}
		var tags int
		db.QueryRow(ctx, `SELECT count(*) FROM idea_tags`).Scan(&tags)
		if tags != 197 {
			t.Fatalf("stored %d tags, want 197", tags)
		}
		p, err := e.svc.List(ctx, "ada", idea.ListOptions{Query: "idea", Limit: 200})
		if err != nil || len(p.Ideas) != 197 {
			t.Fatalf("search finds %d, %v; want 197", len(p.Ideas), err)
		}
	}, migrations)
}

// TestImportKeepsFreeIDs: an imported idea keeps its ID when no idea on
// the server has it (in upper case too); one another account holds, or
// one that is not a Coda ID, gets a new ID and is reported with both.
func TestImportKeepsFreeIDs(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		addUser(t, db, "cy")
		ctx := context.Background()
		held := create(t, e, "ada", "Ada's own", "")
		gone := create(t, e, "cy", "Deleted by Cy", "")
		if _, err := e.svc.Delete(ctx, "cy", gone.ID); err != nil {
			t.Fatal(err)
		}
		free, upper := idea.NewID(), idea.NewID()
		file := fmt.Sprintf(`{"format":"coda.ideas","version":1,"ideas":[
			{"id":%q,"title":"Free"},
			{"id":%q,"title":"Upper case"},
			{"id":%q,"title":"Held by Ada"},
			{"id":%q,"title":"Held by Cy, deleted"},
			{"id":"not-an-id","title":"Made up"},
			{"title":"No ID"}]}`, free, strings.ToUpper(upper), held.ID, gone.ID)
		res, err := e.svc.Import(ctx, "bob", strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if res.Imported != 6 || res.KeptIDs != 2 || len(res.NewIDs) != 3 {
			t.Fatalf("got %+v, want 6 imported, 2 kept, 3 with new IDs", res)
		}
		for _, id := range []string{free, upper} {
			if it, err := e.svc.Get(ctx, "bob", id); err != nil {
				t.Fatalf("kept ID %s: %v (%+v)", id, err, it)
			}
		}
		want := []idea.IDChange{{From: held.ID, Reason: idea.IDTaken}, {From: gone.ID, Reason: idea.IDTaken}, {From: "not-an-id", Reason: idea.IDInvalid}}
		for i, w := range want {
			got := res.NewIDs[i]
			if got.From != w.From || got.Reason != w.Reason || !idea.ValidID(got.To) || got.To == got.From {
				t.Errorf("newIds[%d]: got %+v, want from %s (%s) to a new ID", i, got, w.From, w.Reason)
			}
			if _, err := e.svc.Get(ctx, "bob", got.To); err != nil {
				t.Errorf("new ID %s: %v", got.To, err)
			}
		}
		// Ada's idea is untouched and still hers.
		if it, err := e.svc.Get(ctx, "ada", held.ID); err != nil || it.Title != "Ada's own" {
			t.Fatalf("Ada's idea: %+v, %v", it, err)
		}
	}, migrations)
}

// TestGroupCommitBacklog: more concurrent inserts than one group commit
// takes (256), so leaders hand batches over to waiters, and a caller that
// becomes a leader may commit a batch without its own insert first; every
// insert still returns once, stored.
func TestGroupCommitBacklog(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := setup(t, db)
		st := ideastore.New(db)
		ctx := context.Background()
		const n = 1500
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range errs {
			wg.Go(func() {
				at := e.clock.Now()
				errs[i] = st.Insert(ctx, idea.Idea{ID: idea.NewID(), UserID: "ada", Title: fmt.Sprintf("backlog %d", i), Version: 1, CreatedAt: at, UpdatedAt: at})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("insert %d: %v", i, err)
			}
		}
		if got := countIdeas(t, db, "ada"); got != n {
			t.Fatalf("stored %d ideas, want %d", got, n)
		}
	}, migrations)
}
