package voyager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/voyager/billing"
	"github.com/relaywork/suite/internal/voyager/billing/billingstore"
	"github.com/relaywork/suite/internal/voyager/billing/billingstripe"
	"github.com/relaywork/suite/internal/voyager/community"
	"github.com/relaywork/suite/internal/voyager/voyagerhttp"
)

// newBilling builds the billing service; without STRIPE_SECRET_KEY it runs
// unconfigured (paid communities stay open; production refuses to start
// in that case, see billingCheck).
func newBilling(p *app.Platform, reg billing.Communities) *billing.Service {
	var sc billing.Stripe
	if p.Config.StripeSecretKey != "" {
		sc = billingstripe.New(billingstripe.Options{SecretKey: p.Config.StripeSecretKey, APIBase: p.Config.StripeAPIBase})
	}
	return billing.NewService(billing.Options{
		Store: billingstore.New(p.DB), Stripe: sc, Communities: reg, Audit: p.Audit, Logger: p.Logger, Now: p.Now,
		Grace: p.Config.BillingGrace, DefaultPriceID: p.Config.StripePriceID, Metrics: p.Metrics,
	})
}

// billingRoutes maps the billing routes: the admin's billing page (on the
// platform host under /c/{cid} and at the root of a custom domain), the
// admin JSON status and Stripe's webhook.
func (s *site) billingRoutes(p *app.Platform, h *voyagerhttp.Handlers, bill *billing.Service) {
	rt := p.Router
	read := func(f http.HandlerFunc) http.Handler { return p.Read(f) }
	write := func(f http.HandlerFunc) http.Handler { return p.Write(f) }
	for _, base := range []string{"/c/{cid}", ""} {
		rt.Handle("GET "+base+"/billing", read(h.HandleBilling))
		rt.Handle("POST "+base+"/billing/checkout", write(h.HandleBillingCheckout))
		rt.Handle("POST "+base+"/billing/portal", write(h.HandleBillingPortal))
	}
	rt.Handle("GET /api/c/{cid}/billing", read(h.HandleBillingStatus))
	// Stripe calls without Origin or cookies; the signature is the guard,
	// and no rate limit (Stripe sends bursts and retries).
	rt.Handle("POST /api/stripe/webhook", voyagerhttp.WebhookHandler(bill, p.Config.StripeWebhookSecret))
}

// billingCheck is Product.Check: a paid community (not comp) needs the
// Stripe settings and a price.
func billingCheck(c *config.Config) []string {
	set, err := community.LoadDir(c.CommunitiesDir)
	if err != nil {
		return nil // `communities validate` and serve report these
	}
	var out []string
	for _, cm := range set.All() {
		if !cm.Paid() || cm.Billing.Comp {
			continue
		}
		var missing []string
		if c.StripeSecretKey == "" {
			missing = append(missing, "STRIPE_SECRET_KEY")
		}
		if c.StripeWebhookSecret == "" {
			missing = append(missing, "STRIPE_WEBHOOK_SECRET")
		}
		if cm.PriceID(c.StripePriceID) == "" {
			missing = append(missing, "STRIPE_PRICE_ID (or billing.stripePriceId in the file)")
		}
		if len(missing) > 0 {
			out = append(out, fmt.Sprintf("community %q (%s) is on the paid %q plan but %s %s not set: set them (docs/billing.md), or mark the community billing.comp", cm.ID, cm.File, cm.Billing.Plan, strings.Join(missing, ", "), isAre(len(missing))))
		}
	}
	return out
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

// billingCommand is `voyager billing status [COMMUNITY]` and
// `voyager billing sync`.
func billingCommand() app.Command {
	return app.Command{
		Name:    "billing",
		Usage:   "billing status [COMMUNITY] [--json] | billing sync",
		Summary: "paid communities' plan, subscription and access; sync re-reads every paid community's subscription from Stripe",
		Run: func(ctx context.Context, env app.Env, args []string) error {
			usage := app.Usagef("usage: voyager billing status [COMMUNITY] [--json] | voyager billing sync")
			if len(args) == 0 {
				return usage
			}
			asJSON := false
			var rest []string
			for _, a := range args[1:] {
				if a == "--json" {
					asJSON = true
					continue
				}
				rest = append(rest, a)
			}
			switch {
			case args[0] == "status" && len(rest) <= 1:
			case args[0] == "sync" && len(rest) == 0:
			default:
				return usage
			}
			return app.WithPlatform(ctx, Product(), env, func(p *app.Platform) error {
				reg, err := community.Open(p.Config.CommunitiesDir, p.Logger)
				if err != nil {
					return app.Usagef("voyager: %v", err)
				}
				svc := newBilling(p, reg)
				if args[0] == "sync" {
					return billingSync(ctx, svc, env.Stdout, asJSON)
				}
				id := ""
				if len(rest) == 1 {
					id = rest[0]
				}
				return billingStatus(ctx, svc, id, env.Stdout, asJSON, p.Now())
			})
		},
	}
}

func billingStatus(ctx context.Context, svc *billing.Service, id string, w io.Writer, asJSON bool, now time.Time) error {
	rows, err := svc.Status(ctx, id)
	if err != nil {
		return app.Usagef("voyager billing status: %v", err)
	}
	if asJSON {
		type out struct {
			Community string         `json:"community"`
			Plan      string         `json:"plan"`
			Comp      bool           `json:"comp"`
			Billing   billing.Access `json:"billing"`
		}
		list := []out{}
		for _, r := range rows {
			list = append(list, out{Community: r.Community.ID, Plan: string(planOf(r.Community)), Comp: r.Community.Billing.Comp, Billing: r.Access})
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "COMMUNITY\tPLAN\tSTATUS\tACCESS\tRENEWS/ENDS\tSUBSCRIPTION\tNOTE\n")
	for _, r := range rows {
		status, end, sub, note := "-", "-", "-", ""
		if s := r.Access.Subscription; s != nil {
			status = string(s.Status)
			if !s.CurrentPeriodEnd.IsZero() {
				end = s.CurrentPeriodEnd.Format(time.DateOnly)
			}
			sub = s.SubscriptionID
			if s.Price() != "" {
				note = s.Price()
			}
		} else if r.Community.Paid() {
			status = "none"
		}
		switch {
		case r.Community.Billing.Comp:
			note = strings.TrimSpace("complimentary " + r.Community.Billing.CompNote)
		case r.Access.State == billing.StateGrace:
			note = fmt.Sprintf("past due: read-only in %s", r.Access.GraceEnds.Sub(now).Round(time.Hour))
		case r.Access.State == billing.StateUnconfigured:
			note = "Stripe not configured: open"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Community.ID, planOf(r.Community), status, r.Access.State, end, sub, note)
	}
	return tw.Flush()
}

func planOf(c *community.Community) community.Plan {
	if c.Billing.Plan == "" {
		return community.PlanFree
	}
	return c.Billing.Plan
}

func billingSync(ctx context.Context, svc *billing.Service, w io.Writer, asJSON bool) error {
	res, err := svc.Sync(ctx)
	if errors.Is(err, billing.ErrNotConfigured) {
		return app.Usagef("voyager billing sync: %v", err)
	}
	if asJSON {
		if res == nil {
			res = []billing.SyncResult{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(res)
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "COMMUNITY\tSTATUS\tCHANGED\tNOTE\n")
		for _, r := range res {
			st := string(r.Status)
			if st == "" {
				st = "none"
			}
			fmt.Fprintf(tw, "%s\t%s\t%t\t%s\n", r.CommunityID, st, r.Changed, r.Note)
		}
		tw.Flush()
		fmt.Fprintf(w, "%d paid communities reconciled with Stripe\n", len(res))
	}
	if err != nil {
		return app.Usagef("voyager billing sync: %v", err)
	}
	return nil
}
