package relay_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/relay/relaytest"
)

// TestSlowBrowserIsBounded floods a terminal whose browser reads nothing:
// the relay holds at most one credit window for it, and another terminal
// of the same runner stays responsive.
func TestSlowBrowserIsBounded(t *testing.T) {
	t.Parallel()
	const window = 64 << 10
	e := relaytest.Start(t, relay.Options{Window: window})
	e.StartRunner("r1")
	stalled, err := e.Open("r1", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := stalled.Send("yes flood\r"); err != nil {
		t.Fatal(err)
	}
	// Wait until the flood has filled the window (the relay waits on the
	// stalled browser's socket and has stopped acknowledging).
	relaytest.Wait(t, "the window to fill", func() bool { return e.Relay.Stats().MaxQueued >= window-relay.MaxChunk })

	other, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		from := other.Len()
		want := "round-" + strings.Repeat("x", i)
		if err := other.Send("echo " + want + "\r"); err != nil {
			t.Fatal(err)
		}
		if _, err := other.WaitFor(from, want+"\r\n", 5*time.Second); err != nil {
			t.Fatalf("the other terminal is stuck behind the flood: %v", err)
		}
		if q := e.Relay.Stats().MaxQueued; q > window+relay.MaxChunk {
			t.Fatalf("relay queued %d bytes for one terminal, want at most %d", q, window+relay.MaxChunk)
		}
	}
}

// TestCtrlCStopsAFlood runs yes, reads its output as fast as it comes, and
// checks that Ctrl-C gets the prompt back at once.
func TestCtrlCStopsAFlood(t *testing.T) {
	t.Parallel()
	e := relaytest.Start(t, relay.Options{})
	e.StartRunner("r1")
	term, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Send("yes\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WaitFor(0, "y\r\ny\r\ny\r\n", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	relaytest.Wait(t, "a megabyte of flood", func() bool { return term.Len() > 1<<20 })
	start := time.Now()
	from := term.Len()
	if err := term.Send("\x03"); err != nil {
		t.Fatal(err)
	}
	if err := term.Send("echo stopped-$((40+2))\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WaitFor(from, "stopped-42", 5*time.Second); err != nil {
		t.Fatalf("Ctrl-C did not stop the flood: %v", err)
	}
	t.Logf("prompt back %v after Ctrl-C, %d bytes drained", time.Since(start), term.Len()-from)
}

// TestResizeAndExit checks resize reaches the PTY and the exit status comes back.
func TestResizeAndExit(t *testing.T) {
	t.Parallel()
	e := relaytest.Start(t, relay.Options{})
	e.StartRunner("r1")
	term, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Resize(132, 43); err != nil {
		t.Fatal(err)
	}
	if err := term.Send("stty size\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WaitFor(0, "43 132", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := term.Send("exit 3\r"); err != nil {
		t.Fatal(err)
	}
	relaytest.Wait(t, "terminal closed", func() bool { return e.Relay.Stats().Terminals == 0 })
}

// TestHeartbeatAndGrace: a browser that stops answering pings is dropped
// by the heartbeat, and its shell ends once the grace period passes
// without it coming back.
func TestHeartbeatAndGrace(t *testing.T) {
	t.Parallel()
	// A ping must be answered within PingInterval: a second leaves room for
	// a runner on a loaded CI machine under the race detector.
	e := relaytest.Start(t, relay.Options{PingInterval: time.Second, Grace: time.Second})
	e.StartRunner("r1")
	silent, err := e.Open("r1", false) // never reads, so never answers a ping
	if err != nil {
		t.Fatal(err)
	}
	_ = silent
	relaytest.Wait(t, "one terminal", func() bool { return e.Relay.Stats().Terminals == 1 })
	relaytest.Wait(t, "the silent browser's terminal to end", func() bool { return e.Relay.Stats().Terminals == 0 })
	if !e.Relay.Online("r1") {
		t.Fatal("the runner (which answers pings) was dropped too")
	}
}

// TestPastedInputArrivesInOrder pastes far more than a PTY's input buffer
// holds, in many messages sent without waiting, into cat in raw mode: the
// runner writes input to the PTY at once while it takes it and queues the
// rest, and every byte must come back once and in order.
func TestPastedInputArrivesInOrder(t *testing.T) {
	t.Parallel()
	e := relaytest.Start(t, relay.Options{})
	e.StartRunner("r1")
	term, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := term.Send("stty raw -echo; echo rea''dy; exec cat\r"); err != nil {
		t.Fatal(err)
	}
	from, err := term.WaitFor(0, "ready", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := range 200 {
		chunk := strings.Repeat(fmt.Sprintf("<%04d>", i), 100)
		want.WriteString(chunk)
		if err := term.Send(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := term.WaitFor(from, "<0199>", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	relaytest.Wait(t, "all the echo", func() bool { return term.Len()-from >= want.Len() })
	got := strings.TrimLeft(term.Output()[from:], "\r\n")
	if got != want.String() {
		i := 0
		for i < min(len(got), want.Len()) && got[i] == want.String()[i] {
			i++
		}
		t.Fatalf("echo differs from the paste at byte %d of %d: got %q, want %q", i, want.Len(),
			got[i:min(len(got), i+24)], want.String()[i:min(want.Len(), i+24)])
	}
}

// TestFullReadThenQuiet prints a PTY read's worth of output at once and
// then nothing: the runner, which gathers what follows a full read into
// one frame for a short while, must send it without waiting for more
// output (as when a full-screen program redraws and then waits for keys).
func TestFullReadThenQuiet(t *testing.T) {
	t.Parallel()
	e := relaytest.Start(t, relay.Options{})
	e.StartRunner("r1")
	term, err := e.Open("r1", true)
	if err != nil {
		t.Fatal(err)
	}
	// The marker is printed by the same write as the bulk, at its end.
	if err := term.Send("stty -echo; (head -c 4090 /dev/zero | tr '\\0' x; echo E''ND) | head -c 4096; sleep 60\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := term.WaitFor(0, strings.Repeat("x", 4090)+"END", 15*time.Second); err != nil {
		out := term.Output()
		t.Fatalf("the end of a full read waited for more output: %d x's and no END after 15 s", strings.Count(out, "x"))
	}
}
