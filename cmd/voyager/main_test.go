package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

func TestServeSQLite(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, apptest.BaseEnv(t, nil))
	if !strings.Contains(s.URL, "127.0.0.1:") {
		t.Fatalf("got URL %s", s.URL)
	}
	resp, err := http.Get(s.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	if resp.StatusCode != 200 || !strings.Contains(body, "<title>Voyager · AI career coaching") || !strings.Contains(body, "A career coach who is always in.") {
		t.Fatalf("home: got %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `/assets/voyager/main-`) {
		t.Fatal("home page does not load Voyager's bundle")
	}
	resp, err = http.Get(s.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz: got %d", resp.StatusCode)
	}
}

func TestConfigCheckVoyager(t *testing.T) {
	t.Parallel()
	out, _, err := apptest.Command(t, run, apptest.BaseEnv(t, map[string]string{"ANTHROPIC_API_KEY": "sk-ant-abcdefghijklmnop"}), "config", "check")
	if err != nil || !strings.Contains(out, "ANTHROPIC_API_KEY") || !strings.Contains(out, "COMMUNITIES_DIR") {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	if strings.Contains(out, "abcdefghijklmnop") || strings.Contains(out, "DEVMODE_JWT_SECRET") {
		t.Fatalf("config check leaked a secret or listed a Coda-only variable:\n%s", out)
	}
}
