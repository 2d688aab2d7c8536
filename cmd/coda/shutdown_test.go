package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// TestShutdownWithTerminalsOpen: SIGTERM (the context main cancels on it)
// while DevMode terminals are open. The relay is shut down before the
// store and nothing fails with "database is closed". The terminals do not
// end: the relay tells runners it is restarting and they keep their shells
// for the next relay (issue 14), so no terminal-close entry is written.
func TestShutdownWithTerminalsOpen(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{"PORT": freePort(t)}
			if dialect == "postgres" {
				extra["DATABASE_URL"] = storetest.NewPostgresDB(t)
			}
			env := apptest.BaseEnv(t, extra)
			s := apptest.Start(t, run, env)
			ada := devSignIn(t, s, "ada@example.com")
			cfg := pairRunner(t, s, ada, "ada-desktop")
			startRunner(t, cfg, nil)
			runnerOnline(t, s, ada, cfg.RunnerID, true)
			const terminals = 3
			for i := range terminals {
				tk, _ := getTicket(t, s, ada, cfg.RunnerID)
				term, err := openTerm(t, tk, "")
				if err != nil {
					t.Fatalf("terminal %d: %v", i, err)
				}
				term.send("echo open-$((40+2))\r")
				term.expect(`open-42`)
			}

			s.Stop(t) // what SIGTERM does: main cancels run's context

			logs := s.Stderr.String()
			for _, bad := range []string{"database is closed", `"level":"ERROR"`} {
				if strings.Contains(logs, bad) {
					t.Errorf("the shutdown logged %q:\n%s", bad, grepLines(logs, bad))
				}
			}
			var db *sql.DB
			var err error
			if dialect == "postgres" {
				db, err = sql.Open("pgx", env["DATABASE_URL"])
			} else {
				db, err = sql.Open("sqlite", filepath.Join(env["DATA_DIR"], "coda.db"))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var opened, closed int
			ctx := context.Background()
			db.QueryRowContext(ctx, "SELECT count(*) FROM audit_log WHERE action = 'devmode.terminal.open'").Scan(&opened)
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM audit_log WHERE action = 'devmode.terminal.close'").Scan(&closed); err != nil {
				t.Fatal(err)
			}
			if opened != terminals || closed != 0 {
				t.Fatalf("audit log: %d terminals opened, %d closed; want %d and 0 (shells survive a restart)\n%s", opened, closed, terminals, logs)
			}
		})
	}
}
