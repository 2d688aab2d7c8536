package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
	"github.com/relaywork/suite/internal/voyager/coach/coachtest"
)

// sentDocument returns the text of the first plain-text document in an
// Anthropic request (a DOCX's extracted text goes that way), "" if none.
func sentDocument(body map[string]any) string {
	msgs, _ := body["messages"].([]any)
	for _, m := range msgs {
		content, _ := m.(map[string]any)["content"].([]any)
		for _, c := range content {
			block, _ := c.(map[string]any)
			src, _ := block["source"].(map[string]any)
			if block["type"] == "document" && src["type"] == "text" {
				s, _ := src["data"].(string)
				return s
			}
		}
	}
	return ""
}

// quoting is a coach that quotes the line of the attached document that
// starts with "Led", and ends its answer with a fact to remember.
func quoting(fact string) aitest.Script {
	return aitest.Script{Reply: func(body map[string]any) []string {
		quote := "nothing: no document reached me"
		for _, line := range strings.Split(sentDocument(body), "\n") {
			if strings.HasPrefix(line, "Led") {
				quote = line
			}
		}
		return []string{"From your CV: ", "“" + quote + "”", " is your strongest story.\n\n", "[remember: " + fact + "]"}
	}}
}

// TestCoachConversationInBrowser: on the conversation page a member opens
// the file picker from the keyboard, attaches a real Word CV (progress,
// then a chip with its name, type, size, download and remove), sees a
// refused file's 4xx message inline, and the coach's answer quotes the CV
// it received. The answers' "Remember this?" cards are kept, edited and
// kept, and dismissed (one live from the stream, one rendered on reload);
// the memory API then holds exactly the kept facts and no card returns on
// reload. axe finds nothing in light and dark, desktop and phone.
func TestCoachConversationInBrowser(t *testing.T) {
	t.Parallel()
	const (
		factA  = "You are preparing for a senior data-engineering interview"
		factB  = "You want a remote role"
		edited = "You want a remote role based in Lisbon"
		factC  = "You dislike early meetings"
		led    = "Led the Tessellate-Kestrel data platform migration"
	)
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Noted."}})
	defer ant.Close()
	ant.Push(quoting(factA), quoting(factB), quoting(factC))
	env := voyagerEnv(t, ant, nil, nil)
	s := apptest.Start(t, run, env)
	out, _, err := apptest.Command(t, run, env, "admin", "login-link", "ada@example.com")
	m := loginToken.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	dir := t.TempDir()
	cv := filepath.Join(dir, "ada-cv.docx")
	bogus := filepath.Join(dir, "scan.pdf")
	notes := filepath.Join(dir, "notes.md")
	for name, data := range map[string][]byte{
		cv:    coachtest.DOCX(t, "Ada Quillfeather", led, "Python, Spark, Airflow"),
		bogus: []byte("%PDF-1.7\nthe rest of this scan is missing"),
		notes: []byte("# Notes\n\nAsk about the on-call rota."),
	} {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shots := screenshotDir(t)

	b := browsertest.New(t)
	// The refused upload answers 4xx; Chromium logs that as an error.
	b.AllowConsoleError("status of 400")
	b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")
	b.Navigate(s.URL + "/c/alpha/")
	b.Click("#join")
	b.WaitVisible("#new-conversation")
	b.Click("#new-conversation")
	b.WaitVisible("#composer")
	conv := browsertest.Eval[string](b, `document.querySelector("#chat").dataset.conversation`)
	api := s.URL + "/api/c/alpha"

	// The Attach button is one Shift+Tab from the message box (Tab still goes
	// from the text to Send) and opens the picker with Enter.
	opened := make(chan struct{}, 1)
	intercept := func(on bool) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, cdppage.SetInterceptFileChooserDialog, cdppage.SetInterceptFileChooserDialogParams{Enabled: on})
			return err
		})
	}
	lctx, stop := context.WithCancel(b.Context())
	defer stop()
	chromedp.Listen(lctx, func(ev any) {
		if _, ok := ev.(*cdppage.EventFileChooserOpened); ok {
			select {
			case opened <- struct{}{}:
			default:
			}
		}
	})
	b.Run(intercept(true))
	browsertest.Eval[int](b, `document.querySelector("#content").focus(), 0`)
	b.Run(chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
	if got := browsertest.Eval[string](b, "document.activeElement.id"); got != "attach" {
		t.Fatalf("Shift+Tab from the message box reached %q, not the Attach button", got)
	}
	if got := browsertest.Eval[string](b, `document.activeElement.textContent + " / " + document.activeElement.getAttribute("aria-describedby")`); got != "Attach / attach-hint" {
		t.Fatalf("attach button: %q", got)
	}
	b.Run(chromedp.KeyEvent("\r"))
	select {
	case <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("Enter on Attach did not open the file picker")
	}
	b.Run(intercept(false))
	stop()

	// Upload the CV: a progress bar shows, then the chip.
	browsertest.Eval[int](b, `window.__progress = false; new MutationObserver(() => {
		if (document.querySelector("#attachments progress")) window.__progress = true;
	}).observe(document.querySelector("#attachments"), {childList: true, subtree: true}), 0`)
	b.Run(chromedp.SetUploadFiles("#attach-file", []string{cv}))
	b.WaitEval("chip", `(document.querySelector("#attachments .attachment[data-id] .attachment-name") || {}).textContent || ""`, "ada-cv.docx")
	if !browsertest.Eval[bool](b, "window.__progress") {
		t.Error("no upload progress was shown")
	}
	if got := b.Text("#attachments .attachment"); !strings.Contains(got, "ada-cv.docx") || !regexp.MustCompile(`Word · \d+ (B|KB)`).MatchString(got) {
		t.Errorf("chip: got %q, want name, type and size", got)
	}
	// The download is an attachment, never shown inline.
	if got := browsertest.Eval[string](b, `fetch(document.querySelector("#attachments .attachment-name").href).then(r => r.status + " " + r.headers.get("content-disposition"))`); !strings.HasPrefix(got, `200 attachment; filename=ada-cv.docx`) {
		t.Errorf("download: got %q", got)
	}

	// A file that is not what its name says: the 4xx's message, inline.
	b.Run(chromedp.SetUploadFiles("#attach-file", []string{bogus}))
	b.WaitEval("refused", `String(!document.querySelector("#composer-error").hidden && document.querySelector("#composer-error").textContent.length > 10)`, "true")
	t.Logf("refused upload says: %s", b.Text("#composer-error"))
	if n := browsertest.Eval[int](b, `document.querySelectorAll("#attachments .attachment").length`); n != 1 {
		t.Errorf("chips after the refused upload: %d, want 1", n)
	}

	// A second file, removed again with its × button.
	b.Run(chromedp.SetUploadFiles("#attach-file", []string{notes}))
	b.WaitEval("second chip", `String(document.querySelectorAll("#attachments .attachment[data-id]").length)`, "2")
	b.Click(`#attachments .attachment-remove[aria-label="Remove notes.md"]`)
	b.WaitEval("removed", `String(document.querySelectorAll("#attachments .attachment").length)`, "1")
	docs := decode[struct{ Documents []struct{ Name string } }](t, browserGet(t, b, api+"/documents?conversation="+conv))
	if len(docs.Documents) != 1 || docs.Documents[0].Name != "ada-cv.docx" {
		t.Fatalf("the conversation's documents: %+v, want only ada-cv.docx", docs.Documents)
	}

	// The coach's answer quotes the CV it was sent; its proposal is a card.
	b.Type("#content", "What should I lead with?\n")
	b.WaitEval("answer quotes the CV", `String(((document.querySelector("#messages li.msg-assistant:last-of-type .msg-body") || {}).textContent || "").includes("`+led+`"))`, "true")
	b.WaitEval("card", `(document.querySelector("#messages li.msg-assistant:last-of-type .memory-card-text") || {}).textContent || ""`, factA)
	if got := b.Text("#messages li.msg-assistant:last-of-type .msg-body"); strings.Contains(got, "[remember:") {
		t.Errorf("the proposal line stayed in the answer: %q", got)
	}
	survey(t, b, shots, "voyager-coach-chat")

	b.Click("#messages li.msg-assistant:last-of-type .memory-keep")
	b.WaitEval("kept", `(document.querySelector("#messages li.msg-assistant:last-of-type .memory-card-done") || {}).textContent || ""`, "Remembered: “"+factA+"”. See what the coach knows about you")

	// Edit, then keep.
	b.Type("#content", "Also, I want to work remotely.\n")
	b.WaitEval("second answer", `String(document.querySelectorAll("#messages li.msg-assistant[data-status=complete]").length)`, "2")
	b.WaitEval("second card", `(document.querySelector("#messages li.msg-assistant:last-of-type .memory-card-text") || {}).textContent || ""`, factB)
	b.Click("#messages li.msg-assistant:last-of-type .memory-edit")
	b.WaitVisible("#messages li.msg-assistant:last-of-type .memory-card-input")
	if got := browsertest.Eval[string](b, "document.activeElement.className"); got != "memory-card-input" {
		t.Errorf("Edit focused %q, want the fact's input", got)
	}
	b.Run(chromedp.KeyEvent(kb.End), chromedp.KeyEvent(" based in Lisbon"))
	b.Click("#messages li.msg-assistant:last-of-type .memory-keep")
	b.WaitEval("edited and kept", `(document.querySelector("#messages li.msg-assistant:last-of-type .memory-card-done") || {}).textContent || ""`, "Remembered: “"+edited+"”. See what the coach knows about you")

	// The third card is dismissed after a reload (the server renders it).
	b.Type("#content", "Mornings are hard for me.\n")
	b.WaitEval("third card", `(document.querySelector("#messages li.msg-assistant:last-of-type .memory-card-text") || {}).textContent || ""`, factC)
	b.Navigate(s.URL + "/c/alpha/chat/" + conv)
	b.WaitVisible("#composer")
	if got := browsertest.Eval[string](b, `[...document.querySelectorAll("#messages .memory-card-text")].map(p => p.textContent).join(" | ")`); got != factC {
		t.Fatalf("cards after a reload: got %q, want only the undecided %q", got, factC)
	}
	if got := b.Text("#attachments"); !strings.Contains(got, "ada-cv.docx") || strings.Contains(got, "notes.md") {
		t.Errorf("attachments after a reload: %q", got)
	}
	survey(t, b, shots, "voyager-coach-chat-reload")
	b.Click("#messages .memory-dismiss")
	b.WaitEval("dismissed", `(document.querySelector("#messages .memory-card-done") || {}).textContent || ""`, "Dismissed: nothing was remembered.")
	b.Navigate(s.URL + "/c/alpha/chat/" + conv)
	b.WaitVisible("#composer")
	if n := browsertest.Eval[int](b, `document.querySelectorAll(".memory-card").length`); n != 0 {
		t.Errorf("cards after every decision and a reload: %d, want 0", n)
	}

	// The memory API holds the two kept facts, the second as edited.
	prof := decode[struct {
		Memories []struct{ Text, Status string }
	}](t, browserGet(t, b, api+"/profile"))
	var got []string
	for _, m := range prof.Memories {
		got = append(got, m.Status+": "+m.Text)
	}
	if want := []string{"kept: " + factA, "kept: " + edited}; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("memories: got %q, want %q", got, want)
	}
	// The next question goes with the CV and the kept facts.
	calls := ant.Calls()
	last := calls[len(calls)-1].Body
	if sentDocument(last) == "" || !strings.Contains(jsonText(last["system"]), edited) {
		t.Errorf("the last question was not asked with the CV and the edited fact: system %s", jsonText(last["system"]))
	}
}

// browserGet fetches u in the tab (with its session) and returns the answer.
func browserGet(t *testing.T, b *browsertest.Browser, u string) response {
	t.Helper()
	r := browsertest.Eval[struct {
		Status int
		Body   string
	}](b, fmt.Sprintf(`fetch(%q, {headers: {Accept: "application/json"}}).then(async r => ({Status: r.status, Body: await r.text()}))`, u))
	if r.Status != 200 {
		t.Fatalf("GET %s: %d %s", u, r.Status, r.Body)
	}
	return response{status: r.Status, body: r.Body}
}

// survey runs axe on the page in light and dark, on a desktop and a phone
// (none allowed), and keeps light, dark and phone screenshots.
func survey(t *testing.T, b *browsertest.Browser, dir, name string) {
	t.Helper()
	for _, size := range []struct {
		name          string
		width, height int
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		b.Viewport(size.width, size.height, size.mobile)
		for _, scheme := range []string{"light", "dark"} {
			b.ColorScheme(scheme)
			if vs := b.Axe(); len(vs) > 0 {
				var lines []string
				for _, v := range vs {
					lines = append(lines, "  "+v.String())
				}
				t.Errorf("%s (%s, %s): %d axe violation(s):\n%s", name, size.name, scheme, len(vs), strings.Join(lines, "\n"))
			}
		}
	}
	b.Viewport(1280, 800, false)
	b.ColorScheme("light")
	b.Survey(dir, name)
}
