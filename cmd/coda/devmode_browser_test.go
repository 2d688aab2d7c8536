package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

// TestDevModeTerminalInBrowser signs in, sees a paired runner online on
// /devmode, opens its terminal, types a command into xterm.js and reads the
// output on the page; then the runner is revoked from the page and the
// terminal shows that it ended.
func TestDevModeTerminalInBrowser(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"RUNNER_DOWNLOAD_BASE": "https://example.com/releases/v1"}))
	api := devSignIn(t, s, "grace@example.com")
	cfg := pairRunner(t, s, api, "grace-laptop")
	startRunner(t, cfg, nil)
	runnerOnline(t, s, api, cfg.RunnerID, true)

	out, _, err := apptest.Command(t, run, s.Env, "admin", "login-link", "grace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	b.Navigate(s.URL + "/auth/email/confirm?token=" + linkToken.FindStringSubmatch(out)[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")

	b.Navigate(s.URL + "/devmode")
	b.WaitVisible("#runner-list .runner-online")
	if got := b.Text("#runner-list"); !strings.Contains(got, "grace-laptop") {
		t.Fatalf("runners list: %q", got)
	}
	if got := b.Text("#runner-downloads"); !strings.Contains(got, "macOS (Apple silicon)") {
		t.Fatalf("downloads: %q", got)
	}
	b.Click("#runner-list a.open-terminal")
	b.WaitVisible("#terminal-status[data-state=open]")
	b.Click("#terminal")
	// Text goes in as the browser's input event (as typing or pasting
	// gives xterm), Enter as a key.
	b.Run(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: "echo typed-$((6*7))"})
		return err
	}), chromedp.KeyEvent("\r"))
	defer func() {
		if t.Failed() {
			t.Logf("terminal text: %q", browsertest.Eval[string](b, `document.querySelector("#terminal").innerText`))
		}
	}()
	waitFor(t, "the command's output in xterm", func() string {
		text := browsertest.Eval[string](b, `document.querySelector("#terminal .xterm-rows").innerText`)
		if strings.Contains(text, "typed-42") {
			return text
		}
		return ""
	})
	// The terminal fills its box: more than the default 80 columns fit.
	if cols := browsertest.Eval[int](b, `document.querySelector("#terminal .xterm-rows > div").innerText.length >= 0 ? Math.floor(document.querySelector("#terminal .xterm-screen").clientWidth) : 0`); cols < 300 {
		t.Fatalf("terminal screen is %d px wide", cols)
	}

	resp, err := api.PostForm(s.URL+"/devmode/runners/"+cfg.RunnerID+"/revoke", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	b.WaitVisible("#terminal-status[data-state=exited]")
}

// TestDevModeTerminalSurvivesRestartInBrowser stops `coda serve` (a
// graceful shutdown, as a deploy does) under an open terminal page and
// starts it again on the same port: the page says the server restarted,
// reconnects by itself, and gets the same shell back with its scrollback.
func TestDevModeTerminalSurvivesRestartInBrowser(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"PORT": freePort(t)})
	s := apptest.Start(t, run, env)
	api := devSignIn(t, s, "lin@example.com")
	cfg := pairRunner(t, s, api, "lin-laptop")
	startRunner(t, cfg, nil)
	runnerOnline(t, s, api, cfg.RunnerID, true)

	out, _, err := apptest.Command(t, run, s.Env, "admin", "login-link", "lin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	// While Coda is down the page's ticket requests and sockets fail.
	b.AllowConsoleError("ERR_CONNECTION_REFUSED")
	b.AllowConsoleError("WebSocket connection to")
	b.Navigate(s.URL + "/auth/email/confirm?token=" + linkToken.FindStringSubmatch(out)[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")
	b.Navigate(s.URL + "/devmode/runners/" + cfg.RunnerID + "/terminal")
	b.WaitVisible("#terminal-status[data-state=open]")
	b.Click("#terminal")
	typeLine := func(line string) {
		b.Run(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: line})
			return err
		}), chromedp.KeyEvent("\r"))
	}
	screen := func() string {
		return browsertest.Eval[string](b, `document.querySelector("#terminal .xterm-rows").innerText`)
	}
	typeLine("X=kept; echo before-$((6*7))")
	waitFor(t, "the command's output", func() string {
		if strings.Contains(screen(), "before-42") {
			return "yes"
		}
		return ""
	})

	s.Stop(t)
	b.WaitEval("the status while Coda is down", `document.querySelector("#terminal-status").textContent`, "The server restarted. Reconnecting…")
	if got := b.Text("#terminal-status"); strings.Contains(got, "exited") {
		t.Fatalf("status %q", got)
	}
	shotsHere(t, b, "terminal-restarting")

	apptest.Start(t, run, env)
	b.WaitVisible("#terminal-status[data-state=open]")
	if got := b.Text("#terminal-status"); got != "Connected (resumed)" {
		t.Fatalf("status after the restart %q, want a resumed terminal", got)
	}
	// The scrollback follows the open message.
	waitFor(t, "the scrollback", func() string {
		if strings.Contains(screen(), "before-42") {
			return "yes"
		}
		return ""
	})
	typeLine(`echo "[$X]"`)
	waitFor(t, "the same shell's variable", func() string {
		if strings.Contains(screen(), "[kept]") {
			return "yes"
		}
		return ""
	})
	if strings.Contains(screen(), "a new shell") {
		t.Fatal("the page opened a new shell instead of resuming")
	}
}
