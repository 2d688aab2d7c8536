package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/backup"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

// command runs one operator command against env, returning its output
// (with the error's text when it fails).
func command(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := apptest.Command(t, runTestProduct, env, args...)
	if err != nil {
		return out + errOut + err.Error(), err
	}
	return out, nil
}

// userExists tells whether the database in env has a user with email.
func userExists(t *testing.T, env map[string]string, email string) bool {
	t.Helper()
	out, err := command(t, env, "sessions", "revoke", "--user", email)
	if err != nil && !strings.Contains(out, "no user") {
		t.Fatalf("sessions revoke --user %s: %q", email, out)
	}
	return err == nil
}

// waitReplicated waits until a restore of the replica holds the user with
// email. It looks at what the replica holds, not at its files' times: the
// server may ship a write before the command that made it has exited, and
// nothing else may be written after it.
func waitReplicated(t *testing.T, url, email string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for try := 0; ; try++ {
		has, err := replicaHasUser(t, url, email, try)
		if err == nil && has {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20s, a restore of the replica has no user %s (%v)", email, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// replicaHasUser restores the replica's newest state into a scratch file
// and looks for the user with email there.
func replicaHasUser(t *testing.T, url, email string, try int) (bool, error) {
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "check-"+strconv.Itoa(try)+".db")
	if err := backup.RestoreReplica(ctx, backup.ReplicaOptions{URL: url}, out, time.Time{}); err != nil {
		return false, err
	}
	db, err := store.Open(ctx, store.Options{URL: "file:" + out})
	if err != nil {
		return false, err
	}
	defer db.Close()
	var n int
	err = db.Reader().QueryRowContext(ctx, "SELECT count(*) FROM users WHERE email = ?", email).Scan(&n)
	return n == 1, err
}

// TestContinuousBackup serves with BACKUP_REPLICA_URL set, restores the
// replica onto a new machine (an empty DATA_DIR) with --latest, and
// restores the running server's database to a point in time with --to;
// each restore leaves the site in maintenance until `maintenance off`.
func TestContinuousBackup(t *testing.T) {
	t.Parallel()
	replica := filepath.Join(t.TempDir(), "replica")
	env := apptest.BaseEnv(t, map[string]string{"EMAIL_SERVER": "stream", "BACKUP_REPLICA_URL": replica, "BACKUP_SYNC_INTERVAL": "50ms"})
	s := apptest.Start(t, runTestProduct, env)

	if out, err := command(t, env, "admin", "login-link", "first@example.com"); err != nil {
		t.Fatal(out)
	}
	waitReplicated(t, replica, "first@example.com")
	// The replica's files carry their times to the millisecond: the next
	// write must be stamped after `between`, not in its millisecond.
	between := time.Now()
	time.Sleep(2 * time.Millisecond)
	if out, err := command(t, env, "admin", "login-link", "second@example.com"); err != nil {
		t.Fatal(out)
	}
	waitReplicated(t, replica, "second@example.com")

	// A new machine: nothing in DATA_DIR but the same replica.
	fresh := apptest.BaseEnv(t, map[string]string{"EMAIL_SERVER": "stream", "BACKUP_REPLICA_URL": replica})
	out, err := command(t, fresh, "restore", "--latest", "--yes")
	if err != nil || !strings.Contains(out, "maintenance off") {
		t.Fatalf("restore --latest on a new machine: %q, %v", out, err)
	}
	if out, _ := command(t, fresh, "maintenance", "status"); !strings.Contains(out, "is on") {
		t.Fatalf("after restore --latest, maintenance: %q, want on", out)
	}
	if !userExists(t, fresh, "first@example.com") || !userExists(t, fresh, "second@example.com") {
		t.Fatal("restore --latest lost a replicated user")
	}
	if out, err := command(t, fresh, "backup", "verify", filepath.Join(fresh["DATA_DIR"], "coda.db")); err != nil {
		t.Fatalf("the restored database does not verify: %q", out)
	}

	// Point in time, into the running server's database.
	out, err = command(t, env, "restore", "--to", between.UTC().Format(time.RFC3339Nano), "--yes")
	if err != nil || !strings.Contains(out, "as of") {
		t.Fatalf("restore --to: %q, %v", out, err)
	}
	waitStatus(t, s.URL+"/", "", http.StatusServiceUnavailable)
	if !userExists(t, env, "first@example.com") {
		t.Fatal("restore --to lost the user written before the point in time")
	}
	if userExists(t, env, "second@example.com") {
		t.Fatal("restore --to kept the user written after the point in time")
	}
	if out, err := command(t, env, "maintenance", "off"); err != nil {
		t.Fatal(out)
	}
	waitStatus(t, s.URL+"/", "", http.StatusOK)

	// The server goes on replicating the restored database.
	if out, err := command(t, env, "admin", "login-link", "third@example.com"); err != nil {
		t.Fatal(out)
	}
	waitReplicated(t, replica, "third@example.com")
	out, err = command(t, env, "dr", "drill")
	if err != nil || !strings.Contains(out, "RTO") {
		t.Fatalf("dr drill: %q, %v", out, err)
	}

	if out, err := command(t, env, "restore", "--latest"); err == nil || !strings.Contains(out, "--yes") {
		t.Fatalf("restore --latest without --yes: %q, %v", out, err)
	}
	if out, err := command(t, env, "restore", "--to", "yesterday", "--yes"); err == nil || !strings.Contains(out, "RFC 3339") {
		t.Fatalf("restore --to yesterday: %q, %v", out, err)
	}
	noReplica := apptest.BaseEnv(t, nil)
	if out, err := command(t, noReplica, "restore", "--latest", "--yes"); err == nil || !strings.Contains(out, "BACKUP_REPLICA_URL") {
		t.Fatalf("restore --latest without a replica: %q, %v", out, err)
	}
}

// TestScheduledBackups runs the backup job on both back ends: it is listed
// with its result, writes verified timestamped copies, keeps BACKUP_KEEP of
// them, and `backup verify` and `dr drill` accept its files and refuse a
// damaged one.
func TestScheduledBackups(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "backups")
			extra := map[string]string{"BACKUP_DIR": dir, "BACKUP_KEEP": "2"}
			if d == store.Postgres {
				extra["DATABASE_URL"] = storetest.URL(t, d)
			}
			env := apptest.BaseEnv(t, extra)
			var files []string
			for i := 0; i < 3; i++ {
				out, err := command(t, env, "cron", "run", "backup")
				var res struct {
					Success  bool
					File     string
					Verified bool
				}
				if err != nil || json.Unmarshal([]byte(out), &res) != nil || !res.Success || !res.Verified {
					t.Fatalf("cron run backup: %q, %v", out, err)
				}
				files = append(files, res.File)
			}
			got, err := backup.List(dir, "coda")
			if err != nil || len(got) != 2 || got[0].Path != files[2] || got[1].Path != files[1] {
				t.Fatalf("after 3 runs with BACKUP_KEEP=2: %+v, %v; want the newest two of %v", got, err, files)
			}
			out, err := command(t, env, "cron", "list")
			if err != nil || !strings.Contains(out, "backup") || !strings.Contains(out, "keeping 2") || !strings.Contains(out, `"verified":true`) {
				t.Fatalf("cron list: %q, %v", out, err)
			}
			if out, err := command(t, env, "backup", "verify", files[2]); err != nil || !strings.Contains(out, "is a good") {
				t.Fatalf("backup verify: %q, %v", out, err)
			}
			out, err = command(t, env, "dr", "drill")
			if err != nil || !strings.Contains(out, files[2]) || !strings.Contains(out, "RTO") {
				t.Fatalf("dr drill: %q, %v", out, err)
			}

			// A damaged backup: keep the header, cut the rest.
			b, err := os.ReadFile(files[2])
			if err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(t.TempDir(), "damaged")
			if err := os.WriteFile(bad, b[:len(b)/2], 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := command(t, env, "backup", "verify", bad); err == nil || !strings.Contains(out, "NOT a usable backup") {
				t.Fatalf("backup verify of a damaged file: %q, %v", out, err)
			}
			junk := filepath.Join(t.TempDir(), "junk")
			os.WriteFile(junk, []byte("hello"), 0o600)
			if out, err := command(t, env, "backup", "verify", junk); err == nil || !strings.Contains(out, "neither") {
				t.Fatalf("backup verify of a text file: %q, %v", out, err)
			}
		})
	}
}

// TestDBStats checks db stats lists sizes, indexes and (on PostgreSQL)
// index usage and long-running queries, on both back ends.
func TestDBStats(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{}
			if d == store.Postgres {
				extra["DATABASE_URL"] = storetest.URL(t, d)
			}
			env := apptest.BaseEnv(t, extra)
			if out, err := command(t, env, "migrate", "up"); err != nil {
				t.Fatal(out)
			}
			out, err := command(t, env, "db", "stats")
			if err != nil {
				t.Fatal(out)
			}
			for _, want := range []string{"TABLE", "ROWS", "INDEXES SIZE", "users", "sessions", "INDEX", "Long-running queries"} {
				if !strings.Contains(out, want) {
					t.Errorf("db stats lacks %q:\n%s", want, out)
				}
			}
			if d == store.Postgres && (!strings.Contains(out, "SCANS") || !strings.Contains(out, "users_pkey")) {
				t.Errorf("db stats on PostgreSQL lacks index usage:\n%s", out)
			}
			if d == store.SQLite && !strings.Contains(out, "sqlite_autoindex_users") {
				t.Errorf("db stats on SQLite lacks the users table's indexes:\n%s", out)
			}
		})
	}
}
