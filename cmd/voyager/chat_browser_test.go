package main

import (
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// TestChatInBrowser signs in through the streamed magic link, joins a
// public community, sends a message, watches the answer arrive piece by
// piece, stops it, and sees the partial answer kept after a reload.
func TestChatInBrowser(t *testing.T) {
	t.Parallel()
	gate := make(chan struct{})
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Piece one.", " Piece two.", " Piece three."}, Gate: gate})
	defer ant.Close()
	env := voyagerEnv(t, ant, nil, nil)
	s := apptest.Start(t, run, env)
	out, _, err := apptest.Command(t, run, env, "admin", "login-link", "grace@example.com")
	m := loginToken.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	b := browsertest.New(t)
	b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")

	b.Navigate(s.URL + "/")
	b.Click(`a[href="/c/alpha/"]`)
	b.WaitVisible("#join")
	b.Click("#join")
	b.WaitVisible("#new-conversation")
	if got := b.Text(".quota"); !strings.Contains(got, "3 of 3 messages left today") {
		t.Fatalf("got quota %q", got)
	}
	b.Click("#new-conversation")
	b.WaitVisible("#composer")
	b.Type("#content", "How do I ask for a raise?\n")

	last := `(document.querySelector("#messages li.msg-assistant:last-child .msg-text") || {}).textContent || ""`
	b.WaitEval("answer bubble", `String(document.querySelectorAll("#messages li.msg-assistant").length)`, "1")
	gate <- struct{}{}
	b.WaitEval("first piece", last, "Piece one.")
	gate <- struct{}{}
	b.WaitEval("second piece", last, "Piece one. Piece two.")
	b.WaitEval("stop button shown", `String(document.querySelector("#stop").hidden)`, "false")
	b.WaitEval("quota updated", `document.querySelector("#quota-remaining").textContent`, "2")

	b.Click("#stop")
	b.WaitEval("stopped", `document.querySelector("#messages li.msg-assistant:last-child").dataset.status`, "stopped")
	b.WaitEval("note", `document.querySelector("#messages li.msg-assistant:last-child .msg-note").textContent`, "Stopped: the answer is incomplete. Continue")
	b.WaitEval("send enabled again", `String(document.querySelector("#send").disabled)`, "false")

	// After a reload the partial answer is still there, marked.
	b.Navigate(browsertest.Eval[string](b, "location.href"))
	b.WaitVisible("#composer")
	b.WaitEval("kept after reload", `document.querySelector("#messages li.msg-assistant .msg-body").textContent.trim()`, "Piece one. Piece two.")
	b.WaitEval("user message kept", `document.querySelector("#messages li.msg-user .msg-text").textContent`, "How do I ask for a raise?")

	// Regenerate, reload mid-answer: the page shows the answer so far and
	// keeps following it to the end.
	b.Click("#regenerate")
	b.WaitEval("regenerating", `document.querySelector("#messages li.msg-assistant:last-child").dataset.status`, "streaming")
	gate <- struct{}{}
	b.WaitEval("first piece again", last, "Piece one.")
	b.Navigate(browsertest.Eval[string](b, "location.href"))
	b.WaitVisible("#composer")
	b.WaitEval("progress after reload", last, "Piece one.")
	close(gate)
	b.WaitEval("finished after reload", `document.querySelector("#messages li.msg-assistant:last-child").dataset.status`, "complete")
	b.WaitEval("full answer", `document.querySelector("#messages li.msg-assistant:last-child .msg-body").textContent.trim()`, "Piece one. Piece two. Piece three.")
	b.WaitEval("one answer", `String(document.querySelectorAll("#messages li.msg-assistant").length)`, "1")
}
