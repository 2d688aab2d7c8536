// Package apitoken keeps Coda's personal API tokens: a user creates a
// named token to script their ideas with "Authorization: Bearer …", and
// can revoke it. Only a SHA-256 hash of each token is stored; the token
// itself is shown once, when it is created.
package apitoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
)

// Prefix starts every token, so a leaked one is easy to recognise.
const Prefix = "coda_pat_"

// Limits on tokens.
const (
	MaxNameRunes = 80
	MaxPerUser   = 50
	// touchEvery is how stale last_used_at may get before a use updates it,
	// so a busy script does not write on every request.
	touchEvery = time.Minute
)

// Token is a personal API token (without its secret).
type Token struct {
	ID         string
	UserID     string
	Name       string
	Hint       string // the last four characters, to tell tokens apart
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// Store keeps tokens in the product database.
type Store struct {
	db  *store.DB
	now func() time.Time
}

// New returns a Store; now defaults to time.Now.
func New(db *store.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// Create makes a token named name and returns it with its secret, which
// is never shown again.
func (s *Store) Create(ctx context.Context, userID, name string) (Token, string, error) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name):
		return Token{}, "", apperr.InvalidFields("The name is not valid.", map[string]string{"name": "must be valid UTF-8 text"})
	case name == "":
		return Token{}, "", apperr.InvalidFields("Give the token a name.", map[string]string{"name": "is required"})
	case utf8.RuneCountInString(name) > MaxNameRunes:
		return Token{}, "", apperr.InvalidFields("The name is too long.", map[string]string{"name": fmt.Sprintf("must be at most %d characters", MaxNameRunes)})
	}
	var n int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL`, userID).Scan(&n); err != nil {
		return Token{}, "", fmt.Errorf("count tokens: %w", err)
	}
	if n >= MaxPerUser {
		return Token{}, "", apperr.E(apperr.Conflict, "You already have %d tokens; revoke one first.", n)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Token{}, "", err
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	t := Token{ID: uuid.Must(uuid.NewV7()).String(), UserID: userID, Name: name, Hint: secret[len(secret)-4:], CreatedAt: s.clock()}
	_, err := s.db.Exec(ctx, `INSERT INTO api_tokens (id, user_id, name, token_hash, hint, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.UserID, t.Name, hash(secret), t.Hint, t.CreatedAt)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, nil
}

// List returns the user's live tokens, newest first.
func (s *Store) List(ctx context.Context, userID string) ([]Token, error) {
	rows, err := s.db.Query(ctx, `SELECT id, user_id, name, hint, created_at, last_used_at FROM api_tokens
		WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at DESC, id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []Token{}
	for rows.Next() {
		var (
			t    Token
			used sql.NullTime
		)
		if err := rows.Scan(&t.ID, &t.UserID, &t.Name, &t.Hint, &t.CreatedAt, &used); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.CreatedAt = t.CreatedAt.UTC()
		if used.Valid {
			u := used.Time.UTC()
			t.LastUsedAt = &u
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Revoke ends a token of the user; another user's token is not found.
func (s *Store) Revoke(ctx context.Context, userID, id string) error {
	res, err := s.db.Exec(ctx, `UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL`, s.clock(), id, userID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.E(apperr.NotFound, "No such token.")
	}
	return nil
}

// Authenticate returns the user a live token belongs to, or an apperr
// Unauthorized.
func (s *Store) Authenticate(ctx context.Context, secret string) (string, error) {
	bad := apperr.E(apperr.Unauthorized, "The API token is not valid or has been revoked.")
	if !strings.HasPrefix(secret, Prefix) || len(secret) > 200 {
		return "", bad
	}
	var (
		id, userID string
		used       sql.NullTime
	)
	err := s.db.QueryRow(ctx, `SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL`, hash(secret)).Scan(&id, &userID, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return "", bad
	}
	if err != nil {
		return "", fmt.Errorf("check token: %w", err)
	}
	now := s.clock()
	if !used.Valid || now.Sub(used.Time) >= touchEvery {
		if _, err := s.db.Exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, now, id); err != nil {
			return "", fmt.Errorf("touch token: %w", err)
		}
	}
	return userID, nil
}
