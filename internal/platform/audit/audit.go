// Package audit keeps the append-only audit log: who did what to which
// resource, when and from where. Entries are never updated or deleted; the
// one exception is Anonymize, which strips personal details from a deleted
// account's entries while keeping the rows themselves.
package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/store"
)

// MaxUserAgent is the longest user agent kept, in bytes.
const MaxUserAgent = 512

// DefaultLimit and MaxLimit bound how many entries List returns.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Entry is one audit record. ActorID is empty for actions taken by the
// system (a cron job, the CLI).
type Entry struct {
	ID         string
	At         time.Time
	ActorID    string
	Action     string // what happened, e.g. "idea.delete"
	Resource   string // the kind of thing acted on, e.g. "idea"
	ResourceID string
	Metadata   map[string]any
	IP         string
	UserAgent  string
}

// Filter narrows List. Zero fields match everything.
type Filter struct {
	ActorID  string
	Action   string
	Resource string
	Limit    int       // DefaultLimit if 0, at most MaxLimit
	Before   time.Time // only entries strictly older than this
	After    time.Time // only entries at or after this
}

// Log writes and reads the audit log.
type Log struct {
	db  *store.DB
	now func() time.Time
}

// New returns a Log on db; now defaults to time.Now.
func New(db *store.DB, now func() time.Time) *Log {
	if now == nil {
		now = time.Now
	}
	return &Log{db: db, now: now}
}

// Record appends e, filling ID (a UUIDv7) and At (now, UTC) when empty.
// Action and Resource are required.
func (l *Log) Record(ctx context.Context, e Entry) error {
	fields := map[string]string{}
	if strings.TrimSpace(e.Action) == "" {
		fields["action"] = "required"
	}
	if strings.TrimSpace(e.Resource) == "" {
		fields["resource"] = "required"
	}
	if len(fields) > 0 {
		return apperr.InvalidFields("audit entry is incomplete", fields)
	}
	if e.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("audit id: %w", err)
		}
		e.ID = id.String()
	}
	if e.At.IsZero() {
		e.At = l.now()
	}
	// PostgreSQL keeps microseconds; trim so both stores return what was written.
	e.At = e.At.UTC().Truncate(time.Microsecond)
	meta := []byte("{}")
	if len(e.Metadata) > 0 {
		b, err := json.Marshal(e.Metadata)
		if err != nil {
			return fmt.Errorf("audit metadata: %w", err)
		}
		meta = b
	}
	_, err := l.db.Exec(ctx, `INSERT INTO audit_log (id, at, actor_id, action, resource, resource_id, metadata, ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.At, nullable(e.ActorID), e.Action, e.Resource, nullable(e.ResourceID), string(meta),
		nullable(e.IP), nullable(truncateUTF8(e.UserAgent, MaxUserAgent)))
	if err != nil {
		return fmt.Errorf("record audit entry %s: %w", e.Action, err)
	}
	return nil
}

// FromRequest returns e with IP (httpapi.ClientIP) and UserAgent (at most
// MaxUserAgent bytes) taken from r, unless e already has them.
func (l *Log) FromRequest(r *http.Request, e Entry) Entry {
	if e.IP == "" {
		e.IP = httpapi.ClientIP(r)
	}
	if e.UserAgent == "" {
		e.UserAgent = r.UserAgent()
	}
	e.UserAgent = truncateUTF8(e.UserAgent, MaxUserAgent)
	return e
}

// List returns the entries matching f, newest first.
func (l *Log) List(ctx context.Context, f Filter) ([]Entry, error) {
	var (
		where []string
		args  []any
	)
	if f.ActorID != "" {
		where = append(where, "actor_id = ?")
		args = append(args, f.ActorID)
	}
	if f.Action != "" {
		where = append(where, "action = ?")
		args = append(args, f.Action)
	}
	if f.Resource != "" {
		where = append(where, "resource = ?")
		args = append(args, f.Resource)
	}
	if !f.Before.IsZero() {
		where = append(where, "at < ?")
		args = append(args, f.Before.UTC())
	}
	if !f.After.IsZero() {
		where = append(where, "at >= ?")
		args = append(args, f.After.UTC())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	q := `SELECT id, at, actor_id, action, resource, resource_id, metadata, ip, user_agent FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY at DESC, id DESC LIMIT ?"
	args = append(args, limit)

	rows, err := l.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var (
			e                    Entry
			actor, resID, ip, ua sql.NullString
			meta                 []byte
		)
		if err := rows.Scan(&e.ID, &e.At, &actor, &e.Action, &e.Resource, &resID, &meta, &ip, &ua); err != nil {
			return nil, fmt.Errorf("list audit log: %w", err)
		}
		e.At = e.At.UTC()
		e.ActorID, e.ResourceID, e.IP, e.UserAgent = actor.String, resID.String, ip.String, ua.String
		e.Metadata = map[string]any{}
		if len(meta) > 0 {
			if err := json.Unmarshal(meta, &e.Metadata); err != nil {
				return nil, fmt.Errorf("audit entry %s metadata: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return out, nil
}

// Count returns how many entries of action were recorded in [from, to).
func (l *Log) Count(ctx context.Context, action string, from, to time.Time) (int64, error) {
	var n int64
	err := l.db.QueryRow(ctx, "SELECT COUNT(*) FROM audit_log WHERE action = ? AND at >= ? AND at < ?", action, from.UTC(), to.UTC()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count audit log: %w", err)
	}
	return n, nil
}

// Actions lists the distinct actions recorded, for filter menus.
func (l *Log) Actions(ctx context.Context) ([]string, error) {
	rows, err := l.db.Query(ctx, "SELECT DISTINCT action FROM audit_log ORDER BY action")
	if err != nil {
		return nil, fmt.Errorf("list audit actions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Anonymize strips the personal details (metadata, IP, user agent) from
// every entry of actorID and reports how many entries it touched. The
// entries themselves stay, so the history of actions is kept.
func (l *Log) Anonymize(ctx context.Context, actorID string) (int64, error) {
	if actorID == "" {
		return 0, apperr.E(apperr.Invalid, "an actor ID is required")
	}
	res, err := l.db.Exec(ctx, `UPDATE audit_log SET metadata = '{}', ip = NULL, user_agent = NULL WHERE actor_id = ?`, actorID)
	if err != nil {
		return 0, fmt.Errorf("anonymize audit log: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("anonymize audit log: %w", err)
	}
	return n, nil
}

// nullable stores an empty string as NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	// Drop the bytes of a character the cut split in two.
	for i := 0; i < utf8.UTFMax-1 && len(s) > 0; i++ {
		r, size := utf8.DecodeLastRuneInString(s)
		if r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1]
	}
	return s
}
