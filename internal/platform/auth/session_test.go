package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestService(t testing.TB, db *store.DB) (*Service, *clock) {
	c := &clock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	return New(Options{DB: db, Audit: audit.New(db, c.Now), Now: c.Now, Secret: []byte("test-secret-0123456789-0123456789"), PublicURL: "http://127.0.0.1"}), c
}

func signIn(t testing.TB, s *Service, email string) (token string, u User) {
	t.Helper()
	ctx := context.Background()
	u, _, err := s.EnsureUser(ctx, NewUser{Email: email, Verified: true})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/537.36 Chrome/130.0 Safari/537.36")
	if _, err := s.SignIn(w, r, u.ID, "email"); err != nil {
		t.Fatal(err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == s.CookieName() {
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
				t.Fatalf("cookie flags: %+v", c)
			}
			return c.Value, u
		}
	}
	t.Fatal("no session cookie set")
	return "", u
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := newTestService(t, db)
		token, u := signIn(t, s, "Ada@Example.com")
		if u.Email != "ada@example.com" {
			t.Fatalf("got %q, want the address lower-cased", u.Email)
		}
		sess, got, err := s.Authenticate(ctx, token)
		if err != nil || got.ID != u.ID || sess.Method != "email" {
			t.Fatalf("authenticate: %v %+v", err, got)
		}
		var stored string
		_ = db.QueryRow(ctx, "SELECT token_hash FROM sessions WHERE id = ?", sess.ID).Scan(&stored)
		if stored == token || stored != hashToken(token) {
			t.Fatal("the database must keep only the token's SHA-256")
		}
		if _, _, err := s.Authenticate(ctx, token+"x"); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatalf("wrong token: got %v, want Unauthorized", err)
		}

		// Sliding: activity within the idle window keeps the session alive,
		// renewed at most once a day.
		first := sess.IdleExpiresAt
		clk.Add(2 * time.Hour)
		sess, _, _ = s.Authenticate(ctx, token)
		if !sess.IdleExpiresAt.Equal(first) {
			t.Fatal("renewed within the same day; want at most once a day")
		}
		clk.Add(25 * time.Hour)
		sess, _, _ = s.Authenticate(ctx, token)
		if !sess.IdleExpiresAt.After(first) {
			t.Fatal("not renewed after a day")
		}
		for i := 0; i < 4; i++ {
			clk.Add(20 * 24 * time.Hour)
			if _, _, err := s.Authenticate(ctx, token); err != nil {
				t.Fatalf("day %d: active session expired: %v", i, err)
			}
		}
		// The absolute lifetime (90 days) ends it however active.
		clk.Add(20 * 24 * time.Hour)
		if _, _, err := s.Authenticate(ctx, token); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatalf("after the absolute lifetime: got %v, want Unauthorized", err)
		}
	})
}

func TestSessionIdleExpiry(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, clk := newTestService(t, db)
		token, _ := signIn(t, s, "idle@example.com")
		clk.Add(30*24*time.Hour + time.Second)
		if _, _, err := s.Authenticate(context.Background(), token); !apperr.Is(err, apperr.Unauthorized) {
			t.Fatalf("got %v, want Unauthorized after 30 idle days", err)
		}
	})
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, _ := newTestService(t, db)
		a1, alice := signIn(t, s, "alice@example.com")
		a2, _ := signIn(t, s, "alice@example.com")
		b1, bob := signIn(t, s, "bob@example.com")

		sessA, _, _ := s.Authenticate(ctx, a1)
		list, err := s.Sessions(WithUser(ctx, &alice, sessA), alice.ID)
		if err != nil || len(list) != 2 {
			t.Fatalf("got %d sessions (%v), want 2", len(list), err)
		}
		current := 0
		for _, x := range list {
			if x.Current {
				current++
			}
			if x.Device() != "Chrome on macOS" {
				t.Errorf("got device %q", x.Device())
			}
		}
		if current != 1 {
			t.Fatalf("got %d current sessions, want 1", current)
		}
		// Bob cannot revoke Alice's session.
		if err := s.RevokeSession(ctx, bob.ID, sessA.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("revoke another user's session: got %v, want NotFound", err)
		}
		if err := s.RevokeSession(ctx, alice.ID, sessA.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Authenticate(ctx, a1); err == nil {
			t.Fatal("revoked session still works")
		}
		if n, err := s.RevokeUser(ctx, alice.ID); err != nil || n != 1 {
			t.Fatalf("revoke user: got %d, %v; want 1", n, err)
		}
		if _, _, err := s.Authenticate(ctx, a2); err == nil {
			t.Fatal("session survived revoke user")
		}
		if _, _, err := s.Authenticate(ctx, b1); err != nil {
			t.Fatal("revoking Alice signed Bob out")
		}
		signIn(t, s, "carol@example.com")
		if n, err := s.RevokeAll(ctx); err != nil || n != 2 {
			t.Fatalf("revoke all: got %d, %v; want 2", n, err)
		}
		if _, _, err := s.Authenticate(ctx, b1); err == nil {
			t.Fatal("session survived revoke all")
		}
	})
}

func TestMiddlewareAndRequireUser(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newTestService(t, db)
		token, u := signIn(t, s, "mw@example.com")
		h := s.Middleware(s.RequireUser(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got, _ := UserFrom(r.Context())
			w.Write([]byte(got.Email))
		})))
		tests := []struct {
			name, path, cookie string
			want               int
			location           string
		}{
			{"signed in", "/ideas", token, 200, ""},
			{"page redirects", "/ideas?tag=x", "", http.StatusSeeOther, "/signin?next=%2Fideas%3Ftag%3Dx"},
			{"api 401", "/api/ideas", "", 401, ""},
			{"bad cookie", "/api/ideas", "garbage", 401, ""},
		}
		for _, tt := range tests {
			r := httptest.NewRequest("GET", tt.path, nil)
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: s.CookieName(), Value: tt.cookie})
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("%s: got %d, want %d", tt.name, w.Code, tt.want)
			}
			if tt.location != "" && w.Header().Get("Location") != tt.location {
				t.Errorf("%s: got Location %q, want %q", tt.name, w.Header().Get("Location"), tt.location)
			}
			if tt.want == 200 && w.Body.String() != u.Email {
				t.Errorf("%s: got %q", tt.name, w.Body)
			}
		}
	})
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"/ideas":                 "/ideas",
		"/ideas?q=a&b=c#x":       "/ideas?q=a&b=c#x",
		"":                       "/",
		"https://evil.example/":  "/",
		"//evil.example":         "/",
		"/\\evil.example":        "/",
		"\\\\evil.example":       "/",
		"javascript:alert(1)":    "/",
		"/ok\r\nSet-Cookie: x=y": "/",
		"ideas":                  "/",
		"/%2F%2Fevil.example":    "/%2F%2Fevil.example",
	}
	for in, want := range tests {
		if got := SafeNext(in, "/"); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"a@b.co": true, " Ada@Example.COM ": true, "x@localhost": true,
		"": false, "a": false, "a@": false, "@b.c": false, "a b@c.d": false, "a@b": false,
		"a@@b.c": false, "x@y.z\r\nBcc: e@f.g": false, "a@.b.c": false, "a@b..c": false,
	}
	for in, ok := range tests {
		if _, got := NormalizeEmail(in); got != ok {
			t.Errorf("NormalizeEmail(%q) ok = %v, want %v", in, got, ok)
		}
	}
}

// BenchmarkAuthenticate measures the session check every signed-in
// request pays (one indexed join on SQLite).
func BenchmarkAuthenticate(b *testing.B) {
	db := storetest.Open(b, store.SQLite)
	s, _ := newTestService(b, db)
	token, _ := signIn(b, s, "bench@example.com")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.Authenticate(ctx, token); err != nil {
				b.Fatal(err)
			}
		}
	})
}
