package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/voyager/ai/aitest"
	"github.com/relaywork/suite/internal/voyager/billing/billingtest"
)

// TestPaidCommunityNeedsStripeSettings: config check names the paid
// community when Stripe settings are missing; in production serve refuses
// to start; a comp community needs nothing.
func TestPaidCommunityNeedsStripeSettings(t *testing.T) {
	t.Parallel()
	env := voyagerEnv(t, nil, nil, nil)
	os.WriteFile(filepath.Join(env["COMMUNITIES_DIR"], "gamma.json"), []byte(billingGammaJSON), 0o644)

	out, _, err := apptest.Command(t, run, env, "config", "check")
	if err != nil || !strings.Contains(out, `community "gamma"`) || !strings.Contains(out, "STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET") || !strings.Contains(out, "warning") {
		t.Fatalf("config check in development: %v\n%s", err, out)
	}

	prod := map[string]string{}
	for k, v := range env {
		prod[k] = v
	}
	prod["APP_ENV"], prod["AUTH_SECRET"], prod["CRON_SECRET"], prod["PUBLIC_URL"] = "production", strings.Repeat("a", 40), strings.Repeat("c", 40), "https://coach.example.com"
	out, _, err = apptest.Command(t, run, prod, "config", "check")
	if err == nil || !strings.Contains(out, `community "gamma"`) || !strings.Contains(out, "gamma.json") {
		t.Fatalf("config check in production: %v\n%s", err, out)
	}
	_, _, err = apptest.Command(t, run, prod, "serve")
	if err == nil || !strings.Contains(err.Error(), "refusing to start") || !strings.Contains(err.Error(), `community "gamma"`) {
		t.Fatalf("serve in production without Stripe: %v", err)
	}

	// Complimentary: no Stripe settings needed.
	os.WriteFile(filepath.Join(env["COMMUNITIES_DIR"], "gamma.json"), []byte(strings.Replace(billingGammaJSON, `"plan": "private"`, `"plan": "private", "comp": true`, 1)), 0o644)
	out, _, err = apptest.Command(t, run, prod, "config", "check")
	if err != nil || strings.Contains(out, `community "gamma"`) {
		t.Fatalf("config check with a comp community: %v\n%s", err, out)
	}
}

// TestBillingEndToEnd drives the webhook, the admin API, the commands and
// /metrics through the real binary's run.
func TestBillingEndToEnd(t *testing.T) {
	t.Parallel()
	ant := aitest.Anthropic(aitest.Script{Chunks: []string{"ok"}})
	defer ant.Close()
	stand := billingtest.NewStand(t, billingtest.StripeMockURL(t))
	env := billingEnv(t, ant, stand)
	s := apptest.Start(t, run, env)
	hook := s.URL + "/api/stripe/webhook"

	out, _, err := apptest.Command(t, run, env, "billing", "status")
	if err != nil || !strings.Contains(out, "gamma") || !strings.Contains(out, "read_only") || !strings.Contains(out, "alpha") {
		t.Fatalf("billing status before: %v\n%s", err, out)
	}

	// Unsigned: 400 through the whole stack (no CSRF or rate limit in the way).
	if code, body := billingtest.Post(t, hook, []byte(`{"id":"evt_1"}`), ""); code != 400 || !strings.Contains(body, "invalid_signature") {
		t.Fatalf("unsigned: %d %s", code, body)
	}
	stand.Set("sub_gamma", billingtest.Sub{Status: "active", Customer: "cus_gamma", CommunityID: "gamma"})
	ev := billingtest.CheckoutEvent("evt_e2e", "gamma", "sub_gamma", "cus_gamma")
	if code, body := billingtest.Post(t, hook, ev, billingtest.Sign(ev, webhookSecret)); code != 200 || !strings.Contains(body, `"processed"`) {
		t.Fatalf("checkout event: %d %s", code, body)
	}
	if code, body := billingtest.Post(t, hook, ev, billingtest.Sign(ev, webhookSecret)); code != 200 || !strings.Contains(body, `"duplicate"`) {
		t.Fatalf("replay: %d %s", code, body)
	}

	out, _, err = apptest.Command(t, run, env, "billing", "status", "gamma")
	if err != nil || !strings.Contains(out, "active") || !strings.Contains(out, "sub_gamma") || !strings.Contains(out, "$50.00 / month") || strings.Contains(out, "alpha") {
		t.Fatalf("billing status gamma: %v\n%s", err, out)
	}
	out, _, err = apptest.Command(t, run, env, "billing", "status", "gamma", "--json")
	if err != nil || !strings.Contains(out, `"state": "open"`) {
		t.Fatalf("billing status --json: %v\n%s", err, out)
	}
	if _, _, err := apptest.Command(t, run, env, "billing", "status", "nope"); err == nil {
		t.Fatal("status of an unknown community succeeded")
	}

	// A webhook was missed: sync finds the subscription unpaid.
	stand.Set("sub_gamma", billingtest.Sub{Status: "unpaid", Customer: "cus_gamma", CommunityID: "gamma"})
	out, _, err = apptest.Command(t, run, env, "billing", "sync")
	if err != nil || !strings.Contains(out, "gamma") || !strings.Contains(out, "unpaid") || !strings.Contains(out, "true") {
		t.Fatalf("billing sync: %v\n%s", err, out)
	}

	// The admin API: admins only, 404 to a member.
	admin := signIn(t, s, "owner@example.com", true)
	do(t, admin, "POST", s.URL+"/c/gamma/join", "", nil)
	if r := do(t, admin, "GET", s.URL+"/api/c/gamma/billing", "", nil); r.status != 200 || !strings.Contains(r.body, `"state":"read_only"`) {
		t.Fatalf("admin billing API: %d %s", r.status, r.body)
	}
	inv := decode[struct {
		URL string `json:"url"`
	}](t, do(t, admin, "POST", s.URL+"/api/c/gamma/invites", "", map[string]any{}))
	member := signIn(t, s, "member@example.com", false)
	if r := do(t, member, "POST", inv.URL, "", nil); r.status != 200 {
		t.Fatalf("accept invite: %d", r.status)
	}
	for _, p := range []string{"/api/c/gamma/billing", "/c/gamma/billing"} {
		if r := do(t, member, "GET", s.URL+p, "", nil); r.status != 404 {
			t.Fatalf("member %s: got %d, want 404", p, r.status)
		}
	}
	if r := do(t, admin, "GET", s.URL+"/c/alpha/billing", "", nil); r.status != 404 {
		t.Fatalf("billing of a free community: got %d, want 404", r.status)
	}
	// The member can read but not send.
	conv := decode[struct {
		ID string `json:"id"`
	}](t, do(t, member, "POST", s.URL+"/api/c/gamma/conversations", "", map[string]any{}))
	if r := do(t, member, "POST", s.URL+"/api/c/gamma/conversations/"+conv.ID+"/messages", "", map[string]string{"content": "hi"}); r.status != 403 || !strings.Contains(r.body, `"code":"community_read_only"`) {
		t.Fatalf("send while unpaid: %d %s", r.status, r.body)
	}
	if r := do(t, member, "GET", s.URL+"/api/c/gamma/conversations/"+conv.ID+"/messages", "", nil); r.status != 200 {
		t.Fatalf("history while unpaid: %d", r.status)
	}

	// Metrics.
	res, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`voyager_billing_subscriptions{status="unpaid"} 1`,
		`voyager_billing_webhook_events_total{outcome="processed",type="checkout.session.completed"} 1`,
		`voyager_billing_webhook_events_total{outcome="duplicate",type="checkout.session.completed"} 1`,
		`voyager_billing_webhook_events_total{outcome="invalid_signature",type="unverified"} 1`,
		`voyager_billing_mrr{currency="usd"} 0`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
