package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

var adminLoginLink = regexp.MustCompile(`https?://\S+/auth/email/confirm\?token=[A-Za-z0-9_-]+`)

// browserSignIn signs email in with a single-use link in the browser.
func browserSignIn(t *testing.T, b *browsertest.Browser, s *apptest.Server, email string, extra ...string) {
	t.Helper()
	out, errOut, err := apptest.Command(t, run, s.Env, append([]string{"admin", "login-link", email}, extra...)...)
	if err != nil {
		t.Fatalf("login-link: %v\n%s", err, errOut)
	}
	link := adminLoginLink.FindString(out)
	if link == "" {
		t.Fatalf("no link in %q", out)
	}
	b.Navigate(s.URL + link[strings.Index(link, "/auth/"):])
	b.WaitVisible("#confirm-signin")
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")
}

// screenshotDir is where console screenshots go: $SCREENSHOTS, else a temp dir.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("SCREENSHOTS"); d != "" {
		return d
	}
	return t.TempDir()
}

// look takes light, dark and phone screenshots of the current page.
func look(t *testing.T, b *browsertest.Browser, dir, name string) {
	t.Helper()
	b.Survey(dir, name)
}

// waitNotice waits for the console's notice after a form's redirect.
func waitNotice(b *browsertest.Browser, want string) {
	b.WaitEval("the notice", `document.querySelector(".admin-notice")?.innerText || ""`, want)
}

// metricValue reads one sample's value from /metrics ("" when absent).
func metricValue(t *testing.T, base, series string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, series+" ") {
			return strings.TrimPrefix(l, series+" ")
		}
	}
	return ""
}

// TestAdminConsoleInBrowser walks every console page as an admin (with
// screenshots in light, dark and on a phone), uses each action, and checks
// that a member gets the 404 page for every one of them. The member's
// browser reports web vitals that reach /metrics and the overview.
func TestAdminConsoleInBrowser(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"EMAIL_SERVER": "stream"})
	s := apptest.Start(t, run, env)
	dir := screenshotDir(t)

	// A member browses; their browser's beacons reach the histograms.
	member := browsertest.New(t)
	browserSignIn(t, member, s, "grace.hopper@example.com")
	member.Navigate(s.URL + "/ideas")
	member.WaitVisible("main h1")
	if got := browsertest.Eval[string](member, "document.body.dataset.vitals || ''"); got != "on" {
		t.Fatalf("data-vitals is %q, want on", got)
	}
	member.WaitLCP()
	member.Navigate(s.URL + "/") // leaving /ideas sends its beacon
	member.WaitVisible("main h1")
	waitFor(t, "the /ideas beacon's LCP and TTFB in /metrics", func() string {
		for _, m := range []string{"lcp_seconds", "ttfb_seconds"} {
			if v := metricValue(t, s.URL, `web_vitals_`+m+`_count{route="/ideas"}`); v == "" || v == "0" {
				return ""
			}
		}
		return "yes"
	})
	// The pages left so far (sign-in confirmation, /ideas) reported FCP and CLS too.
	resp0, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body0, _ := io.ReadAll(resp0.Body)
	resp0.Body.Close()
	for _, m := range []string{"web_vitals_fcp_seconds_count{", "web_vitals_cls_count{"} {
		if !strings.Contains(string(body0), m) {
			t.Errorf("/metrics has no %s…}", m)
		}
	}

	pages := []string{"/admin", "/admin/users", "/admin/audit", "/admin/cron", "/admin/maintenance", "/admin/database", "/admin/ideas", "/admin/devmode", "/admin/nope"}
	member.AllowConsoleError("404")
	if n := browsertest.Eval[int](member, `document.querySelectorAll("#admin-link").length`); n != 0 {
		t.Error("a member's account menu links to the console")
	}
	for _, p := range pages {
		member.Navigate(s.URL + p)
		member.WaitVisible("main h1")
		if got := member.Text("main h1"); got != "Page not found" {
			t.Errorf("member at %s sees %q, want the 404 page", p, got)
		}
	}
	// Signed out, and for POSTs, it is the same 404.
	resp, err := http.Get(s.URL + "/admin")
	if err != nil || resp.StatusCode != 404 {
		t.Fatalf("signed out GET /admin: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	admin := browsertest.New(t)
	browserSignIn(t, admin, s, "ada@example.com", "--role", "admin")
	// The account menu leads admins to the console.
	admin.Navigate(s.URL + "/ideas")
	admin.Click(".account-menu summary")
	admin.Click("#admin-link")
	admin.WaitVisible("#admin-title")
	for _, id := range []string{"#chart-requests", "#chart-latency", "#chart-errors", "#chart-users", "#chart-signins", "#chart-sessions", "#chart-vitals-lcp"} {
		admin.WaitVisible(id)
	}
	// The overview read the rollups after flushing this instance's minutes:
	// the member's requests and page's vitals are there.
	if got := admin.Text(".admin-stats"); !strings.Contains(got, "Users\n2") && !strings.Contains(got, "Users 2") {
		t.Errorf("stats: %q", got)
	}
	if got := admin.Text("#vitals + p + .table-wrap table"); !strings.Contains(got, "/ideas") {
		t.Errorf("vitals table has no /ideas row: %q", got)
	}
	if n := browsertest.Eval[int](admin, `document.querySelectorAll("#chart-requests svg polyline, #chart-requests svg circle").length`); n == 0 {
		t.Error("the request-rate chart drew no line")
	}
	if n := browsertest.Eval[int](admin, `document.querySelectorAll("#chart-requests details table tbody tr").length`); n == 0 {
		t.Error("the request-rate chart has no table")
	}
	look(t, admin, dir, "admin-overview")

	// Users: search, open, change role, sign out everywhere, export, delete.
	admin.Navigate(s.URL + "/admin/users?q=grace")
	admin.WaitVisible("#user-table")
	if got := admin.Text("#user-count"); !strings.HasPrefix(got, "1 user") {
		t.Fatalf("search: %q", got)
	}
	look(t, admin, dir, "admin-users")
	admin.Click("#user-table tbody a")
	admin.WaitVisible("#user-title")
	look(t, admin, dir, "admin-user")
	admin.Run(chromedp.SetValue(chromedp.CSS("#new-role"), "admin"))
	admin.Click("#save-role")
	waitNotice(admin, "Role changed.")
	if got := admin.Text("#user-role"); got != "admin" {
		t.Fatalf("role after change: %q", got)
	}
	admin.Click("#revoke-sessions")
	waitNotice(admin, "The user was signed out of every device.")
	exported := browsertest.Eval[string](admin, `(async () => {
		const f = document.querySelector("form[action$='/export']");
		const r = await fetch(f.action, {method: "POST", body: new URLSearchParams(new FormData(f))});
		return r.status + " " + (await r.text());
	})()`)
	if !strings.HasPrefix(exported, "200 ") || !strings.Contains(exported, `"email":"grace.hopper@example.com"`) || !strings.Contains(exported, `"format":"account-export"`) {
		t.Fatalf("export: %.300s", exported)
	}
	// A form without the session's token is refused.
	forged := browsertest.Eval[int](admin, `(async () => {
		const f = document.querySelector("form[action$='/revoke']");
		const r = await fetch(f.action, {method: "POST", body: new URLSearchParams({token: "forged"})});
		return r.status;
	})()`)
	if forged != 403 {
		t.Fatalf("forged token: %d, want 403", forged)
	}
	admin.AllowConsoleError("403")
	admin.Type("#confirm", "grace.hopper@example.com")
	admin.Click("#delete-user")
	waitNotice(admin, "The user and their data were deleted.")
	if got := admin.Text("#user-count"); !strings.HasPrefix(got, "1 user") { // only ada is left
		t.Fatalf("after delete: %q", got)
	}

	// Cron: run the rollup job now.
	admin.Navigate(s.URL + "/admin/cron")
	admin.WaitVisible("#job-rollup-metrics")
	admin.Click("#job-rollup-metrics button")
	waitNotice(admin, "The job ran; its result is at the top of the list.")
	if got := admin.Text("#cron-runs tbody tr"); !strings.Contains(got, "rollup-metrics") || !strings.Contains(got, "admin") {
		t.Fatalf("latest run: %q", got)
	}
	look(t, admin, dir, "admin-cron")

	// Maintenance on with a message: visitors get 503, the admin still works.
	admin.Navigate(s.URL + "/admin/maintenance")
	admin.WaitVisible("#maintenance-on")
	admin.Type("#message", "Back at noon.")
	admin.Click("#maintenance-on")
	admin.WaitVisible("#maintenance-off")
	look(t, admin, dir, "admin-maintenance")
	waitFor(t, "maintenance for visitors", func() string {
		r, err := http.Get(s.URL + "/")
		if err != nil {
			return ""
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode == 503 && strings.Contains(string(b), "Back at noon.") {
			return "yes"
		}
		return ""
	})
	admin.Click("#maintenance-off")
	admin.WaitVisible("#maintenance-on")

	// Database: the db stats view.
	admin.Navigate(s.URL + "/admin/database")
	admin.WaitVisible("#db-tables")
	if got := admin.Text("#db-tables"); !strings.Contains(got, "metric_rollups") || !strings.Contains(got, "users") {
		t.Fatalf("db tables: %q", got)
	}
	look(t, admin, dir, "admin-database")

	// Coda's own sections.
	for _, p := range []string{"ideas", "devmode"} {
		admin.Navigate(s.URL + "/admin/" + p)
		admin.WaitVisible("#section-title")
		look(t, admin, dir, "admin-"+p)
	}

	// Audit log: every action above is there; filter by action and actor; CSV.
	admin.Navigate(s.URL + "/admin/audit")
	admin.WaitVisible("#audit-table")
	got := admin.Text("#audit-table")
	for _, a := range []string{"admin.role_changed", "admin.sessions_revoked", "admin.user_exported", "admin.user_deleted", "admin.cron_run", "admin.maintenance_on", "admin.maintenance_off"} {
		if !strings.Contains(got, a) {
			t.Errorf("audit log lacks %s", a)
		}
	}
	look(t, admin, dir, "admin-audit")
	admin.Navigate(s.URL + "/admin/audit?action=admin.cron_run&actor=ada@example.com&from=" + time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04"))
	admin.WaitVisible("#audit-table")
	if n := browsertest.Eval[int](admin, `document.querySelectorAll("#audit-table tbody tr").length`); n != 1 {
		t.Errorf("filtered audit log: %d rows, want 1", n)
	}
	csv := browsertest.Eval[string](admin, `fetch(document.querySelector("#audit-csv").href).then(r => r.text())`)
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "at,actor_id,actor,action") || !strings.Contains(lines[1], "admin.cron_run") {
		t.Errorf("csv: %q", csv)
	}
	fmt.Fprintln(io.Discard, dir)
}
