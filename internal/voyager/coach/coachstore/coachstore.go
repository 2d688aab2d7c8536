// Package coachstore is coach.Store on SQLite or PostgreSQL.
package coachstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/voyager/coach"
)

// Store is the SQL store.
type Store struct{ db *store.DB }

var _ coach.Store = (*Store)(nil)

// New returns a Store on db.
func New(db *store.DB) *Store { return &Store{db: db} }

func notFound(what string) error { return apperr.E(apperr.NotFound, "%s not found", what) }

// Profile returns the member's profile (empty when never saved).
func (s *Store) Profile(ctx context.Context, communityID, userID string) (coach.Profile, error) {
	p := coach.Profile{CommunityID: communityID, UserID: userID}
	err := s.db.QueryRow(ctx, `SELECT current_job, experience, goals, target_roles, location, notes, updated_at
		FROM voyager_profiles WHERE community_id = ? AND user_id = ?`, communityID, userID).
		Scan(&p.CurrentRole, &p.Experience, &p.Goals, &p.TargetRoles, &p.Location, &p.Notes, &p.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return p, nil
	}
	return p, err
}

// PutProfile saves p.
func (s *Store) PutProfile(ctx context.Context, p coach.Profile) error {
	_, err := s.db.Exec(ctx, `INSERT INTO voyager_profiles (community_id, user_id, current_job, experience, goals, target_roles, location, notes, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (community_id, user_id) DO UPDATE SET current_job = excluded.current_job, experience = excluded.experience,
		goals = excluded.goals, target_roles = excluded.target_roles, location = excluded.location, notes = excluded.notes, updated_at = excluded.updated_at`,
		p.CommunityID, p.UserID, p.CurrentRole, p.Experience, p.Goals, p.TargetRoles, p.Location, p.Notes, p.UpdatedAt)
	return err
}

// Memories lists the member's memories, oldest first.
func (s *Store) Memories(ctx context.Context, communityID, userID string) ([]coach.Memory, error) {
	rows, err := s.db.Query(ctx, `SELECT id, text, status, message_id, created_at, updated_at FROM voyager_memories
		WHERE community_id = ? AND user_id = ? ORDER BY created_at, id`, communityID, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []coach.Memory
	for rows.Next() {
		m := coach.Memory{CommunityID: communityID, UserID: userID}
		if err := rows.Scan(&m.ID, &m.Text, &m.Status, &m.MessageID, &m.CreatedAt, &m.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Known implements coach.Store: the profile's row (k 0), the memories
// (k 1, oldest first) and, if DocumentsForContext has any, one row (k 2).
func (s *Store) Known(ctx context.Context, communityID, userID, conversationID string) (coach.Profile, []coach.Memory, bool, error) {
	p := coach.Profile{CommunityID: communityID, UserID: userID}
	rows, err := s.db.Query(ctx, `SELECT 0 AS k, '' AS id, current_job AS a, experience AS b, goals AS c, target_roles AS d, location AS e, notes AS f, updated_at AS t
		FROM voyager_profiles WHERE community_id = ? AND user_id = ?
		UNION ALL
		SELECT 1, id, text, status, '', '', '', '', created_at FROM voyager_memories WHERE community_id = ? AND user_id = ?
		UNION ALL
		SELECT 2, '', '', '', '', '', '', '', NULL FROM (SELECT 1 AS one FROM voyager_documents
			WHERE community_id = ? AND user_id = ? AND (conversation_id = '' OR conversation_id = ?) LIMIT 1) d
		ORDER BY k, t, id`, communityID, userID, communityID, userID, communityID, userID, conversationID)
	if err != nil {
		return p, nil, false, fmt.Errorf("coach context: %w", err)
	}
	defer rows.Close()
	var ms []coach.Memory
	docs := false
	for rows.Next() {
		var k int
		var id, a, b, c, d, e, f string
		var t any // the order only (a compound query's column has no declared type on SQLite)
		if err := rows.Scan(&k, &id, &a, &b, &c, &d, &e, &f, &t); err != nil {
			return p, nil, false, fmt.Errorf("coach context: %w", err)
		}
		switch k {
		case 0:
			p.CurrentRole, p.Experience, p.Goals, p.TargetRoles, p.Location, p.Notes = a, b, c, d, e, f
		case 1:
			ms = append(ms, coach.Memory{ID: id, CommunityID: communityID, UserID: userID, Text: a, Status: b})
		case 2:
			docs = true
		}
	}
	return p, ms, docs, rows.Err()
}

// AddMemory stores m.
func (s *Store) AddMemory(ctx context.Context, m coach.Memory) error {
	_, err := s.db.Exec(ctx, `INSERT INTO voyager_memories (id, community_id, user_id, text, status, message_id, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, m.ID, m.CommunityID, m.UserID, m.Text, m.Status, m.MessageID, m.CreatedAt, m.UpdatedAt)
	return err
}

// UpdateMemory sets the text (when not empty) and the status (when not
// empty) of the member's memory id.
func (s *Store) UpdateMemory(ctx context.Context, communityID, userID, id, text, status string, now time.Time) (coach.Memory, error) {
	res, err := s.db.Exec(ctx, `UPDATE voyager_memories SET
		text = CASE WHEN ? = '' THEN text ELSE ? END,
		status = CASE WHEN ? = '' THEN status ELSE ? END,
		updated_at = ?
		WHERE id = ? AND community_id = ? AND user_id = ?`, text, text, status, status, now, id, communityID, userID)
	if err != nil {
		return coach.Memory{}, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return coach.Memory{}, notFound("memory")
	}
	m := coach.Memory{ID: id, CommunityID: communityID, UserID: userID}
	err = s.db.QueryRow(ctx, `SELECT text, status, message_id, created_at, updated_at FROM voyager_memories WHERE id = ?`, id).
		Scan(&m.Text, &m.Status, &m.MessageID, &m.CreatedAt, &m.UpdatedAt)
	return m, err
}

// DeleteMemory removes the member's memory id.
func (s *Store) DeleteMemory(ctx context.Context, communityID, userID, id string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM voyager_memories WHERE id = ? AND community_id = ? AND user_id = ?`, id, communityID, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("memory")
	}
	return nil
}

// AddDocument stores d and counts its tokens in the day's usage, in one
// transaction, refusing when the limit would be passed.
func (s *Store) AddDocument(ctx context.Context, d coach.Document, day string, limit int) (used int, ok bool, err error) {
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO voyager_usage (community_id, user_id, day, answers, document_tokens) VALUES (?, ?, ?, 0, 0)
			ON CONFLICT (community_id, user_id, day) DO NOTHING`, d.CommunityID, d.UserID, day); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT document_tokens FROM voyager_usage WHERE community_id = ? AND user_id = ? AND day = ?`, d.CommunityID, d.UserID, day).Scan(&used); err != nil {
			return err
		}
		if limit > 0 && used+d.Tokens > limit {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE voyager_usage SET document_tokens = document_tokens + ? WHERE community_id = ? AND user_id = ? AND day = ?`, d.Tokens, d.CommunityID, d.UserID, day); err != nil {
			return err
		}
		data := d.Data
		if data == nil {
			data = []byte{}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO voyager_documents (id, community_id, user_id, conversation_id, name, kind, media_type, size, pages, tokens, text, data, blob_key, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.ID, d.CommunityID, d.UserID, d.ConversationID, d.Name, d.Kind, d.MediaType, d.Size, d.Pages, d.Tokens, d.Text, data, d.BlobKey, d.CreatedAt); err != nil {
			return err
		}
		used += d.Tokens
		ok = true
		return nil
	})
	return used, ok, err
}

const docColumns = `id, conversation_id, name, kind, media_type, size, pages, tokens, blob_key, created_at`

func scanDoc(sc interface{ Scan(...any) error }, d *coach.Document, extra ...any) error {
	return sc.Scan(append([]any{&d.ID, &d.ConversationID, &d.Name, &d.Kind, &d.MediaType, &d.Size, &d.Pages, &d.Tokens, &d.BlobKey, &d.CreatedAt}, extra...)...)
}

// BlobKeys lists the keys of every file of userID kept outside the
// database (account deletion removes them).
func (s *Store) BlobKeys(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT blob_key FROM voyager_documents WHERE user_id = ? AND blob_key <> ''`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// Documents lists the member's documents of a conversation (or, with
// conversationID empty, of the profile), without their contents.
func (s *Store) Documents(ctx context.Context, communityID, userID, conversationID string) ([]coach.Document, error) {
	rows, err := s.db.Query(ctx, `SELECT `+docColumns+` FROM voyager_documents
		WHERE community_id = ? AND user_id = ? AND conversation_id = ? ORDER BY created_at, id`, communityID, userID, conversationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []coach.Document
	for rows.Next() {
		d := coach.Document{CommunityID: communityID, UserID: userID}
		if err := scanDoc(rows, &d); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// DocumentsForContext returns the profile's and the conversation's
// documents with text and data, profile first.
func (s *Store) DocumentsForContext(ctx context.Context, communityID, userID, conversationID string) ([]coach.Document, error) {
	rows, err := s.db.Query(ctx, `SELECT `+docColumns+`, text, data FROM voyager_documents
		WHERE community_id = ? AND user_id = ? AND (conversation_id = '' OR conversation_id = ?)
		ORDER BY CASE WHEN conversation_id = '' THEN 0 ELSE 1 END, created_at, id`, communityID, userID, conversationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []coach.Document
	for rows.Next() {
		d := coach.Document{CommunityID: communityID, UserID: userID}
		if err := scanDoc(rows, &d, &d.Text, &d.Data); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Document returns the member's document id with its data.
func (s *Store) Document(ctx context.Context, communityID, userID, id string) (coach.Document, error) {
	d := coach.Document{CommunityID: communityID, UserID: userID}
	err := scanDoc(s.db.QueryRow(ctx, `SELECT `+docColumns+`, text, data FROM voyager_documents WHERE id = ? AND community_id = ? AND user_id = ?`, id, communityID, userID), &d, &d.Text, &d.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return coach.Document{}, notFound("document")
	}
	return d, err
}

// DeleteDocument removes the member's document id.
func (s *Store) DeleteDocument(ctx context.Context, communityID, userID, id string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM voyager_documents WHERE id = ? AND community_id = ? AND user_id = ?`, id, communityID, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("document")
	}
	return nil
}

// CachedAnswer returns the unexpired answer under key.
func (s *Store) CachedAnswer(ctx context.Context, key string, now time.Time) (coach.CachedAnswer, bool, error) {
	a := coach.CachedAnswer{Key: key}
	err := s.db.QueryRow(ctx, `SELECT community_id, content, provider, model, input_tokens, output_tokens, cost_micros, created_at, expires_at
		FROM voyager_answer_cache WHERE key = ? AND expires_at > ?`, key, now).
		Scan(&a.CommunityID, &a.Content, &a.Provider, &a.Model, &a.Usage.Input, &a.Usage.Output, &a.CostMicros, &a.CreatedAt, &a.ExpiresAt)
	if errors.Is(err, sql.ErrNoRows) {
		return coach.CachedAnswer{}, false, nil
	}
	return a, err == nil, err
}

// PutCachedAnswer stores (or replaces) a.
func (s *Store) PutCachedAnswer(ctx context.Context, a coach.CachedAnswer) error {
	_, err := s.db.Exec(ctx, `INSERT INTO voyager_answer_cache (key, community_id, content, provider, model, input_tokens, output_tokens, cost_micros, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET content = excluded.content, provider = excluded.provider, model = excluded.model,
		input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens, cost_micros = excluded.cost_micros,
		created_at = excluded.created_at, expires_at = excluded.expires_at`,
		a.Key, a.CommunityID, a.Content, a.Provider, a.Model, a.Usage.Input, a.Usage.Output, a.CostMicros, a.CreatedAt, a.ExpiresAt)
	return err
}

// PurgeCache deletes expired answers.
func (s *Store) PurgeCache(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.db.Exec(ctx, `DELETE FROM voyager_answer_cache WHERE expires_at <= ?`, now)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
