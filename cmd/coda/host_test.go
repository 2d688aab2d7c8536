package main

import (
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

// TestListenHost binds with HOST=127.0.0.1: the server answers there and
// refuses 127.0.0.2 (another loopback address, which a server on every
// interface accepts, as the second half shows).
func TestListenHost(t *testing.T) {
	t.Parallel()
	dial := func(host, port string) error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	only := apptest.Start(t, run, apptest.BaseEnv(t, map[string]string{"HOST": "127.0.0.1"}))
	u, _ := url.Parse(only.URL)
	if err := dial("127.0.0.1", u.Port()); err != nil {
		t.Fatalf("127.0.0.1: %v", err)
	}
	if err := dial("127.0.0.2", u.Port()); err == nil {
		t.Fatal("HOST=127.0.0.1 but 127.0.0.2 connects")
	}

	all := apptest.Start(t, run, apptest.BaseEnv(t, nil))
	u, _ = url.Parse(all.URL)
	if err := dial("127.0.0.2", u.Port()); err != nil {
		t.Fatalf("without HOST, 127.0.0.2 should connect: %v", err)
	}
}

// TestConfigCheckShowsHostAndRetiredSettings: `config check` names the
// listen address and says what to use instead of the hosted stack's
// Upstash REST and Vercel Analytics settings, without failing.
func TestConfigCheckShowsHostAndRetiredSettings(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"HOST": "127.0.0.1", "PORT": "3000",
		"UPSTASH_REDIS_REST_URL": "https://eu1-x.upstash.io", "UPSTASH_REDIS_REST_TOKEN": "AXtoken", "NEXT_PUBLIC_VERCEL_ANALYTICS_ID": "va1"})
	out, _, err := apptest.Command(t, run, env, "config", "check")
	if err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	for _, want := range []string{"HOST ", "127.0.0.1", "Listening on 127.0.0.1:3000 (HOST 127.0.0.1, PORT 3000).", "3 warning(s):",
		"UPSTASH_REDIS_REST_URL (set in the environment) is ignored", "set REDIS_URL to the database's rediss:// URL", "VITALS_ENABLED=true"} {
		if !strings.Contains(out, want) {
			t.Fatalf("config check does not say %q:\n%s", want, out)
		}
	}
	bad := apptest.BaseEnv(t, map[string]string{"HOST": "127.0.0.1:3000"})
	out, _, err = apptest.Command(t, run, bad, "config", "check")
	if err == nil || !strings.Contains(out, `HOST="127.0.0.1:3000": must be an IP address`) {
		t.Fatalf("HOST with a port: %v\n%s", err, out)
	}
	out, _, _ = apptest.Command(t, run, apptest.BaseEnv(t, nil), "config", "check")
	if !strings.Contains(out, "Listening on every interface, port 0 (HOST unset: every interface, PORT 0).") {
		t.Fatalf("default listen address:\n%s", out)
	}
}
