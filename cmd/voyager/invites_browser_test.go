package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

// TestInvitesInBrowser: a platform admin joins a private community, creates
// an invite link with an expiry and a number of uses, sees it listed,
// copies it, and revokes it.
func TestInvitesInBrowser(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, voyagerEnv(t, nil, nil, nil))
	out, _, err := apptest.Command(t, run, s.Env, "admin", "login-link", "root@example.com", "--role", "admin")
	m := loginToken.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("login-link: %v %q", err, out)
	}
	b := browsertest.New(t)
	b.AllowClipboard(s.URL)
	b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
	b.Click("#confirm-signin")
	b.WaitVisible(".avatar")

	b.Navigate(s.URL + "/c/beta/")
	b.Click("#join")
	b.Click("#manage-invites")
	b.WaitVisible("#create-invite")
	b.Run(chromedp.SetValue(chromedp.CSS("#invite-days"), "7"))
	b.Run(chromedp.SetValue(chromedp.CSS("#invite-uses"), "2"))
	b.Click("#create-invite")
	b.WaitVisible(".invite .invite-url")
	meta := b.Text(".invite .invite-meta")
	for _, want := range []string{"Active", "0 of 2 uses", "joins as member", "expires "} {
		if !strings.Contains(meta, want) {
			t.Fatalf("invite shows %q, want %q in it", meta, want)
		}
	}
	link := browsertest.Eval[string](b, `document.querySelector(".invite .invite-url").value`)
	if !strings.HasPrefix(link, s.URL+"/c/beta/invite/") {
		t.Fatalf("got link %q", link)
	}
	b.Click(".invite .copy-invite")
	b.WaitEval("link copied", `navigator.clipboard.readText()`, link)
	b.WaitEval("button says so", `document.querySelector(".invite .copy-invite").textContent`, "Copied")
	b.Screenshot(filepath.Join(screenshotDir(t), "voyager-invites.png"))

	b.Click(".invite .revoke-invite")
	b.WaitVisible(".invite-form")
	b.WaitEval("revoked", `String(document.querySelectorAll(".invite").length)`, "0")
	if got := b.Text("main"); !strings.Contains(got, "No invite links yet.") {
		t.Fatalf("after revoke: %q", got)
	}
}
