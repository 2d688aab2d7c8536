package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/runner"
	"github.com/relaywork/suite/internal/platform/app/apptest"
)

var linkToken = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)

// devSignIn signs email in through an operator login link and returns a
// client that carries the session cookie.
func devSignIn(t *testing.T, s *apptest.Server, email string) *http.Client {
	t.Helper()
	out, _, err := apptest.Command(t, run, s.Env, "admin", "login-link", email)
	if err != nil {
		t.Fatalf("login-link: %v", err)
	}
	m := linkToken.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no token in %q", out)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	resp, err := c.PostForm(s.URL+"/auth/email/confirm", url.Values{"token": {m[1]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm sign-in: %s", resp.Status)
	}
	return c
}

// pairRunner runs the runner's pairing flow against s and approves it as
// the user of client c, over HTTP.
func pairRunner(t *testing.T, s *apptest.Server, c *http.Client, name string) runner.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := &apptest.Buffer{}
	type result struct {
		cfg runner.Config
		err error
	}
	done := make(chan result, 1)
	go func() {
		cfg, err := runner.Pair(ctx, runner.PairOptions{Server: s.URL, Name: name, Version: "v0.0.1", Out: out})
		done <- result{cfg, err}
	}()
	code := waitFor(t, "the user code", func() string {
		return regexp.MustCompile(`\b[B-Z]{4}-[B-Z]{4}\b`).FindString(out.String())
	})
	if !strings.Contains(out.String(), s.URL+"/devmode/pair?code="+code) {
		t.Fatalf("pair output does not give the approval URL:\n%s", out)
	}
	page, err := c.Get(s.URL + "/devmode/pair?code=" + strings.ToLower(code))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(body), name) || !strings.Contains(string(body), `id="pair-approve"`) {
		t.Fatalf("pair page: %s\n%s", page.Status, body)
	}
	resp, err := c.PostForm(s.URL+"/devmode/pair", url.Values{"code": {code}, "decision": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasSuffix(resp.Request.URL.Path, "/devmode") {
		t.Fatalf("approve: %s at %s", resp.Status, resp.Request.URL)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("pair: %v\n%s", r.err, out)
	}
	// An answered request cannot be answered again; an unknown code is 404.
	for _, tc := range []struct {
		code   string
		status int
		says   string
	}{{code, http.StatusConflict, "already answered"}, {"BBBB-BBBB", http.StatusNotFound, "No pairing request"}} {
		again, err := c.PostForm(s.URL+"/devmode/pair", url.Values{"code": {tc.code}, "decision": {"approve"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(again.Body)
		again.Body.Close()
		if again.StatusCode != tc.status || !strings.Contains(string(body), tc.says) {
			t.Fatalf("approving %s: got %s, want %d saying %q", tc.code, again.Status, tc.status, tc.says)
		}
	}
	if r.cfg.Credential == "" || r.cfg.RunnerID == "" || !strings.HasPrefix(r.cfg.RelayURL, "ws://") {
		t.Fatalf("pair gave %+v", r.cfg)
	}
	return r.cfg
}

// startRunner runs the runner until the test ends; its result is sent on
// the returned channel.
func startRunner(t *testing.T, cfg runner.Config, connects *atomic.Int32) <-chan error {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		done <- runner.Run(ctx, runner.Options{
			Config: cfg, Name: "test-box", Version: "v0.0.1", Shell: "/bin/sh",
			Env:        []string{"PS1=$ ", "ENV="},
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
			OnConnect: func() {
				if connects != nil {
					connects.Add(1)
				}
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("runner did not stop")
		}
	})
	return done
}

// runnerOnline polls the runners API until runner id is online (or not).
func runnerOnline(t *testing.T, s *apptest.Server, c *http.Client, id string, want bool) {
	t.Helper()
	waitFor(t, fmt.Sprintf("runner online=%v", want), func() string {
		resp, err := c.Get(s.URL + "/api/devmode/runners")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var body struct {
			Runners []struct {
				ID     string `json:"id"`
				Online bool   `json:"online"`
			} `json:"runners"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		for _, r := range body.Runners {
			if r.ID == id && r.Online == want {
				return "yes"
			}
		}
		if !want && resp.StatusCode == 200 && len(body.Runners) == 0 {
			return "gone"
		}
		return ""
	})
}

type ticket struct {
	Ticket   string `json:"ticket"`
	RelayURL string `json:"relay_url"`
}

func getTicket(t *testing.T, s *apptest.Server, c *http.Client, runnerID string) (ticket, int) {
	t.Helper()
	resp, err := c.Post(s.URL+"/api/devmode/runners/"+runnerID+"/ticket", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tk ticket
	_ = json.NewDecoder(resp.Body).Decode(&tk)
	return tk, resp.StatusCode
}

// browserTerm is a test browser's terminal connection.
type browserTerm struct {
	t    *testing.T
	ws   *websocket.Conn
	key  string
	mu   sync.Mutex
	out  strings.Builder
	ctrl []relay.Message
	done chan struct{}
}

// openTerm connects to the relay as a browser with tk (and a resume key).
func openTerm(t *testing.T, tk ticket, resume string) (*browserTerm, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, tk.RelayURL, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(1 << 20)
	auth, _ := json.Marshal(relay.Message{Type: relay.TypeAuth, Ticket: tk.Ticket, Terminal: resume, Cols: 80, Rows: 24})
	if err := ws.Write(ctx, websocket.MessageText, auth); err != nil {
		return nil, err
	}
	b := &browserTerm{t: t, ws: ws, done: make(chan struct{})}
	go b.read()
	t.Cleanup(func() { ws.CloseNow() })
	// The first message says whether the terminal opened.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		var first *relay.Message
		if len(b.ctrl) > 0 {
			first = &b.ctrl[0]
		}
		b.mu.Unlock()
		if first != nil {
			if first.Type != relay.TypeOpen {
				return nil, fmt.Errorf("relay said %s: %s", first.Type, first.Message)
			}
			b.key = first.Terminal
			return b, nil
		}
		select {
		case <-b.done:
			if m := b.control(relay.TypeError); m != nil {
				return nil, fmt.Errorf("relay said error: %s", m.Message)
			}
			return nil, errors.New("relay closed the connection")
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil, errors.New("no answer from the relay")
}

func (b *browserTerm) read() {
	defer close(b.done)
	for {
		typ, p, err := b.ws.Read(context.Background())
		if err != nil {
			return
		}
		b.mu.Lock()
		if typ == websocket.MessageBinary {
			b.out.Write(p)
		} else {
			var m relay.Message
			_ = json.Unmarshal(p, &m)
			b.ctrl = append(b.ctrl, m)
		}
		b.mu.Unlock()
	}
}

func (b *browserTerm) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

func (b *browserTerm) control(typ string) *relay.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.ctrl {
		if b.ctrl[i].Type == typ {
			m := b.ctrl[i]
			return &m
		}
	}
	return nil
}

func (b *browserTerm) send(s string) {
	b.t.Helper()
	if err := b.ws.Write(context.Background(), websocket.MessageBinary, []byte(s)); err != nil {
		b.t.Fatalf("send: %v", err)
	}
}

func (b *browserTerm) sendControl(m relay.Message) {
	raw, _ := json.Marshal(m)
	if err := b.ws.Write(context.Background(), websocket.MessageText, raw); err != nil {
		b.t.Fatalf("send control: %v", err)
	}
}

// expect waits until the output matches re.
func (b *browserTerm) expect(re string) {
	b.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(15 * time.Second)
	for !rx.MatchString(b.output()) {
		if time.Now().After(deadline) {
			b.t.Fatalf("output never matched %q:\n%q", re, b.output())
		}
		select {
		case <-b.done:
			if !rx.MatchString(b.output()) {
				b.t.Fatalf("connection closed before output matched %q:\n%q", re, b.output())
			}
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func waitClosed(t *testing.T, b *browserTerm, what string) {
	t.Helper()
	select {
	case <-b.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: the browser connection stayed open", what)
	}
}

// TestDevModeEndToEnd pairs a runner, opens terminals through the relay as
// a browser and checks echo, resize, resume, ticket rules and revoke.
func TestDevModeEndToEnd(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, nil))
	ada := devSignIn(t, s, "ada@example.com")
	bob := devSignIn(t, s, "bob@example.com")

	cfg := pairRunner(t, s, ada, "ada-laptop")
	runDone := startRunner(t, cfg, nil)
	runnerOnline(t, s, ada, cfg.RunnerID, true)

	tk, status := getTicket(t, s, ada, cfg.RunnerID)
	if status != http.StatusOK || tk.Ticket == "" {
		t.Fatalf("ticket: %d", status)
	}
	term, err := openTerm(t, tk, "")
	if err != nil {
		t.Fatalf("open terminal: %v", err)
	}

	t.Run("echo", func(t *testing.T) {
		term.send("X=same-shell; echo hello-$((6*7))\r")
		term.expect(`hello-42`)
	})
	t.Run("resize reaches stty", func(t *testing.T) {
		term.sendControl(relay.Message{Type: relay.TypeResize, Cols: 101, Rows: 37})
		term.send("stty size\r")
		term.expect(`37 101`)
	})
	t.Run("reused ticket refused", func(t *testing.T) {
		if _, err := openTerm(t, tk, ""); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("second use of a ticket: got %v, want refused", err)
		}
	})
	t.Run("another user gets no ticket", func(t *testing.T) {
		if _, status := getTicket(t, s, bob, cfg.RunnerID); status != http.StatusNotFound {
			t.Fatalf("bob's ticket for ada's runner: got %d, want 404", status)
		}
	})
	t.Run("forged ticket refused", func(t *testing.T) {
		forged := tk
		forged.Ticket = tk.Ticket[:len(tk.Ticket)-4] + "AAAA"
		if _, err := openTerm(t, forged, ""); err == nil {
			t.Fatal("a forged ticket opened a terminal")
		}
	})
	t.Run("reconnect resumes the same shell", func(t *testing.T) {
		term.ws.CloseNow()
		tk2, _ := getTicket(t, s, ada, cfg.RunnerID)
		again, err := openTerm(t, tk2, term.key)
		if err != nil {
			t.Fatalf("resume: %v", err)
		}
		if m := again.control(relay.TypeOpen); m == nil || !m.Resumed || m.Terminal != term.key {
			t.Fatalf("resume answered %+v, want the same terminal resumed", m)
		}
		again.expect(`hello-42`) // the scrollback
		again.send("echo \"[$X]\"\r")
		again.expect(`\[same-shell\]`)
		term = again
	})
	t.Run("exit status", func(t *testing.T) {
		tk3, _ := getTicket(t, s, ada, cfg.RunnerID)
		other, err := openTerm(t, tk3, "")
		if err != nil {
			t.Fatal(err)
		}
		other.send("exit 7\r")
		waitClosed(t, other, "exit")
		if m := other.control(relay.TypeExit); m == nil || m.Code == nil || *m.Code != 7 {
			t.Fatalf("exit message %+v, want code 7", m)
		}
	})
	t.Run("foreign origin refused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tk, _ := getTicket(t, s, ada, cfg.RunnerID)
		_, resp, err := websocket.Dial(ctx, tk.RelayURL, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("cross-origin upgrade: got %v, want 403", err)
		}
	})
	t.Run("rename", func(t *testing.T) {
		resp, err := ada.PostForm(s.URL+"/devmode/runners/"+cfg.RunnerID+"/rename", url.Values{"name": {"work laptop"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		page, err := ada.Get(s.URL + "/devmode")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(page.Body)
		page.Body.Close()
		if !strings.Contains(string(body), "work laptop") || !strings.Contains(string(body), "runner-online") {
			t.Fatalf("devmode page after rename:\n%s", body)
		}
		resp, err = bob.PostForm(s.URL+"/devmode/runners/"+cfg.RunnerID+"/rename", url.Values{"name": {"mine now"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("bob renaming ada's runner: got %d, want 404", resp.StatusCode)
		}
	})
	t.Run("relay metrics", func(t *testing.T) {
		resp, err := http.Get(s.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !regexp.MustCompile(`(?m)^devmode_relay_runners 1$`).Match(body) || !strings.Contains(string(body), "devmode_relay_terminals") {
			t.Fatalf("metrics lack the relay's gauges:\n%s", grepLines(string(body), "devmode"))
		}
	})
	t.Run("terminal content is not logged", func(t *testing.T) {
		if strings.Contains(s.Stderr.String(), "same-shell") || strings.Contains(s.Stderr.String(), tk.Ticket) {
			t.Fatal("the server log holds terminal content or a ticket")
		}
	})
	t.Run("revoke disconnects", func(t *testing.T) {
		resp, err := ada.PostForm(s.URL+"/devmode/runners/"+cfg.RunnerID+"/revoke", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		select {
		case err := <-runDone:
			if !errors.Is(err, runner.ErrRevoked) {
				t.Fatalf("runner ended with %v, want ErrRevoked", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the revoked runner is still running")
		}
		waitClosed(t, term, "revoke")
		if _, status := getTicket(t, s, ada, cfg.RunnerID); status != http.StatusNotFound {
			t.Fatalf("ticket for a revoked runner: got %d, want 404", status)
		}
		// The credential is refused on a new connection too.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, resp, err = websocket.Dial(ctx, cfg.RelayURL, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + cfg.Credential}}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("revoked credential: got %v, want 401", err)
		}
	})
}

// TestDevModeRunnerReconnectsAfterRelayRestart stops Coda (and the relay
// in it) and starts it again on the same port: the runner comes back by
// itself, serves terminals again, and the shell opened before the
// restart resumes with its scrollback.
func TestDevModeRunnerReconnectsAfterRelayRestart(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"PORT": freePort(t)})
	s := apptest.Start(t, run, env)
	ada := devSignIn(t, s, "ada@example.com")
	cfg := pairRunner(t, s, ada, "ada-desktop")
	var connects atomic.Int32
	startRunner(t, cfg, &connects)
	runnerOnline(t, s, ada, cfg.RunnerID, true)
	tk0, _ := getTicket(t, s, ada, cfg.RunnerID)
	kept, err := openTerm(t, tk0, "")
	if err != nil {
		t.Fatal(err)
	}
	kept.send("Y=survived; echo first-$((6*7))\r")
	kept.expect(`first-42`)

	s.Stop(t)
	waitClosed(t, kept, "graceful stop")
	s2 := apptest.Start(t, run, env)
	out, _, err := apptest.Command(t, run, env, "cron", "run", "cleanup-pairings")
	if err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("cron run cleanup-pairings: %v\n%s", err, out)
	}
	waitFor(t, "the runner to reconnect", func() string {
		if connects.Load() >= 2 {
			return "yes"
		}
		return ""
	})
	ada2 := devSignIn(t, s2, "ada@example.com")
	runnerOnline(t, s2, ada2, cfg.RunnerID, true)
	tk, _ := getTicket(t, s2, ada2, cfg.RunnerID)
	term, err := openTerm(t, tk, "")
	if err != nil {
		t.Fatal(err)
	}
	term.send("echo back-$((40+2))\r")
	term.expect(`back-42`)

	// The shell opened before the restart is still there, with its output.
	tk2, _ := getTicket(t, s2, ada2, cfg.RunnerID)
	again, err := openTerm(t, tk2, kept.key)
	if err != nil {
		t.Fatal(err)
	}
	if m := again.control(relay.TypeOpen); m == nil || !m.Resumed {
		t.Fatalf("resume after the restart answered %+v, want resumed", m)
	}
	again.expect(`first-42`)
	again.send("echo \"[$Y]\"\r")
	again.expect(`\[survived\]`)
}
