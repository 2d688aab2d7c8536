// Package billingstripe is billing.Stripe on stripe-go: subscriptions,
// Checkout and Customer Portal sessions, and webhook events verified with
// stripe-go's webhook package (Stripe's t=…,v1=… signature scheme).
package billingstripe

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/voyager/billing"
)

// Options configures a Client.
type Options struct {
	SecretKey string // STRIPE_SECRET_KEY
	// APIBase is STRIPE_API_BASE: empty for https://api.stripe.com, or
	// stripe-mock's address in tests.
	APIBase    string
	HTTPClient *http.Client // nil: a client with a 15 s timeout
}

// Client implements billing.Stripe.
type Client struct{ sc *stripe.Client }

var _ billing.Stripe = (*Client)(nil)

// New returns a Client.
func New(o Options) *Client {
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 15 * time.Second}
	}
	retries := int64(1)
	cfg := &stripe.BackendConfig{
		HTTPClient:        hc,
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		MaxNetworkRetries: &retries,
		EnableTelemetry:   stripe.Bool(false),
	}
	if o.APIBase != "" {
		cfg.URL = stripe.String(strings.TrimRight(o.APIBase, "/"))
	}
	return &Client{sc: stripe.NewClient(o.SecretKey, stripe.WithBackends(stripe.NewBackendsWithConfig(cfg)))}
}

// Subscription implements billing.Stripe.
func (c *Client) Subscription(ctx context.Context, id string) (billing.Remote, error) {
	s, err := c.sc.V1Subscriptions.Retrieve(ctx, id, nil)
	if err != nil {
		return billing.Remote{}, mapErr(err)
	}
	return remote(s), nil
}

// CustomerSubscriptions implements billing.Stripe.
func (c *Client) CustomerSubscriptions(ctx context.Context, customerID string) ([]billing.Remote, error) {
	p := &stripe.SubscriptionListParams{Customer: stripe.String(customerID), Status: stripe.String("all")}
	p.Limit = stripe.Int64(10)
	var out []billing.Remote
	for s, err := range c.sc.V1Subscriptions.List(ctx, p).All(ctx) {
		if err != nil {
			return nil, mapErr(err)
		}
		out = append(out, remote(s))
		if len(out) == 10 {
			break
		}
	}
	return out, nil
}

// Checkout implements billing.Stripe.
func (c *Client) Checkout(ctx context.Context, in billing.CheckoutInput) (string, error) {
	p := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		ClientReferenceID: stripe.String(in.CommunityID),
		LineItems:         []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String(in.PriceID), Quantity: stripe.Int64(1)}},
		SuccessURL:        stripe.String(in.SuccessURL),
		CancelURL:         stripe.String(in.CancelURL),
		SubscriptionData:  &stripe.CheckoutSessionCreateSubscriptionDataParams{Metadata: map[string]string{"community_id": in.CommunityID}},
	}
	p.AddMetadata("community_id", in.CommunityID)
	switch {
	case in.CustomerID != "":
		p.Customer = stripe.String(in.CustomerID)
	case in.Email != "":
		p.CustomerEmail = stripe.String(in.Email)
	}
	s, err := c.sc.V1CheckoutSessions.Create(ctx, p)
	if err != nil {
		return "", mapErr(err)
	}
	if s.URL == "" {
		return "", apperr.E(apperr.Unavailable, "Stripe returned no checkout address. Try again in a minute.")
	}
	return s.URL, nil
}

// Portal implements billing.Stripe.
func (c *Client) Portal(ctx context.Context, customerID, returnURL string) (string, error) {
	s, err := c.sc.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{Customer: stripe.String(customerID), ReturnURL: stripe.String(returnURL)})
	if err != nil {
		return "", mapErr(err)
	}
	return s.URL, nil
}

// mapErr gives Stripe's errors a kind: 404 is NotFound, another 4xx is
// Invalid with Stripe's message (it names the parameter, never a secret),
// and the rest (network, 5xx, 429) is Unavailable.
func mapErr(err error) error {
	var se *stripe.Error
	if errors.As(err, &se) {
		switch {
		case se.HTTPStatusCode == http.StatusNotFound:
			return apperr.Wrap(apperr.NotFound, err, "Stripe has no such object.")
		case se.HTTPStatusCode == http.StatusUnauthorized:
			return apperr.Wrap(apperr.Unavailable, err, "Stripe refused the API key: check STRIPE_SECRET_KEY.")
		case se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != http.StatusTooManyRequests:
			msg := "Stripe refused the request"
			if se.Msg != "" {
				msg += ": " + se.Msg
			}
			return apperr.Wrap(apperr.Invalid, err, msg)
		}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return apperr.Wrap(apperr.Unavailable, err, "Stripe could not be reached. Try again in a minute.")
	}
	return apperr.Wrap(apperr.Unavailable, err, "Stripe could not be reached. Try again in a minute.")
}

func remote(s *stripe.Subscription) billing.Remote {
	r := billing.Remote{Subscription: billing.Subscription{
		SubscriptionID:    s.ID,
		Status:            billing.Status(s.Status),
		Currency:          string(s.Currency),
		CancelAtPeriodEnd: s.CancelAtPeriodEnd || s.CancelAt > 0 && billing.Status(s.Status).Live(),
	}}
	if s.Customer != nil {
		r.CustomerID = s.Customer.ID
	}
	r.MetaCommunityID = s.Metadata["community_id"]
	if s.Items != nil {
		var end int64
		for _, it := range s.Items.Data {
			if it == nil {
				continue
			}
			q := max(it.Quantity, 1)
			if it.Price != nil {
				if r.PriceID == "" {
					r.PriceID = it.Price.ID
				}
				r.AmountCents += it.Price.UnitAmount * q
				if r.Currency == "" {
					r.Currency = string(it.Price.Currency)
				}
				if it.Price.Recurring != nil && r.Interval == "" {
					r.Interval = string(it.Price.Recurring.Interval)
					r.IntervalCount = it.Price.Recurring.IntervalCount
				}
			}
			end = max(end, it.CurrentPeriodEnd)
		}
		if end > 0 {
			r.CurrentPeriodEnd = time.Unix(end, 0).UTC()
		}
	}
	return r
}

// Tolerance is how old a signed webhook may be: Stripe's 5 minutes.
const Tolerance = 5 * time.Minute

// ParseEvent verifies payload against the Stripe-Signature header with
// secret (STRIPE_WEBHOOK_SECRET) and returns the event's IDs. An error
// means the request is refused with 400: ErrSignature for a missing, wrong
// or stale signature, another for a body that is no Stripe event.
//
// The event's API version is not required to match stripe-go's: only IDs
// are read from the object, and the subscription is re-read from Stripe.
func ParseEvent(payload []byte, header, secret string) (billing.Event, error) {
	ev, err := webhook.ConstructEventWithOptions(payload, header, secret, webhook.ConstructEventOptions{Tolerance: Tolerance, IgnoreAPIVersionMismatch: true})
	if err != nil {
		if errors.Is(err, webhook.ErrNotSigned) || errors.Is(err, webhook.ErrInvalidHeader) || errors.Is(err, webhook.ErrNoValidSignature) || errors.Is(err, webhook.ErrTooOld) {
			return billing.Event{}, &SignatureError{err: err}
		}
		return billing.Event{}, apperr.Wrap(apperr.Invalid, err, "The body is not a Stripe event.")
	}
	if ev.ID == "" || ev.Type == "" {
		return billing.Event{}, apperr.E(apperr.Invalid, "The event has no id or type.")
	}
	out := billing.Event{ID: ev.ID, Type: string(ev.Type)}
	if ev.Data == nil || len(ev.Data.Raw) == 0 {
		return out, nil
	}
	var obj struct {
		Object            string            `json:"object"`
		ID                string            `json:"id"`
		ClientReferenceID string            `json:"client_reference_id"`
		Customer          json.RawMessage   `json:"customer"`
		Subscription      json.RawMessage   `json:"subscription"`
		Metadata          map[string]string `json:"metadata"`
		Parent            *struct {
			SubscriptionDetails *struct {
				Subscription json.RawMessage   `json:"subscription"`
				Metadata     map[string]string `json:"metadata"`
			} `json:"subscription_details"`
		} `json:"parent"`
	}
	if err := json.Unmarshal(ev.Data.Raw, &obj); err != nil {
		return billing.Event{}, apperr.Wrap(apperr.Invalid, err, "The event's object is not a JSON object.")
	}
	out.CustomerID = idOf(obj.Customer)
	out.CommunityID = obj.Metadata["community_id"]
	switch obj.Object {
	case "subscription":
		out.SubscriptionID = obj.ID
	case "checkout.session":
		out.SubscriptionID = idOf(obj.Subscription)
		if obj.ClientReferenceID != "" {
			out.CommunityID = obj.ClientReferenceID
		}
	case "invoice":
		out.SubscriptionID = idOf(obj.Subscription)
		if d := obj.Parent; d != nil && d.SubscriptionDetails != nil {
			if out.SubscriptionID == "" {
				out.SubscriptionID = idOf(d.SubscriptionDetails.Subscription)
			}
			if out.CommunityID == "" {
				out.CommunityID = d.SubscriptionDetails.Metadata["community_id"]
			}
		}
	default:
		out.SubscriptionID = idOf(obj.Subscription)
	}
	return out, nil
}

// idOf reads an ID that Stripe sends either as a string or as an expanded
// object with an id.
func idOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.ID
	}
	return ""
}

// SignatureError is a webhook whose Stripe-Signature is missing, wrong or
// older than Tolerance.
type SignatureError struct{ err error }

func (e *SignatureError) Error() string { return "stripe signature: " + e.err.Error() }
func (e *SignatureError) Unwrap() error { return e.err }

// IsSignature reports whether err is a SignatureError.
func IsSignature(err error) bool {
	var se *SignatureError
	return errors.As(err, &se)
}
