package chatstore

import (
	"context"
	"fmt"
	"time"
)

// CommunityActivity is one community's messages, tokens and estimated cost
// in a period, for the admin console.
type CommunityActivity struct {
	Messages   int64 // questions and answers
	Tokens     int64 // input, output and cache tokens of the answers
	CostMicros int64 // millionths of a USD
}

// ActivityBetween returns each community's activity in [from, to).
func (s *Store) ActivityBetween(ctx context.Context, from, to time.Time) (map[string]CommunityActivity, error) {
	rows, err := s.db.Query(ctx, `SELECT community_id, COUNT(*),
		COALESCE(SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens), 0), COALESCE(SUM(cost_micros), 0)
		FROM voyager_messages WHERE created_at >= ? AND created_at < ? GROUP BY community_id`, from.UTC(), to.UTC())
	if err != nil {
		return nil, fmt.Errorf("community activity: %w", err)
	}
	defer rows.Close()
	out := map[string]CommunityActivity{}
	for rows.Next() {
		var id string
		var a CommunityActivity
		if err := rows.Scan(&id, &a.Messages, &a.Tokens, &a.CostMicros); err != nil {
			return nil, fmt.Errorf("community activity: %w", err)
		}
		out[id] = a
	}
	return out, rows.Err()
}

// MemberCounts returns how many members each community has.
func (s *Store) MemberCounts(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.Query(ctx, "SELECT community_id, COUNT(*) FROM voyager_memberships GROUP BY community_id")
	if err != nil {
		return nil, fmt.Errorf("count members: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// DayUsage is a community's use of the daily answer quota on one day.
type DayUsage struct {
	Answers int64 // answers asked for
	Members int64 // members who asked
	AtLimit int64 // members who reached limit (0 when limit is 0)
}

// UsageOn returns each community's quota use on day (YYYY-MM-DD, UTC);
// limits gives each community's daily limit per member.
func (s *Store) UsageOn(ctx context.Context, day string, limits map[string]int) (map[string]DayUsage, error) {
	rows, err := s.db.Query(ctx, "SELECT community_id, answers FROM voyager_usage WHERE day = ?", day)
	if err != nil {
		return nil, fmt.Errorf("quota use: %w", err)
	}
	defer rows.Close()
	out := map[string]DayUsage{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		u := out[id]
		u.Answers += n
		u.Members++
		if l := limits[id]; l > 0 && n >= int64(l) {
			u.AtLimit++
		}
		out[id] = u
	}
	return out, rows.Err()
}

// ProviderUse is one AI provider's answers since a time.
type ProviderUse struct {
	Answers, Failed, Interrupted int64
	AvgLatencyMs                 float64
}

// ProviderUseSince returns each provider's answers since since; answers
// no provider gave are under "".
func (s *Store) ProviderUseSince(ctx context.Context, since time.Time) (map[string]ProviderUse, error) {
	rows, err := s.db.Query(ctx, `SELECT provider, COUNT(*),
		COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'interrupted' THEN 1 ELSE 0 END), 0),
		COALESCE(AVG(latency_ms), 0)
		FROM voyager_messages WHERE role = 'assistant' AND created_at >= ? GROUP BY provider`, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("provider use: %w", err)
	}
	defer rows.Close()
	out := map[string]ProviderUse{}
	for rows.Next() {
		var p string
		var u ProviderUse
		if err := rows.Scan(&p, &u.Answers, &u.Failed, &u.Interrupted, &u.AvgLatencyMs); err != nil {
			return nil, err
		}
		out[p] = u
	}
	return out, rows.Err()
}
