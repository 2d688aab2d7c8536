package ideastore

import (
	"context"
	"fmt"
	"time"
)

// Activity is how many ideas were created, edited and deleted in a period,
// for the admin console's charts.
type Activity struct {
	Created, Edited, Deleted int64
}

// ActivityBetween counts ideas created, edited (updated after creation)
// and deleted in [from, to), over every user.
func (s *Store) ActivityBetween(ctx context.Context, from, to time.Time) (Activity, error) {
	var a Activity
	err := s.db.QueryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN created_at >= ? AND created_at < ? THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN updated_at >= ? AND updated_at < ? AND updated_at > created_at THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN deleted_at >= ? AND deleted_at < ? THEN 1 ELSE 0 END), 0)
		FROM ideas WHERE created_at < ? AND (created_at >= ? OR updated_at >= ? OR deleted_at >= ?)`,
		from, to, from, to, from, to, to, from, from, from).Scan(&a.Created, &a.Edited, &a.Deleted)
	if err != nil {
		return a, fmt.Errorf("idea activity: %w", err)
	}
	return a, nil
}

// Totals are the ideas kept now.
type Totals struct {
	Live, Deleted, Authors int64
}

// CountAll returns how many ideas are live and deleted (within the undo
// window), and how many users have any.
func (s *Store) CountAll(ctx context.Context) (Totals, error) {
	var t Totals
	err := s.db.QueryRow(ctx, `SELECT
		COALESCE(SUM(CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN deleted_at IS NOT NULL THEN 1 ELSE 0 END), 0),
		COUNT(DISTINCT user_id) FROM ideas`).Scan(&t.Live, &t.Deleted, &t.Authors)
	if err != nil {
		return t, fmt.Errorf("count ideas: %w", err)
	}
	return t, nil
}
