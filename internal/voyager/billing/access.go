package billing

import (
	"time"

	"github.com/relaywork/suite/internal/voyager/community"
)

// State is what a community's billing means for its members.
type State string

// The states.
const (
	StateFree         State = "free"         // not a paid plan: untouched by billing
	StateComp         State = "comp"         // paid plan, complimentary in the community file
	StateUnconfigured State = "unconfigured" // development without Stripe settings: open
	StateOpen         State = "open"         // active or trialing
	StateGrace        State = "grace"        // past due, within BILLING_GRACE: open, admins warned
	StateReadOnly     State = "read_only"    // unpaid, cancelled, past grace or never subscribed
)

// Access is a community's billing state at one moment.
type Access struct {
	State State `json:"state"`
	// ReadOnly: members read and export, but send no new messages.
	ReadOnly bool `json:"read_only"`
	// Attention: admins see "billing needs attention" (past due in grace,
	// or read-only).
	Attention bool `json:"attention"`
	// GraceEnds is when a past-due community becomes read-only.
	GraceEnds time.Time `json:"grace_ends,omitzero"`
	// Message explains a read-only community to members.
	Message      string        `json:"message,omitempty"`
	Subscription *Subscription `json:"subscription,omitempty"`
}

// DefaultGrace is BILLING_GRACE's default.
const DefaultGrace = 7 * 24 * time.Hour

// Decide is the access rule: free and comp communities are open; a paid
// community is open while its subscription is active or trialing, open with
// an admin warning while past due within grace, and read-only otherwise.
// configured false (no Stripe settings, development only) keeps paid
// communities open. sub is nil when the community never subscribed.
func Decide(c *community.Community, sub *Subscription, configured bool, now time.Time, grace time.Duration) Access {
	a := Access{Subscription: sub}
	switch {
	case !c.Paid():
		a.State = StateFree
		return a
	case c.Billing.Comp:
		a.State = StateComp
		return a
	case !configured:
		a.State = StateUnconfigured
		return a
	}
	status := None
	if sub != nil {
		status = sub.Status
	}
	switch status {
	case Active, Trialing:
		a.State = StateOpen
		return a
	case PastDue:
		since := sub.PastDueSince
		if since.IsZero() {
			since = sub.UpdatedAt
		}
		a.GraceEnds = since.Add(grace)
		if now.Before(a.GraceEnds) {
			a.State, a.Attention = StateGrace, true
			return a
		}
	}
	a.State, a.ReadOnly, a.Attention = StateReadOnly, true, true
	switch status {
	case None, Incomplete, IncompleteExpired:
		a.Message = c.Name + " is read-only until a community admin starts its subscription. You can read and download your conversations; new messages are paused."
	default:
		a.Message = c.Name + " is read-only: its subscription has lapsed. You can read and download your conversations; new messages are paused until a community admin renews it."
	}
	return a
}
