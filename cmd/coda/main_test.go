package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/store/storetest"
)

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServeSQLite(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"CRON_SECRET": "cron-secret-for-tests"})
	s := apptest.Start(t, run, env)

	resp, body := get(t, s.URL+"/", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "<title>Coda · ideas and a terminal") || !strings.Contains(body, "Catch the idea before it goes.") {
		t.Fatalf("home: got %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatal("home page lacks the CSP header")
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Fatal("home page has inline script or style")
	}
	if _, err := os.Stat(filepath.Join(env["DATA_DIR"], "coda.db")); err != nil {
		t.Fatalf("no SQLite file under DATA_DIR: %v", err)
	}

	resp, body = get(t, s.URL+"/readyz", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"database":{"status":"ok"}`) {
		t.Fatalf("readyz: got %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, s.URL+"/no/such/page", map[string]string{"Accept": "text/html"})
	if resp.StatusCode != 404 || !strings.Contains(body, "<html") {
		t.Fatalf("html 404: got %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, s.URL+"/api/no/such", nil)
	if resp.StatusCode != 404 || !strings.Contains(body, `"code":"not_found"`) {
		t.Fatalf("api 404: got %d %s", resp.StatusCode, body)
	}
	resp, _ = get(t, s.URL+"/api/cron/nope", nil)
	if resp.StatusCode != 401 {
		t.Fatalf("cron without secret: got %d, want 401", resp.StatusCode)
	}
	resp, _ = get(t, s.URL+"/api/cron/nope", map[string]string{"Authorization": "Bearer cron-secret-for-tests"})
	if resp.StatusCode != 404 {
		t.Fatalf("unknown job: got %d, want 404", resp.StatusCode)
	}
	resp, body = get(t, s.URL+"/metrics", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `route="GET /{$}"`) || !strings.Contains(body, "go_sql_open_connections") && !strings.Contains(body, "go_sql_") {
		t.Fatalf("metrics: got %d, missing route or db pool series", resp.StatusCode)
	}
	// Assets are served with immutable caching.
	_, home := get(t, s.URL+"/", nil)
	start := strings.Index(home, `/assets/coda/main-`)
	if start < 0 {
		t.Fatal("home page links no hashed asset")
	}
	end := strings.IndexByte(home[start:], '"')
	resp, _ = get(t, s.URL+home[start:start+end], nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatalf("asset: got %d cache %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	if !strings.Contains(s.Stderr.String(), `"msg":"ready"`) {
		t.Fatal("no ready log line")
	}
}

func TestServePostgres(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"DATABASE_URL": storetest.NewPostgresDB(t)})
	s := apptest.Start(t, run, env)
	resp, body := get(t, s.URL+"/readyz", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("readyz on PostgreSQL: got %d %s", resp.StatusCode, body)
	}
	out, _, err := apptest.Command(t, run, env, "migrate", "status")
	if err != nil || !strings.Contains(out, "00001_platform.sql") || strings.Contains(out, "pending") {
		t.Fatalf("migrate status: %v\n%s", err, out)
	}
}

func TestServeRedis(t *testing.T) {
	t.Parallel()
	url := os.Getenv("TEST_REDIS_URL")
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_REDIS_URL not set in CI")
		}
		t.Skip("TEST_REDIS_URL not set")
	}
	s := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"REDIS_URL": url}))
	resp, body := get(t, s.URL+"/readyz", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"redis":{"status":"ok"}`) {
		t.Fatalf("readyz with Redis: got %d %s", resp.StatusCode, body)
	}
}

func TestReadyzReportsRedisDown(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"}))
	resp, body := get(t, s.URL+"/readyz", nil)
	if resp.StatusCode != 503 || !strings.Contains(body, `"redis":{"status":"down"`) {
		t.Fatalf("got %d %s, want 503 naming redis", resp.StatusCode, body)
	}
	// Requests are still served (the limiter fails open).
	if resp, _ := get(t, s.URL+"/", nil); resp.StatusCode != 200 {
		t.Fatalf("home with Redis down: got %d, want 200", resp.StatusCode)
	}
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{}
			if dialect == "postgres" {
				extra["DATABASE_URL"] = storetest.NewPostgresDB(t)
			}
			env := apptest.BaseEnv(t, extra)
			out, _, err := apptest.Command(t, run, env, "migrate", "status")
			if err != nil || !strings.Contains(out, "pending") {
				t.Fatalf("status on empty db: %v\n%s", err, out)
			}
			out, _, err = apptest.Command(t, run, env, "migrate", "up")
			m := regexp.MustCompile(`applied (\d+) migration`).FindStringSubmatch(out)
			if err != nil || m == nil || m[1] == "0" {
				t.Fatalf("up: %v\n%s", err, out)
			}
			applied, _ := strconv.Atoi(m[1])
			status, _, _ := apptest.Command(t, run, env, "migrate", "status")
			lines := strings.Split(strings.TrimSpace(status), "\n")
			latest := strings.Fields(lines[len(lines)-1])[0]
			if out, _, err = apptest.Command(t, run, env, "migrate", "redo"); err != nil || !strings.Contains(out, "re-applied migration "+latest) {
				t.Fatalf("redo: %v\n%s", err, out)
			}
			for i := 0; i < applied; i++ {
				if out, _, err = apptest.Command(t, run, env, "migrate", "down"); err != nil || !strings.Contains(out, "rolled back migration") {
					t.Fatalf("down %d: %v\n%s", i, err, out)
				}
			}
			if status, _, _ = apptest.Command(t, run, env, "migrate", "status"); strings.Count(status, "pending") != applied {
				t.Fatalf("after rolling everything back, got\n%s\nwant %d pending", status, applied)
			}
			if _, _, err = apptest.Command(t, run, env, "migrate", "down"); err == nil {
				t.Fatal("down on an empty database succeeded, want an error")
			}
			if _, _, err = apptest.Command(t, run, env, "migrate", "sideways"); err == nil {
				t.Fatal("unknown migrate verb accepted")
			}
		})
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"AUTH_SECRET": "a-very-long-secret-value-that-must-not-print"})
	out, _, err := apptest.Command(t, run, env, "config", "check")
	if err != nil || !strings.Contains(out, "DATABASE_URL") || !strings.Contains(out, "No problems") {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	if strings.Contains(out, "must-not-print") {
		t.Fatal("config check printed a secret")
	}
	if _, err := os.Stat(filepath.Join(env["DATA_DIR"], "dev-secrets.json")); err == nil {
		t.Fatal("config check wrote development secrets; checking must change nothing")
	}
	env = apptest.BaseEnv(t, map[string]string{"DATABASE_URL": "mysql://x", "PORT": "http"})
	out, _, err = apptest.Command(t, run, env, "config", "check")
	if err == nil || !strings.Contains(out, "2 problem(s)") || !strings.Contains(out, "DATABASE_URL") || !strings.Contains(out, "PORT") {
		t.Fatalf("config check with problems: %v\n%s", err, out)
	}
	// An EMAIL_SERVER option serve refuses is a problem for config check
	// too, with the same reason, and serve refuses it before listening.
	env = apptest.BaseEnv(t, map[string]string{"EMAIL_SERVER": "smtp://u:hunter2@mail.example.com:587?tls=bogus"})
	out, _, err = apptest.Command(t, run, env, "config", "check")
	if err == nil || !strings.Contains(out, `EMAIL_SERVER: option tls="bogus" is not supported`) || strings.Contains(out, "No problems") {
		t.Fatalf("config check with tls=bogus: %v\n%s", err, out)
	}
	_, _, serr := apptest.Command(t, run, env, "serve")
	if serr == nil || !strings.Contains(serr.Error(), `tls="bogus"`) {
		t.Fatalf("serve with tls=bogus: %v", serr)
	}
	if strings.Contains(out, "hunter2") || strings.Contains(serr.Error(), "hunter2") {
		t.Fatal("the EMAIL_SERVER password was printed")
	}
}

func TestProductionRefusesToStartWithoutSecrets(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"APP_ENV": "production"})
	_, _, err := apptest.Command(t, run, env, "serve")
	if err == nil {
		t.Fatal("serve started in production without secrets")
	}
	for _, name := range []string{"AUTH_SECRET", "CRON_SECRET", "PUBLIC_URL", "EMAIL_SERVER"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestMalformedDatabaseURL(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"DATABASE_URL": "postgres//oops"})
	_, _, err := apptest.Command(t, run, env, "serve")
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "postgres://") {
		t.Fatalf("got %v, want an error naming DATABASE_URL and the accepted forms", err)
	}
}

func TestCronCommands(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, nil)
	out, _, err := apptest.Command(t, run, env, "cron", "list")
	if err != nil || !strings.Contains(out, "JOB") {
		t.Fatalf("cron list: %v\n%s", err, out)
	}
	_, _, err = apptest.Command(t, run, env, "cron", "run", "no-such-job")
	if err == nil || !strings.Contains(err.Error(), "no-such-job") {
		t.Fatalf("cron run unknown: got %v", err)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	out, _, err := apptest.Command(t, run, nil, "help")
	if err != nil || !strings.Contains(out, "migrate up|down|status|redo") {
		t.Fatalf("help: %v\n%s", err, out)
	}
	if _, _, err := apptest.Command(t, run, nil, "frobnicate"); err == nil {
		t.Fatal("unknown command accepted")
	}
}
