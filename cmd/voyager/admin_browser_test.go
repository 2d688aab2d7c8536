package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// browserLogin signs email in with a single-use link in the browser.
func browserLogin(t *testing.T, b *browsertest.Browser, s *apptest.Server, email string, extra ...string) {
	t.Helper()
	out, _, err := apptest.Command(t, run, s.Env, append([]string{"admin", "login-link", email}, extra...)...)
	m := loginToken.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")
}

// shoot takes light, dark and phone screenshots of the current page.
func shoot(t *testing.T, b *browsertest.Browser, name string) {
	t.Helper()
	dir := os.Getenv("SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	b.Survey(dir, name)
}

func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestAdminConsoleInBrowser checks Voyager's console: a member chats in a
// community (their browser's vitals land in the histograms labelled with
// the community) and gets 404 for every console page; an admin sees every
// page, the community's messages, tokens and cost, and the AI provider's
// health and breaker.
func TestAdminConsoleInBrowser(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Ask for the raise", " with numbers."}})
	defer ant.Close()
	env := voyagerEnv(t, ant, nil, nil)
	s := apptest.Start(t, run, env)

	member := browsertest.New(t)
	browserLogin(t, member, s, "grace@example.com")
	member.Navigate(s.URL + "/c/alpha/")
	member.Click("#join")
	member.WaitVisible("#new-conversation")
	member.Click("#new-conversation")
	member.WaitVisible("#composer")
	member.WaitLCP()
	member.Type("#content", "How do I ask for a raise?\n")
	member.WaitEval("answer complete", `(document.querySelector("#messages li.msg-assistant:last-child") || {dataset: {}}).dataset.status || ""`, "complete")
	member.Navigate(s.URL + "/")
	member.WaitVisible("main h1")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(metricsText(t, s.URL), `web_vitals_lcp_seconds_count{community="alpha",route="/c/{cid}/chat/{conv}"}`) {
		if time.Now().After(deadline) {
			t.Fatalf("no LCP for the chat page of alpha in /metrics:\n%s", grepLines(metricsText(t, s.URL), "web_vitals_lcp_seconds_count"))
		}
		time.Sleep(20 * time.Millisecond)
	}

	pages := []string{"/admin", "/admin/users", "/admin/audit", "/admin/cron", "/admin/maintenance", "/admin/database", "/admin/communities", "/admin/ai"}
	member.AllowConsoleError("404")
	for _, p := range pages {
		member.Navigate(s.URL + p)
		member.WaitVisible("main h1")
		if got := member.Text("main h1"); got != "Page not found" {
			t.Errorf("member at %s sees %q, want the 404 page", p, got)
		}
	}

	admin := browsertest.New(t)
	browserLogin(t, admin, s, "ada@example.com", "--role", "admin")
	for _, p := range pages {
		admin.Navigate(s.URL + p)
		admin.WaitVisible("#admin-title")
		if n := browsertest.Eval[int](admin, `document.querySelectorAll(".admin-nav a[aria-current=page]").length`); n != 1 {
			t.Errorf("%s: %d current links in the console's navigation", p, n)
		}
	}
	admin.Navigate(s.URL + "/admin")
	admin.WaitVisible("#chart-requests")
	if got := admin.Text("#vitals + p + .table-wrap table"); !strings.Contains(got, "/c/{cid}/chat/{conv}") {
		t.Errorf("vitals table: %q", got)
	}
	admin.Navigate(s.URL + "/admin/communities")
	admin.WaitVisible("#section-title")
	row := browsertest.Eval[string](admin, `[...document.querySelectorAll(".admin-table tbody tr")].map(r => r.innerText).find(t => t.includes("(alpha)")) || ""`)
	cells := strings.Split(row, "\t")
	// Community, visibility, members, messages, tokens, cost, limit, answers today, at limit.
	if len(cells) != 9 || cells[2] != "1" || cells[3] != "2" || cells[4] == "0" || cells[7] != "1" {
		t.Fatalf("alpha's row: %q", cells)
	}
	for _, id := range []string{"#chart-members", "#chart-messages", "#chart-tokens", "#chart-cost"} {
		admin.WaitVisible(id)
	}
	shoot(t, admin, "voyager-admin-communities")
	admin.Navigate(s.URL + "/admin/ai")
	admin.WaitVisible("#section-title")
	if got := admin.Text(".admin-table tbody"); !strings.Contains(got, "anthropic") || !strings.Contains(got, "healthy") || !strings.Contains(got, "closed") {
		t.Fatalf("providers: %q", got)
	}
	shoot(t, admin, "voyager-admin-ai")
	admin.Navigate(s.URL + "/admin")
	admin.WaitVisible("#chart-requests")
	shoot(t, admin, "voyager-admin-overview")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
