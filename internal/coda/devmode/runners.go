package devmode

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
)

const runnerColumns = "id, user_id, name, os, arch, version, created_at, last_seen_at, revoked_at"

func scanRunner(row interface{ Scan(...any) error }) (Runner, error) {
	var r Runner
	var seen, revoked sql.NullTime
	err := row.Scan(&r.ID, &r.UserID, &r.Name, &r.OS, &r.Arch, &r.Version, &r.CreatedAt, &seen, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return r, apperr.E(apperr.NotFound, "No such runner.")
	}
	if err != nil {
		return r, fmt.Errorf("scan runner: %w", err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	r.LastSeenAt, r.RevokedAt = utcPtr(seen), utcPtr(revoked)
	return r, nil
}

// Runners returns the user's runners that are not revoked, oldest first.
func (s *Service) Runners(ctx context.Context, userID string) ([]Runner, error) {
	rows, err := s.o.DB.Query(ctx, "SELECT "+runnerColumns+" FROM devmode_runners WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id", userID)
	if err != nil {
		return nil, fmt.Errorf("list runners: %w", err)
	}
	defer rows.Close()
	var out []Runner
	for rows.Next() {
		r, err := scanRunner(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Runner returns one of the user's runners; another user's, a revoked or
// an unknown one is NotFound alike.
func (s *Service) Runner(ctx context.Context, userID, id string) (Runner, error) {
	r, err := scanRunner(s.o.DB.QueryRow(ctx, "SELECT "+runnerColumns+" FROM devmode_runners WHERE id = ?", id))
	if err != nil {
		return r, err
	}
	if r.UserID != userID || r.RevokedAt != nil {
		return Runner{}, apperr.E(apperr.NotFound, "No such runner.")
	}
	return r, nil
}

// Rename changes the name of one of the user's runners.
func (s *Service) Rename(ctx context.Context, userID, id, name string) error {
	name = clip(strings.TrimSpace(name), 80)
	if name == "" {
		return apperr.InvalidFields("Give the runner a name.", map[string]string{"name": "required"})
	}
	res, err := s.o.DB.Exec(ctx, "UPDATE devmode_runners SET name = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL", name, id, userID)
	if err != nil {
		return fmt.Errorf("rename runner: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.E(apperr.NotFound, "No such runner.")
	}
	return nil
}

// Revoke refuses the runner's credential from now on and disconnects it.
func (s *Service) Revoke(ctx context.Context, userID, id, ip string) error {
	res, err := s.o.DB.Exec(ctx, "UPDATE devmode_runners SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL", s.now(), id, userID)
	if err != nil {
		return fmt.Errorf("revoke runner: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.E(apperr.NotFound, "No such runner.")
	}
	if s.o.OnRevoke != nil {
		s.o.OnRevoke(id)
	}
	s.record(ctx, audit.Entry{ActorID: userID, Action: "devmode.runner.revoke", Resource: "devmode_runner", ResourceID: id, IP: ip})
	return nil
}

// Seen records that a runner connected, with what it announced.
func (s *Service) Seen(ctx context.Context, id string, d Device) error {
	_ = d.Validate()
	q := "UPDATE devmode_runners SET last_seen_at = ?"
	args := []any{s.now()}
	if d.OS != "" {
		q += ", os = ?, arch = ?, version = ?"
		args = append(args, d.OS, d.Arch, d.Version)
	}
	_, err := s.o.DB.Exec(context.WithoutCancel(ctx), q+" WHERE id = ?", append(args, id)...)
	return err
}

// claims is the body of a runner credential or a ticket.
type claims struct {
	UserID   string `json:"uid"`
	RunnerID string `json:"rid"`
	jwt.RegisteredClaims
}

func (s *Service) sign(c claims) (string, error) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.o.Secret)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return tok, nil
}

func (s *Service) parse(token, aud string) (claims, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.o.Secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(aud), jwt.WithTimeFunc(s.o.Now),
		jwt.WithExpirationRequired())
	if err != nil || c.RunnerID == "" || c.UserID == "" {
		return c, apperr.E(apperr.Unauthorized, "The credential is not valid.")
	}
	return c, nil
}

// issueCredential signs a runner credential. It carries a far expiry only
// because the JWT library requires one here; what makes it valid is the
// runner record, checked on every connection.
func (s *Service) issueCredential(runnerID, userID string, now time.Time) (string, error) {
	return s.sign(claims{UserID: userID, RunnerID: runnerID, RegisteredClaims: jwt.RegisteredClaims{
		Subject: runnerID, Audience: jwt.ClaimStrings{audRunner}, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.AddDate(10, 0, 0)), ID: newSecret(9),
	}})
}

// Identity is who a runner connection or a ticket speaks for.
type Identity struct {
	UserID   string
	RunnerID string
}

// AuthenticateRunner checks a runner credential: its signature, then the
// runner record (it must exist, belong to the same user and not be revoked).
func (s *Service) AuthenticateRunner(ctx context.Context, token string) (Identity, error) {
	c, err := s.parse(token, audRunner)
	if err != nil {
		return Identity{}, err
	}
	r, err := scanRunner(s.o.DB.QueryRow(ctx, "SELECT "+runnerColumns+" FROM devmode_runners WHERE id = ?", c.RunnerID))
	if err != nil || r.UserID != c.UserID || r.RevokedAt != nil {
		if err != nil && !apperr.Is(err, apperr.NotFound) {
			return Identity{}, err
		}
		return Identity{}, apperr.E(apperr.Unauthorized, "This runner was revoked or is unknown; pair it again.")
	}
	return Identity{UserID: r.UserID, RunnerID: r.ID}, nil
}

// Ticket is a browser's short-lived, single-use pass to one terminal on one
// of its own runners.
type Ticket struct {
	Token     string
	ExpiresAt time.Time
}

// IssueTicket gives the user a ticket for their runner id.
func (s *Service) IssueTicket(ctx context.Context, userID, runnerID string) (Ticket, error) {
	if _, err := s.Runner(ctx, userID, runnerID); err != nil {
		return Ticket{}, err
	}
	now := s.o.Now().UTC()
	exp := now.Add(TicketLifetime)
	tok, err := s.sign(claims{UserID: userID, RunnerID: runnerID, RegisteredClaims: jwt.RegisteredClaims{
		Subject: userID, Audience: jwt.ClaimStrings{audTicket}, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp), ID: newSecret(16),
	}})
	return Ticket{Token: tok, ExpiresAt: exp}, err
}

// RedeemTicket checks a ticket and spends it: a second redemption, an
// expired ticket or one for a runner since revoked is refused.
func (s *Service) RedeemTicket(ctx context.Context, token string) (Identity, error) {
	c, err := s.parse(token, audTicket)
	if err != nil {
		return Identity{}, apperr.E(apperr.Unauthorized, "The terminal ticket is not valid or has expired.")
	}
	if !s.spend(ctx, c.ID, c.ExpiresAt.Time) {
		return Identity{}, apperr.E(apperr.Unauthorized, "The terminal ticket was already used.")
	}
	if _, err := s.Runner(ctx, c.UserID, c.RunnerID); err != nil {
		return Identity{}, err
	}
	return Identity{UserID: c.UserID, RunnerID: c.RunnerID}, nil
}

// spend marks the ticket ID used and reports whether it was unused.
func (s *Service) spend(ctx context.Context, id string, exp time.Time) bool {
	if s.o.Redis != nil {
		ok, err := s.o.Redis.SetNX(ctx, "devmode:ticket:"+id, 1, time.Until(exp)+time.Minute).Result()
		if err == nil {
			return ok
		}
		s.o.Logger.Warn("devmode ticket spend in redis failed; using memory", "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.o.Now()
	for k, e := range s.spent {
		if now.After(e.Add(time.Minute)) {
			delete(s.spent, k)
		}
	}
	if _, used := s.spent[id]; used {
		return false
	}
	s.spent[id] = exp
	return true
}
