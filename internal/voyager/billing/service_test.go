package billing_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/voyager"
	"github.com/relaywork/suite/internal/voyager/billing"
	"github.com/relaywork/suite/internal/voyager/billing/billingstore"
	"github.com/relaywork/suite/internal/voyager/billing/billingstripe"
	"github.com/relaywork/suite/internal/voyager/billing/billingtest"
	"github.com/relaywork/suite/internal/voyager/community"
	"github.com/relaywork/suite/internal/voyager/voyagerhttp"
)

const secret = "whsec_test_secret"

// fixed is a community set that never changes.
type fixed struct{ s *community.Set }

func (f fixed) Current() *community.Set { return f.s }

func communities() fixed {
	return fixed{community.NewSet([]*community.Community{
		{ID: "acme", Name: "Acme Alumni", Visibility: community.Private, Billing: community.Billing{Plan: community.PlanPrivate, StripePriceID: "price_acme"}},
		{ID: "partner", Name: "Partner", Visibility: community.Private, Billing: community.Billing{Plan: community.PlanEnterprise, Comp: true, CompNote: "launch partner"}},
		{ID: "open", Name: "Open", Visibility: community.Public},
	})}
}

// clock is a clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type rig struct {
	svc   *billing.Service
	store *billingstore.Store
	stand *billingtest.Stand
	url   string // webhook endpoint
	reg   *prometheus.Registry
	audit *audit.Log
	clock *clock
	comms fixed
}

func newRig(t *testing.T, db *store.DB, mock string) *rig {
	stand := billingtest.NewStand(t, mock)
	r := &rig{store: billingstore.New(db), stand: stand, reg: prometheus.NewRegistry(), audit: audit.New(db, nil), clock: &clock{t: time.Now().UTC()}, comms: communities()}
	r.svc = billing.NewService(billing.Options{
		Store: r.store, Stripe: billingstripe.New(billingstripe.Options{SecretKey: "sk_test_123", APIBase: stand.URL}),
		Communities: r.comms, Audit: r.audit, Now: r.clock.Now, Grace: 7 * 24 * time.Hour, DefaultPriceID: "price_default", Metrics: r.reg,
	})
	srv := httptest.NewServer(voyagerhttp.WebhookHandler(r.svc, secret))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

func (r *rig) post(t *testing.T, payload []byte) (int, string) {
	t.Helper()
	return billingtest.Post(t, r.url, payload, billingtest.Sign(payload, secret))
}

func (r *rig) status(t *testing.T, id string) billing.Subscription {
	t.Helper()
	s, err := r.store.Subscription(context.Background(), id)
	if err != nil {
		t.Fatalf("subscription %s: %v", id, err)
	}
	return s
}

func (r *rig) auditCount(t *testing.T) int {
	t.Helper()
	es, err := r.audit.List(context.Background(), audit.Filter{Action: "billing.subscription_changed", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

func outcome(t *testing.T, body string) string {
	t.Helper()
	var v struct {
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return v.Outcome
}

func TestWebhookLifecycle(t *testing.T) {
	t.Parallel()
	mock := billingtest.StripeMockURL(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		r := newRig(t, db, mock)
		acme, _ := r.comms.s.ByID("acme")

		// Never subscribed: read-only; the gate refuses with the code.
		err := r.svc.CanSend(ctx, acme)
		if e, ok := apperr.As(err); !ok || e.Code != billing.CodeReadOnly || e.Kind != apperr.Forbidden {
			t.Fatalf("never subscribed: got %v, want community_read_only", err)
		}

		// Checkout completes: the subscription is read from Stripe.
		r.stand.Set("sub_acme", billingtest.Sub{Status: "active", Customer: "cus_acme", CommunityID: "acme"})
		ev := billingtest.CheckoutEvent("evt_checkout", "acme", "sub_acme", "cus_acme")
		if code, body := r.post(t, ev); code != 200 || outcome(t, body) != billing.OutcomeProcessed {
			t.Fatalf("checkout: got %d %s", code, body)
		}
		s := r.status(t, "acme")
		if s.Status != billing.Active || s.CustomerID != "cus_acme" || s.SubscriptionID != "sub_acme" || s.AmountCents != 5000 || s.Interval != "month" || s.CurrentPeriodEnd.IsZero() {
			t.Fatalf("after checkout: %+v", s)
		}
		if err := r.svc.CanSend(ctx, acme); err != nil {
			t.Fatalf("active: got %v, want open", err)
		}
		audits := r.auditCount(t)
		if audits != 1 {
			t.Fatalf("audit entries: got %d, want 1", audits)
		}

		// A replay answers 200 and changes nothing.
		if code, body := r.post(t, ev); code != 200 || outcome(t, body) != billing.OutcomeDuplicate {
			t.Fatalf("replay: got %d %s", code, body)
		}
		if again := r.status(t, "acme"); !again.UpdatedAt.Equal(s.UpdatedAt) || r.auditCount(t) != audits {
			t.Fatalf("replay changed the row or the audit log")
		}

		// Payment fails: past due, open within grace, then read-only.
		r.stand.Set("sub_acme", billingtest.Sub{Status: "past_due", Customer: "cus_acme", CommunityID: "acme"})
		if code, body := r.post(t, billingtest.InvoiceEvent("evt_failed", "invoice.payment_failed", "sub_acme", "cus_acme")); code != 200 || outcome(t, body) != billing.OutcomeProcessed {
			t.Fatalf("payment failed: got %d %s", code, body)
		}
		a, _ := r.svc.Access(ctx, acme)
		if a.State != billing.StateGrace || !a.Attention || a.ReadOnly {
			t.Fatalf("past due: got %+v, want grace", a)
		}
		since := r.status(t, "acme").PastDueSince
		// Reordered: an older event arrives now; the re-read gives today's
		// state, so nothing changes and the grace clock is not reset.
		r.clock.Add(3 * 24 * time.Hour)
		if code, body := r.post(t, billingtest.SubscriptionEvent("evt_created_late", "customer.subscription.created", "sub_acme", "cus_acme", "active")); code != 200 || outcome(t, body) != billing.OutcomeStale {
			t.Fatalf("late event: got %d %s", code, body)
		}
		if got := r.status(t, "acme"); got.Status != billing.PastDue || !got.PastDueSince.Equal(since) {
			t.Fatalf("late event moved the state: %+v", got)
		}
		r.clock.Add(5 * 24 * time.Hour)
		if a, _ := r.svc.Access(ctx, acme); a.State != billing.StateReadOnly {
			t.Fatalf("past grace: got %s, want read_only", a.State)
		}

		// Stripe is down: access still comes from the database; the
		// event is refused with 503 and processed on Stripe's retry.
		r.stand.Down(true)
		if a, err := r.svc.Access(ctx, acme); err != nil || a.State != billing.StateReadOnly {
			t.Fatalf("during outage: %v %v", a.State, err)
		}
		paid := billingtest.InvoiceEvent("evt_paid", "invoice.paid", "sub_acme", "cus_acme")
		req, _ := http.NewRequest("POST", r.url, strings.NewReader(string(paid)))
		req.Header.Set("Stripe-Signature", billingtest.Sign(paid, secret))
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 503 || res.Header.Get("Retry-After") == "" {
			t.Fatalf("outage: got %v %v, want 503 with Retry-After", res.StatusCode, err)
		}
		res.Body.Close()
		r.stand.Down(false)
		r.stand.Set("sub_acme", billingtest.Sub{Status: "active", Customer: "cus_acme", CommunityID: "acme"})
		if code, body := r.post(t, paid); code != 200 || outcome(t, body) != billing.OutcomeProcessed {
			t.Fatalf("retry after outage: got %d %s", code, body)
		}
		if got := r.status(t, "acme"); got.Status != billing.Active || !got.PastDueSince.IsZero() {
			t.Fatalf("paid: %+v", got)
		}

		// Cancelled: read-only, nothing deleted.
		r.stand.Set("sub_acme", billingtest.Sub{Status: "canceled", Customer: "cus_acme", CommunityID: "acme"})
		if code, body := r.post(t, billingtest.SubscriptionEvent("evt_deleted", "customer.subscription.deleted", "sub_acme", "cus_acme", "canceled")); code != 200 || outcome(t, body) != billing.OutcomeProcessed {
			t.Fatalf("deleted: got %d %s", code, body)
		}
		if err := r.svc.CanSend(ctx, acme); !apperr.Is(err, apperr.Forbidden) {
			t.Fatalf("cancelled: got %v, want read-only", err)
		}

		// Subscribing again with a new subscription opens it; a late event
		// of the old, cancelled one does not close it again.
		r.stand.Set("sub_acme2", billingtest.Sub{Status: "active", Customer: "cus_acme", CommunityID: "acme"})
		if code, body := r.post(t, billingtest.CheckoutEvent("evt_checkout2", "acme", "sub_acme2", "cus_acme")); code != 200 || outcome(t, body) != billing.OutcomeProcessed {
			t.Fatalf("resubscribe: got %d %s", code, body)
		}
		if code, body := r.post(t, billingtest.SubscriptionEvent("evt_old_deleted", "customer.subscription.updated", "sub_acme", "cus_acme", "canceled")); code != 200 || outcome(t, body) != billing.OutcomeStale {
			t.Fatalf("old subscription's event: got %d %s", code, body)
		}
		if got := r.status(t, "acme"); got.SubscriptionID != "sub_acme2" || got.Status != billing.Active {
			t.Fatalf("after old event: %+v", got)
		}

		// Unknown communities and unhandled types are acknowledged.
		r.stand.Set("sub_other", billingtest.Sub{Status: "active", Customer: "cus_other", CommunityID: "nowhere"})
		if code, body := r.post(t, billingtest.SubscriptionEvent("evt_unknown", "customer.subscription.updated", "sub_other", "cus_other", "active")); code != 200 || outcome(t, body) != billing.OutcomeUnknownCommunity {
			t.Fatalf("unknown community: got %d %s", code, body)
		}
		if code, body := r.post(t, billingtest.Event("evt_other", "customer.created", map[string]any{"id": "cus_x", "object": "customer"})); code != 200 || outcome(t, body) != billing.OutcomeIgnored {
			t.Fatalf("unhandled type: got %d %s", code, body)
		}

		// Metrics: events by type and outcome, subscriptions by status, MRR.
		if n := testutil.ToFloat64(mustCounter(t, r.reg, "checkout.session.completed", billing.OutcomeDuplicate)); n != 1 {
			t.Fatalf("duplicate counter: got %v, want 1", n)
		}
		want := `
# HELP voyager_billing_mrr Monthly recurring revenue of active and past-due subscriptions, in the currency's major unit.
# TYPE voyager_billing_mrr gauge
voyager_billing_mrr{currency="usd"} 50
`
		if err := testutil.GatherAndCompare(r.reg, strings.NewReader(want), "voyager_billing_mrr"); err != nil {
			t.Fatal(err)
		}
		subs := gaugeValues(t, r.reg, "voyager_billing_subscriptions")
		if subs["active"] != 1 || subs["comp"] != 1 || subs["canceled"] != 0 {
			t.Fatalf("subscriptions gauge: %v", subs)
		}
	}, voyager.Migrations())
}

func mustCounter(t *testing.T, reg *prometheus.Registry, typ, outcome string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "voyager_billing_webhook_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["type"] == typ && labels["outcome"] == outcome {
				c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
				c.Add(m.GetCounter().GetValue())
				return c
			}
		}
	}
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
}

func gaugeValues(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestWebhookRefusesBadRequests: unsigned, wrongly signed, stale and
// tampered events answer 400 and change nothing; a bad body never 5xx.
func TestWebhookRefusesBadRequests(t *testing.T) {
	t.Parallel()
	mock := billingtest.StripeMockURL(t)
	db := storetest.Open(t, store.SQLite, voyager.Migrations())
	r := newRig(t, db, mock)
	r.stand.Set("sub_acme", billingtest.Sub{Status: "active", Customer: "cus_acme", CommunityID: "acme"})
	ev := billingtest.CheckoutEvent("evt_1", "acme", "sub_acme", "cus_acme")
	tampered := []byte(strings.Replace(string(ev), `"acme"`, `"other"`, 1))
	tests := []struct {
		name    string
		payload []byte
		header  string
		code    string
	}{
		{"unsigned", ev, "", "invalid_signature"},
		{"wrong secret", ev, billingtest.Sign(ev, "whsec_wrong"), "invalid_signature"},
		{"stale", ev, billingtest.SignAt(ev, secret, time.Now().Add(-6*time.Minute)), "invalid_signature"},
		{"tampered", tampered, billingtest.Sign(ev, secret), "invalid_signature"},
		{"garbled header", ev, "t=abc,v1=zz", "invalid_signature"},
		{"not JSON", []byte("{nope"), billingtest.Sign([]byte("{nope"), secret), "invalid"},
		{"not an event", []byte(`{"object":"customer","id":"cus_1"}`), billingtest.Sign([]byte(`{"object":"customer","id":"cus_1"}`), secret), "invalid"},
		{"no id", []byte(`{"object":"event","type":"invoice.paid"}`), billingtest.Sign([]byte(`{"object":"event","type":"invoice.paid"}`), secret), "invalid"},
		{"object not an object", []byte(`{"object":"event","id":"evt_x","type":"invoice.paid","data":{"object":[1]}}`), billingtest.Sign([]byte(`{"object":"event","id":"evt_x","type":"invoice.paid","data":{"object":[1]}}`), secret), "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := billingtest.Post(t, r.url, tt.payload, tt.header)
			if status != 400 || !strings.Contains(body, `"code":"`+tt.code+`"`) {
				t.Fatalf("got %d %s, want 400 %s", status, body, tt.code)
			}
		})
	}
	if _, err := r.store.Subscription(context.Background(), "acme"); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("a refused event changed the store: %v", err)
	}
	// The signed original is still accepted once.
	if code, body := r.post(t, ev); code != 200 || outcome(t, body) != billing.OutcomeProcessed {
		t.Fatalf("valid: got %d %s", code, body)
	}
}

// TestConcurrentDuplicates: the same event delivered many times at once is
// processed exactly once.
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	mock := billingtest.StripeMockURL(t)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db, mock)
		r.stand.Set("sub_acme", billingtest.Sub{Status: "active", Customer: "cus_acme", CommunityID: "acme"})
		ev := billingtest.CheckoutEvent("evt_dup", "acme", "sub_acme", "cus_acme")
		var wg sync.WaitGroup
		var mu sync.Mutex
		outcomes := map[string]int{}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, body := r.post(t, ev)
				mu.Lock()
				defer mu.Unlock()
				outcomes[outcome(t, body)+"/"+http.StatusText(code)]++
			}()
		}
		wg.Wait()
		if outcomes["processed/OK"] != 1 || outcomes["duplicate/OK"] != 7 {
			t.Fatalf("outcomes: %v", outcomes)
		}
		if n := r.auditCount(t); n != 1 {
			t.Fatalf("audit entries: got %d, want 1", n)
		}
	}, voyager.Migrations())
}

// TestCheckoutPortalAndSync runs the admin flows against stripe-mock.
func TestCheckoutPortalAndSync(t *testing.T) {
	t.Parallel()
	mock := billingtest.StripeMockURL(t)
	db := storetest.Open(t, store.SQLite, voyager.Migrations())
	r := newRig(t, db, mock)
	ctx := context.Background()
	acme, _ := r.comms.s.ByID("acme")
	open, _ := r.comms.s.ByID("open")

	if _, err := r.svc.Portal(ctx, acme, "http://x/billing"); !apperr.Is(err, apperr.Conflict) {
		t.Fatalf("portal before subscribing: got %v, want conflict", err)
	}
	if _, err := r.svc.Checkout(ctx, open, "a@example.com", "http://x/ok", "http://x/no"); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("checkout of a free community: got %v, want not found", err)
	}
	u, err := r.svc.Checkout(ctx, acme, "admin@example.com", "http://x/billing?checkout=success", "http://x/billing?checkout=canceled")
	if err != nil || !strings.HasPrefix(u, "https://checkout.stripe.com/") {
		t.Fatalf("checkout: got %q %v", u, err)
	}
	if n := r.stand.Calls("POST /v1/checkout/sessions"); n != 1 {
		t.Fatalf("checkout calls: got %d", n)
	}

	r.stand.Set("sub_acme", billingtest.Sub{Status: "active", Customer: "cus_acme", CommunityID: "acme"})
	if code, body := r.post(t, billingtest.CheckoutEvent("evt_c", "acme", "sub_acme", "cus_acme")); code != 200 {
		t.Fatalf("checkout event: %d %s", code, body)
	}
	if _, err := r.svc.Checkout(ctx, acme, "admin@example.com", "http://x/ok", "http://x/no"); !apperr.Is(err, apperr.Conflict) {
		t.Fatalf("second checkout: got %v, want conflict", err)
	}
	pu, err := r.svc.Portal(ctx, acme, "http://x/billing")
	if err != nil || pu == "" {
		t.Fatalf("portal: got %q %v", pu, err)
	}

	// Sync re-reads: Stripe now says unpaid (a missed webhook).
	r.stand.Set("sub_acme", billingtest.Sub{Status: "unpaid", Customer: "cus_acme", CommunityID: "acme"})
	res, err := r.svc.Sync(ctx)
	if err != nil || len(res) != 2 {
		t.Fatalf("sync: %+v %v", res, err)
	}
	for _, x := range res {
		if x.CommunityID == "acme" && (!x.Changed || x.Status != billing.Unpaid) {
			t.Fatalf("sync acme: %+v", x)
		}
	}
	if res, _ := r.svc.Sync(ctx); res[0].Changed || res[1].Changed {
		t.Fatalf("second sync changed: %+v", res)
	}
	// Stripe down: sync fails loudly, access unchanged.
	r.stand.Down(true)
	if _, err := r.svc.Sync(ctx); err == nil {
		t.Fatal("sync during an outage reported no error")
	}
	if a, err := r.svc.Access(ctx, acme); err != nil || a.State != billing.StateReadOnly {
		t.Fatalf("access during outage: %v %v", a.State, err)
	}
}
