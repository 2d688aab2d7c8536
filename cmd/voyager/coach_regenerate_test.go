package main

import (
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// An answer's undecided memory card goes with the answer when it is
// regenerated; a fact the member already kept stays.
func TestRegenerateDropsItsProposal(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Plain answer."}})
	s := apptest.Start(t, run, voyagerEnv(t, ant, nil, nil))
	c := signIn(t, s, "ada@example.com", false)
	if r := do(t, c, "POST", s.URL+"/c/alpha/join", "", nil); r.status != 200 {
		t.Fatalf("join: %d", r.status)
	}
	api := s.URL + "/api/c/alpha"
	type memory struct{ ID, Text, Status string }
	list := func() []memory {
		return decode[struct {
			Memories []memory `json:"memories"`
		}](t, do(t, c, "GET", api+"/profile", "", nil)).Memories
	}
	memories := func() map[string]string {
		out := map[string]string{}
		for _, m := range list() {
			out[m.Text] = m.Status
		}
		return out
	}

	conv := newConversation(t, c, s)
	ant.Push(aitest.Script{Chunks: []string{"Noted.\n\n[remember: You are moving to Berlin in May]"}})
	ask(t, c, s, conv, "I am moving to Berlin in May.")
	proposed := list()
	if len(proposed) != 1 || proposed[0].Status != "proposed" {
		t.Fatalf("after the first answer: %+v, want one proposed fact", proposed)
	}
	kept := proposed[0].ID
	if r := do(t, c, "PATCH", api+"/memories/"+kept, "", map[string]any{"keep": true}); r.status != 200 {
		t.Fatalf("keep: %d %s", r.status, r.body)
	}

	ant.Push(aitest.Script{Chunks: []string{"Good.\n\n[remember: You prefer start-ups]"}})
	ask(t, c, s, conv, "I like small teams.")
	if got := memories(); got["You prefer start-ups"] != "proposed" || got["You are moving to Berlin in May"] != "kept" {
		t.Fatalf("before regenerate: %v", got)
	}

	// The regenerated answer proposes nothing: no card is left for it.
	r := do(t, c, "POST", api+"/conversations/"+conv+"/regenerate", "", nil)
	if r.status != 202 {
		t.Fatalf("regenerate: %d %s", r.status, r.body)
	}
	ev := stream(t, c, s.URL+decode[sentJSON](t, r).StreamURL)
	if last := ev[len(ev)-1]; !strings.HasPrefix(last, "done:") || strings.Contains(last, "memory_proposal") {
		t.Fatalf("regenerated answer's last event: %q", last)
	}
	got := memories()
	if _, ok := got["You prefer start-ups"]; ok || got["You are moving to Berlin in May"] != "kept" || len(got) != 1 {
		t.Fatalf("after regenerate: %v, want only the kept fact", got)
	}
}
