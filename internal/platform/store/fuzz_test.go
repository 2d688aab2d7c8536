package store_test

import (
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/store"
)

// FuzzParse: any DATABASE_URL is read or refused without a panic; an error
// names DATABASE_URL, and neither an error nor the printable form of the
// target ever shows the password.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "sqlite:/tmp/x.db", "file:x.db?mode=ro", "postgres://localhost:5432/db", "postgresql://host/db?sslmode=require&connection_limit=3&pool_timeout=20", "postgres://h/db?connection_limit=x", "mysql://h/db", "postgres://", "postgres://h/db?schema=s&sslmode=bogus", "postgres://h:99999/db"} {
		f.Add(s, "s3cretpass")
	}
	f.Fuzz(func(t *testing.T, raw, pass string) {
		if len(pass) < 6 || strings.ContainsAny(pass, "@:/?#[]% ") || strings.Contains(raw, pass[:len(pass)/2]) {
			return
		}
		// A password of hex digits alone can be spelled by percent-escapes
		// of other bytes ("!" + "000000" is "%21000000"): not a leak.
		if strings.Trim(pass, "0123456789abcdefABCDEF") == "" {
			return
		}
		if i := strings.Index(raw, "://"); i >= 0 {
			raw = raw[:i+3] + "user:" + pass + "@" + raw[i+3:]
		}
		tg, err := store.Parse(raw, "data", "coda")
		if err != nil {
			if !strings.Contains(err.Error(), "DATABASE_URL") {
				t.Fatalf("Parse(%q): the error %q does not name DATABASE_URL", raw, err)
			}
			if strings.Contains(err.Error(), pass) {
				t.Fatalf("Parse(%q): the error shows the password: %v", raw, err)
			}
			return
		}
		if tg.Dialect != store.SQLite && tg.Dialect != store.Postgres {
			t.Fatalf("Parse(%q): dialect %q", raw, tg.Dialect)
		}
		// As user info: the password's digits may also turn up in the
		// escaped host ("\x81" + "00000" is "%8100000").
		if strings.Contains(tg.Redacted, ":"+pass+"@") || strings.HasSuffix(tg.Redacted, ":"+pass) {
			t.Fatalf("Parse(%q): Redacted %q shows the password", raw, tg.Redacted)
		}
		if tg.Dialect == store.Postgres && (tg.MaxConns < 1 || tg.PoolTimeout < 0) {
			t.Fatalf("Parse(%q): pool %d/%s", raw, tg.MaxConns, tg.PoolTimeout)
		}
	})
}
