package devmode

import (
	"context"
	"fmt"
	"time"
)

// RunnerCounts are the admin console's DevMode figures.
type RunnerCounts struct {
	Paired int64 // runners not revoked
	Online int64 // seen by a relay since the cut-off
}

// CountRunners returns how many runners are paired and how many a relay
// has seen since `since` (relays touch connected runners every minute, so
// this counts runners online on every relay, alone or embedded).
func (s *Service) CountRunners(ctx context.Context, since time.Time) (RunnerCounts, error) {
	var c RunnerCounts
	err := s.o.DB.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN last_seen_at >= ? THEN 1 ELSE 0 END), 0)
		FROM devmode_runners WHERE revoked_at IS NULL`, since.UTC()).Scan(&c.Paired, &c.Online)
	if err != nil {
		return c, fmt.Errorf("count runners: %w", err)
	}
	return c, nil
}
