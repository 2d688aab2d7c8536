// Package devmode holds DevMode's domain: runners (the companion program a
// user pairs on their own machine), pairing requests shaped like the OAuth
// device authorization grant (RFC 8628), the runner credential (a JWT
// signed with DEVMODE_JWT_SECRET, checked against the runner record on
// every connection) and the single-use tickets a browser presents to the
// relay to open a terminal on one of its own runners.
//
// The SQL lives here too (store.go), in plain statements that run on
// SQLite and PostgreSQL.
package devmode

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/store"
)

// Lifetimes and limits of the pairing flow and tickets.
const (
	PairingLifetime = 10 * time.Minute // how long a user code can be approved
	TicketLifetime  = 60 * time.Second // how long a browser ticket is valid
	// DefaultInterval is the polling interval given to runners (RFC 8628
	// §3.2 default); slow_down adds SlowDownStep to it.
	DefaultInterval = 5 * time.Second
	SlowDownStep    = 5 * time.Second
)

// JWT audiences keep a runner credential from being usable as a ticket
// and the other way round.
const (
	audRunner = "coda-runner"
	audTicket = "coda-terminal"
)

// Runner is a paired machine.
type Runner struct {
	ID         string
	UserID     string
	Name       string
	OS         string
	Arch       string
	Version    string
	CreatedAt  time.Time
	LastSeenAt *time.Time
	RevokedAt  *time.Time
}

// Pairing is a pairing request as the approving user sees it.
type Pairing struct {
	ID         string
	UserCode   string
	Name       string
	OS         string
	Arch       string
	Version    string
	IP         string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	ApprovedAt *time.Time
	DeniedAt   *time.Time
}

// Expired reports whether the request can no longer be approved at now.
func (p Pairing) Expired(now time.Time) bool { return !now.Before(p.ExpiresAt) }

// Device describes the runner asking to pair.
type Device struct {
	Name    string `json:"name"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Version string `json:"version"`
}

// Validate trims the fields and reports every bad one.
func (d *Device) Validate() error {
	d.Name = clip(strings.TrimSpace(d.Name), 80)
	d.OS = clip(strings.TrimSpace(d.OS), 32)
	d.Arch = clip(strings.TrimSpace(d.Arch), 32)
	d.Version = clip(strings.TrimSpace(d.Version), 64)
	if d.Name == "" {
		return apperr.InvalidFields("The runner must give a name.", map[string]string{"name": "required"})
	}
	return nil
}

// Options configures a Service.
type Options struct {
	DB     *store.DB
	Secret []byte // DEVMODE_JWT_SECRET
	Audit  *audit.Log
	Logger *slog.Logger
	Now    func() time.Time
	// Redis, when set, records spent tickets so that a ticket is single
	// use across several relay nodes; otherwise they are kept in memory.
	Redis redis.UniversalClient
	// Interval is the polling interval given to runners; DefaultInterval if 0.
	Interval time.Duration
	// OnRevoke is called after a runner is revoked, to disconnect it now.
	OnRevoke func(runnerID string)
}

// Service is DevMode's domain service.
type Service struct {
	o Options

	mu    sync.Mutex
	spent map[string]time.Time // ticket ID → expiry, without Redis
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.DB == nil {
		return nil, errors.New("devmode: a database is required")
	}
	if len(o.Secret) < 16 {
		return nil, errors.New("devmode: DEVMODE_JWT_SECRET must be at least 16 bytes")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	return &Service{o: o, spent: map[string]time.Time{}}, nil
}

// SetOnRevoke sets the hook called after a runner is revoked (the relay's
// disconnect), for wiring where the relay is built after the service.
func (s *Service) SetOnRevoke(f func(runnerID string)) { s.o.OnRevoke = f }

func (s *Service) now() time.Time { return s.o.Now().UTC().Truncate(time.Millisecond) }

func (s *Service) record(ctx context.Context, e audit.Entry) {
	if s.o.Audit == nil {
		return
	}
	if err := s.o.Audit.Record(ctx, e); err != nil {
		s.o.Logger.Warn("devmode audit", "action", e.Action, "err", err)
	}
}

// Audit records a DevMode event (terminal open and close come from the relay).
func (s *Service) Audit(ctx context.Context, e audit.Entry) { s.record(ctx, e) }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// newSecret returns n random bytes, base64url encoded.
func newSecret(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// userCodeAlphabet has no vowels (no words) and no look-alikes (RFC 8628 §6.1).
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// newUserCode returns a code such as WDJB-MJHT.
func newUserCode() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	out := make([]byte, 0, 9)
	for i, c := range b {
		if i == 4 {
			out = append(out, '-')
		}
		out = append(out, userCodeAlphabet[int(c)%len(userCodeAlphabet)])
	}
	return string(out)
}

// NormalizeUserCode accepts what a user types (any case, spaces or no
// dash) and returns the canonical XXXX-XXXX form, or "" if it cannot be one.
func NormalizeUserCode(in string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(in) {
		if r >= 'A' && r <= 'Z' {
			if !strings.ContainsRune(userCodeAlphabet, r) {
				return ""
			}
			b.WriteRune(r)
		}
	}
	s := b.String()
	if len(s) != 8 {
		return ""
	}
	return s[:4] + "-" + s[4:]
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
