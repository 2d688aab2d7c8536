package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/platform/web"
)

// testProduct is the smallest product: a home page and no tables of its own.
func testProduct() app.Product {
	migrations := fstest.MapFS{
		"sqlite/.keep":   {Data: nil},
		"postgres/.keep": {Data: nil},
	}
	pages := fstest.MapFS{"home.html": {Data: []byte(`{{define "content"}}<h1 id="home">Welcome</h1>{{end}}`)}}
	return app.Product{
		Name: config.Coda, Title: "Testapp", Description: "a product for platform tests", Migrations: migrations,
		Mount: func(ctx context.Context, p *app.Platform) (*app.Mounted, error) {
			site, err := p.MountSite(pages, web.Product{Name: "Testapp"}, nil)
			if err != nil {
				return nil, err
			}
			p.Router.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
				site.Render.Page(w, r, http.StatusOK, "home.html", nil)
			})
			p.Router.HandleFunc("GET /api/boom", func(w http.ResponseWriter, r *http.Request) {
				panic("boom")
			})
			return &app.Mounted{NotFound: http.HandlerFunc(site.Render.NotFound)}, nil
		},
		Commands: []app.Command{{Name: "hello", Usage: "hello", Summary: "say hello", Run: func(ctx context.Context, env app.Env, args []string) error {
			_, err := io.WriteString(env.Stdout, "hello "+strings.Join(args, " ")+"\n")
			return err
		}}},
	}
}

func runTestProduct(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return app.Run(ctx, testProduct(), app.Env{Args: args, Getenv: getenv, Stdout: stdout, Stderr: stderr})
}

func get(t *testing.T, target, cookie string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", target, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitStatus polls target until it answers want, or fails after a deadline.
func waitStatus(t *testing.T, target, cookie string, want int) (*http.Response, string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := get(t, target, cookie)
		if resp.StatusCode == want {
			return resp, body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d after 10s, want %d", target, resp.StatusCode, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProductCommands(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, nil)
	out, _, err := apptest.Command(t, runTestProduct, env, "hello", "world")
	if err != nil || out != "hello world\n" {
		t.Fatalf("product command: got %q, %v", out, err)
	}
	out, _, _ = apptest.Command(t, runTestProduct, env, "help")
	if !strings.Contains(out, "say hello") || !strings.Contains(out, "maintenance on") {
		t.Fatalf("help lacks the product's command or maintenance:\n%s", out)
	}
}

// TestOperatorRunbooks runs maintenance mode, backup, restore and db stats
// against a serving instance, on both back ends.
func TestOperatorRunbooks(t *testing.T) {
	t.Parallel()
	for _, d := range []store.Dialect{store.SQLite, store.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{"EMAIL_SERVER": "stream"}
			if d == store.Postgres {
				extra["DATABASE_URL"] = storetest.URL(t, d)
			}
			env := apptest.BaseEnv(t, extra)
			s := apptest.Start(t, runTestProduct, env)
			cmd := func(args ...string) (string, error) {
				t.Helper()
				out, errOut, err := apptest.Command(t, runTestProduct, env, args...)
				if err != nil {
					return out + errOut + err.Error(), err
				}
				return out, nil
			}

			if out, err := cmd("maintenance", "status"); err != nil || !strings.Contains(out, "off") {
				t.Fatalf("maintenance status: %q, %v", out, err)
			}
			if out, err := cmd("maintenance", "on", "--message", "Upgrading the <database>"); err != nil || !strings.Contains(out, "is on") {
				t.Fatalf("maintenance on: %q, %v", out, err)
			}
			resp, body := waitStatus(t, s.URL+"/", "", http.StatusServiceUnavailable)
			if resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Upgrading the &lt;database&gt;") || !strings.Contains(body, "Down for maintenance") {
				t.Fatalf("maintenance page: Retry-After %q, body:\n%s", resp.Header.Get("Retry-After"), body)
			}
			resp, body = get(t, s.URL+"/api/anything", "")
			var e struct {
				Error struct{ Code, Message string }
			}
			if resp.StatusCode != 503 || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code != "maintenance" {
				t.Fatalf("API during maintenance: %d %s", resp.StatusCode, body)
			}
			if resp, _ := get(t, s.URL+"/healthz", ""); resp.StatusCode != 200 {
				t.Fatalf("/healthz during maintenance: %d", resp.StatusCode)
			}

			// An operator signs in (sign-in stays open) and can use the site.
			link, err := cmd("admin", "login-link", "ops@example.com", "--role", "admin")
			if err != nil {
				t.Fatal(link)
			}
			u, _ := url.Parse(strings.TrimSpace(link))
			noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err = noFollow.PostForm(s.URL+"/auth/email/confirm", url.Values{"token": {u.Query().Get("token")}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var cookie string
			for _, c := range resp.Cookies() {
				cookie = c.Name + "=" + c.Value
			}
			if resp.StatusCode != http.StatusSeeOther || cookie == "" {
				t.Fatalf("admin sign-in during maintenance: %d, cookie %q", resp.StatusCode, cookie)
			}
			if resp, body := get(t, s.URL+"/", cookie); resp.StatusCode != 200 || !strings.Contains(body, `id="home"`) {
				t.Fatalf("admin during maintenance: %d", resp.StatusCode)
			}

			if out, err := cmd("maintenance", "off"); err != nil || !strings.Contains(out, "off") {
				t.Fatalf("maintenance off: %q, %v", out, err)
			}
			waitStatus(t, s.URL+"/", "", http.StatusOK)

			// Back up while serving, change something, restore.
			file := filepath.Join(t.TempDir(), "backup.db")
			if out, err := cmd("backup", file); err != nil || !strings.Contains(out, "backed up") {
				t.Fatalf("backup: %q, %v", out, err)
			}
			if out, err := cmd("backup", "verify", file); err != nil || !strings.Contains(out, "is a good") {
				t.Fatalf("backup verify: %q, %v", out, err)
			}
			for _, sfx := range []string{"-wal", "-shm", "-journal"} {
				if _, err := os.Stat(file + sfx); err == nil {
					t.Errorf("backup left %s beside the copy", file+sfx)
				}
			}
			if out, err := cmd("admin", "login-link", "later@example.com"); err != nil {
				t.Fatal(out)
			}
			out, err := cmd("db", "stats")
			if err != nil || !strings.Contains(out, "users") || !strings.Contains(out, "audit_log") {
				t.Fatalf("db stats: %q, %v", out, err)
			}
			if out, err := cmd("restore", file); err == nil || !strings.Contains(out, "--yes") {
				t.Fatalf("restore without --yes: %q, %v; want a refusal naming --yes", out, err)
			}
			if out, err := cmd("restore", file, "--yes"); err != nil || !strings.Contains(out, "restored") || !strings.Contains(out, "maintenance off") {
				t.Fatalf("restore: %q, %v", out, err)
			}
			// The backup was taken with maintenance off; the restored
			// database still keeps the site closed until the operator opens it.
			if _, body := waitStatus(t, s.URL+"/", "", http.StatusServiceUnavailable); !strings.Contains(body, "restoring from a backup") {
				t.Fatalf("after restore, the page does not say the site is being restored:\n%s", body)
			}
			if out, err := cmd("maintenance", "status"); err != nil || !strings.Contains(out, "is on") {
				t.Fatalf("maintenance status after restore: %q, %v", out, err)
			}
			if out, err := cmd("sessions", "revoke", "--user", "later@example.com"); err == nil || !strings.Contains(out, "no user") {
				t.Fatalf("the user created after the backup survived the restore: %q, %v", out, err)
			}
			if out, err := cmd("sessions", "revoke", "--user", "ops@example.com"); err != nil || !strings.Contains(out, "revoked 1 session") {
				t.Fatalf("the admin's session from before the backup: %q, %v", out, err)
			}
			if out, err := cmd("maintenance", "off"); err != nil {
				t.Fatalf("maintenance off: %q, %v", out, err)
			}
			waitStatus(t, s.URL+"/", "", http.StatusOK)
		})
	}
}

// TestSentryReportsPanics starts a server with SENTRY_DSN pointing at a
// server that speaks Sentry's envelope protocol and makes a handler panic.
func TestSentryReportsPanics(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	ingest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/api/7/envelope/" {
			mu.Lock()
			bodies = append(bodies, string(b))
			mu.Unlock()
		}
		io.WriteString(w, `{}`)
	}))
	defer ingest.Close()
	env := apptest.BaseEnv(t, map[string]string{"SENTRY_DSN": strings.Replace(ingest.URL, "http://", "http://key@", 1) + "/7"})
	s := apptest.Start(t, runTestProduct, env)
	resp, body := get(t, s.URL+"/api/boom", "")
	if resp.StatusCode != 500 || strings.Contains(body, "boom") {
		t.Fatalf("panic answered %d %s, want 500 without details", resp.StatusCode, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		all := strings.Join(bodies, "\n")
		mu.Unlock()
		if strings.Contains(all, `"type":"event"`) && strings.Contains(all, "GET /api/boom") {
			if !strings.Contains(all, resp.Header.Get("X-Request-ID")) {
				t.Errorf("the Sentry event lacks the request ID %q", resp.Header.Get("X-Request-ID"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Sentry event for the panic within 10s; got:\n%s", all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
