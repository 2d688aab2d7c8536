// Package chatstore is chat.Store on the platform's SQL database (SQLite
// or PostgreSQL).
package chatstore

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/chat"
)

// Store implements chat.Store.
type Store struct {
	db     *store.DB
	group  store.Group[*writeReq] // StartTurn and FinishMessage share commits
	recent *recent                // finished messages' text, for History
}

var _ chat.Store = (*Store)(nil)

// New returns a Store on db.
func New(db *store.DB) *Store {
	s := &Store{db: db, recent: newRecent(recentMaxBytes, recentTTL)}
	s.group.Commit, s.group.MaxLeaders = s.commitGroup, maxLeaders(db.Dialect)
	return s
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.E(apperr.NotFound, "%s not found", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Membership implements chat.Store.
func (s *Store) Membership(ctx context.Context, communityID, userID string) (chat.Membership, error) {
	m := chat.Membership{CommunityID: communityID, UserID: userID}
	err := s.db.QueryRow(ctx, `SELECT role, created_at FROM voyager_memberships WHERE community_id = ? AND user_id = ?`, communityID, userID).Scan(&m.Role, &m.CreatedAt)
	if err != nil {
		return m, notFound(err, "membership")
	}
	return m, nil
}

// Join implements chat.Store.
func (s *Store) Join(ctx context.Context, m chat.Membership) (chat.Membership, error) {
	_, err := s.db.Exec(ctx, `INSERT INTO voyager_memberships (community_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (community_id, user_id) DO NOTHING`, m.CommunityID, m.UserID, string(m.Role), m.CreatedAt.UTC())
	if err != nil {
		return m, fmt.Errorf("join: %w", err)
	}
	return s.Membership(ctx, m.CommunityID, m.UserID)
}

// SetRole implements chat.Store.
func (s *Store) SetRole(ctx context.Context, communityID, userID string, role chat.Role) error {
	res, err := s.db.Exec(ctx, `UPDATE voyager_memberships SET role = ? WHERE community_id = ? AND user_id = ?`, string(role), communityID, userID)
	return affected(res, err, "membership")
}

// Memberships implements chat.Store.
func (s *Store) Memberships(ctx context.Context, userID string) ([]chat.Membership, error) {
	rows, err := s.db.Query(ctx, `SELECT community_id, role, created_at FROM voyager_memberships WHERE user_id = ? ORDER BY created_at`, userID)
	if err != nil {
		return nil, fmt.Errorf("memberships: %w", err)
	}
	defer rows.Close()
	var out []chat.Membership
	for rows.Next() {
		m := chat.Membership{UserID: userID}
		if err := rows.Scan(&m.CommunityID, &m.Role, &m.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// CreateInvite implements chat.Store.
func (s *Store) CreateInvite(ctx context.Context, inv chat.Invite, tokenHash string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO voyager_invites (id, token_hash, community_id, role, max_uses, uses, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, 0, ?, ?)`, inv.ID, tokenHash, inv.CommunityID, string(inv.Role), inv.MaxUses, inv.CreatedAt.UTC(), inv.ExpiresAt.UTC())
	if err != nil {
		return fmt.Errorf("create invite: %w", err)
	}
	return nil
}

// InviteByToken implements chat.Store.
func (s *Store) InviteByToken(ctx context.Context, communityID, tokenHash string) (chat.Invite, error) {
	var inv chat.Invite
	err := s.db.QueryRow(ctx, `SELECT id, community_id, role, max_uses, uses, created_at, expires_at FROM voyager_invites
		WHERE token_hash = ? AND community_id = ?`, tokenHash, communityID).
		Scan(&inv.ID, &inv.CommunityID, &inv.Role, &inv.MaxUses, &inv.Uses, &inv.CreatedAt, &inv.ExpiresAt)
	if err != nil {
		return inv, notFound(err, "invite")
	}
	return inv, nil
}

// UseInvite implements chat.Store.
func (s *Store) UseInvite(ctx context.Context, communityID, tokenHash string, now time.Time) (chat.Invite, error) {
	var inv chat.Invite
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id, community_id, role, max_uses, uses, created_at, expires_at FROM voyager_invites
			WHERE token_hash = ? AND community_id = ?`, tokenHash, communityID).
			Scan(&inv.ID, &inv.CommunityID, &inv.Role, &inv.MaxUses, &inv.Uses, &inv.CreatedAt, &inv.ExpiresAt)
		if err != nil {
			return notFound(err, "invite")
		}
		if !now.Before(inv.ExpiresAt) || (inv.MaxUses > 0 && inv.Uses >= inv.MaxUses) {
			return apperr.E(apperr.Gone, "This invite link has expired or been used up. Ask the community's admin for a new one.")
		}
		_, err = tx.Exec(ctx, `UPDATE voyager_invites SET uses = uses + 1 WHERE id = ?`, inv.ID)
		inv.Uses++
		return err
	})
	return inv, err
}

// CreateConversation implements chat.Store.
func (s *Store) CreateConversation(ctx context.Context, c chat.Conversation) error {
	_, err := s.db.Exec(ctx, `INSERT INTO voyager_conversations (id, community_id, user_id, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		c.ID, c.CommunityID, c.UserID, c.Title, c.CreatedAt.UTC(), c.UpdatedAt.UTC())
	if err != nil {
		return fmt.Errorf("create conversation: %w", err)
	}
	return nil
}

const convCols = `id, community_id, user_id, title, created_at, updated_at`

func scanConv(r interface{ Scan(...any) error }) (chat.Conversation, error) {
	var c chat.Conversation
	err := r.Scan(&c.ID, &c.CommunityID, &c.UserID, &c.Title, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// Conversation implements chat.Store.
func (s *Store) Conversation(ctx context.Context, communityID, userID, id string) (chat.Conversation, error) {
	c, err := scanConv(s.db.QueryRow(ctx, `SELECT `+convCols+` FROM voyager_conversations WHERE id = ? AND community_id = ? AND user_id = ?`, id, communityID, userID))
	if err != nil {
		return c, notFound(err, "conversation")
	}
	return c, nil
}

// Conversations implements chat.Store.
func (s *Store) Conversations(ctx context.Context, communityID, userID string) ([]chat.Conversation, error) {
	rows, err := s.db.Query(ctx, `SELECT `+convCols+` FROM voyager_conversations WHERE user_id = ? AND community_id = ? ORDER BY updated_at DESC, id DESC LIMIT 200`, userID, communityID)
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	defer rows.Close()
	var out []chat.Conversation
	for rows.Next() {
		c, err := scanConv(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// likePattern makes a LIKE pattern that finds q anywhere, with LIKE's
// wildcards in q escaped (ESCAPE '\\').
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// FindConversations implements chat.Store.
func (s *Store) FindConversations(ctx context.Context, communityID, userID, query string, limit int) ([]chat.Conversation, error) {
	if limit <= 0 || limit > 200 {
		limit = 200
	}
	query = strings.TrimSpace(query)
	cols := `c.id, c.community_id, c.user_id, c.title, c.created_at, c.updated_at`
	var rows *sql.Rows
	var err error
	if query == "" {
		rows, err = s.db.Query(ctx, `SELECT `+cols+`, '' FROM voyager_conversations c
			WHERE c.user_id = ? AND c.community_id = ? AND EXISTS (SELECT 1 FROM voyager_messages m WHERE m.conversation_id = c.id)
			ORDER BY c.updated_at DESC, c.id DESC LIMIT ?`, userID, communityID, limit)
	} else {
		pat := likePattern(query)
		rows, err = s.db.Query(ctx, `SELECT `+cols+`,
				COALESCE((SELECT m.content FROM voyager_messages m WHERE m.conversation_id = c.id AND LOWER(m.content) LIKE ? ESCAPE '\' ORDER BY m.id LIMIT 1), '')
			FROM voyager_conversations c
			WHERE c.user_id = ? AND c.community_id = ? AND EXISTS (SELECT 1 FROM voyager_messages m WHERE m.conversation_id = c.id)
			  AND (LOWER(c.title) LIKE ? ESCAPE '\' OR EXISTS (SELECT 1 FROM voyager_messages m WHERE m.conversation_id = c.id AND LOWER(m.content) LIKE ? ESCAPE '\'))
			ORDER BY c.updated_at DESC, c.id DESC LIMIT ?`, pat, userID, communityID, pat, pat, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("find conversations: %w", err)
	}
	defer rows.Close()
	var out []chat.Conversation
	for rows.Next() {
		var c chat.Conversation
		var text string
		if err := rows.Scan(&c.ID, &c.CommunityID, &c.UserID, &c.Title, &c.CreatedAt, &c.UpdatedAt, &text); err != nil {
			return nil, err
		}
		c.Snippet = snippet(text, query)
		out = append(out, c)
	}
	return out, rows.Err()
}

// snippet cuts text to about 160 characters around the first q.
func snippet(text, q string) string {
	if text == "" || q == "" {
		return ""
	}
	text = strings.Join(strings.Fields(text), " ")
	rs := []rune(text)
	i := strings.Index(strings.ToLower(text), strings.ToLower(q))
	at := 0
	if i > 0 {
		at = len([]rune(text[:i]))
	}
	from := max(0, at-60)
	to := min(len(rs), from+160)
	out := string(rs[from:to])
	if from > 0 {
		out = "…" + out
	}
	if to < len(rs) {
		out += "…"
	}
	return out
}

// EmptyConversation implements chat.Store.
func (s *Store) EmptyConversation(ctx context.Context, communityID, userID string) (chat.Conversation, error) {
	c, err := scanConv(s.db.QueryRow(ctx, `SELECT `+convCols+` FROM voyager_conversations c
		WHERE user_id = ? AND community_id = ? AND NOT EXISTS (SELECT 1 FROM voyager_messages m WHERE m.conversation_id = c.id)
		ORDER BY created_at DESC, id DESC LIMIT 1`, userID, communityID))
	if err != nil {
		return c, notFound(err, "conversation")
	}
	return c, nil
}

// Invites implements chat.Store.
func (s *Store) Invites(ctx context.Context, communityID string) ([]chat.Invite, error) {
	rows, err := s.db.Query(ctx, `SELECT id, community_id, role, max_uses, uses, created_at, expires_at, token_hash FROM voyager_invites
		WHERE community_id = ? ORDER BY created_at DESC, id DESC LIMIT 500`, communityID)
	if err != nil {
		return nil, fmt.Errorf("invites: %w", err)
	}
	defer rows.Close()
	var out []chat.Invite
	for rows.Next() {
		var inv chat.Invite
		if err := rows.Scan(&inv.ID, &inv.CommunityID, &inv.Role, &inv.MaxUses, &inv.Uses, &inv.CreatedAt, &inv.ExpiresAt, &inv.TokenHash); err != nil {
			return nil, err
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

// RevokeInvite implements chat.Store.
func (s *Store) RevokeInvite(ctx context.Context, communityID, id string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM voyager_invites WHERE id = ? AND community_id = ?`, id, communityID)
	return affected(res, err, "invite")
}

// RenameConversation implements chat.Store.
func (s *Store) RenameConversation(ctx context.Context, communityID, userID, id, title string, now time.Time) error {
	res, err := s.db.Exec(ctx, `UPDATE voyager_conversations SET title = ?, updated_at = ? WHERE id = ? AND community_id = ? AND user_id = ?`, title, now.UTC(), id, communityID, userID)
	return affected(res, err, "conversation")
}

// DeleteConversation implements chat.Store.
func (s *Store) DeleteConversation(ctx context.Context, communityID, userID, id string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM voyager_conversations WHERE id = ? AND community_id = ? AND user_id = ?`, id, communityID, userID)
	if err == nil {
		s.recent.dropConversation(id)
	}
	return affected(res, err, "conversation")
}

func affected(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.E(apperr.NotFound, "%s not found", what)
	}
	return nil
}

const msgCols = `id, conversation_id, user_id, community_id, role, content, status, provider, model, input_tokens, output_tokens,
	cache_read_tokens, cache_write_tokens, latency_ms, first_token_ms, finish_reason, cost_micros, error, created_at`

func scanMsg(r interface{ Scan(...any) error }) (chat.Message, error) {
	var m chat.Message
	var role, status string
	err := r.Scan(&m.ID, &m.ConversationID, &m.UserID, &m.CommunityID, &role, &m.Content, &status, &m.Provider, &m.Model,
		&m.Usage.Input, &m.Usage.Output, &m.Usage.CacheRead, &m.Usage.CacheWrite, &m.LatencyMS, &m.FirstTokenMS,
		&m.FinishReason, &m.CostMicros, &m.Error, &m.CreatedAt)
	m.Role, m.Status = ai.Role(role), chat.Status(status)
	return m, err
}

// AddMessage implements chat.Store.
func (s *Store) AddMessage(ctx context.Context, m chat.Message) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := insertMessage(ctx, tx, m); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE voyager_conversations SET updated_at = ? WHERE id = ?`, m.CreatedAt.UTC(), m.ConversationID)
		return err
	})
}

// FinishMessage implements chat.Store; concurrent ones share a commit.
func (s *Store) FinishMessage(ctx context.Context, m chat.Message) error {
	err := s.write(ctx, func(ctx context.Context, tx *store.Tx) error { return finish(ctx, tx, m) })
	if err == nil {
		s.recent.put(m)
	}
	return err
}

func finish(ctx context.Context, tx *store.Tx, m chat.Message) error {
	res, err := tx.Exec(ctx, `UPDATE voyager_messages SET content = ?, status = ?, provider = ?, model = ?, input_tokens = ?, output_tokens = ?,
		cache_read_tokens = ?, cache_write_tokens = ?, latency_ms = ?, first_token_ms = ?, finish_reason = ?, cost_micros = ?, error = ? WHERE id = ?`,
		m.Content, string(m.Status), m.Provider, m.Model, m.Usage.Input, m.Usage.Output, m.Usage.CacheRead, m.Usage.CacheWrite,
		m.LatencyMS, m.FirstTokenMS, m.FinishReason, m.CostMicros, m.Error, m.ID)
	return affected(res, err, "message")
}

// Message implements chat.Store.
func (s *Store) Message(ctx context.Context, communityID, userID, id string) (chat.Message, error) {
	m, err := scanMsg(s.db.QueryRow(ctx, `SELECT `+msgCols+` FROM voyager_messages WHERE id = ? AND community_id = ? AND user_id = ?`, id, communityID, userID))
	if err != nil {
		return m, notFound(err, "message")
	}
	return m, nil
}

// Messages implements chat.Store.
func (s *Store) Messages(ctx context.Context, conversationID string, limit int) ([]chat.Message, error) {
	q := `SELECT ` + msgCols + ` FROM voyager_messages WHERE conversation_id = ? ORDER BY id DESC`
	args := []any{conversationID}
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	defer rows.Close()
	var out []chat.Message
	for rows.Next() {
		m, err := scanMsg(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}

// History implements chat.Store.
//
// It reads the ids of the conversation's last limit messages (from the
// index alone) and serves them from recent when it holds them all, as it
// does after this process wrote the last turn; otherwise it reads the rows
// and keeps the finished ones.
func (s *Store) History(ctx context.Context, communityID, userID, conversationID string, limit int) ([]chat.Message, error) {
	ids, err := s.recentIDs(ctx, conversationID, limit)
	if err != nil {
		return nil, err
	}
	if out, ok := s.recent.history(communityID, userID, conversationID, ids); ok {
		return out, nil
	}
	out, err := s.readHistory(ctx, communityID, userID, conversationID, limit)
	if err == nil {
		for _, m := range out {
			s.recent.put(m)
		}
	}
	return out, err
}

// ForgetUser drops this process's copies of the user's recent messages
// (account deletion calls it; the rows go by cascade).
func (s *Store) ForgetUser(userID string) { s.recent.dropUser(userID) }

// recentIDs returns the ids of the conversation's last limit messages,
// newest first.
func (s *Store) recentIDs(ctx context.Context, conversationID string, limit int) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM voyager_messages WHERE conversation_id = ? ORDER BY id DESC `+store.Limit(limit), conversationID)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	ids := make([]string, 0, limit)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func (s *Store) readHistory(ctx context.Context, communityID, userID, conversationID string, limit int) ([]chat.Message, error) {
	rows, err := s.db.Query(ctx, `SELECT id, role, content, status FROM voyager_messages
		WHERE conversation_id = ? AND community_id = ? AND user_id = ? ORDER BY id DESC `+store.Limit(limit), conversationID, communityID, userID)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	out := make([]chat.Message, 0, limit)
	for rows.Next() {
		m := chat.Message{ConversationID: conversationID, CommunityID: communityID, UserID: userID}
		if err := rows.Scan(&m.ID, &m.Role, &m.Content, &m.Status); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		out = append(out, m)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}

// DeleteMessage implements chat.Store.
func (s *Store) DeleteMessage(ctx context.Context, conversationID, id string) error {
	res, err := s.db.Exec(ctx, `DELETE FROM voyager_messages WHERE id = ? AND conversation_id = ?`, id, conversationID)
	if err == nil {
		s.recent.drop(id)
	}
	return affected(res, err, "message")
}

// Usage implements chat.Store.
func (s *Store) Usage(ctx context.Context, communityID, userID, day string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, `SELECT answers FROM voyager_usage WHERE community_id = ? AND user_id = ? AND day = ?`, communityID, userID, day).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("usage: %w", err)
	}
	return n, nil
}

// UsageHistory implements chat.Store.
func (s *Store) UsageHistory(ctx context.Context, userID string) ([]chat.UsageDay, error) {
	rows, err := s.db.Query(ctx, `SELECT community_id, day, answers FROM voyager_usage WHERE user_id = ? ORDER BY day, community_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("usage history: %w", err)
	}
	defer rows.Close()
	out := []chat.UsageDay{}
	for rows.Next() {
		var u chat.UsageDay
		if err := rows.Scan(&u.CommunityID, &u.Day, &u.Answers); err != nil {
			return nil, fmt.Errorf("usage history: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// TakeAnswer implements chat.Store. The conditional update makes the
// limit hold under concurrent sends.
func (s *Store) TakeAnswer(ctx context.Context, communityID, userID, day string, limit int) (int, bool, error) {
	var n int
	var took bool
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		n, took, err = take(ctx, tx, communityID, userID, day, limit)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("take answer: %w", err)
	}
	return n, took, nil
}

func take(ctx context.Context, tx *store.Tx, communityID, userID, day string, limit int) (int, bool, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO voyager_usage (community_id, user_id, day, answers) VALUES (?, ?, ?, 0) ON CONFLICT (community_id, user_id, day) DO NOTHING`, communityID, userID, day); err != nil {
		return 0, false, err
	}
	res, err := tx.Exec(ctx, `UPDATE voyager_usage SET answers = answers + 1 WHERE community_id = ? AND user_id = ? AND day = ? AND (? = 0 OR answers < ?)`, communityID, userID, day, limit, limit)
	if err != nil {
		return 0, false, err
	}
	k, _ := res.RowsAffected()
	var n int
	err = tx.QueryRow(ctx, `SELECT answers FROM voyager_usage WHERE community_id = ? AND user_id = ? AND day = ?`, communityID, userID, day).Scan(&n)
	return n, k == 1, err
}

// StartTurn implements chat.Store; concurrent turns share a commit.
func (s *Store) StartTurn(ctx context.Context, t chat.Turn) (int, bool, error) {
	var n int
	var took bool
	a := t.Answer
	err := s.write(ctx, func(ctx context.Context, tx *store.Tx) error {
		var err error
		n, took, err = take(ctx, tx, a.CommunityID, a.UserID, t.Day, t.Limit)
		if err != nil || !took {
			return err
		}
		if t.ReplaceID != "" {
			if _, err := tx.Exec(ctx, `DELETE FROM voyager_messages WHERE id = ? AND conversation_id = ?`, t.ReplaceID, a.ConversationID); err != nil {
				return err
			}
		}
		if t.User != nil {
			if err := insertMessage(ctx, tx, *t.User); err != nil {
				return err
			}
		}
		if err := insertMessage(ctx, tx, a); err != nil {
			return err
		}
		if t.Title != "" {
			_, err = tx.Exec(ctx, `UPDATE voyager_conversations SET title = ?, updated_at = ? WHERE id = ?`, t.Title, a.CreatedAt.UTC(), a.ConversationID)
		} else {
			_, err = tx.Exec(ctx, `UPDATE voyager_conversations SET updated_at = ? WHERE id = ?`, a.CreatedAt.UTC(), a.ConversationID)
		}
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("start turn: %w", err)
	}
	if took {
		if t.ReplaceID != "" {
			s.recent.drop(t.ReplaceID)
		}
		if t.User != nil {
			s.recent.put(*t.User)
		}
	}
	return n, took, nil
}

func insertMessage(ctx context.Context, tx *store.Tx, m chat.Message) error {
	_, err := tx.Exec(ctx, `INSERT INTO voyager_messages (`+msgCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.ID, m.ConversationID, m.UserID, m.CommunityID, string(m.Role), m.Content, string(m.Status), m.Provider, m.Model,
		m.Usage.Input, m.Usage.Output, m.Usage.CacheRead, m.Usage.CacheWrite, m.LatencyMS, m.FirstTokenMS,
		m.FinishReason, m.CostMicros, m.Error, m.CreatedAt.UTC())
	if err != nil {
		return fmt.Errorf("add message: %w", err)
	}
	return nil
}

// CreateHandoff implements chat.Store.
func (s *Store) CreateHandoff(ctx context.Context, tokenHash, binding, userID, communityID string, expires time.Time) error {
	if binding == "" {
		return errors.New("create handoff: no browser binding")
	}
	_, err := s.db.Exec(ctx, `INSERT INTO voyager_handoffs (token_hash, binding, user_id, community_id, expires_at) VALUES (?, ?, ?, ?, ?)`, tokenHash, binding, userID, communityID, expires.UTC())
	if err != nil {
		return fmt.Errorf("create handoff: %w", err)
	}
	return nil
}

// UseHandoff implements chat.Store.
func (s *Store) UseHandoff(ctx context.Context, tokenHash, binding, communityID string, now time.Time) (string, error) {
	var userID string
	var refused error // returned after the commit, so the token stays spent
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var exp time.Time
		var bound string
		err := tx.QueryRow(ctx, `SELECT user_id, binding, expires_at FROM voyager_handoffs WHERE token_hash = ? AND community_id = ?`, tokenHash, communityID).Scan(&userID, &bound, &exp)
		if err != nil {
			return notFound(err, "sign-in link")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM voyager_handoffs WHERE token_hash = ? OR expires_at < ?`, tokenHash, now.UTC()); err != nil {
			return err
		}
		switch {
		case bound == "" || subtle.ConstantTimeCompare([]byte(bound), []byte(binding)) != 1:
			refused = &apperr.Error{Kind: apperr.Forbidden, Code: "handoff_other_browser",
				Message: "This sign-in was started in another browser, so it cannot sign you in here. Press Sign in on this site to start again."}
		case !now.Before(exp):
			refused = apperr.E(apperr.Gone, "This sign-in link has expired. Sign in again.")
		}
		return nil
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return "", err
	}
	return userID, nil
}

// InterruptStreaming implements chat.Store.
func (s *Store) InterruptStreaming(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.Exec(ctx, `UPDATE voyager_messages SET status = 'interrupted', finish_reason = 'interrupted', error = 'the server restarted during the answer' WHERE status = 'streaming' AND created_at < ?`, before.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
