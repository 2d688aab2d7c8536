package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

var streamedLink = regexp.MustCompile(`http://[^\s"\\]+/auth/email/confirm\?token=[A-Za-z0-9_-]+`)

// waitFor polls f until it returns a non-empty string or the deadline passes.
func waitFor(t *testing.T, what string, f func() string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if s := f(); s != "" {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
	return ""
}

// TestMagicLinkSignInInBrowser signs in through the real pages with the
// development mail sender (links go to the log), sees the user's name in
// the header, and is signed out by the operator's `sessions revoke --all`.
func TestMagicLinkSignInInBrowser(t *testing.T) {
	t.Parallel()
	env := apptest.BaseEnv(t, map[string]string{"EMAIL_SERVER": "stream"})
	s := apptest.Start(t, run, env)
	b := browsertest.New(t)

	b.Navigate(s.URL + "/signin?next=/account/sessions")
	b.WaitVisible("#email")
	b.Type("#email", "ada.lovelace@example.com")
	b.Click("form[action='/signin/email'] button[type=submit]")
	b.WaitVisible("#check-title")

	link := waitFor(t, "the sign-in link in the log", func() string { return streamedLink.FindString(s.Stderr.String()) })
	if strings.Contains(s.Stderr.String(), `"msg":"request"`) && strings.Contains(grepLines(s.Stderr.String(), `"msg":"request"`), "token=") {
		t.Fatal("the access log recorded the sign-in token")
	}

	// Opening the link (as a mail scanner would) spends nothing.
	b.Navigate(link)
	b.WaitVisible("#confirm-signin")
	if got := b.Text("#confirm-title"); !strings.Contains(got, "ada.lovelace@example.com") {
		t.Fatalf("confirmation page says %q", got)
	}
	b.Navigate(link)
	b.WaitVisible("#confirm-signin")
	b.Click("#confirm-signin")
	b.WaitVisible("#sessions-title")
	if got := b.Text(".account-name"); got != "ada.lovelace" {
		t.Fatalf("header shows %q, want the user's name", got)
	}
	if got := b.Text(".session-list"); !strings.Contains(got, "This device") {
		t.Fatalf("sessions page: %q", got)
	}

	out, _, err := apptest.Command(t, run, env, "sessions", "revoke", "--all")
	if err != nil || !strings.Contains(out, "revoked 1 session") {
		t.Fatalf("sessions revoke --all: %v\n%s", err, out)
	}
	b.Navigate(s.URL + "/")
	b.WaitVisible(".account a.btn")
	if got := b.Text(".account"); !strings.Contains(got, "Sign in") {
		t.Fatalf("after revoke the header shows %q, want a sign-in link", got)
	}
	// The spent link cannot sign in again: the page answers 410, which
	// the browser reports as a failed resource load.
	b.AllowConsoleError("status of 410")
	b.Navigate(link)
	b.WaitVisible("#autherr-title")
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
