package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
)

// User is a person who can sign in.
type User struct {
	ID              string
	Email           string
	EmailVerifiedAt *time.Time
	Name            string
	AvatarURL       string
	Role            string
	CreatedAt       time.Time
	LastSeenAt      *time.Time
}

// DisplayName is the name to greet the user by: their name, else the
// part of the address before the @.
func (u *User) DisplayName() string {
	if strings.TrimSpace(u.Name) != "" {
		return u.Name
	}
	if i := strings.IndexByte(u.Email, '@'); i > 0 {
		return u.Email[:i]
	}
	return u.Email
}

// IsAdmin reports whether the user is an operator.
func (u *User) IsAdmin() bool { return u.Role == roleAdmin }

const userColumns = "id, email, email_verified_at, name, avatar_url, role, created_at, last_seen_at"

type scanner interface{ Scan(...any) error }

func scanUser(row scanner) (User, error) {
	var u User
	var verified, seen sql.NullTime
	err := row.Scan(&u.ID, &u.Email, &verified, &u.Name, &u.AvatarURL, &u.Role, &u.CreatedAt, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return u, apperr.E(apperr.NotFound, "No such user.")
	}
	if err != nil {
		return u, fmt.Errorf("scan user: %w", err)
	}
	if verified.Valid {
		t := verified.Time.UTC()
		u.EmailVerifiedAt = &t
	}
	if seen.Valid {
		t := seen.Time.UTC()
		u.LastSeenAt = &t
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return u, nil
}

// UserByID returns the user with id.
func (s *Service) UserByID(ctx context.Context, id string) (User, error) {
	return scanUser(s.o.DB.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
}

// UserByEmail returns the user with the (normalised) address.
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	e, ok := NormalizeEmail(email)
	if !ok {
		return User{}, apperr.InvalidFields("That is not an email address.", map[string]string{"email": "enter an address such as name@example.com"})
	}
	return scanUser(s.o.DB.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE email = ?", e))
}

// NewUser describes a user to find or create.
type NewUser struct {
	Email     string
	Verified  bool // the address is proven (magic link, provider's verified claim)
	Name      string
	AvatarURL string
	Role      string // "" keeps an existing user's role; new users get "user"
}

// EnsureUser returns the user with the address, creating them if needed;
// created reports which. A verified sign-in marks the address verified and
// fills an empty name or avatar.
func (s *Service) EnsureUser(ctx context.Context, n NewUser) (u User, created bool, err error) {
	email, ok := NormalizeEmail(n.Email)
	if !ok {
		return User{}, false, apperr.InvalidFields("That is not an email address.", map[string]string{"email": "enter an address such as name@example.com"})
	}
	now := s.now()
	err = s.o.DB.InTx(ctx, func(tx *store.Tx) error {
		u, err = scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE email = ?", email))
		if apperr.Is(err, apperr.NotFound) {
			role := n.Role
			if role == "" {
				role = roleUser
			}
			var verified *time.Time
			if n.Verified {
				verified = &now
			}
			u = User{ID: newID(), Email: email, EmailVerifiedAt: verified, Name: clip(n.Name, 200), AvatarURL: clip(n.AvatarURL, 2048), Role: role, CreatedAt: now}
			_, err = tx.Exec(ctx, "INSERT INTO users (id, email, email_verified_at, name, avatar_url, role, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
				u.ID, u.Email, verified, u.Name, u.AvatarURL, u.Role, u.CreatedAt)
			created = err == nil
			return err
		}
		if err != nil {
			return err
		}
		if n.Verified && u.EmailVerifiedAt == nil {
			u.EmailVerifiedAt = &now
		}
		if u.Name == "" && n.Name != "" {
			u.Name = clip(n.Name, 200)
		}
		if u.AvatarURL == "" && n.AvatarURL != "" {
			u.AvatarURL = clip(n.AvatarURL, 2048)
		}
		if n.Role != "" {
			u.Role = n.Role
		}
		_, err = tx.Exec(ctx, "UPDATE users SET email_verified_at = ?, name = ?, avatar_url = ?, role = ? WHERE id = ?",
			u.EmailVerifiedAt, u.Name, u.AvatarURL, u.Role, u.ID)
		return err
	})
	if store.IsUniqueViolation(err) {
		// Another request created the same user at the same moment.
		u, err = s.UserByEmail(ctx, email)
		return u, false, err
	}
	if err != nil {
		return User{}, false, fmt.Errorf("ensure user: %w", err)
	}
	return u, created, nil
}

// SetName changes the user's display name.
func (s *Service) SetName(ctx context.Context, userID, name string) error {
	name = strings.TrimSpace(name)
	if len(name) > 200 {
		return apperr.InvalidFields("The name is too long.", map[string]string{"name": "at most 200 characters"})
	}
	_, err := s.o.DB.Exec(ctx, "UPDATE users SET name = ? WHERE id = ?", name, userID)
	return err
}

// accountUser returns the user linked to (provider, subject).
func (s *Service) accountUser(ctx context.Context, provider, subject string) (User, error) {
	return scanUser(s.o.DB.QueryRow(ctx, "SELECT u."+strings.ReplaceAll(userColumns, ", ", ", u.")+
		" FROM accounts a JOIN users u ON u.id = a.user_id WHERE a.provider = ? AND a.subject = ?", provider, subject))
}

// linkAccount records that (provider, subject) signs in as userID.
func (s *Service) linkAccount(ctx context.Context, userID, provider, subject, email string) error {
	_, err := s.o.DB.Exec(ctx, "INSERT INTO accounts (provider, subject, user_id, email, created_at) VALUES (?, ?, ?, ?, ?)",
		provider, subject, userID, email, s.now())
	if store.IsUniqueViolation(err) {
		return nil
	}
	return err
}

// Account is a linked sign-in method.
type Account struct {
	Provider  string // the provider's ID: google, linkedin, oidc
	Name      string // what the sign-in page calls it: Google, LinkedIn, OIDC_NAME
	Email     string
	CreatedAt time.Time
}

// Accounts lists the user's linked providers.
func (s *Service) Accounts(ctx context.Context, userID string) ([]Account, error) {
	rows, err := s.o.DB.Query(ctx, "SELECT provider, email, created_at FROM accounts WHERE user_id = ? ORDER BY created_at", userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		if err := rows.Scan(&a.Provider, &a.Email, &a.CreatedAt); err != nil {
			return nil, err
		}
		a.Name = a.Provider
		if p, ok := s.providers[a.Provider]; ok {
			a.Name = p.Name
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// UserQuery narrows ListUsers.
type UserQuery struct {
	Search string // part of the address or name, case-insensitive
	Role   string // "" for every role
	Limit  int    // 50 when 0, at most 200
	Offset int
}

// ListUsers returns the users matching q, newest first, and how many match
// in all (for the operators' console).
func (s *Service) ListUsers(ctx context.Context, q UserQuery) ([]User, int, error) {
	var where []string
	var args []any
	if t := strings.ToLower(strings.TrimSpace(q.Search)); t != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(t) + "%"
		where = append(where, `(email LIKE ? ESCAPE '\' OR LOWER(name) LIKE ? ESCAPE '\')`)
		args = append(args, like, like)
	}
	if q.Role != "" {
		where = append(where, "role = ?")
		args = append(args, q.Role)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.o.DB.QueryRow(ctx, "SELECT COUNT(*) FROM users"+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 200)
	rows, err := s.o.DB.Query(ctx, "SELECT "+userColumns+" FROM users"+cond+" ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
		append(args, limit, max(q.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, u)
	}
	return out, total, rows.Err()
}

// SetRole makes the user an operator (RoleAdmin) or a plain user.
func (s *Service) SetRole(ctx context.Context, userID, role string) error {
	if role != roleAdmin && role != roleUser {
		return apperr.InvalidFields("Unknown role.", map[string]string{"role": "must be admin or user"})
	}
	res, err := s.o.DB.Exec(ctx, "UPDATE users SET role = ? WHERE id = ?", role, userID)
	if err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.E(apperr.NotFound, "No such user.")
	}
	return nil
}

// Counts are the figures of the operators' overview.
type Counts struct {
	Users    int64 // every user
	Admins   int64
	Sessions int64 // sessions not expired
}

// Count returns how many users and live sessions there are.
func (s *Service) Count(ctx context.Context) (Counts, error) {
	var c Counts
	now := s.now()
	err := s.o.DB.QueryRow(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN role = ? THEN 1 ELSE 0 END), 0) FROM users", roleAdmin).Scan(&c.Users, &c.Admins)
	if err != nil {
		return c, fmt.Errorf("count users: %w", err)
	}
	err = s.o.DB.QueryRow(ctx, "SELECT COUNT(*) FROM sessions WHERE idle_expires_at > ? AND expires_at > ?", now, now).Scan(&c.Sessions)
	if err != nil {
		return c, fmt.Errorf("count sessions: %w", err)
	}
	return c, nil
}
