package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
	"github.com/relaywork/suite/internal/voyager/coach/coachtest"
)

// TestCoachProfileInBrowser: a member fills in their profile, attaches a
// CV from the file picker, keeps a fact, and the coach's next answer is
// asked with the CV (as a PDF document) and the profile.
func TestCoachProfileInBrowser(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Your CV shows Spark pipelines at Babbage: lead with them."}})
	defer ant.Close()
	env := voyagerEnv(t, ant, nil, nil)
	s := apptest.Start(t, run, env)
	out, _, err := apptest.Command(t, run, env, "admin", "login-link", "ada@example.com")
	m := loginToken.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	cv := filepath.Join(t.TempDir(), "ada-cv.pdf")
	if err := os.WriteFile(cv, coachtest.PDF(t, "Ada Lovelace\nBuilt Spark pipelines at Babbage and Co"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := browsertest.New(t)
	b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".account-name")
	b.Navigate(s.URL + "/c/alpha/")
	b.Click("#join")
	b.WaitVisible("#coach-profile")
	b.Click("#coach-profile")
	b.WaitVisible("#save-profile")
	b.Type("#current_role", "Data analyst")
	b.Type("#goals", "Senior data engineer")
	b.Click("#save-profile")
	b.WaitEval("saved", `(document.querySelector('[role="status"]') || {}).textContent || ""`, "Profile saved.")
	b.Run(chromedp.SetUploadFiles("#file", []string{cv}))
	b.Click("#attach")
	b.WaitEval("attached", `(document.querySelector('[role="status"]') || {}).textContent || ""`, "Attached ada-cv.pdf.")
	b.WaitEval("listed", `(document.querySelector(".document a") || {}).textContent || ""`, "ada-cv.pdf")
	b.Type("#new-memory", "You prefer remote work")
	b.Click("#add-memory")
	b.WaitEval("remembered", `(document.querySelector(".memory input") || {}).value || ""`, "You prefer remote work")
	b.Screenshot(filepath.Join(t.TempDir(), "profile.png"))
	if dir := os.Getenv("SCREENSHOT_DIR"); dir != "" {
		b.Screenshot(filepath.Join(dir, "voyager-profile.png"))
	}

	b.Navigate(s.URL + "/c/alpha/")
	b.Click("#new-conversation")
	b.WaitVisible("#composer")
	b.Type("#content", "How should I present my experience?\n")
	b.WaitEval("answer", `String(((document.querySelector("#messages li.msg-assistant:last-child .msg-body") || {}).textContent || "").includes("Spark pipelines"))`, "true")
	calls := ant.Calls()
	if len(calls) != 1 {
		t.Fatalf("provider calls: %d", len(calls))
	}
	body := calls[0].Body
	msgs, sys := jsonText(body["messages"]), jsonText(body["system"])
	if !strings.Contains(msgs, `"type":"document"`) || !strings.Contains(msgs, `"title":"ada-cv.pdf"`) || !strings.Contains(sys, "Current role: Data analyst") || !strings.Contains(sys, "remote work") {
		t.Fatalf("the coach was not asked with the CV and profile:\nsystem %s\nmessages %.300s", sys, msgs)
	}
}
