package billingstripe_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
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

// fakeStripe answers re-reads without a network, so the fuzzer is quick
// and hermetic: every subscription is active and names the community in
// its ID after "sub_" when it has one.
type fakeStripe struct{}

func (fakeStripe) Subscription(_ context.Context, id string) (billing.Remote, error) {
	if id == "sub_missing" {
		return billing.Remote{}, apperr.E(apperr.NotFound, "no such subscription")
	}
	return billing.Remote{Subscription: billing.Subscription{SubscriptionID: id, CustomerID: "cus_fuzz", Status: billing.Active, AmountCents: 5000, Currency: "usd", Interval: "month", IntervalCount: 1}, MetaCommunityID: "acme"}, nil
}
func (fakeStripe) CustomerSubscriptions(context.Context, string) ([]billing.Remote, error) {
	return nil, nil
}
func (fakeStripe) Checkout(context.Context, billing.CheckoutInput) (string, error) { return "", nil }
func (fakeStripe) Portal(context.Context, string, string) (string, error)          { return "", nil }

type fixed struct{ s *community.Set }

func (f fixed) Current() *community.Set { return f.s }

const secret = "whsec_fuzz"

// FuzzWebhook feeds arbitrary bodies, correctly signed, through the whole
// webhook handler (signature check, parsing, exactly-once processing,
// the re-read and the store): nothing panics and nothing answers 5xx.
func FuzzWebhook(f *testing.F) {
	f.Add(billingtest.CheckoutEvent("evt_seed1", "acme", "sub_acme", "cus_acme"))
	f.Add(billingtest.SubscriptionEvent("evt_seed2", "customer.subscription.updated", "sub_acme", "cus_acme", "past_due"))
	f.Add(billingtest.InvoiceEvent("evt_seed3", "invoice.payment_failed", "sub_acme", "cus_acme"))
	f.Add(billingtest.Event("evt_seed4", "invoice.paid", map[string]any{"object": "invoice", "subscription": map[string]any{"id": "sub_missing"}}))
	f.Add([]byte(`{"object":"event","id":"evt_x","type":"customer.subscription.deleted","data":{"object":{"object":"subscription","id":7}}}`))
	f.Add([]byte(`{}`))
	db := storetest.Open(f, store.SQLite, voyager.Migrations())
	set := community.NewSet([]*community.Community{{ID: "acme", Name: "Acme", Billing: community.Billing{Plan: community.PlanPrivate}}})
	svc := billing.NewService(billing.Options{Store: billingstore.New(db), Stripe: fakeStripe{}, Communities: fixed{set}, Grace: time.Hour})
	h := voyagerhttp.WebhookHandler(svc, secret)
	f.Fuzz(func(t *testing.T, body []byte) {
		// Parsing alone, then through the handler.
		if ev, err := billingstripe.ParseEvent(body, billingtest.Sign(body, secret), secret); err == nil && ev.ID == "" {
			t.Fatal("parsed an event without an id")
		}
		req := httptest.NewRequest(http.MethodPost, "/api/stripe/webhook", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", billingtest.Sign(body, secret))
		rec := httptest.NewRecorder()
		h(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		// The same body again is a replay or the same refusal, never 5xx.
		rec = httptest.NewRecorder()
		req = httptest.NewRequest(http.MethodPost, "/api/stripe/webhook", bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", billingtest.Sign(body, secret))
		h(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("replay: status %d", rec.Code)
		}
	})
}
