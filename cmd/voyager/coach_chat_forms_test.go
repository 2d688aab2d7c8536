package main

import (
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// TestCoachConversationWithoutScript: the conversation page works as plain
// forms. It renders the undecided "Remember this?" card and the
// conversation's files; the attach form uploads to the conversation and
// returns to it (a refused file's message shown there); the card's form
// keeps the edited fact and the card is gone; another member cannot attach
// to the conversation (404).
func TestCoachConversationWithoutScript(t *testing.T) {
	t.Parallel()
	const fact = "You are moving to Porto"
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Good luck.\n\n[remember: " + fact + "]"}})
	defer ant.Close()
	s := apptest.Start(t, run, voyagerEnv(t, ant, nil, nil))
	c := signIn(t, s, "ada@example.com", false)
	eve := signIn(t, s, "eve@example.com", false)
	do(t, c, "POST", s.URL+"/c/alpha/join", "", nil)
	do(t, eve, "POST", s.URL+"/c/alpha/join", "", nil)
	conv := newConversation(t, c, s)
	ask(t, c, s, conv, "I am moving to Porto next year.")

	chatPage := s.URL + "/c/alpha/chat/" + conv
	p := page(t, c, chatPage, "")
	if p.status != 200 || !strings.Contains(p.body, `class="memory-card"`) || !strings.Contains(p.body, `<p class="memory-card-text">`+fact+`</p>`) {
		t.Fatalf("chat page %d: no card for the proposed fact:\n%s", p.status, p.body)
	}
	prof := decode[struct {
		Memories []struct{ ID, Text, Status string }
	}](t, do(t, c, "GET", s.URL+"/api/c/alpha/profile", "", nil))
	if len(prof.Memories) != 1 || prof.Memories[0].Status != "proposed" {
		t.Fatalf("memories: %+v", prof.Memories)
	}
	id := prof.Memories[0].ID
	action := `/c/alpha/memories/` + id + `?conversation=` + conv
	if !strings.Contains(p.body, `action="`+action+`"`) {
		t.Fatalf("the card does not post to %s", action)
	}

	// The attach form: back to the conversation, with the chip.
	r := uploadDoc(t, c, s.URL+"/c/alpha/documents?conversation="+conv, "notes.md", []byte("# Notes\n\nAsk about relocation support."))
	if r.status != 200 || !strings.Contains(r.body, "Attached notes.md.") || !strings.Contains(r.body, `class="attachment-name" href="/api/c/alpha/documents/`) || !strings.Contains(r.body, "Markdown · 38 B") {
		t.Fatalf("attach form: %d\n%s", r.status, r.body)
	}
	r = uploadDoc(t, c, s.URL+"/c/alpha/documents?conversation="+conv, "scan.pdf", []byte("%PDF-1.7\nbroken"))
	if r.status != 200 || !strings.Contains(r.body, `role="alert">That file is not a readable PDF.`) {
		t.Fatalf("refused attach form: %d\n%s", r.status, r.body)
	}
	// Someone else's conversation does not exist for them.
	if r := uploadDoc(t, eve, s.URL+"/c/alpha/documents?conversation="+conv, "x.md", []byte("# x")); r.status != 404 {
		t.Fatalf("eve attaching to ada's conversation: got %d, want 404", r.status)
	}
	if r := uploadDoc(t, eve, s.URL+"/api/c/alpha/documents?conversation="+conv, "x.md", []byte("# x")); r.status != 404 {
		t.Fatalf("eve attaching to ada's conversation (API): got %d, want 404", r.status)
	}

	// Keep the fact, edited, from the card's form.
	resp, err := c.PostForm(s.URL+action, url.Values{"action": {"keep"}, "text": {fact + " in May"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/c/alpha/chat/"+conv || !strings.Contains(string(body), "Remembered.") || strings.Contains(string(body), `class="memory-card"`) {
		t.Fatalf("keep form: %d at %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	prof = decode[struct {
		Memories []struct{ ID, Text, Status string }
	}](t, do(t, c, "GET", s.URL+"/api/c/alpha/profile", "", nil))
	if len(prof.Memories) != 1 || prof.Memories[0].Status != "kept" || prof.Memories[0].Text != fact+" in May" {
		t.Fatalf("memories after keeping: %+v", prof.Memories)
	}
}
