package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
	"github.com/relaywork/suite/internal/voyager/billing/billingtest"
)

const billingGammaJSON = `{
  "id": "gamma", "name": "Gamma Partners", "description": "A paid private test community.", "visibility": "private",
  "coach": {"name": "Ida", "systemPrompt": "You are Ida."},
  "limits": {"messagesPerDay": 0},
  "billing": {"plan": "private", "stripePriceId": "price_gamma"}
}`

const webhookSecret = "whsec_browser_test"

// billingEnv adds the paid community gamma and points Stripe at stand.
func billingEnv(t *testing.T, ant *aitest.Server, stand *billingtest.Stand) map[string]string {
	t.Helper()
	env := voyagerEnv(t, ant, nil, map[string]string{
		"STRIPE_SECRET_KEY": "sk_test_browser", "STRIPE_WEBHOOK_SECRET": webhookSecret,
		"STRIPE_API_BASE": stand.URL, "STRIPE_PRICE_ID": "price_default",
	})
	os.WriteFile(filepath.Join(env["COMMUNITIES_DIR"], "gamma.json"), []byte(billingGammaJSON), 0o644)
	return env
}

// scheme switches the page between light and dark and sets its width.
func scheme(b *browsertest.Browser, dark bool, width int64) {
	v := "light"
	if dark {
		v = "dark"
	}
	b.Run(chromedp.EmulateViewport(width, 900), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
		return err
	}))
}

// TestBillingInBrowser: a community admin opens billing and subscribes
// through the Checkout URL stripe-mock returns; the webhook lands and a
// member chats. The subscription is cancelled: the member sees the
// community read-only. Paid again: open again.
//
// stripe-mock has no state and cannot serve Checkout's page, so the test
// puts a stand-in in front of it (billingtest.Stand): the session is
// created by stripe-mock (its URL, rewritten from checkout.stripe.com to
// the stand-in's host so the offline browser can follow it), the stand-in
// serves a one-button "Checkout" page that, when paid, sends the signed
// checkout.session.completed webhook and returns to the success URL, and
// GET /v1/subscriptions/{id} answers the status the test sets, in
// stripe-mock's own fixture.
func TestBillingInBrowser(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"Hello", " from Ida."}})
	defer ant.Close()
	stand := billingtest.NewStand(t, billingtest.StripeMockURL(t))
	stand.CheckoutBase = stand.URL
	var mu sync.Mutex
	var voyagerURL string
	webhook := func(payload []byte) {
		mu.Lock()
		u := voyagerURL
		mu.Unlock()
		if code, body := billingtest.Post(t, u+"/api/stripe/webhook", payload, billingtest.Sign(payload, webhookSecret)); code != 200 {
			t.Errorf("webhook: %d %s", code, body)
		}
	}
	stand.Pages = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			fmt.Fprintf(w, `<!doctype html><title>Checkout</title><h1>Pay Gamma Partners</h1><form method="post"><button id="pay">Pay $50.00</button></form>`)
			return
		}
		// Paid: Stripe creates the subscription and sends the webhook.
		co := stand.LastCheckout()
		stand.Set("sub_gamma", billingtest.Sub{Status: "active", Customer: "cus_gamma", CommunityID: co.Get("client_reference_id")})
		webhook(billingtest.CheckoutEvent("evt_checkout_gamma", co.Get("client_reference_id"), "sub_gamma", "cus_gamma"))
		http.Redirect(w, r, co.Get("success_url"), http.StatusSeeOther)
	})
	env := billingEnv(t, ant, stand)
	s := apptest.Start(t, run, env)
	mu.Lock()
	voyagerURL = s.URL
	mu.Unlock()
	shots := os.Getenv("SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}

	// The admin (a platform admin) joins the paid community as its admin
	// and creates an invite for a member.
	admin := signIn(t, s, "owner@example.com", true)
	if r := do(t, admin, "POST", s.URL+"/c/gamma/join", "", nil); r.status != 200 {
		t.Fatalf("admin join: %d", r.status)
	}
	inv := decode[struct {
		URL string `json:"url"`
	}](t, do(t, admin, "POST", s.URL+"/api/c/gamma/invites", "", map[string]any{"max_uses": 1}))

	b := browsertest.New(t)
	login := func(email string, admin bool) {
		args := []string{"admin", "login-link", email}
		if admin {
			args = append(args, "--role", "admin")
		}
		out, _, err := apptest.Command(t, run, env, args...)
		m := loginToken.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Fatalf("login-link: %v %q", err, out)
		}
		b.Navigate(s.URL + "/auth/email/confirm?token=" + m[1])
		b.Click("#confirm-signin")
		// The previous user's page also has .account-name: wait for the
		// confirmation's own navigation to finish first.
		b.WaitEval("signed in", `String(location.pathname.startsWith("/auth/email/confirm"))`, "false")
		b.WaitVisible(".account-name")
	}
	login("owner@example.com", true)

	// Never subscribed: the admin sees the banner and opens billing.
	b.Navigate(s.URL + "/c/gamma/")
	b.WaitVisible("#billing-banner")
	if got := b.Text("#billing-banner"); !strings.Contains(got, "Billing needs attention") {
		t.Fatalf("banner: %q", got)
	}
	b.Click(`#billing-banner a`)
	b.WaitVisible("#subscribe")
	if got := b.Text("#billing-status"); got != "Not subscribed" {
		t.Fatalf("status before subscribing: %q", got)
	}
	if got := b.Text("#billing-plan"); got != "Private community" {
		t.Fatalf("plan: %q", got)
	}
	for _, v := range []struct {
		name  string
		dark  bool
		width int64
	}{{"billing-light.png", false, 1200}, {"billing-dark.png", true, 1200}, {"billing-phone-light.png", false, 390}, {"billing-phone-dark.png", true, 390}} {
		scheme(b, v.dark, v.width)
		b.Screenshot(filepath.Join(shots, "new-"+v.name))
	}
	scheme(b, false, 1200)

	// Subscribe: Checkout (stripe-mock's session), pay, back on billing.
	b.Click("#subscribe")
	b.WaitVisible("#pay")
	co := stand.LastCheckout()
	if co.Get("mode") != "subscription" || co.Get("client_reference_id") != "gamma" || co.Get("line_items[0][price]") != "price_gamma" ||
		!strings.HasPrefix(co.Get("success_url"), s.URL+"/c/gamma/billing") || !strings.HasPrefix(co.Get("cancel_url"), s.URL+"/c/gamma/billing") ||
		co.Get("customer_email") != "owner@example.com" || co.Get("subscription_data[metadata][community_id]") != "gamma" {
		t.Fatalf("checkout session parameters: %v", co)
	}
	b.Click("#pay")
	b.WaitVisible("#billing-flash")
	b.WaitEval("active", `document.querySelector("#billing-status").innerText`, "Active")
	b.WaitVisible("#manage-billing")
	if got := b.Text("#billing-plan"); got != "Private community · $50.00 / month" {
		t.Fatalf("plan after subscribing: %q", got)
	}
	b.WaitVisible("#billing-renewal")
	for _, v := range []struct {
		name  string
		dark  bool
		width int64
	}{{"billing-light.png", false, 1200}, {"billing-dark.png", true, 1200}, {"billing-phone-light.png", false, 390}, {"billing-phone-dark.png", true, 390}} {
		scheme(b, v.dark, v.width)
		b.Screenshot(filepath.Join(shots, "active-"+v.name))
	}
	scheme(b, false, 1200)

	// The member joins by invite and chats.
	login("member@example.com", false)
	b.Navigate(inv.URL)
	b.Click("#accept-invite")
	b.WaitVisible("#new-conversation")
	if n := browsertest.Eval[int](b, `document.querySelectorAll("#billing-banner, #read-only").length`); n != 0 {
		t.Fatalf("member of an active community sees %d billing notices", n)
	}
	b.Click("#new-conversation")
	b.WaitVisible("#composer")
	b.Type("#content", "Where do I start?\n")
	last := `(document.querySelector("#messages li.msg-assistant:last-child") || {dataset: {}}).dataset.status || ""`
	b.WaitEval("answered", last, "complete")
	chatURL := browsertest.Eval[string](b, "location.href")

	// Cancelled in the portal: Stripe sends customer.subscription.deleted.
	stand.Set("sub_gamma", billingtest.Sub{Status: "canceled", Customer: "cus_gamma", CommunityID: "gamma"})
	webhook(billingtest.SubscriptionEvent("evt_deleted_gamma", "customer.subscription.deleted", "sub_gamma", "cus_gamma", "canceled"))
	b.Navigate(chatURL)
	b.WaitVisible("#read-only")
	if got := b.Text("#read-only"); !strings.Contains(got, "read-only") || !strings.Contains(got, "download") {
		t.Fatalf("read-only notice: %q", got)
	}
	if visible := browsertest.Eval[bool](b, `!!document.querySelector("#composer").offsetParent`); visible {
		t.Fatal("composer shown in a read-only community")
	}
	if n := browsertest.Eval[int](b, `document.querySelectorAll("#messages li.msg").length`); n != 2 {
		t.Fatalf("history: got %d messages, want 2", n)
	}
	// The send path itself refuses, with the code.
	b.AllowConsoleError("status of 403")
	got := browsertest.Eval[string](b, `fetch(document.querySelector("#composer").action, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({content: "still there?"})}).then(async r => r.status + " " + (await r.json()).error.code)`)
	if got != "403 community_read_only" {
		t.Fatalf("send while read-only: %q", got)
	}
	// Export still works.
	if got := browsertest.Eval[string](b, `fetch("/account/export").then(async r => r.status + " " + ((await r.text()).includes("Where do I start?")))`); got != "200 true" {
		t.Fatalf("export while read-only: %q", got)
	}
	scheme(b, true, 390)
	b.Screenshot(filepath.Join(shots, "read-only-chat-phone-dark.png"))
	scheme(b, false, 1200)

	// Paid again (a new invoice paid): open again.
	stand.Set("sub_gamma", billingtest.Sub{Status: "active", Customer: "cus_gamma", CommunityID: "gamma"})
	webhook(billingtest.InvoiceEvent("evt_paid_gamma", "invoice.paid", "sub_gamma", "cus_gamma"))
	b.Navigate(chatURL)
	b.WaitVisible("#composer")
	if n := browsertest.Eval[int](b, `document.querySelectorAll("#read-only").length`); n != 0 {
		t.Fatal("read-only notice after payment")
	}
	b.Type("#content", "And next?\n")
	b.WaitEval("answered again", `String(document.querySelectorAll("#messages li.msg-assistant[data-status=complete]").length)`, "2")
}
