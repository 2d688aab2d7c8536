package audit_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func TestRecordAndList(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		start := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
		c := &clock{t: start}
		l := audit.New(db, c.Now)

		// Three entries, one minute apart, by two actors.
		entries := []audit.Entry{
			{ActorID: "u1", Action: "idea.create", Resource: "idea", ResourceID: "i1", Metadata: map[string]any{"title": "first", "n": 1}, IP: "10.0.0.1", UserAgent: "ua/1"},
			{ActorID: "u2", Action: "idea.delete", Resource: "idea", ResourceID: "i2"},
			{Action: "cron.run", Resource: "job", ResourceID: "purge-soft-deletes"},
		}
		for _, e := range entries {
			if err := l.Record(ctx, e); err != nil {
				t.Fatalf("record %s: %v", e.Action, err)
			}
			c.t = c.t.Add(time.Minute)
		}

		all, err := l.List(ctx, audit.Filter{})
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		if got, want := actions(all), "cron.run,idea.delete,idea.create"; got != want {
			t.Fatalf("got order %s, want %s", got, want)
		}
		first := all[2]
		if first.ID == "" || len(first.ID) != 36 {
			t.Errorf("got ID %q, want a UUID", first.ID)
		}
		wantAt := start.UTC().Truncate(time.Microsecond)
		if !first.At.Equal(wantAt) || first.At.Location() != time.UTC {
			t.Errorf("got At %v, want %v in UTC", first.At, wantAt)
		}
		if first.ActorID != "u1" || first.ResourceID != "i1" || first.IP != "10.0.0.1" || first.UserAgent != "ua/1" {
			t.Errorf("got %+v, want the recorded fields back", first)
		}
		if first.Metadata["title"] != "first" || first.Metadata["n"] != float64(1) {
			t.Errorf("got metadata %v, want title and n", first.Metadata)
		}
		if sys := all[0]; sys.ActorID != "" || sys.IP != "" || len(sys.Metadata) != 0 {
			t.Errorf("got system entry %+v, want empty actor, IP and metadata", sys)
		}

		tests := []struct {
			name string
			f    audit.Filter
			want string
		}{
			{"by actor", audit.Filter{ActorID: "u1"}, "idea.create"},
			{"by action", audit.Filter{Action: "idea.delete"}, "idea.delete"},
			{"by resource", audit.Filter{Resource: "idea"}, "idea.delete,idea.create"},
			{"limit", audit.Filter{Limit: 2}, "cron.run,idea.delete"},
			{"before", audit.Filter{Before: start.Add(90 * time.Second)}, "idea.delete,idea.create"},
			{"before excludes equal", audit.Filter{Before: start.Add(time.Minute).Truncate(time.Microsecond)}, "idea.create"},
			{"combined", audit.Filter{Resource: "idea", ActorID: "u2"}, "idea.delete"},
			{"none", audit.Filter{ActorID: "nobody"}, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := l.List(ctx, tt.f)
				if err != nil {
					t.Fatalf("list: %v", err)
				}
				if actions(got) != tt.want {
					t.Errorf("got %s, want %s", actions(got), tt.want)
				}
			})
		}
	})
}

func TestRecordKeepsGivenIDAndTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := audit.New(db, nil)
		at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		if err := l.Record(ctx, audit.Entry{ID: "given", At: at, Action: "a", Resource: "r"}); err != nil {
			t.Fatalf("record: %v", err)
		}
		got, err := l.List(ctx, audit.Filter{})
		if err != nil || len(got) != 1 {
			t.Fatalf("list: got %d entries, %v; want 1", len(got), err)
		}
		if got[0].ID != "given" || !got[0].At.Equal(at) {
			t.Errorf("got %s at %v, want given at %v", got[0].ID, got[0].At, at)
		}
		// IDs are unique: the same ID again is refused.
		if err := l.Record(ctx, audit.Entry{ID: "given", Action: "a", Resource: "r"}); !store.IsUniqueViolation(err) {
			t.Errorf("got %v, want a unique violation", err)
		}
	})
}

func TestRecordRejectsIncompleteEntry(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, store.SQLite)
	err := audit.New(db, nil).Record(context.Background(), audit.Entry{ActorID: "u1"})
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.Invalid || e.Fields["action"] == "" || e.Fields["resource"] == "" {
		t.Fatalf("got %v, want Invalid naming action and resource", err)
	}
}

func TestAnonymize(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := audit.New(db, nil)
		for _, e := range []audit.Entry{
			{ActorID: "gone", Action: "login", Resource: "session", Metadata: map[string]any{"email": "a@example.com"}, IP: "10.0.0.9", UserAgent: "browser"},
			{ActorID: "gone", Action: "idea.create", Resource: "idea", ResourceID: "i1", Metadata: map[string]any{"title": "x"}},
			{ActorID: "stays", Action: "login", Resource: "session", Metadata: map[string]any{"email": "b@example.com"}, IP: "10.0.0.8", UserAgent: "other"},
		} {
			if err := l.Record(ctx, e); err != nil {
				t.Fatalf("record: %v", err)
			}
		}
		n, err := l.Anonymize(ctx, "gone")
		if err != nil || n != 2 {
			t.Fatalf("anonymize: got %d, %v; want 2, nil", n, err)
		}
		gone, err := l.List(ctx, audit.Filter{ActorID: "gone"})
		if err != nil || len(gone) != 2 {
			t.Fatalf("list: got %d, %v; want the 2 rows kept", len(gone), err)
		}
		for _, e := range gone {
			if len(e.Metadata) != 0 || e.IP != "" || e.UserAgent != "" {
				t.Errorf("got %+v, want metadata, IP and user agent cleared", e)
			}
			if e.Action == "" || e.Resource == "" {
				t.Errorf("got %+v, want action and resource kept", e)
			}
		}
		if gone[0].ResourceID != "i1" {
			t.Errorf("got resource ID %q, want i1 kept", gone[0].ResourceID)
		}
		stays, err := l.List(ctx, audit.Filter{ActorID: "stays"})
		if err != nil || len(stays) != 1 {
			t.Fatalf("list: got %d, %v", len(stays), err)
		}
		if s := stays[0]; s.Metadata["email"] != "b@example.com" || s.IP != "10.0.0.8" || s.UserAgent != "other" {
			t.Errorf("got %+v, want another actor untouched", s)
		}
		if _, err := l.Anonymize(ctx, ""); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("got %v, want Invalid for an empty actor", err)
		}
	})
}

func TestFromRequest(t *testing.T) {
	t.Parallel()
	l := audit.New(nil, nil)

	r := httptest.NewRequest("POST", "/x", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	// A long user agent whose cut would split a three-byte character.
	r.Header.Set("User-Agent", strings.Repeat("a", audit.MaxUserAgent-1)+"€€")
	e := l.FromRequest(r, audit.Entry{Action: "a"})
	if e.IP != "192.0.2.7" {
		t.Errorf("got IP %q, want 192.0.2.7", e.IP)
	}
	if len(e.UserAgent) > audit.MaxUserAgent || !utf8.ValidString(e.UserAgent) || e.UserAgent != strings.Repeat("a", audit.MaxUserAgent-1) {
		t.Errorf("got user agent of %d bytes (valid %v), want %d bytes of valid UTF-8", len(e.UserAgent), utf8.ValidString(e.UserAgent), audit.MaxUserAgent-1)
	}
	if e.Action != "a" {
		t.Errorf("got action %q, want the entry kept", e.Action)
	}

	// The server's decided client IP wins over RemoteAddr; given values stay.
	r = r.WithContext(httpapi.WithClientIP(r.Context(), "203.0.113.1"))
	if got := l.FromRequest(r, audit.Entry{}).IP; got != "203.0.113.1" {
		t.Errorf("got IP %q, want the middleware's 203.0.113.1", got)
	}
	if got := l.FromRequest(r, audit.Entry{IP: "given", UserAgent: "mine"}); got.IP != "given" || got.UserAgent != "mine" {
		t.Errorf("got %q/%q, want given values kept", got.IP, got.UserAgent)
	}
}

func actions(es []audit.Entry) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Action
	}
	return strings.Join(s, ",")
}

// TestCountActionsAfter covers the console's audit filters: entries at or
// after a time, counts of an action in a period, and the action menu.
func TestCountActionsAfter(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := audit.New(db, nil)
		base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		for i, a := range []string{"signin", "signin", "signout", "admin.cron_run"} {
			if err := l.Record(ctx, audit.Entry{At: base.Add(time.Duration(i) * time.Hour), Action: a, Resource: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := l.Count(ctx, "signin", base, base.Add(time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("signins in the first hour: %d %v, want 1", n, err)
		}
		got, err := l.List(ctx, audit.Filter{After: base.Add(2 * time.Hour)})
		if err != nil || len(got) != 2 {
			t.Fatalf("after 14:00: %d %v, want 2", len(got), err)
		}
		acts, err := l.Actions(ctx)
		if err != nil || len(acts) != 3 || acts[0] != "admin.cron_run" {
			t.Fatalf("actions %v %v", acts, err)
		}
	})
}
