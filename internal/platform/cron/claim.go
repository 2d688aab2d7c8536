package cron

import (
	"context"
	"fmt"
	"time"

	"github.com/relaywork/suite/internal/platform/store"
)

// claim takes the job's slot for this instance and reports whether it got
// it; false means another instance (or an earlier run here) already has it.
// With Redis the claim is a key set only if absent and expiring after a
// day; otherwise it is a row in cron_claims whose primary key (job, slot)
// lets only the first insert through, which holds across instances on
// PostgreSQL and trivially for a single SQLite instance.
func (s *Scheduler) claim(ctx context.Context, job string, slot time.Time) (bool, error) {
	slot = slot.UTC()
	if s.rdb != nil {
		key := s.prefix + job + ":" + slot.Format(time.RFC3339)
		won, err := s.rdb.SetNX(ctx, key, s.instance, claimTTL).Result()
		if err != nil {
			return false, fmt.Errorf("claim %s in redis: %w", key, err)
		}
		return won, nil
	}
	now := s.now().UTC()
	res, err := s.db.Exec(ctx, `INSERT INTO cron_claims (job, slot, claimed_by, claimed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (job, slot) DO NOTHING`, job, slot, s.instance, now)
	if store.IsUniqueViolation(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim %s at %s: %w", job, slot.Format(time.RFC3339), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim %s at %s: %w", job, slot.Format(time.RFC3339), err)
	}
	if n == 1 {
		s.cleanClaims(ctx, now)
	}
	return n == 1, nil
}

// cleanClaims deletes database claims older than claimRetention, at most
// once per cleanupEvery per instance. Failing only costs a little space, so
// it is logged, not returned.
func (s *Scheduler) cleanClaims(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := now.Sub(s.lastCleanup) >= cleanupEvery
	if due {
		s.lastCleanup = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	res, err := s.db.Exec(ctx, `DELETE FROM cron_claims WHERE claimed_at < ?`, now.Add(-claimRetention))
	if err != nil {
		s.log.Warn("cron: cleaning old claims failed", "err", err.Error())
		return
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.log.Debug("cron: cleaned old claims", "deleted", n)
	}
}
