package chatstore

import (
	"context"
	"fmt"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
	"github.com/relaywork/suite/internal/voyager/chat"
)

// StaleConversations returns every conversation, of every member and
// community, last active before before, oldest first: what `voyager
// archive` takes.
func (s *Store) StaleConversations(ctx context.Context, before time.Time) ([]chat.Conversation, error) {
	rows, err := s.db.Query(ctx, `SELECT `+convCols+` FROM voyager_conversations WHERE updated_at < ? ORDER BY user_id, updated_at, id`, before.UTC())
	if err != nil {
		return nil, fmt.Errorf("stale conversations: %w", err)
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

// DeleteStaleConversations deletes the conversations with the given IDs
// (and their messages) that are still last active before before; one that
// has had a message since it was listed is kept. It returns how many went.
func (s *Store) DeleteStaleConversations(ctx context.Context, ids []string, before time.Time) (int64, error) {
	var n int64
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			res, err := tx.Exec(ctx, `DELETE FROM voyager_conversations WHERE id = ? AND updated_at < ?`, id, before.UTC())
			if err != nil {
				return fmt.Errorf("delete conversation: %w", err)
			}
			k, _ := res.RowsAffected()
			n += k
		}
		return nil
	})
	return n, err
}
