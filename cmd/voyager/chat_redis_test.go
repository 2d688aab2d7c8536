package main

import (
	"os"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// TestChatWithRedis serves with REDIS_URL, so answers stream through the
// Redis bus as well as the in-process hub.
func TestChatWithRedis(t *testing.T) {
	t.Parallel()
	ru := os.Getenv("TEST_REDIS_URL")
	if ru == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_REDIS_URL is not set; CI must provide Redis")
		}
		t.Skip("TEST_REDIS_URL is not set")
	}
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Through", " Redis."}})
	defer ant.Close()
	s := apptest.Start(t, run, voyagerEnv(t, ant, nil, map[string]string{"REDIS_URL": ru}))
	alice := signIn(t, s, "alice@example.com", false)
	do(t, alice, "POST", s.URL+"/c/alpha/join", "", nil)
	conv := decode[struct{ ID string }](t, do(t, alice, "POST", s.URL+"/api/c/alpha/conversations", "", map[string]string{})).ID
	sent := decode[sentJSON](t, do(t, alice, "POST", s.URL+"/api/c/alpha/conversations/"+conv+"/messages", "", map[string]string{"content": "hi"}))
	evs := stream(t, alice, s.URL+sent.StreamURL)
	done := decode[doneJSON](t, response{body: strings.TrimPrefix(evs[len(evs)-1], "done:")})
	if done.Content != "Through Redis." || done.Status != "complete" {
		t.Fatalf("got %+v", done)
	}
}
