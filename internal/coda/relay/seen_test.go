package relay_test

import (
	"sync"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/relay/relaytest"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestRunnerSeenWhileConnected checks that a connected runner is reported
// as seen again once per SeenEvery while it stays connected, not more often.
func TestRunnerSeenWhileConnected(t *testing.T) {
	t.Parallel()
	clk := &testClock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
	// The heartbeat never fires by itself here: the test runs its step.
	e := relaytest.Start(t, relay.Options{Now: clk.Now, SeenEvery: time.Minute, PingInterval: time.Hour})
	e.StartRunner("r1")
	// The connection is recorded once, with the runner's hello.
	relaytest.Wait(t, "the runner's hello", func() bool {
		s := e.Auth.Seen("r1")
		return len(s) == 1 && s[0].Name == "r1"
	})

	steps := []struct {
		name    string
		advance time.Duration
		want    int
	}{
		{"within the minute", 59 * time.Second, 1},
		{"a minute after connecting", time.Second, 2},
		{"again too soon", 30 * time.Second, 2},
		{"a minute later", 30 * time.Second, 3},
		{"long idle", 10 * time.Minute, 4},
	}
	for _, st := range steps {
		clk.Add(st.advance)
		relay.TouchSeen(e.Relay)
		if got := len(e.Auth.Seen("r1")); got != st.want {
			t.Fatalf("%s: got %d RunnerSeen calls, want %d", st.name, got, st.want)
		}
	}
	if h := e.Auth.Seen("r1")[3]; h != (relay.Hello{}) {
		t.Fatalf("a periodic report carried %+v, want an empty Hello (last seen only)", h)
	}
}
