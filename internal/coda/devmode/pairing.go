package devmode

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/store"
)

// The device access token errors of RFC 8628 §3.5, used as error codes.
const (
	CodePending      = "authorization_pending"
	CodeSlowDown     = "slow_down"
	CodeExpiredToken = "expired_token"
	CodeAccessDenied = "access_denied"
	CodeInvalidGrant = "invalid_grant"
)

func pollError(code, msg string) *apperr.Error {
	return &apperr.Error{Kind: apperr.Invalid, Code: code, Message: msg}
}

// Started is the device authorization response (RFC 8628 §3.2).
type Started struct {
	DeviceCode string        `json:"device_code"`
	UserCode   string        `json:"user_code"`
	ExpiresIn  time.Duration `json:"-"`
	Interval   time.Duration `json:"-"`
}

// StartPairing records a pairing request from a runner at ip and returns the
// codes. The device code is returned once and only its hash is kept.
func (s *Service) StartPairing(ctx context.Context, d Device, ip string) (Started, error) {
	if err := d.Validate(); err != nil {
		return Started{}, err
	}
	now := s.now()
	device := newSecret(32)
	for attempt := 0; ; attempt++ {
		code := newUserCode()
		_, err := s.o.DB.Exec(ctx, `INSERT INTO devmode_pairings
			(id, user_code, device_hash, name, os, arch, version, ip, created_at, expires_at, interval_s)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			newID(), code, hashSecret(device), d.Name, d.OS, d.Arch, d.Version, clip(ip, 64),
			now, now.Add(PairingLifetime), int(s.o.Interval/time.Second))
		if err != nil && store.IsUniqueViolation(err) && attempt < 5 {
			continue // a user code collision: draw another
		}
		if err != nil {
			return Started{}, fmt.Errorf("start pairing: %w", err)
		}
		s.record(ctx, audit.Entry{Action: "devmode.pair.start", Resource: "devmode_pairing", ResourceID: code,
			Metadata: map[string]any{"name": d.Name, "os": d.OS, "arch": d.Arch}, IP: ip})
		return Started{DeviceCode: device, UserCode: code, ExpiresIn: PairingLifetime, Interval: s.o.Interval}, nil
	}
}

// Credential is what a runner receives once its pairing is approved.
type Credential struct {
	Token    string `json:"credential"`
	RunnerID string `json:"runner_id"`
	UserID   string `json:"-"`
}

// PollPairing answers a runner's poll with its device code: the credential
// once approved (only once), or an error whose code is one of RFC 8628's
// (authorization_pending, slow_down, expired_token, access_denied,
// invalid_grant).
func (s *Service) PollPairing(ctx context.Context, deviceCode string) (Credential, error) {
	now := s.now()
	var cred Credential
	// An answer that updates the row (pending, slow_down) must commit, so
	// it is kept aside rather than returned from the transaction.
	var answer error
	err := s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		var (
			id, userID, runnerID              sql.NullString
			expires                           time.Time
			polled, approved, denied, claimed sql.NullTime
			interval                          int
		)
		err := tx.QueryRow(ctx, `SELECT id, expires_at, interval_s, polled_at, approved_at, denied_at, claimed_at, user_id, runner_id
			FROM devmode_pairings WHERE device_hash = ?`, hashSecret(deviceCode)).
			Scan(&id, &expires, &interval, &polled, &approved, &denied, &claimed, &userID, &runnerID)
		if errors.Is(err, sql.ErrNoRows) {
			return pollError(CodeInvalidGrant, "Unknown device code.")
		}
		if err != nil {
			return fmt.Errorf("poll pairing: %w", err)
		}
		switch {
		case claimed.Valid:
			return pollError(CodeInvalidGrant, "This device code was already used.")
		case denied.Valid:
			return pollError(CodeAccessDenied, "The pairing was denied.")
		case approved.Valid:
			tok, err := s.issueCredential(runnerID.String, userID.String, now)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "UPDATE devmode_pairings SET claimed_at = ?, polled_at = ? WHERE id = ?", now, now, id.String); err != nil {
				return fmt.Errorf("claim pairing: %w", err)
			}
			cred = Credential{Token: tok, RunnerID: runnerID.String, UserID: userID.String}
			return nil
		case !now.Before(expires.UTC()):
			return pollError(CodeExpiredToken, "The pairing request expired; start again.")
		}
		iv := time.Duration(interval) * time.Second
		if polled.Valid && now.Sub(polled.Time.UTC()) < iv/2 {
			// Polling faster than asked: slow down (RFC 8628 §3.5).
			if _, err := tx.Exec(ctx, "UPDATE devmode_pairings SET polled_at = ?, interval_s = ? WHERE id = ?",
				now, interval+int(SlowDownStep/time.Second), id.String); err != nil {
				return fmt.Errorf("slow down: %w", err)
			}
			answer = pollError(CodeSlowDown, "Polling too fast; wait longer between polls.")
			return nil
		}
		if _, err := tx.Exec(ctx, "UPDATE devmode_pairings SET polled_at = ? WHERE id = ?", now, id.String); err != nil {
			return fmt.Errorf("poll pairing: %w", err)
		}
		answer = pollError(CodePending, "Waiting for the user to approve.")
		return nil
	})
	if err == nil {
		err = answer
	}
	return cred, err
}

// PairingByCode returns the pairing request with the user code, for the
// approval page. Any signed-in user may look a code up: it is the secret
// the runner showed to its user.
func (s *Service) PairingByCode(ctx context.Context, userCode string) (Pairing, error) {
	code := NormalizeUserCode(userCode)
	if code == "" {
		return Pairing{}, apperr.E(apperr.NotFound, "No pairing request has this code.")
	}
	return scanPairing(s.o.DB.QueryRow(ctx, "SELECT "+pairingColumns+" FROM devmode_pairings WHERE user_code = ?", code))
}

const pairingColumns = "id, user_code, name, os, arch, version, ip, created_at, expires_at, approved_at, denied_at"

func scanPairing(row interface{ Scan(...any) error }) (Pairing, error) {
	var p Pairing
	var approved, denied sql.NullTime
	err := row.Scan(&p.ID, &p.UserCode, &p.Name, &p.OS, &p.Arch, &p.Version, &p.IP, &p.CreatedAt, &p.ExpiresAt, &approved, &denied)
	if errors.Is(err, sql.ErrNoRows) {
		return p, apperr.E(apperr.NotFound, "No pairing request has this code.")
	}
	if err != nil {
		return p, fmt.Errorf("scan pairing: %w", err)
	}
	p.CreatedAt, p.ExpiresAt = p.CreatedAt.UTC(), p.ExpiresAt.UTC()
	p.ApprovedAt, p.DeniedAt = utcPtr(approved), utcPtr(denied)
	return p, nil
}

func utcPtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}

// Decide approves (creating the runner for userID) or denies the pairing
// request with the user code. An expired or already decided request is
// refused (Gone, Conflict).
func (s *Service) Decide(ctx context.Context, userID, userCode string, approve bool, ip string) (Pairing, error) {
	now := s.now()
	var p Pairing
	err := s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		var err error
		code := NormalizeUserCode(userCode)
		if code == "" {
			return apperr.E(apperr.NotFound, "No pairing request has this code.")
		}
		p, err = scanPairing(tx.QueryRow(ctx, "SELECT "+pairingColumns+" FROM devmode_pairings WHERE user_code = ?", code))
		if err != nil {
			return err
		}
		if p.ApprovedAt != nil || p.DeniedAt != nil {
			return apperr.E(apperr.Conflict, "This pairing request was already answered.")
		}
		if p.Expired(now) {
			return apperr.E(apperr.Gone, "This pairing request expired. Run `coda-runner pair` again for a new code.")
		}
		if !approve {
			_, err := tx.Exec(ctx, "UPDATE devmode_pairings SET denied_at = ?, user_id = ? WHERE id = ? AND approved_at IS NULL AND denied_at IS NULL", now, userID, p.ID)
			p.DeniedAt = &now
			return err
		}
		runnerID := newID()
		if _, err := tx.Exec(ctx, `INSERT INTO devmode_runners (id, user_id, name, os, arch, version, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, runnerID, userID, p.Name, p.OS, p.Arch, p.Version, now); err != nil {
			return fmt.Errorf("create runner: %w", err)
		}
		res, err := tx.Exec(ctx, "UPDATE devmode_pairings SET approved_at = ?, user_id = ?, runner_id = ? WHERE id = ? AND approved_at IS NULL AND denied_at IS NULL",
			now, userID, runnerID, p.ID)
		if err != nil {
			return fmt.Errorf("approve pairing: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return apperr.E(apperr.Conflict, "This pairing request was already answered.")
		}
		p.ApprovedAt = &now
		return nil
	})
	if err != nil {
		return p, err
	}
	action := "devmode.pair.deny"
	if approve {
		action = "devmode.pair.approve"
	}
	s.record(ctx, audit.Entry{ActorID: userID, Action: action, Resource: "devmode_pairing", ResourceID: p.UserCode,
		Metadata: map[string]any{"name": p.Name}, IP: ip})
	return p, nil
}

// CleanupPairings deletes pairing requests that expired without being
// approved (the guide's cleanup-pairings job) and returns how many.
func (s *Service) CleanupPairings(ctx context.Context) (int64, error) {
	res, err := s.o.DB.Exec(ctx, "DELETE FROM devmode_pairings WHERE approved_at IS NULL AND expires_at < ?", s.now())
	if err != nil {
		return 0, fmt.Errorf("cleanup pairings: %w", err)
	}
	return res.RowsAffected()
}
