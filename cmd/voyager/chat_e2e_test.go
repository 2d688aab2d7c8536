package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

const alphaJSON = `{
  "id": "alpha", "name": "Alpha Careers", "description": "A public test community.", "visibility": "public",
  "branding": {"colors": {"primary": "#123456"}},
  "coach": {"name": "Nova", "systemPrompt": "You are Nova, a careers coach.", "models": {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4o-mini"},
    "welcomeMessage": "Hello from Nova.", "starterQuestions": ["How do I ask for a raise?"]},
  "limits": {"messagesPerDay": 3}
}`

const betaJSON = `{
  "id": "beta", "name": "Beta Alumni", "description": "A private test community.", "visibility": "private",
  "branding": {"domains": ["beta.example"]},
  "coach": {"name": "Ada", "systemPrompt": "You are Ada."},
  "limits": {"messagesPerDay": 0}
}`

// voyagerEnv writes the two test communities and points the server at
// fake providers.
func voyagerEnv(t *testing.T, ant, oai *aitest.Server, extra map[string]string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "alpha.json"), []byte(alphaJSON), 0o644)
	os.WriteFile(filepath.Join(dir, "beta.json"), []byte(betaJSON), 0o644)
	env := map[string]string{"COMMUNITIES_DIR": dir, "RATE_LIMIT_SCALE": "0", "EMAIL_SERVER": "stream"}
	if ant != nil {
		env["ANTHROPIC_API_KEY"], env["ANTHROPIC_BASE_URL"] = "sk-ant-test-key", ant.URL
	}
	if oai != nil {
		env["OPENAI_API_KEY"], env["OPENAI_BASE_URL"] = "sk-test-key", oai.URL
	}
	for k, v := range extra {
		env[k] = v
	}
	return apptest.BaseEnv(t, env)
}

var loginToken = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

func signIn(t *testing.T, s *apptest.Server, email string, admin bool) *http.Client {
	t.Helper()
	args := []string{"admin", "login-link", email}
	if admin {
		args = append(args, "--role", "admin")
	}
	out, _, err := apptest.Command(t, run, s.Env, args...)
	m := loginToken.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second}
	resp, err := c.PostForm(s.URL+"/auth/email/confirm", url.Values{"token": {m[1]}})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("confirm: %v %v", err, resp)
	}
	resp.Body.Close()
	return c
}

type response struct {
	status int
	body   string
	header http.Header
}

func do(t *testing.T, c *http.Client, method, u, host string, body any) response {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req, _ := http.NewRequest(method, u, r)
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != "GET" && host == "" {
		req.Header.Set("Origin", strings.TrimSuffix(u[:strings.Index(u[8:], "/")+8], "/"))
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b), resp.Header}
}

func page(t *testing.T, c *http.Client, u, host string) response {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	if host != "" {
		req.Host = host
	}
	req.Header.Set("Accept", "text/html")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b), resp.Header}
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

// stream reads an answer's SSE stream to its end; it returns the events
// in order as "event:data".
func stream(t *testing.T, c *http.Client, u string) []string {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("stream: %d %s %s", resp.StatusCode, ct, b)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	ev := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			ev = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			out = append(out, ev+":"+strings.TrimPrefix(line, "data: "))
			if ev == "done" {
				return out
			}
		}
	}
	return out
}

type sentJSON struct {
	Answer struct {
		ID string `json:"id"`
	} `json:"answer"`
	Quota struct {
		Remaining int `json:"remaining"`
	} `json:"quota"`
	StreamURL string `json:"stream_url"`
}

type doneJSON struct {
	Content  string `json:"content"`
	Status   string `json:"status"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
	HTML     string `json:"html"`
	Tokens   struct {
		Input, Output int64
		CacheRead     int64 `json:"cache_read"`
	} `json:"tokens"`
	CostMicros int64 `json:"cost_micros"`
}

func TestHostnameRouting(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, voyagerEnv(t, nil, nil, nil))
	c := http.DefaultClient
	for _, tc := range []struct {
		host, want string
		status     int
	}{
		{"", "Alpha Careers", 200},                                      // the platform: landing page lists public communities
		{"localhost", "Alpha Careers", 200},                             //
		{"beta.example", "Beta Alumni", 200},                            // custom domain: that community at /
		{"BETA.Example:8443", "Beta Alumni", 200},                       // any case, port ignored
		{"www.beta.example", "Beta Alumni", 200},                        // www. is the same host
		{"beta.example.", "Beta Alumni", 200},                           // trailing dot
		{"other.example", "There is no community at this address", 404}, // neutral: no operator instructions, no home link
		{"alpha.example", "There is no community at this address", 404},
	} {
		r := page(t, c, s.URL+"/", tc.host)
		if r.status != tc.status || !strings.Contains(r.body, tc.want) {
			t.Errorf("host %q: got %d, want %d with %q", tc.host, r.status, tc.status, tc.want)
		}
		if tc.status == 404 && (strings.Contains(r.body, "branding.domains") || strings.Contains(r.body, `href="/"`)) {
			t.Errorf("host %q: the unknown-host page shows operator instructions or links back to itself", tc.host)
		}
	}
	if r := page(t, c, s.URL+"/", ""); strings.Contains(r.body, "Beta Alumni") {
		t.Error("the landing page lists a private community")
	}
	if r := page(t, c, s.URL+"/c/alpha/", ""); r.status != 200 || !strings.Contains(r.body, "/brand/alpha.css") {
		t.Errorf("/c/alpha/: got %d", r.status)
	}
	if r := page(t, c, s.URL+"/c/beta/", ""); r.status != 404 {
		t.Errorf("private community on the platform host: got %d, want 404", r.status)
	}
	if r := page(t, c, s.URL+"/c/alpha/", "beta.example"); r.status != 404 {
		t.Errorf("another community on a custom domain: got %d, want 404", r.status)
	}
	if r := page(t, c, s.URL+"/brand/alpha.css", ""); !strings.Contains(r.body, "--brand: #123456") {
		t.Errorf("brand css: %q", r.body)
	}
}

func TestChatEndToEnd(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"**Ask**", " for", " the raise."}, Input: 40, Output: 5, CacheRead: 300})
	oai := aitest.OpenAI(aitest.Script{Chunks: []string{"From", " GPT"}})
	defer ant.Close()
	defer oai.Close()
	s := apptest.Start(t, run, voyagerEnv(t, ant, oai, nil))
	alice := signIn(t, s, "alice@example.com", false)
	bob := signIn(t, s, "bob@example.com", false)
	admin := signIn(t, s, "root@example.com", true)

	// Not yet a member: every community route is 404.
	if r := do(t, alice, "GET", s.URL+"/api/c/alpha/conversations", "", nil); r.status != 404 {
		t.Fatalf("non-member list: got %d, want 404", r.status)
	}
	// One click to join a public community.
	if r := do(t, alice, "POST", s.URL+"/c/alpha/join", "", nil); r.status != 200 {
		t.Fatalf("join: got %d %s", r.status, r.body)
	}
	r := do(t, alice, "POST", s.URL+"/api/c/alpha/conversations", "", map[string]string{})
	if r.status != 201 {
		t.Fatalf("create conversation: %d %s", r.status, r.body)
	}
	conv := decode[struct{ ID string }](t, r).ID

	r = do(t, alice, "POST", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", map[string]string{"content": "How do I ask for a raise?"})
	if r.status != 202 {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	sent := decode[sentJSON](t, r)
	if sent.Quota.Remaining != 2 {
		t.Fatalf("got remaining %d, want 2", sent.Quota.Remaining)
	}
	evs := stream(t, alice, s.URL+sent.StreamURL)
	if len(evs) < 2 || !strings.HasPrefix(evs[0], "snapshot:") || !strings.HasPrefix(evs[len(evs)-1], "done:") {
		t.Fatalf("got events %v", evs)
	}
	done := decode[doneJSON](t, response{body: strings.TrimPrefix(evs[len(evs)-1], "done:")})
	if done.Content != "**Ask** for the raise." || done.Status != "complete" || done.Provider != "anthropic" || done.Tokens.Input != 40 || done.Tokens.CacheRead != 300 || done.CostMicros == 0 {
		t.Fatalf("got answer %+v", done)
	}
	if !strings.Contains(done.HTML, "<strong>Ask</strong>") {
		t.Fatalf("got html %q", done.HTML)
	}
	// The context sent: system prompt and the member's message.
	call := ant.Calls()[0].Body
	if msgs := call["messages"].([]any); len(msgs) != 1 {
		t.Fatalf("got %d context messages, want 1", len(msgs))
	}
	// Reading the finished answer's stream again gives it at once.
	if evs := stream(t, alice, s.URL+sent.StreamURL); !strings.HasPrefix(evs[len(evs)-1], "done:") {
		t.Fatalf("replay: %v", evs)
	}

	// Bob is not a member of alpha: 404, also for Alice's conversation.
	for _, u := range []string{"/api/c/alpha/conversations/" + conv + "/messages", "/api/c/alpha/messages/" + sent.Answer.ID + "/stream"} {
		if r := do(t, bob, "GET", s.URL+u, "", nil); r.status != 404 {
			t.Fatalf("bob %s: got %d, want 404", u, r.status)
		}
	}
	do(t, bob, "POST", s.URL+"/c/alpha/join", "", nil)
	if r := do(t, bob, "GET", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", nil); r.status != 404 {
		t.Fatalf("bob, a member, reading alice's conversation: got %d, want 404", r.status)
	}
	// Private community: join refused without an invite; admin invites.
	if r := do(t, bob, "POST", s.URL+"/c/beta/join", "", nil); r.status != 404 {
		t.Fatalf("join private: got %d, want 404", r.status)
	}
	if r := do(t, admin, "POST", s.URL+"/c/beta/join", "", nil); r.status != 200 {
		t.Fatalf("admin join: %d", r.status)
	}
	r = do(t, admin, "POST", s.URL+"/api/c/beta/invites", "", map[string]any{"max_uses": 1})
	if r.status != 201 {
		t.Fatalf("invite: %d %s", r.status, r.body)
	}
	inv := decode[struct{ URL string }](t, r).URL
	if !strings.Contains(inv, "/c/beta/invite/") {
		t.Fatalf("got invite url %s", inv)
	}
	invPath := inv[strings.Index(inv, "/c/beta/"):]
	if r := do(t, bob, "POST", s.URL+invPath, "", nil); r.status != 200 {
		t.Fatalf("accept invite: %d %s", r.status, r.body)
	}
	if r := do(t, alice, "POST", s.URL+invPath, "", nil); r.status != 410 {
		t.Fatalf("used-up invite: got %d, want 410", r.status)
	}
	// Bob, member of beta, asks for alpha's conversation through beta: 404.
	r = do(t, bob, "POST", s.URL+"/api/c/beta/conversations", "", map[string]string{"title": "Mine"})
	bconv := decode[struct{ ID string }](t, r).ID
	if r := do(t, bob, "GET", s.URL+"/api/c/beta/conversations/"+conv+"/messages", "", nil); r.status != 404 {
		t.Fatalf("cross-community conversation: got %d, want 404", r.status)
	}
	if r := do(t, alice, "GET", s.URL+"/api/c/alpha/conversations/"+bconv+"/messages", "", nil); r.status != 404 {
		t.Fatalf("alice reading bob's beta conversation via alpha: got %d, want 404", r.status)
	}
	if !strings.Contains(s.Stderr.String(), "community access violation") {
		t.Fatal("violations were not logged")
	}
	if strings.Contains(s.Stderr.String(), "How do I ask for a raise") {
		t.Fatal("a log line contains message text")
	}

	// Regenerate replaces the last answer; fallback when Anthropic is overloaded.
	ant.Push(aitest.Script{Status: 529})
	r = do(t, alice, "POST", s.URL+"/api/c/alpha/conversations/"+conv+"/regenerate", "", nil)
	if r.status != 202 {
		t.Fatalf("regenerate: %d %s", r.status, r.body)
	}
	sent = decode[sentJSON](t, r)
	evs = stream(t, alice, s.URL+sent.StreamURL)
	done = decode[doneJSON](t, response{body: strings.TrimPrefix(evs[len(evs)-1], "done:")})
	if done.Content != "From GPT" || done.Provider != "openai" {
		t.Fatalf("regenerated: %+v", done)
	}
	r = do(t, alice, "GET", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", nil)
	if n := strings.Count(r.body, `"role":"assistant"`); n != 1 {
		t.Fatalf("got %d answers after regenerate, want 1", n)
	}

	// Stop mid-answer keeps the partial text, marked stopped.
	gate := make(chan struct{})
	ant.Push(aitest.Script{Chunks: []string{"Part one.", " Part two."}, Gate: gate})
	r = do(t, alice, "POST", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", map[string]string{"content": "And then?"})
	sent = decode[sentJSON](t, r)
	gate <- struct{}{}
	// Follow until the first piece is in, then stop.
	resp, err := alice.Get(s.URL + sent.StreamURL)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Part one.") {
			break
		}
	}
	if r := do(t, alice, "POST", s.URL+"/api/c/alpha/messages/"+sent.Answer.ID+"/stop", "", nil); r.status != 200 || !strings.Contains(r.body, `"stopping":true`) {
		t.Fatalf("stop: %d %s", r.status, r.body)
	}
	var last string
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			last = sc.Text()
		}
	}
	resp.Body.Close()
	done = decode[doneJSON](t, response{body: strings.TrimPrefix(last, "data: ")})
	if done.Status != "stopped" || done.Content != "Part one." {
		t.Fatalf("stopped answer: %+v", done)
	}
	// The context of that call held the history (3 messages: user, answer, user).
	calls := ant.Calls()
	if msgs := calls[len(calls)-1].Body["messages"].([]any); len(msgs) != 3 {
		t.Fatalf("got %d context messages, want 3", len(msgs))
	}

	// The daily limit (3) is now used up.
	r = do(t, alice, "POST", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", map[string]string{"content": "One more?"})
	if r.status != 429 || !strings.Contains(r.body, "all 3 messages for today") || !strings.Contains(r.body, `"code":"daily_limit_reached"`) {
		t.Fatalf("over the limit: got %d %s", r.status, r.body)
	}
	// Retry-After: until the next midnight UTC, not a few seconds.
	now := time.Now().UTC()
	untilReset := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, time.UTC).Sub(now)
	if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < int(untilReset.Seconds())-60 || ra > int(untilReset.Seconds())+60 {
		t.Fatalf("over the limit: Retry-After %q, want about %d s (until midnight UTC)", r.header.Get("Retry-After"), int(untilReset.Seconds()))
	}
	// Chat page renders the stored, sanitised answer and the quota.
	pg := page(t, alice, s.URL+"/c/alpha/chat/"+conv, "")
	if pg.status != 200 || !strings.Contains(pg.body, "Stopped: the answer is incomplete.") || !strings.Contains(pg.body, `<span id="quota-remaining">0</span> of 3`) {
		t.Fatalf("chat page: %d\n%s", pg.status, pg.body)
	}
	// Metrics carry tokens and cost by provider, model and community.
	m := page(t, http.DefaultClient, s.URL+"/metrics", "")
	for _, want := range []string{`voyager_ai_tokens_total{community="alpha",kind="cache_read",model="claude-sonnet-4-5",provider="anthropic"} 300`, `voyager_ai_cost_usd_total{community="alpha"`, `voyager_ai_breaker_state{provider="anthropic"}`} {
		if !strings.Contains(m.body, want) {
			t.Fatalf("metrics lack %s", want)
		}
	}
	// Rename and delete.
	if r := do(t, alice, "PATCH", s.URL+"/api/c/alpha/conversations/"+conv, "", map[string]string{"title": "Raise"}); r.status != 200 || !strings.Contains(r.body, `"title":"Raise"`) {
		t.Fatalf("rename: %d %s", r.status, r.body)
	}
	if r := do(t, bob, "DELETE", s.URL+"/api/c/alpha/conversations/"+conv, "", nil); r.status != 404 {
		t.Fatalf("bob deleting alice's conversation: got %d", r.status)
	}
	if r := do(t, alice, "DELETE", s.URL+"/api/c/alpha/conversations/"+conv, "", nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
}

func TestNoProviderSaysWhichVariable(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, voyagerEnv(t, nil, nil, nil))
	alice := signIn(t, s, "alice@example.com", false)
	do(t, alice, "POST", s.URL+"/c/alpha/join", "", nil)
	r := do(t, alice, "POST", s.URL+"/api/c/alpha/conversations", "", map[string]string{})
	conv := decode[struct{ ID string }](t, r).ID
	pg := page(t, alice, s.URL+"/c/alpha/chat/"+conv, "")
	if pg.status != 200 || !strings.Contains(pg.body, "<code>ANTHROPIC_API_KEY</code>") {
		t.Fatalf("chat page without provider: %d", pg.status)
	}
	r = do(t, alice, "POST", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", map[string]string{"content": "hi"})
	if r.status != 503 || !strings.Contains(r.body, "ANTHROPIC_API_KEY") {
		t.Fatalf("send without provider: %d %s", r.status, r.body)
	}
}

func TestServeRefusesInvalidCommunity(t *testing.T) {
	t.Parallel()
	env := voyagerEnv(t, nil, nil, nil)
	os.WriteFile(filepath.Join(env["COMMUNITIES_DIR"], "gamma.json"), []byte(`{"id":"Gamma!","visibility":"secret","coach":{}}`), 0o644)
	_, _, err := apptest.Command(t, run, env, "serve")
	if err == nil || !strings.Contains(err.Error(), "gamma.json: visibility") {
		t.Fatalf("serve with an invalid file: %v", err)
	}
	out, _, err := apptest.Command(t, run, env, "communities", "validate", env["COMMUNITIES_DIR"])
	if err == nil {
		t.Fatal("validate passed an invalid folder")
	}
	for _, want := range []string{"gamma.json: id:", "gamma.json: name: is missing; fix:", "gamma.json: coach.systemPrompt"} {
		if !strings.Contains(out, want) {
			t.Fatalf("validate output lacks %q:\n%s", want, out)
		}
	}
	out, _, err = apptest.Command(t, run, env, "communities", "validate", "../../communities")
	if err != nil || !strings.Contains(out, "2 communities valid") {
		t.Fatalf("shipped examples: %v\n%s", err, out)
	}
}
