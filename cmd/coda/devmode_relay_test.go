package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/runner"
	"github.com/relaywork/suite/internal/platform/app/apptest"
)

// TestDevModeSeparateRelay runs the relay alone (`coda relay`)
// next to Coda, with DEVMODE_RELAY_URL pointing pages and runners at it:
// the runner pairs with Coda, connects to the relay, and a browser's
// ticket from Coda opens a terminal on the relay.
func TestDevModeSeparateRelay(t *testing.T) {
	t.Parallel()
	relayPort := freePort(t)
	env := apptest.BaseEnv(t, map[string]string{"DEVMODE_RELAY_URL": "http://127.0.0.1:" + relayPort})
	s := apptest.Start(t, run, env)

	relayEnv := map[string]string{}
	for k, v := range env {
		relayEnv[k] = v
	}
	relayEnv["PORT"] = relayPort
	ctx, cancel := context.WithCancel(context.Background())
	out := &apptest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"relay"}, apptest.Getenv(relayEnv), out, out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("relay: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("relay did not stop")
		}
	})
	waitFor(t, "the relay to listen", func() string {
		if strings.Contains(out.String(), "listening") {
			return "yes"
		}
		return ""
	})

	ada := devSignIn(t, s, "ada@example.com")
	cfg := pairRunner(t, s, ada, "ada-laptop")
	if !strings.HasPrefix(cfg.RelayURL, "ws://127.0.0.1:"+relayPort+"/") {
		t.Fatalf("runner was told relay %q, want the separate relay", cfg.RelayURL)
	}
	startRunner(t, cfg, nil)
	var tk ticket
	waitFor(t, "a terminal on the separate relay", func() string {
		tk, _ = getTicket(t, s, ada, cfg.RunnerID)
		term, err := openTerm(t, tk, "")
		if err != nil {
			return "" // the runner may not have connected yet
		}
		term.send("echo relayed-$((6*7))\r")
		term.expect(`relayed-42`)
		return "yes"
	})
	if !strings.HasPrefix(tk.RelayURL, "ws://127.0.0.1:"+relayPort+"/") {
		t.Fatalf("browser was sent to %q", tk.RelayURL)
	}

	// The relay alone has the routes every server has.
	base := "http://127.0.0.1:" + relayPort
	for _, tc := range []struct{ path, want string }{
		{"/healthz", `"status":"ok"`},
		{"/readyz", `"database":{"status":"ok"}`},
		{"/metrics", "devmode_relay_runners 1"},
		{"/metrics", `http_requests_total{code="200",method="GET",route="GET /healthz"} 1`},
	} {
		resp, err := http.Get(base + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), tc.want) {
			t.Fatalf("GET %s: got %d %.300q, want 200 with %s", tc.path, resp.StatusCode, body, tc.want)
		}
	}
}

// startRelayNode runs `coda relay` with env and extra arguments
// until the test ends.
func startRelayNode(t *testing.T, env map[string]string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &apptest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"relay"}, args...), apptest.Getenv(env), out, out)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("relay: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("relay did not stop")
		}
	})
	waitFor(t, "the relay to listen", func() string {
		if strings.Contains(out.String(), "listening") {
			return "yes"
		}
		return ""
	})
}

// TestDevModeTwoRelayNodes runs two relay nodes on one Redis: the runner
// connects to node A, the browser lands on node B, and B forwards it to A.
func TestDevModeTwoRelayNodes(t *testing.T) {
	t.Parallel()
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		t.Skip("TEST_REDIS_URL not set")
	}
	portA, portB := freePort(t), freePort(t)
	env := apptest.BaseEnv(t, map[string]string{"DEVMODE_RELAY_URL": "http://127.0.0.1:" + portA, "REDIS_URL": redisURL})
	s := apptest.Start(t, run, env)
	for _, port := range []string{portA, portB} {
		node := map[string]string{}
		for k, v := range env {
			node[k] = v
		}
		node["PORT"] = port
		// A heartbeat far beyond the test's deadlines: only the revoke
		// published over Redis can disconnect the runner in time.
		startRelayNode(t, node, "--advertise", "http://127.0.0.1:"+port, "--heartbeat", "1h")
	}

	ada := devSignIn(t, s, "ada@example.com")
	cfg := pairRunner(t, s, ada, "ada-laptop")
	runDone := startRunner(t, cfg, nil)
	runnerOnline(t, s, ada, cfg.RunnerID, true) // Coda reads it from Redis
	onB := func(tk ticket) ticket {
		tk.RelayURL = strings.Replace(tk.RelayURL, ":"+portA+"/", ":"+portB+"/", 1)
		return tk
	}
	var term *browserTerm
	waitFor(t, "a terminal through node B", func() string {
		tk, _ := getTicket(t, s, ada, cfg.RunnerID)
		var err error
		if term, err = openTerm(t, onB(tk), ""); err != nil {
			return "" // until the runner is listed
		}
		return "yes"
	})
	term.send("X=kept; stty cols 91 rows 33; stty size\r")
	term.expect(`33 91`)

	// Reconnecting through B gets the same shell back from A.
	term.ws.CloseNow()
	tk, _ := getTicket(t, s, ada, cfg.RunnerID)
	again, err := openTerm(t, onB(tk), term.key)
	if err != nil {
		t.Fatal(err)
	}
	if m := again.control(relay.TypeOpen); m == nil || !m.Resumed {
		t.Fatalf("resume through node B answered %+v", m)
	}
	again.send("echo \"[$X]\"\r")
	again.expect(`\[kept\]`)

	// A revoke in Coda reaches node A over Redis at once: A disconnects
	// the runner (which stops, told it was revoked), the terminal forwarded
	// through B ends, and Coda shows the runner offline.
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
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked runner is still connected to node A")
	}
	waitClosed(t, again, "revoke through node B")
}
