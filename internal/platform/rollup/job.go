package rollup

import (
	"context"
	"fmt"
	"time"
)

// JobName and JobSchedule are the rollup cron job's name and schedule
// (UTC): every ten minutes, so the console's charts trail by at most that.
const (
	JobName     = "rollup-metrics"
	JobSchedule = "*/10 * * * *"
)

// Source adds values read from other tables to the rollups, one hour at a
// time: users, sign-ins, a product's messages and tokens. Collect returns
// the value by dim for the hour [from, to). Counters are collected for the
// last few hours again on every run (late rows count); gauges are sampled
// once per run for the current hour.
type Source struct {
	Metric  string
	Kind    Kind // Counter or Gauge
	Collect func(ctx context.Context, from, to time.Time) (map[string]float64, error)
}

// Job is the rollup job's work.
type Job struct {
	Store   *Store
	Sources []Source
	Now     func() time.Time
}

// recompute is how many past hours each run summarises again.
const recompute = 3

// Run summarises minutes into hours and hours into days, collects the
// sources, and prunes. It returns counts for the cron run's result.
func (j *Job) Run(ctx context.Context) (map[string]any, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	t := now().UTC()
	hourEnd := Hour.Truncate(t).Add(time.Hour)
	hourStart := hourEnd.Add(-recompute * time.Hour)
	for _, src := range j.Sources {
		var pts []Point
		switch src.Kind {
		case Gauge:
			vals, err := src.Collect(ctx, t, t)
			if err != nil {
				return nil, fmt.Errorf("collect %s: %w", src.Metric, err)
			}
			m := Minute.Truncate(t)
			for dim, v := range vals {
				pts = append(pts, Point{Res: Minute, Metric: src.Metric, Dim: dim, Bucket: m, Instance: "job", Kind: Gauge, N: 1, Total: v})
			}
		default:
			for h := hourStart; h.Before(hourEnd); h = h.Add(time.Hour) {
				vals, err := src.Collect(ctx, h, h.Add(time.Hour))
				if err != nil {
					return nil, fmt.Errorf("collect %s: %w", src.Metric, err)
				}
				for dim, v := range vals {
					pts = append(pts, Point{Res: Hour, Metric: src.Metric, Dim: dim, Bucket: h, Kind: Counter, N: 1, Total: v})
				}
			}
		}
		if err := j.Store.Write(ctx, pts); err != nil {
			return nil, err
		}
	}
	hours, err := j.Store.Summarize(ctx, Minute, Hour, hourStart, hourEnd)
	if err != nil {
		return nil, err
	}
	dayStart := Day.Truncate(hourStart)
	days, err := j.Store.Summarize(ctx, Hour, Day, dayStart, dayStart.Add(48*time.Hour))
	if err != nil {
		return nil, err
	}
	pruned, err := j.Store.Prune(ctx, t)
	if err != nil {
		return nil, err
	}
	return map[string]any{"hours": hours, "days": days, "pruned": pruned}, nil
}
