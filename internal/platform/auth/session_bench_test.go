package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// BenchmarkSessionCheck measures what every signed-in request pays: the
// middleware reading the cookie and looking the session and user up by the
// token's hash, on each back end.
func BenchmarkSessionCheck(b *testing.B) {
	dialects := []store.Dialect{store.SQLite}
	if os.Getenv("TEST_DATABASE_URL") != "" {
		dialects = append(dialects, store.Postgres)
	}
	for _, d := range dialects {
		b.Run(string(d), func(b *testing.B) {
			db := storetest.Open(b, d)
			s, _ := newTestService(b, db)
			token, _ := signIn(b, s, "bench@example.com")
			var seen bool
			h := s.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, seen = UserFrom(r.Context())
			}))
			r := httptest.NewRequest("GET", "/ideas", nil).WithContext(context.Background())
			r.AddCookie(&http.Cookie{Name: s.CookieName(), Value: token})
			w := httptest.NewRecorder()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
			b.StopTimer()
			if !seen {
				b.Fatal("the session was not recognised")
			}
		})
	}
}
