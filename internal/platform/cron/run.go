package cron

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/relaywork/suite/internal/platform/apperr"
)

// DefaultRunsLimit and MaxRunsLimit bound how many runs Runs returns.
const (
	DefaultRunsLimit = 50
	MaxRunsLimit     = 1000
)

// RunNow runs the job at once, whatever its schedule and without claiming a
// slot, and records the run. The error is for a run that could not start:
// apperr NotFound for an unknown job, Invalid for an unknown trigger,
// Unavailable once the scheduler is stopped. A job that fails is not an
// error here: its Run has OK false and the reason in Error.
func (s *Scheduler) RunNow(ctx context.Context, name, trigger string) (Run, error) {
	switch trigger {
	case TriggerSchedule, TriggerHTTP, TriggerCLI, TriggerAdmin:
	default:
		return Run{}, apperr.E(apperr.Invalid, "unknown cron trigger %q", trigger)
	}
	e, ok := s.lookup(name)
	if !ok {
		return Run{}, apperr.E(apperr.NotFound, "No cron job is named %q.", name)
	}
	if !s.begin() {
		return Run{}, apperr.E(apperr.Unavailable, "The scheduler is shutting down.")
	}
	defer s.running.Done()
	return s.execute(ctx, e.job, trigger), nil
}

// execute runs j with the per-run timeout, turning a panic into a failure,
// then records, logs and counts the run.
func (s *Scheduler) execute(ctx context.Context, j Job, trigger string) Run {
	run := Run{Job: j.Name, Trigger: trigger, StartedAt: s.now().UTC().Truncate(time.Microsecond)}
	if id, err := uuid.NewV7(); err == nil {
		run.ID = id.String()
	} else {
		run.ID = uuid.NewString()
	}
	t0 := time.Now()
	result, err := s.call(ctx, j)
	run.Duration = time.Since(t0)

	resultJSON := []byte("{}")
	if len(result) > 0 {
		b, merr := json.Marshal(result)
		switch {
		case merr != nil:
			result = nil
			err = errors.Join(err, fmt.Errorf("result does not encode as JSON: %w", merr))
		default:
			resultJSON = b
		}
	}
	if result == nil {
		result = map[string]any{}
	}
	run.Result = result
	run.OK = err == nil
	if err != nil {
		run.Error = err.Error()
	}

	s.record(ctx, run, resultJSON)
	outcome := "success"
	if !run.OK {
		outcome = "failure"
	}
	s.metrics.runs.WithLabelValues(j.Name, outcome).Inc()
	s.metrics.duration.WithLabelValues(j.Name).Observe(run.Duration.Seconds())
	attrs := []any{"job", j.Name, "trigger", trigger, "run_id", run.ID, "duration_ms", run.Duration.Milliseconds(), "ok", run.OK}
	if run.OK {
		s.log.Info("cron run", append(attrs, "result", run.Result)...)
	} else {
		s.log.Error("cron run failed", append(attrs, "err", run.Error)...)
	}
	return run
}

// call runs the job's function under the timeout and recovers a panic.
func (s *Scheduler) call(ctx context.Context, j Job) (result map[string]any, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("cron job panicked", "job", j.Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			result, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	return j.Run(ctx)
}

// record stores the run even if ctx has been cancelled meanwhile; a
// failure to store is logged, as the run itself has happened.
func (s *Scheduler) record(ctx context.Context, run Run, resultJSON []byte) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := s.db.Exec(ctx, `INSERT INTO cron_runs (id, job, "trigger", started_at, duration_ms, ok, result, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		run.ID, run.Job, run.Trigger, run.StartedAt, run.Duration.Milliseconds(), run.OK, string(resultJSON), run.Error)
	if err != nil {
		s.log.Error("cron: recording run failed", "job", run.Job, "run_id", run.ID, "err", err.Error())
	}
}

// Runs returns the recorded runs of job ("" for every job), newest first;
// limit is DefaultRunsLimit if 0 and at most MaxRunsLimit.
func (s *Scheduler) Runs(ctx context.Context, job string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = DefaultRunsLimit
	}
	limit = min(limit, MaxRunsLimit)
	q := `SELECT id, job, "trigger", started_at, duration_ms, ok, result, error FROM cron_runs`
	args := []any{}
	if job != "" {
		q += ` WHERE job = ?`
		args = append(args, job)
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := s.db.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list cron runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		var (
			r      Run
			ms     int64
			result []byte
		)
		if err := rows.Scan(&r.ID, &r.Job, &r.Trigger, &r.StartedAt, &ms, &r.OK, &result, &r.Error); err != nil {
			return nil, fmt.Errorf("list cron runs: %w", err)
		}
		r.StartedAt = r.StartedAt.UTC()
		r.Duration = time.Duration(ms) * time.Millisecond
		r.Result = map[string]any{}
		if len(result) > 0 {
			if err := json.Unmarshal(result, &r.Result); err != nil {
				return nil, fmt.Errorf("cron run %s result: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list cron runs: %w", err)
	}
	return out, nil
}

// metrics are the scheduler's Prometheus collectors.
type metrics struct {
	runs     *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(r prometheus.Registerer) (metrics, error) {
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cron_runs_total",
		Help: "Cron job runs on this instance, by job and outcome (success or failure).",
	}, []string{"job", "outcome"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cron_run_duration_seconds",
		Help:    "How long cron job runs took.",
		Buckets: prometheus.ExponentialBuckets(0.01, 4, 10), // 10 ms to about 44 min
	}, []string{"job"})
	var err error
	if runs, err = register(r, runs); err != nil {
		return metrics{}, err
	}
	if duration, err = register(r, duration); err != nil {
		return metrics{}, err
	}
	return metrics{runs: runs, duration: duration}, nil
}

// register registers c with r, reusing an identical collector already
// there (two schedulers on one registry share their counters).
func register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	if r == nil {
		return c, nil
	}
	if err := r.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}
