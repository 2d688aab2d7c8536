package main

import (
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// waitEval polls expr in the page until it returns want, or fails at the deadline.
func waitEval(t *testing.T, b *browsertest.Browser, what, expr, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		if got = browsertest.Eval[string](b, expr); got == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: got %q, want %q", what, got, want)
}

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
	waitEval(t, b, "answer bubble", `String(document.querySelectorAll("#messages li.msg-assistant").length)`, "1")
	gate <- struct{}{}
	waitEval(t, b, "first piece", last, "Piece one.")
	gate <- struct{}{}
	waitEval(t, b, "second piece", last, "Piece one. Piece two.")
	waitEval(t, b, "stop button shown", `String(document.querySelector("#stop").hidden)`, "false")
	waitEval(t, b, "quota updated", `document.querySelector("#quota-remaining").textContent`, "2")

	b.Click("#stop")
	waitEval(t, b, "stopped", `document.querySelector("#messages li.msg-assistant:last-child").dataset.status`, "stopped")
	waitEval(t, b, "note", `document.querySelector("#messages li.msg-assistant:last-child .msg-note").textContent`, "Stopped: the answer is incomplete. Continue")
	waitEval(t, b, "send enabled again", `String(document.querySelector("#send").disabled)`, "false")

	// After a reload the partial answer is still there, marked.
	b.Navigate(browsertest.Eval[string](b, "location.href"))
	b.WaitVisible("#composer")
	waitEval(t, b, "kept after reload", `document.querySelector("#messages li.msg-assistant .msg-body").textContent.trim()`, "Piece one. Piece two.")
	waitEval(t, b, "user message kept", `document.querySelector("#messages li.msg-user .msg-text").textContent`, "How do I ask for a raise?")

	// Regenerate, reload mid-answer: the page shows the answer so far and
	// keeps following it to the end.
	b.Click("#regenerate")
	waitEval(t, b, "regenerating", `document.querySelector("#messages li.msg-assistant:last-child").dataset.status`, "streaming")
	gate <- struct{}{}
	waitEval(t, b, "first piece again", last, "Piece one.")
	b.Navigate(browsertest.Eval[string](b, "location.href"))
	b.WaitVisible("#composer")
	waitEval(t, b, "progress after reload", last, "Piece one.")
	close(gate)
	waitEval(t, b, "finished after reload", `document.querySelector("#messages li.msg-assistant:last-child").dataset.status`, "complete")
	waitEval(t, b, "full answer", `document.querySelector("#messages li.msg-assistant:last-child .msg-body").textContent.trim()`, "Piece one. Piece two. Piece three.")
	waitEval(t, b, "one answer", `String(document.querySelectorAll("#messages li.msg-assistant").length)`, "1")
}
