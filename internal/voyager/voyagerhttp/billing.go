package voyagerhttp

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/voyager/billing"
	"github.com/relaywork/suite/internal/voyager/billing/billingstripe"
	"github.com/relaywork/suite/internal/voyager/community"
)

// maxWebhookBody bounds a Stripe event (they are a few KB).
const maxWebhookBody = 512 << 10

// billingView is what community pages show about billing: the admin
// banner and the read-only notice.
type billingView struct {
	billing.Access
	URL string // the billing page
}

// billingFor returns c's billing state for a page; nil when billing does
// not apply or cannot be read (a page never fails for it).
func (h *Handlers) billingFor(r *http.Request, s *scope) *billingView {
	if h.o.Billing == nil || !s.c.Paid() {
		return nil
	}
	a, err := h.o.Billing.Access(r.Context(), s.c)
	if err != nil {
		obs.Logger(r.Context()).Warn("billing state", "community", s.c.ID, "err", err.Error())
		return nil
	}
	return &billingView{Access: a, URL: s.base + "/billing"}
}

// billingAdmin is member plus: a community admin of a paid community with
// billing on. Anyone else gets 404.
func (h *Handlers) billingAdmin(w http.ResponseWriter, r *http.Request, api bool) (*scope, bool) {
	s, ok := h.member(w, r, api)
	if !ok {
		return nil, false
	}
	if !s.isAdmin() {
		h.violation(r, s, "billing by a non-admin")
		h.notFound(w, r, api)
		return nil, false
	}
	if h.o.Billing == nil || !s.c.Paid() {
		h.notFound(w, r, api)
		return nil, false
	}
	return s, true
}

// HandleBilling handles GET /c/{cid}/billing: plan, status, next renewal,
// Subscribe and Manage billing, for community admins.
func (h *Handlers) HandleBilling(w http.ResponseWriter, r *http.Request) {
	s, ok := h.billingAdmin(w, r, false)
	if !ok {
		return
	}
	a, err := h.o.Billing.Access(r.Context(), s.c)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	sub, err := h.o.Billing.Store().Subscription(r.Context(), s.c.ID)
	hasSub := err == nil
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		h.fail(w, r, false, err)
		return
	}
	flash := ""
	switch r.URL.Query().Get("checkout") {
	case "success":
		flash = "Thank you. Stripe is confirming the payment; reload this page in a few seconds to see the subscription."
		if hasSub && sub.Status.Live() {
			flash = "Thank you: the subscription is active."
		}
	case "canceled":
		flash = "Checkout was cancelled; nothing was charged."
	}
	h.page(w, r, s, http.StatusOK, "billing.html", "Billing", map[string]any{
		"Access":      a,
		"HasSub":      hasSub,
		"Sub":         sub,
		"Plan":        planLabel(s.c.Billing.Plan),
		"Configured":  h.o.Billing.Configured(),
		"CanPortal":   hasSub && sub.CustomerID != "",
		"CanCheckout": h.o.Billing.Configured() && !s.c.Billing.Comp && (!hasSub || !sub.Status.Live()),
		"Flash":       flash,
		"Grace":       graceText(h.o.Billing.Grace()),
	})
}

func planLabel(p community.Plan) string {
	switch p {
	case community.PlanEnterprise:
		return "White-label enterprise"
	case community.PlanPrivate:
		return "Private community"
	}
	return "Free"
}

// graceText writes BILLING_GRACE for people ("7 days").
func graceText(d time.Duration) string {
	h := d.Hours()
	switch {
	case h >= 48 && int(h)%24 == 0:
		return itoa(int(h)/24) + " days"
	case h == 24:
		return "1 day"
	case h >= 1:
		return itoa(int(h)) + " hours"
	}
	return "no time"
}

func itoa(n int) string { return strconv.Itoa(n) }

// billingBase is the community's own address for Stripe's return links:
// its custom domain when it has one, else where this request came.
func (h *Handlers) billingBase(r *http.Request, s *scope) string {
	if len(s.c.Branding.Domains) > 0 {
		scheme := "https"
		if u, err := url.Parse(h.o.PublicURL); err == nil && u.Scheme == "http" {
			scheme = "http"
		}
		return scheme + "://" + community.NormalizeHost(s.c.Branding.Domains[0]) + "/billing"
	}
	return baseURL(r) + s.base + "/billing"
}

// HandleBillingCheckout handles POST /c/{cid}/billing/checkout: it starts a
// Stripe Checkout session (subscription mode, client_reference_id the
// community) and sends the admin there.
func (h *Handlers) HandleBillingCheckout(w http.ResponseWriter, r *http.Request) {
	s, ok := h.billingAdmin(w, r, false)
	if !ok {
		return
	}
	base := h.billingBase(r, s)
	u, err := h.o.Billing.Checkout(r.Context(), s.c, s.user.Email, base+"?checkout=success", base+"?checkout=canceled")
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	h.auditBilling(r, s, "billing.checkout_started")
	h.toStripe(w, r, s, u, "Opening Stripe Checkout")
}

// HandleBillingPortal handles POST /c/{cid}/billing/portal: a Stripe
// Customer Portal session (card, invoices, cancel).
func (h *Handlers) HandleBillingPortal(w http.ResponseWriter, r *http.Request) {
	s, ok := h.billingAdmin(w, r, false)
	if !ok {
		return
	}
	u, err := h.o.Billing.Portal(r.Context(), s.c, h.billingBase(r, s))
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	h.auditBilling(r, s, "billing.portal_opened")
	h.toStripe(w, r, s, u, "Opening Stripe billing")
}

// toStripe sends the browser on to a Stripe page. Not with a redirect:
// the pages' CSP (form-action 'self') also covers where a form's redirect
// leads, so the form's answer is a page that moves on by itself.
func (h *Handlers) toStripe(w http.ResponseWriter, r *http.Request, s *scope, to, heading string) {
	if u, err := url.Parse(to); err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		h.fail(w, r, false, apperr.E(apperr.Unavailable, "Stripe returned an address we cannot open. Try again in a minute."))
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	h.page(w, r, s, http.StatusOK, "billing-redirect.html", heading, map[string]any{"To": template.URL(to), "Heading": heading})
}

func (h *Handlers) auditBilling(r *http.Request, s *scope, action string) {
	if h.o.Audit == nil {
		return
	}
	if err := h.o.Audit.Record(r.Context(), h.o.Audit.FromRequest(r, audit.Entry{ActorID: s.user.ID, Action: action, Resource: "community", ResourceID: s.c.ID})); err != nil {
		obs.Logger(r.Context()).Warn("audit", "err", err.Error())
	}
}

// HandleBillingStatus handles GET /api/c/{cid}/billing (community admins):
// the community's billing state as JSON.
func (h *Handlers) HandleBillingStatus(w http.ResponseWriter, r *http.Request) {
	s, ok := h.billingAdmin(w, r, true)
	if !ok {
		return
	}
	a, err := h.o.Billing.Access(r.Context(), s.c)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if sub, err := h.o.Billing.Store().Subscription(r.Context(), s.c.ID); err == nil {
		a.Subscription = &sub
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"community": s.c.ID, "plan": s.c.Billing.Plan, "comp": s.c.Billing.Comp, "billing": a})
}

// WebhookHandler serves POST /api/stripe/webhook: it verifies Stripe's
// signature with secret and hands the event to svc. A missing, wrong or
// stale signature and a body that is no event answer 400; a processed,
// ignored or replayed event 200; a failure to process (database or Stripe
// unreachable) 503 with Retry-After, so Stripe retries.
func WebhookHandler(svc *billing.Service, secret string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if svc == nil || !svc.Configured() || secret == "" {
			httpapi.Error(w, r, apperr.E(apperr.NotFound, "Billing is not configured on this server."))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				svc.CountRejected(billing.OutcomeBadRequest)
				httpapi.Error(w, r, &apperr.Error{Kind: apperr.TooLarge, Message: "The event is larger than 512 KB."})
				return
			}
			svc.CountRejected(billing.OutcomeBadRequest)
			httpapi.Error(w, r, apperr.E(apperr.Invalid, "The body could not be read."))
			return
		}
		ev, err := billingstripe.ParseEvent(body, r.Header.Get("Stripe-Signature"), secret)
		if err != nil {
			if billingstripe.IsSignature(err) {
				svc.CountRejected(billing.OutcomeInvalidSignature)
				obs.Logger(r.Context()).Warn("stripe webhook refused", "reason", errors.Unwrap(err).Error())
				httpapi.Error(w, r, &apperr.Error{Kind: apperr.Invalid, Code: "invalid_signature", Message: "The Stripe-Signature header is missing, wrong or older than 5 minutes."})
				return
			}
			svc.CountRejected(billing.OutcomeBadRequest)
			httpapi.Error(w, r, err)
			return
		}
		outcome, err := svc.HandleEvent(r.Context(), ev)
		if err != nil {
			if !apperr.Is(err, apperr.Unavailable) {
				obs.Logger(r.Context()).Error("stripe webhook", "event", ev.ID, "type", ev.Type, "err", err.Error())
				err = apperr.Wrap(apperr.Unavailable, err, "The event could not be processed now; Stripe will retry it.")
			}
			w.Header().Set("Retry-After", "60")
			httpapi.Error(w, r, err)
			return
		}
		httpapi.Write(w, http.StatusOK, map[string]any{"received": true, "event": ev.ID, "outcome": outcome})
	}
}
