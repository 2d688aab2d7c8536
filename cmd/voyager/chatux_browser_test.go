package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
)

// screenshotDir is where browser tests save their screenshots: $SCREENSHOT_DIR
// (to look at them) or the test's temporary folder.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("SCREENSHOT_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// clsObserver sums the layout shifts of the page (those not caused by
// input) into window.__cls, from the start of every page.
const clsObserver = `window.__cls = 0; window.__shifts = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if (e.hadRecentInput) continue;
    window.__cls += e.value;
    window.__shifts.push(e.value.toFixed(4) + " " + (e.sources || []).map(s => s.node ? (s.node.id || s.node.className || s.node.nodeName) : "?").join("|"));
  }
}).observe({type: "layout-shift", buffered: true});`

// longAnswer is a streamed answer longer than the screen, ending in code.
func longAnswer() []string {
	var chunks []string
	for i := 1; i <= 24; i++ {
		chunks = append(chunks, fmt.Sprintf("Line %d of a long answer about asking for a raise.\n\n", i))
	}
	return append(chunks, "```go\nfmt.Println(\"raise\")\n```\n")
}

// TestChatUXInBrowser checks the chat page as members use it, at desktop
// and phone sizes: a starter question sends at once, Stop shows only while
// an answer streams, the composer stays pinned and nothing shifts while
// the answer streams (CLS < 0.05), the page follows the answer only while
// the reader is at the bottom, a reload shows the text so far, and Copy
// copies answers and code.
func TestChatUXInBrowser(t *testing.T) {
	t.Parallel()
	for _, size := range []struct {
		name          string
		width, height int
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		t.Run(size.name, func(t *testing.T) {
			gate := make(chan struct{})
			chunks := longAnswer()
			ant := aitest.Anthropic(aitest.Script{Chunks: chunks, Gate: gate})
			defer ant.Close()
			s := apptest.Start(t, run, voyagerEnv(t, ant, nil, nil))
			out, _, err := apptest.Command(t, run, s.Env, "admin", "login-link", "ada@example.com")
			m := loginToken.FindStringSubmatch(out)
			if err != nil || m == nil {
				t.Fatalf("login-link: %v %q", err, out)
			}
			shots := screenshotDir(t)
			b := browsertest.New(t)
			b.Viewport(size.width, size.height, size.mobile)
			b.AllowClipboard(s.URL)
			b.BeforeEachPage(clsObserver)
			b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
			b.Click("#confirm-signin")
			b.WaitVisible(".avatar")
			b.Navigate(s.URL + "/c/alpha/")
			b.Click("#join")
			b.WaitVisible("#new-conversation")
			noOverflow(t, b, "community page")
			b.Screenshot(filepath.Join(shots, "voyager-community-"+size.name+".png"))

			// A starter question sends at once; the URL carries no ?q=.
			b.Click("button.starter")
			b.WaitVisible("#composer")
			if got := browsertest.Eval[string](b, "location.search"); got != "" {
				t.Fatalf("got query %q after a starter, want none", got)
			}
			b.WaitEval("starter sent", `document.querySelector("#messages li.msg-user .msg-text").textContent`, "How do I ask for a raise?")
			b.WaitEval("answer streaming", `document.querySelector("#messages li.msg-assistant").dataset.status`, "streaming")
			b.WaitEval("stop shown", `String(getComputedStyle(document.querySelector("#stop")).display !== "none")`, "true")
			b.WaitEval("send hidden", `getComputedStyle(document.querySelector("#send")).display`, "none")

			last := `(document.querySelector("#messages li.msg-assistant:last-child .msg-text") || {}).textContent || ""`
			atBottom := `(() => { const s = document.querySelector("#scroller"); return String(s.scrollHeight - s.scrollTop - s.clientHeight <= 48); })()`
			composerOnScreen := `(() => { const r = document.querySelector("#composer").getBoundingClientRect(); return String(r.top >= 0 && r.bottom <= innerHeight + 1); })()`
			browsertest.Eval[int](b, "window.__cls = 0, window.__shifts = [], 0")
			release := func(n int) {
				t.Helper()
				for i := 0; i < n; i++ {
					gate <- struct{}{}
				}
			}
			// While the reader is at the bottom, the pane follows the answer.
			sent := 0
			for sent < 14 {
				release(1)
				sent++
				b.WaitEval("piece "+strconv.Itoa(sent), `String((`+last+`).includes("Line `+strconv.Itoa(sent)+` of"))`, "true")
				b.WaitEval("following at piece "+strconv.Itoa(sent), atBottom, "true")
			}
			b.WaitEval("composer pinned on screen", composerOnScreen, "true")

			// A reload now would show the text so far: the server renders it.
			if got := browsertest.Eval[bool](b, `fetch(location.href).then(r => r.text()).then(t => t.includes("Line 14 of a long answer"))`); !got {
				t.Fatal("the page as served during the stream does not hold the text so far")
			}

			// Scrolled up to read: the pane stays put and offers Jump to latest.
			browsertest.Eval[int](b, `document.querySelector("#scroller").scrollTop = 0, 0`)
			b.WaitEval("follow off", `String(document.querySelector("#jump-latest").hidden)`, "true")
			for sent < 18 {
				release(1)
				sent++
				b.WaitEval("piece "+strconv.Itoa(sent), `String((`+last+`).includes("Line `+strconv.Itoa(sent)+` of"))`, "true")
			}
			if top := browsertest.Eval[float64](b, `document.querySelector("#scroller").scrollTop`); top > 2 {
				t.Fatalf("the pane scrolled to %v while the reader was reading above", top)
			}
			b.WaitEval("jump offered", `String(document.querySelector("#jump-latest").hidden)`, "false")
			b.Screenshot(filepath.Join(shots, "voyager-chat-streaming-"+size.name+".png"))
			b.Click("#jump-latest")
			b.WaitEval("back at the bottom", atBottom, "true")
			b.WaitEval("jump gone", `String(document.querySelector("#jump-latest").hidden)`, "true")

			for sent < len(chunks) {
				release(1)
				sent++
			}
			b.WaitEval("answer done", `document.querySelector("#messages li.msg-assistant").dataset.status`, "complete")
			b.WaitEval("code highlighted", `String(!!document.querySelector("#messages pre.chroma span.nx"))`, "true")
			b.WaitEval("following to the end", atBottom, "true")
			b.WaitEval("composer still on screen", composerOnScreen, "true")
			if cls := browsertest.Eval[float64](b, "window.__cls"); cls >= 0.05 {
				t.Fatalf("layout shift during the streamed answer: CLS %.4f, want < 0.05; shifts: %v", cls, browsertest.Eval[[]string](b, "window.__shifts"))
			} else {
				t.Logf("CLS during the streamed answer at %s: %.4f", size.name, cls)
			}

			// Idle: Stop is gone (not just hidden to the eye) and Tab skips it.
			b.WaitEval("stop hidden", `getComputedStyle(document.querySelector("#stop")).display`, "none")
			browsertest.Eval[int](b, `document.querySelector("#content").focus(), 0`)
			b.Run(chromedp.KeyEvent(kb.Tab))
			if got := browsertest.Eval[string](b, "document.activeElement.id"); got != "send" {
				t.Fatalf("Tab from the composer reached %q, want send", got)
			}

			// Copy the answer and the code.
			b.Click("#messages li.msg-assistant .copy-answer")
			b.WaitEval("answer copied", `navigator.clipboard.readText().then(t => String(t.startsWith("Line 1 of a long answer") && t.includes("fmt.Println") && !t.includes("Copy")))`, "true")
			b.Click("#messages .copy-code")
			b.WaitEval("code copied", `navigator.clipboard.readText()`, "fmt.Println(\"raise\")\n")

			noOverflow(t, b, "chat page")
			if size.mobile {
				// Phone: the conversation list is its own screen, one tap back.
				b.WaitEval("sidebar off", `getComputedStyle(document.querySelector(".chat-sidebar")).display`, "none")
				b.WaitVisible(".chat-back")
			}
			for _, scheme := range []string{"light", "dark"} {
				b.ColorScheme(scheme)
				b.Screenshot(filepath.Join(shots, "voyager-chat-"+size.name+"-"+scheme+".png"))
			}
			b.ColorScheme("light")
			if size.mobile {
				b.Click(".chat-back")
				b.WaitVisible(".conversation-cards")
				if got := b.Text(".conversation-cards"); !strings.Contains(got, "How do I ask for a raise?") {
					t.Fatalf("conversation list on the phone: %q", got)
				}
			}
		})
	}
}

// noOverflow fails when the page scrolls sideways.
func noOverflow(t *testing.T, b *browsertest.Browser, what string) {
	t.Helper()
	if w := browsertest.Eval[int](b, "document.documentElement.scrollWidth - innerWidth"); w > 0 {
		t.Fatalf("%s is %d px wider than the screen", what, w)
	}
}
