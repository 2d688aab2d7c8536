package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
)

// DataSection is a product's part of a person's data: what the "download
// my data" file holds under Name, and what deleting the account removes.
// Products register theirs with AddDataSection while mounting.
type DataSection struct {
	Name string // the JSON key in the download, e.g. "ideas"
	// Export writes the section's JSON value (an object or array) to w.
	// It streams, so a large history never sits in memory.
	Export func(ctx context.Context, userID string, w io.Writer) error
	// Delete removes the user's rows. It runs before the user row goes;
	// tables that reference users(id) ON DELETE CASCADE need no Delete.
	Delete func(ctx context.Context, userID string) error
	// Tables are the section's tables that lose rows (or have personal
	// fields cleared) when an account is deleted; they are scrubbed
	// afterwards (store.DB.Scrub: VACUUM on PostgreSQL).
	Tables []string
	// Scrub, if set, runs after the user row is gone (cascades done), for
	// what the store cannot do generically, such as merging a full-text
	// index so deleted terms leave it.
	Scrub func(ctx context.Context) error
}

// platformTables lose rows or personal fields when an account is deleted.
var platformTables = []string{"users", "accounts", "sessions", "login_tokens", "audit_log"}

// AddDataSection registers a product's data section. Call it before
// serving; it is not safe to call concurrently with requests.
func (s *Service) AddDataSection(d DataSection) {
	s.sections = append(s.sections, d)
}

// ExportFormat names the account download's format; ExportVersion changes
// when a field changes meaning.
const (
	ExportFormat  = "account-export"
	ExportVersion = 1
)

// ExportAccount writes everything kept about the user as one JSON object:
// profile, linked sign-in methods, sessions, then each product section.
func (s *Service) ExportAccount(ctx context.Context, userID string, w io.Writer) error {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	accounts, err := s.Accounts(ctx, userID)
	if err != nil {
		return fmt.Errorf("export accounts: %w", err)
	}
	sessions, err := s.Sessions(ctx, userID)
	if err != nil {
		return fmt.Errorf("export sessions: %w", err)
	}
	type accountOut struct {
		Provider  string    `json:"provider"`
		Email     string    `json:"email,omitempty"`
		CreatedAt time.Time `json:"created_at"`
	}
	type sessionOut struct {
		Device     string    `json:"device"`
		Method     string    `json:"method"`
		IP         string    `json:"ip,omitempty"`
		CreatedAt  time.Time `json:"created_at"`
		LastSeenAt time.Time `json:"last_seen_at"`
	}
	head := struct {
		Format     string         `json:"format"`
		Version    int            `json:"version"`
		Product    string         `json:"product"`
		ExportedAt time.Time      `json:"exported_at"`
		User       map[string]any `json:"user"`
		Accounts   []accountOut   `json:"accounts"`
		Sessions   []sessionOut   `json:"sessions"`
	}{Format: ExportFormat, Version: ExportVersion, Product: s.o.Product, ExportedAt: s.now(),
		User: map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "avatar_url": u.AvatarURL, "role": u.Role,
			"email_verified_at": u.EmailVerifiedAt, "created_at": u.CreatedAt, "last_seen_at": u.LastSeenAt},
		Accounts: []accountOut{}, Sessions: []sessionOut{}}
	for _, a := range accounts {
		head.Accounts = append(head.Accounts, accountOut{a.Provider, a.Email, a.CreatedAt})
	}
	for _, x := range sessions {
		head.Sessions = append(head.Sessions, sessionOut{x.Device(), x.Method, x.IP, x.CreatedAt, x.LastSeenAt})
	}
	b, err := json.Marshal(head)
	if err != nil {
		return err
	}
	// Write the head without its closing brace, then each section.
	if _, err := w.Write(b[:len(b)-1]); err != nil {
		return err
	}
	for _, sec := range s.sections {
		if sec.Export == nil {
			continue
		}
		key, _ := json.Marshal(sec.Name)
		if _, err := fmt.Fprintf(w, ",%s:", key); err != nil {
			return err
		}
		if err := sec.Export(ctx, userID, w); err != nil {
			return fmt.Errorf("export %s: %w", sec.Name, err)
		}
	}
	_, err = io.WriteString(w, "}\n")
	return err
}

// DeleteAccount removes the user and everything of theirs: each product
// section, then the user row (sessions and linked accounts go with it),
// then any sign-in links for the address. The audit log keeps its entries
// but loses their personal details, and gains one "account_deleted" entry
// that names no address.
func (s *Service) DeleteAccount(ctx context.Context, userID string) error {
	u, err := s.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	for _, sec := range s.sections {
		if sec.Delete == nil {
			continue
		}
		if err := sec.Delete(ctx, userID); err != nil {
			return fmt.Errorf("delete %s: %w", sec.Name, err)
		}
	}
	res, err := s.o.DB.Exec(ctx, "DELETE FROM users WHERE id = ?", userID)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.E(apperr.NotFound, "No such user.")
	}
	if _, err := s.o.DB.Exec(ctx, "DELETE FROM login_tokens WHERE email = ?", u.Email); err != nil {
		s.log.Warn("delete sign-in links of a deleted user", "user_id", userID, "err", err.Error())
	}
	if s.o.Audit != nil {
		if _, err := s.o.Audit.Anonymize(ctx, userID); err != nil {
			s.log.Warn("anonymize audit log", "user_id", userID, "err", err.Error())
		}
	}
	s.record(nil, userID, "account_deleted", "user", userID, map[string]any{"sections": len(s.sections)})
	s.scrub(ctx, userID)
	s.log.Info("account deleted", "user_id", userID)
	return nil
}

// scrub overwrites what the deletion left behind in the database files:
// sections' own scrubbers, then a WAL checkpoint (SQLite) or a VACUUM of
// the affected tables (PostgreSQL). The rows are already gone, so a
// failure is logged, not returned; the next checkpoint or autovacuum
// finishes the work.
func (s *Service) scrub(ctx context.Context, userID string) {
	ctx = context.WithoutCancel(ctx)
	tables := append([]string(nil), platformTables...)
	for _, sec := range s.sections {
		tables = append(tables, sec.Tables...)
		if sec.Scrub != nil {
			if err := sec.Scrub(ctx); err != nil {
				s.log.Warn("scrub after account deletion", "section", sec.Name, "user_id", userID, "err", err.Error())
			}
		}
	}
	if err := s.o.DB.Scrub(ctx, tables...); err != nil {
		s.log.Warn("scrub after account deletion", "user_id", userID, "err", err.Error())
	}
}
