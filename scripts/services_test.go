package scripts

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// services runs scripts/services.sh with a private cluster in pgDir and
// returns the TEST_DATABASE_URL it printed.
func services(t *testing.T, pgDir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", append([]string{"services.sh"}, args...)...)
	env := []string{"SERVICES_PG_DIR=" + pgDir, "CI=true"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEST_DATABASE_URL=") && !strings.HasPrefix(kv, "SERVICES_PG_DIR=") {
			env = append(env, kv)
		}
	}
	// Redis and stripe-mock are the caller's; this test is about PostgreSQL.
	if os.Getenv("TEST_REDIS_URL") == "" {
		env = append(env, "TEST_REDIS_URL=redis://127.0.0.1:6379/0")
	}
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("services.sh %v: %v\n%s", args, err, stderr.String())
	}
	m := regexp.MustCompile(`export TEST_DATABASE_URL='([^']*)'`).FindSubmatch(out)
	if len(args) == 0 && m == nil {
		t.Fatalf("services.sh printed no TEST_DATABASE_URL:\n%s", out)
	}
	if m == nil {
		return ""
	}
	return string(m[1])
}

// The test suite's PostgreSQL is a private cluster under the checkout:
// loopback only, no Unix socket, a random password kept 0600, its superuser
// unknown to any other server; reused when running, restarted after stop.
func TestServicesPrivatePostgres(t *testing.T) {
	if _, err := os.Stat("/usr/lib/postgresql"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL's server binaries are missing on CI: scripts/services.sh installs them")
		}
		t.Skip("no PostgreSQL server binaries under /usr/lib/postgresql (scripts/services.sh installs them)")
	}
	// Not t.TempDir(): its parents are 0700, and as root the cluster runs as
	// postgres, which must reach the folder.
	dir, err := os.MkdirTemp("", "services-pg")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	pgDir := filepath.Join(dir, "pg")
	t.Cleanup(func() {
		services(t, pgDir, "stop")
		os.RemoveAll(dir)
	})

	first := services(t, pgDir)
	u, err := url.Parse(first)
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	if u.Hostname() != "127.0.0.1" || u.Port() == "5432" || u.User.Username() != "app" {
		t.Fatalf("URL %q: want app@127.0.0.1 on a port of its own", first)
	}
	if !regexp.MustCompile(`^[0-9a-f]{48}$`).MatchString(pass) {
		t.Fatalf("password %q is not 24 random bytes in hex", pass)
	}
	if fi, err := os.Stat(filepath.Join(pgDir, "password")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v, want mode 0600", fi.Mode(), err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	var listen, sockets string
	var super bool
	if err := conn.QueryRow(ctx, `SELECT current_setting('listen_addresses'), current_setting('unix_socket_directories'),
		rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&listen, &sockets, &super); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if listen != "127.0.0.1" || sockets != "" || !super {
		t.Fatalf("listen_addresses %q, unix_socket_directories %q, superuser %v", listen, sockets, super)
	}
	wrong := *u
	wrong.User = url.UserPassword("app", "app")
	if c, err := pgx.Connect(ctx, wrong.String()); err == nil {
		c.Close(ctx)
		t.Fatal("the known password app signs in")
	}

	if again := services(t, pgDir); again != first {
		t.Fatalf("second run printed %q, want the running cluster's %q", again, first)
	}
	services(t, pgDir, "stop")
	if c, err := pgx.Connect(ctx, first); err == nil {
		c.Close(ctx)
		t.Fatal("the cluster still answers after stop")
	}
	restarted := services(t, pgDir)
	if restarted != first {
		// The port may have been taken meanwhile; the password must not change.
		r, _ := url.Parse(restarted)
		if p, _ := r.User.Password(); p != pass {
			t.Fatalf("restart printed %q, want the same password as %q", restarted, first)
		}
	}
	c, err := pgx.Connect(ctx, restarted)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	c.Close(ctx)
}
