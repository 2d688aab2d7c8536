package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/voyager/community"
)

// Options configures a Service.
type Options struct {
	Store       Store
	Stripe      Stripe // nil: Stripe is not configured (development)
	Communities Communities
	Audit       *audit.Log // nil: changes are only logged
	Logger      *slog.Logger
	Now         func() time.Time
	Grace       time.Duration // BILLING_GRACE (0: read-only as soon as past due)
	// DefaultPriceID is STRIPE_PRICE_ID.
	DefaultPriceID string
	Metrics        prometheus.Registerer // nil: no metrics
}

// Service runs billing.
type Service struct {
	o      Options
	log    *slog.Logger
	events *prometheus.CounterVec
}

// Outcomes of a webhook event, for metrics and the events table.
const (
	OutcomeProcessed        = "processed"
	OutcomeDuplicate        = "duplicate"
	OutcomeIgnored          = "ignored"
	OutcomeUnknownCommunity = "unknown_community"
	OutcomeStale            = "stale"
	OutcomeInvalidSignature = "invalid_signature"
	OutcomeBadRequest       = "bad_request"
	OutcomeFailed           = "failed"
)

// NewService returns a Service and registers its metrics.
func NewService(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Grace < 0 {
		o.Grace = DefaultGrace
	}
	s := &Service{o: o, log: o.Logger}
	s.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "voyager_billing_webhook_events_total",
		Help: "Stripe webhook events received, by event type and outcome.",
	}, []string{"type", "outcome"})
	if o.Metrics != nil {
		o.Metrics.MustRegister(s.events, &collector{s: s})
	}
	return s
}

// Configured reports whether Stripe settings are present.
func (s *Service) Configured() bool { return s.o.Stripe != nil }

// Store returns the store.
func (s *Service) Store() Store { return s.o.Store }

// Grace is the past-due grace period.
func (s *Service) Grace() time.Duration { return s.o.Grace }

// Access decides c's billing state from the database.
func (s *Service) Access(ctx context.Context, c *community.Community) (Access, error) {
	if !c.Paid() || c.Billing.Comp || s.o.Stripe == nil {
		return Decide(c, nil, s.o.Stripe != nil, s.o.Now(), s.o.Grace), nil
	}
	sub, err := s.o.Store.Subscription(ctx, c.ID)
	switch {
	case err == nil:
		return Decide(c, &sub, true, s.o.Now(), s.o.Grace), nil
	case apperr.Is(err, apperr.NotFound):
		return Decide(c, nil, true, s.o.Now(), s.o.Grace), nil
	default:
		return Access{}, err
	}
}

// CodeReadOnly is the JSON error code of a send refused because the
// community is read-only.
const CodeReadOnly = "community_read_only"

// CanSend is the chat gate: an error (403 community_read_only) when c is
// read-only for billing.
func (s *Service) CanSend(ctx context.Context, c *community.Community) error {
	a, err := s.Access(ctx, c)
	if err != nil {
		return err
	}
	if a.ReadOnly {
		return &apperr.Error{Kind: apperr.Forbidden, Code: CodeReadOnly, Message: a.Message}
	}
	return nil
}

// Checkout starts a Stripe Checkout session for c, paid by an admin whose
// email prefills the form, and returns its URL.
func (s *Service) Checkout(ctx context.Context, c *community.Community, email, successURL, cancelURL string) (string, error) {
	if err := s.paid(c); err != nil {
		return "", err
	}
	in := CheckoutInput{CommunityID: c.ID, PriceID: c.PriceID(s.o.DefaultPriceID), Email: email, SuccessURL: successURL, CancelURL: cancelURL}
	if in.PriceID == "" {
		return "", apperr.E(apperr.Unavailable, "No Stripe price is set for this community: the operator needs to set STRIPE_PRICE_ID or billing.stripePriceId.")
	}
	if sub, err := s.o.Store.Subscription(ctx, c.ID); err == nil {
		if sub.Status.Live() {
			return "", apperr.E(apperr.Conflict, "This community already has a subscription: use Manage billing.")
		}
		in.CustomerID = sub.CustomerID
	} else if !apperr.Is(err, apperr.NotFound) {
		return "", err
	}
	url, err := s.o.Stripe.Checkout(ctx, in)
	if err != nil {
		return "", s.unavailable("checkout", err)
	}
	return url, nil
}

// Portal starts a Stripe Customer Portal session for c's customer.
func (s *Service) Portal(ctx context.Context, c *community.Community, returnURL string) (string, error) {
	if err := s.paid(c); err != nil {
		return "", err
	}
	sub, err := s.o.Store.Subscription(ctx, c.ID)
	if apperr.Is(err, apperr.NotFound) || (err == nil && sub.CustomerID == "") {
		return "", apperr.E(apperr.Conflict, "There is no billing account yet: subscribe first.")
	}
	if err != nil {
		return "", err
	}
	url, err := s.o.Stripe.Portal(ctx, sub.CustomerID, returnURL)
	if err != nil {
		return "", s.unavailable("portal", err)
	}
	return url, nil
}

func (s *Service) paid(c *community.Community) error {
	if !c.Paid() {
		return apperr.E(apperr.NotFound, "This community has no billing.")
	}
	if s.o.Stripe == nil {
		return apperr.E(apperr.Unavailable, "Billing is not set up: the operator needs to set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET.")
	}
	return nil
}

// unavailable maps a failed Stripe call to 503, keeping apperr kinds the
// Stripe client already chose.
func (s *Service) unavailable(what string, err error) error {
	if _, ok := apperr.As(err); ok {
		return err
	}
	return apperr.Wrap(apperr.Unavailable, fmt.Errorf("stripe %s: %w", what, err), "Stripe could not be reached. Try again in a minute.")
}

// HandleEvent processes a verified event exactly once and returns its
// outcome. An error means the event was not processed (Stripe is asked to
// retry by a 503); its claim is released.
func (s *Service) HandleEvent(ctx context.Context, ev Event) (outcome string, err error) {
	defer func() {
		o := outcome
		if err != nil {
			o = OutcomeFailed
		}
		s.events.WithLabelValues(metricType(ev.Type), o).Inc()
	}()
	if s.o.Stripe == nil {
		return OutcomeIgnored, nil
	}
	fresh, err := s.o.Store.ClaimEvent(ctx, ev.ID, ev.Type, s.o.Now().UTC())
	if err != nil {
		return "", err
	}
	if !fresh {
		return OutcomeDuplicate, nil
	}
	cid, outcome, err := s.process(ctx, ev)
	if err != nil {
		if rerr := s.o.Store.ReleaseEvent(context.WithoutCancel(ctx), ev.ID); rerr != nil {
			s.log.Error("billing: release event", "event", ev.ID, "err", rerr.Error())
		}
		return "", err
	}
	if err := s.o.Store.FinishEvent(ctx, ev.ID, cid, outcome); err != nil {
		return "", err
	}
	log := s.log.Info
	if outcome == OutcomeUnknownCommunity {
		log = s.log.Warn
	}
	log("stripe event", "event", ev.ID, "type", ev.Type, "community", cid, "outcome", outcome)
	return outcome, nil
}

// metricType bounds the type label to the events billing knows.
func metricType(t string) string {
	if Handled[t] {
		return t
	}
	return "other"
}

func (s *Service) process(ctx context.Context, ev Event) (string, string, error) {
	if !Handled[ev.Type] {
		return "", OutcomeIgnored, nil
	}
	subID := ev.SubscriptionID
	if subID == "" && ev.CustomerID != "" {
		// An invoice without a subscription, or a checkout not yet
		// linked: fall back to the customer's stored subscription.
		if row, err := s.o.Store.ByCustomerID(ctx, ev.CustomerID); err == nil {
			subID = row.SubscriptionID
		}
	}
	if subID == "" {
		return ev.CommunityID, OutcomeIgnored, nil
	}
	// Events come out of order and more than once: the subscription is
	// read from Stripe now, never taken from the event.
	remote, err := s.o.Stripe.Subscription(ctx, subID)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return ev.CommunityID, OutcomeIgnored, nil
		}
		return "", "", s.unavailable("subscription", err)
	}
	cid, err := s.communityFor(ctx, ev, remote)
	if err != nil {
		return "", "", err
	}
	c, ok := s.o.Communities.Current().ByID(cid)
	if cid == "" || !ok || !c.Paid() {
		s.log.Warn("stripe event for an unknown or unpaid community", "event", ev.ID, "type", ev.Type, "community", cid, "subscription", subID)
		return cid, OutcomeUnknownCommunity, nil
	}
	changed, err := s.apply(ctx, c, remote, "webhook:"+ev.Type)
	if err != nil {
		return "", "", err
	}
	if !changed {
		return cid, OutcomeStale, nil
	}
	return cid, OutcomeProcessed, nil
}

// communityFor finds the community an event's subscription belongs to:
// our row for the subscription, then the checkout's client_reference_id,
// the subscription's metadata, and our row for the customer.
func (s *Service) communityFor(ctx context.Context, ev Event, remote Remote) (string, error) {
	row, err := s.o.Store.BySubscriptionID(ctx, remote.SubscriptionID)
	if err == nil {
		return row.CommunityID, nil
	}
	if !apperr.Is(err, apperr.NotFound) {
		return "", err
	}
	if ev.CommunityID != "" {
		return ev.CommunityID, nil
	}
	if remote.MetaCommunityID != "" {
		return remote.MetaCommunityID, nil
	}
	if remote.CustomerID != "" {
		row, err := s.o.Store.ByCustomerID(ctx, remote.CustomerID)
		if err == nil {
			return row.CommunityID, nil
		}
		if !apperr.Is(err, apperr.NotFound) {
			return "", err
		}
	}
	return "", nil
}

// apply stores remote as c's subscription when it differs from what is
// stored, and audits the change. A subscription that is over does not
// replace another subscription of the community that is still live (an
// old subscription's late event).
func (s *Service) apply(ctx context.Context, c *community.Community, remote Remote, source string) (bool, error) {
	now := s.o.Now().UTC()
	old, err := s.o.Store.Subscription(ctx, c.ID)
	had := err == nil
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return false, err
	}
	next := remote.Subscription
	next.CommunityID = c.ID
	next.UpdatedAt = now
	if had && old.SubscriptionID != "" && old.SubscriptionID != next.SubscriptionID && old.Status.Live() && !next.Status.Live() {
		return false, nil
	}
	if next.Status == PastDue {
		next.PastDueSince = now
		if had && old.Status == PastDue && old.SubscriptionID == next.SubscriptionID && !old.PastDueSince.IsZero() {
			next.PastDueSince = old.PastDueSince
		}
	} else {
		next.PastDueSince = time.Time{}
	}
	if next.CustomerID == "" && had {
		next.CustomerID = old.CustomerID
	}
	if had && same(old, next) {
		return false, nil
	}
	if err := s.o.Store.Save(ctx, next); err != nil {
		return false, err
	}
	before := None
	if had {
		before = old.Status
	}
	s.log.Info("billing state changed", "community", c.ID, "from", string(before), "to", string(next.Status), "subscription", next.SubscriptionID, "source", source)
	if s.o.Audit != nil {
		meta := map[string]any{"from": string(before), "to": string(next.Status), "subscription": next.SubscriptionID, "source": source}
		if !next.CurrentPeriodEnd.IsZero() {
			meta["current_period_end"] = next.CurrentPeriodEnd.Format(time.RFC3339)
		}
		if next.CancelAtPeriodEnd {
			meta["cancel_at_period_end"] = true
		}
		if err := s.o.Audit.Record(ctx, audit.Entry{Action: "billing.subscription_changed", Resource: "community", ResourceID: c.ID, Metadata: meta}); err != nil {
			s.log.Warn("billing: audit", "err", err.Error())
		}
	}
	return true, nil
}

// same reports whether two rows carry the same billing facts.
func same(a, b Subscription) bool {
	a.UpdatedAt, b.UpdatedAt = time.Time{}, time.Time{}
	return a.CustomerID == b.CustomerID && a.SubscriptionID == b.SubscriptionID && a.PriceID == b.PriceID &&
		a.Status == b.Status && a.AmountCents == b.AmountCents && a.Currency == b.Currency &&
		a.Interval == b.Interval && a.IntervalCount == b.IntervalCount &&
		a.CurrentPeriodEnd.Equal(b.CurrentPeriodEnd) && a.CancelAtPeriodEnd == b.CancelAtPeriodEnd &&
		a.PastDueSince.Equal(b.PastDueSince)
}

// SyncResult is one community's reconciliation.
type SyncResult struct {
	CommunityID string `json:"community"`
	Status      Status `json:"status"`
	Changed     bool   `json:"changed"`
	Note        string `json:"note,omitempty"`
}

// ErrNotConfigured is returned by Sync without Stripe settings.
var ErrNotConfigured = errors.New("stripe is not configured: set STRIPE_SECRET_KEY")

// Sync reconciles every paid community with Stripe: each stored
// subscription is re-read (a customer without one lists its
// subscriptions). Free and comp communities are reported and left alone.
func (s *Service) Sync(ctx context.Context) ([]SyncResult, error) {
	if s.o.Stripe == nil {
		return nil, ErrNotConfigured
	}
	var out []SyncResult
	var errs []error
	for _, c := range s.o.Communities.Current().All() {
		if !c.Paid() {
			continue
		}
		r, err := s.sync(ctx, c)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.ID, err))
			r.Note = "failed: " + err.Error()
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

func (s *Service) sync(ctx context.Context, c *community.Community) (SyncResult, error) {
	r := SyncResult{CommunityID: c.ID}
	row, err := s.o.Store.Subscription(ctx, c.ID)
	if apperr.Is(err, apperr.NotFound) {
		r.Note = "never subscribed"
		if c.Billing.Comp {
			r.Note = "complimentary, never subscribed"
		}
		return r, nil
	}
	if err != nil {
		return r, err
	}
	r.Status = row.Status
	var remote Remote
	switch {
	case row.SubscriptionID != "":
		remote, err = s.o.Stripe.Subscription(ctx, row.SubscriptionID)
		if err != nil {
			return r, err
		}
	case row.CustomerID != "":
		list, err := s.o.Stripe.CustomerSubscriptions(ctx, row.CustomerID)
		if err != nil {
			return r, err
		}
		if len(list) == 0 {
			r.Note = "customer has no subscription"
			return r, nil
		}
		remote = list[0]
	default:
		r.Note = "no Stripe IDs stored"
		return r, nil
	}
	changed, err := s.apply(ctx, c, remote, "sync")
	if err != nil {
		return r, err
	}
	r.Changed = changed
	if cur, err := s.o.Store.Subscription(ctx, c.ID); err == nil {
		r.Status = cur.Status
	}
	return r, nil
}

// Row is one paid community's billing, for `voyager billing status`.
type Row struct {
	Community *community.Community
	Access    Access
}

// Status returns every paid community's billing (or only id's).
func (s *Service) Status(ctx context.Context, id string) ([]Row, error) {
	var out []Row
	for _, c := range s.o.Communities.Current().All() {
		if id != "" && c.ID != id {
			continue
		}
		a, err := s.Access(ctx, c)
		if err != nil {
			return nil, err
		}
		if sub, err := s.o.Store.Subscription(ctx, c.ID); err == nil {
			a.Subscription = &sub
		}
		out = append(out, Row{Community: c, Access: a})
	}
	if id != "" && len(out) == 0 {
		return nil, apperr.E(apperr.NotFound, "no community %q", id)
	}
	return out, nil
}

// collector reports subscriptions by status and monthly recurring revenue
// from the database at each scrape, so every instance reports the same.
type collector struct{ s *Service }

var (
	subsDesc = prometheus.NewDesc("voyager_billing_subscriptions", "Paid communities by subscription status (none: never subscribed; comp: complimentary).", []string{"status"}, nil)
	mrrDesc  = prometheus.NewDesc("voyager_billing_mrr", "Monthly recurring revenue of active and past-due subscriptions, in the currency's major unit.", []string{"currency"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- subsDesc; ch <- mrrDesc }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.s.o.Store.Subscriptions(ctx)
	if err != nil {
		c.s.log.Warn("billing metrics", "err", err.Error())
		return
	}
	byID := map[string]Subscription{}
	for _, r := range rows {
		byID[r.CommunityID] = r
	}
	counts := map[string]float64{"none": 0, "comp": 0}
	for _, st := range Statuses {
		counts[string(st)] = 0
	}
	mrr := map[string]float64{}
	if c.s.o.Communities != nil {
		for _, cm := range c.s.o.Communities.Current().All() {
			if !cm.Paid() {
				continue
			}
			sub, ok := byID[cm.ID]
			switch {
			case cm.Billing.Comp:
				counts["comp"]++
			case !ok || sub.Status == None:
				counts["none"]++
			default:
				counts[string(sub.Status)]++
			}
			if ok && sub.Currency != "" {
				mrr[sub.Currency] += sub.MonthlyCents() / 100
			}
		}
	}
	if len(mrr) == 0 {
		mrr["usd"] = 0
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(subsDesc, prometheus.GaugeValue, n, st)
	}
	for cur, v := range mrr {
		ch <- prometheus.MustNewConstMetric(mrrDesc, prometheus.GaugeValue, v, cur)
	}
}

// CountRejected counts a webhook request refused before processing (bad
// signature or body).
func (s *Service) CountRejected(outcome string) {
	s.events.WithLabelValues("unverified", outcome).Inc()
}
