package main

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

// TestIdeasInBrowser captures an idea with the keyboard, finds it by
// search, deletes it, undoes the delete from the toast and sees it back,
// also after a reload.
func TestIdeasInBrowser(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"RATE_LIMIT_SCALE": "0"})
	s := apptest.Start(t, run, env)
	out, _, err := apptest.Command(t, run, env, "admin", "login-link", "grace@example.com")
	m := ideasLoginLink.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	b := browsertest.New(t)
	// The printed link names PORT=0; the running server is at s.URL.
	b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")

	b.Navigate(s.URL + "/ideas")
	b.WaitVisible("#empty-state")
	// Capture: type, Enter; it appears at once and is then saved.
	b.Type("#capture-input", "Paint the fence blue #home\n")
	b.WaitVisible("#idea-list li.idea:not(.is-pending) .idea-delete")
	if got := b.Text("#idea-list li.idea .idea-title"); got != "Paint the fence blue" {
		t.Fatalf("captured title %q", got)
	}
	if got := b.Text("#idea-list li.idea .idea-meta .tag"); got != "#home" {
		t.Fatalf("captured tag %q", got)
	}
	b.WaitEval("empty state hidden", `String(document.querySelector("#empty-state").hidden)`, "true")
	b.WaitEval("capture box cleared and focused", `document.activeElement.id + ":" + document.querySelector("#capture-input").value`, "capture-input:")
	b.Type("#capture-input", "Call the plumber\n")
	b.WaitEval("two ideas", `String(document.querySelectorAll("#idea-list li.idea:not(.is-pending)").length)`, "2")

	// Search with the keyboard ("/" focuses the search box).
	browsertest.Eval[bool](b, `(document.activeElement.blur(), true)`)
	b.Run(chromedp.KeyEvent("/"))
	b.WaitEval("slash focuses search", `document.activeElement.id`, "search-input")
	b.Type("#search-input", "fence\n")
	b.WaitVisible("#filter-status")
	b.WaitEval("one result", `String(document.querySelectorAll("#idea-list li.idea").length)`, "1")
	b.WaitEval("highlighted", `document.querySelector("#idea-list .idea-title a").innerHTML`, "Paint the <mark>fence</mark> blue")

	// Delete, then Undo from the toast.
	b.Click("#idea-list li.idea .idea-delete button")
	b.WaitVisible("#undo-toast #undo-button")
	b.WaitEval("idea removed", `String(document.querySelectorAll("#idea-list li.idea").length)`, "0")
	if got := b.Text("#undo-toast"); !strings.Contains(got, "Deleted “Paint the fence blue”") {
		t.Fatalf("toast says %q", got)
	}
	b.Click("#undo-button")
	b.WaitEval("idea back", `document.querySelector("#idea-list li.idea .idea-title")?.innerText ?? ""`, "Paint the fence blue")
	b.WaitEval("toast gone", `String(document.querySelector("#undo-toast").hidden)`, "true")

	// It is really back: a fresh load lists both ideas.
	b.Navigate(s.URL + "/ideas")
	b.WaitEval("after reload", `[...document.querySelectorAll("#idea-list .idea-title")].map(e => e.innerText).join("|")`, "Call the plumber|Paint the fence blue")

	// The editor autosaves, previews sanitised Markdown, and shows both
	// versions when another device saved first.
	id := browsertest.Eval[string](b, `document.querySelector("#idea-list li.idea:last-child").dataset.id`)
	b.Navigate(s.URL + "/ideas/" + id)
	b.WaitVisible("#body")
	b.Type("#body", "Use **blue** paint <script>alert(1)</script>")
	b.WaitEval("autosaved", `document.querySelector("#save-status").innerText.startsWith("Saved at") + ":" + document.querySelector("#version").value`, "true:2")
	b.WaitEval("preview", `String(document.querySelector("#preview").innerHTML.includes("<strong>blue</strong>") && !document.querySelector("#preview script"))`, "true")

	other := ideasSignIn(t, s, "grace@example.com") // the same person on another device
	if st, body := other.json("PATCH", "/api/ideas/"+id, map[string]any{"version": 2, "body": "Use green paint"}); st != 200 {
		t.Fatalf("edit from another device: %d %v", st, body)
	}
	b.AllowConsoleError("status of 409") // the autosave that finds the conflict
	b.Type("#body", " today")
	b.WaitVisible("#conflict")
	if got := b.Text("#conflict-saved-body"); got != "Use green paint" {
		t.Fatalf("conflict shows the saved version %q", got)
	}
	if got := b.Text("#conflict-mine-body"); !strings.HasSuffix(got, "today") {
		t.Fatalf("conflict shows my version %q", got)
	}
	b.Click("#keep-mine")
	b.WaitEval("kept mine", `document.querySelector("#save-status").innerText.startsWith("Saved at") + ":" + document.querySelector("#version").value + ":" + document.querySelector("#conflict").hidden`, "true:4:true")
	if st, got := other.json("GET", "/api/ideas/"+id, nil); st != 200 || !strings.HasSuffix(got["body"].(string), "today") {
		t.Fatalf("after keep mine the server has %v", got)
	}

	// On a phone-sized screen nothing scrolls sideways.
	b.Run(chromedp.EmulateViewport(375, 740))
	for _, page := range []string{"/ideas", "/ideas/" + id, "/ideas/deleted", "/ideas/transfer", "/settings/tokens"} {
		b.Navigate(s.URL + page)
		b.WaitEval(page+" fits a phone", `String(document.documentElement.scrollWidth <= window.innerWidth)`, "true")
	}
}
