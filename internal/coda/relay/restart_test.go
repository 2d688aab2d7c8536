package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/relay/relaytest"
	"github.com/relaywork/suite/internal/coda/runner"
)

// TestShellSurvivesRelayRestart restarts the relay under an open
// terminal: the browser is told the server is restarting (1012), the
// runner keeps the shell and brings it back when it reconnects, and the
// browser resumes the same shell with its scrollback.
func TestShellSurvivesRelayRestart(t *testing.T) {
	t.Parallel()
	e := relaytest.Start(t, relay.Options{})
	e.StartRunner("r1")
	term, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Send("X=kept; echo before-$((6*7))\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WaitFor(0, "before-42", 5*time.Second); err != nil {
		t.Fatal(err)
	}

	for round := range 2 { // twice: a shell taken back survives the next restart too
		e.Restart()
		select {
		case <-term.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("the browser's connection stayed open through the restart")
		}
		if got := term.CloseStatus(); got != relay.CloseRestart {
			t.Fatalf("round %d: browser closed with %v, want %d (service restart)", round, got, relay.CloseRestart)
		}
		relaytest.Wait(t, "the runner back with its shell", func() bool {
			return e.Relay.Online("r1") && e.Relay.Stats().Terminals == 1
		})
		again, err := e.Resume("r1", term.Key, true)
		if err != nil {
			t.Fatal(err)
		}
		if m := again.Opened(); !m.Resumed || m.Terminal != term.Key {
			t.Fatalf("round %d: resume answered %+v, want the same terminal resumed", round, m)
		}
		if _, err := again.WaitFor(0, "before-42", 5*time.Second); err != nil {
			t.Fatalf("round %d: no scrollback after the restart: %v", round, err)
		}
		from := again.Len()
		if err := again.Send("echo \"[$X]\"\r"); err != nil {
			t.Fatal(err)
		}
		if _, err := again.WaitFor(from, "[kept]", 5*time.Second); err != nil {
			t.Fatalf("round %d: not the same shell: %v", round, err)
		}
		term = again
	}
	// A new terminal next to the kept one gets an ID of its own.
	other, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Send("echo other-$((1+1))\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.WaitFor(0, "other-2", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	from := term.Len()
	if err := term.Send("echo still-$X\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WaitFor(from, "still-kept", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(term.Output(), "other-2") {
		t.Fatal("the kept terminal got the new terminal's output")
	}
}

// TestAuthTimeoutSendsPolicyViolation: a browser that sends nothing gets
// a close frame with 1008 and a reason, not a dropped connection.
func TestAuthTimeoutSendsPolicyViolation(t *testing.T) {
	t.Parallel()
	e := relaytest.Start(t, relay.Options{AuthTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, e.URL("/terminal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, _, err = ws.Read(ctx)
	var ce websocket.CloseError
	if !errorsAs(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "auth timeout" {
		t.Fatalf("got %v, want a close frame 1008 \"auth timeout\"", err)
	}
}

// TestOversizedKeystrokeFrame: a browser frame over 64 KiB closes the
// connection with 1009; one of 64 KiB goes through.
func TestOversizedKeystrokeFrame(t *testing.T) {
	t.Parallel()
	e := relaytest.Start(t, relay.Options{})
	e.StartRunner("r1")
	term, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	// A comment line of exactly 64 KiB (with its newline) is accepted.
	if err := term.Send("#" + strings.Repeat("a", 64<<10-2) + "\r"); err != nil {
		t.Fatal(err)
	}
	if err := term.Send("echo fits-$((2*3))\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WaitFor(0, "fits-6", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := term.Send(strings.Repeat("b", 64<<10+1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-term.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("an oversized frame did not close the connection")
	}
	if got := term.CloseStatus(); got != websocket.StatusMessageTooBig {
		t.Fatalf("closed with %v, want 1009", got)
	}
}

func errorsAs(err error, target *websocket.CloseError) bool { return errors.As(err, target) }

// TestShellSurvivesRunnerReconnect: the runner's own connection drops
// (here: replaced by another connection with its credential) while the
// relay stays up. The browser is told the runner is reconnecting (4005),
// and resumes the same shell once the runner is back.
func TestShellSurvivesRunnerReconnect(t *testing.T) {
	t.Parallel()
	e := relaytest.Start(t, relay.Options{})
	e.StartRunner("r1")
	term, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Send("X=kept; echo before-$((6*7))\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WaitFor(0, "before-42", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// A second connection with the runner's credential takes its place;
	// the runner then reconnects and takes it back, with its shell.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	other, _, err := websocket.Dial(ctx, e.URL("/runner"), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer cred-r1"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.CloseNow()
	hello, _ := json.Marshal(relay.Message{Type: relay.TypeHello, Name: "impostor"})
	if err := other.Write(ctx, websocket.MessageText, hello); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := other.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	select {
	case <-term.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the browser stayed attached to a runner that went away")
	}
	if got := term.CloseStatus(); got != relay.CloseRunnerLost {
		t.Fatalf("browser closed with %v, want %d", got, relay.CloseRunnerLost)
	}
	relaytest.Wait(t, "the runner back with its shell", func() bool { return e.Relay.Stats().Terminals == 1 })
	again, err := e.Resume("r1", term.Key, true)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Opened().Resumed {
		t.Fatalf("resume answered %+v", again.Opened())
	}
	if _, err := again.WaitFor(0, "before-42", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	from := again.Len()
	if err := again.Send("echo \"[$X]\"\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := again.WaitFor(from, "[kept]", 5*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestRunnerHangsUpAfterGrace: a runner that cannot get back to a relay
// hangs its shells up once its grace period ends.
func TestRunnerHangsUpAfterGrace(t *testing.T) {
	t.Parallel()
	e := relaytest.Start(t, relay.Options{})
	e.StartRunnerWith("r1", func(o *runner.Options) { o.Grace = 300 * time.Millisecond })
	term, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := term.Send("echo $$ > " + pidFile + "; echo wr\"\"itten\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WaitFor(0, "written\r\n", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	// Closed, the relay refuses every reconnect (1012): the runner stays
	// away and the grace period runs out.
	e.Relay.Close()
	relaytest.Wait(t, "the shell to be hung up", func() bool { return syscall.Kill(pid, 0) != nil })
}
