// Package cron runs the products' scheduled jobs. Products register jobs
// with a five-field UTC cron schedule; a gocron scheduler fires them, and
// each scheduled run first claims its slot (the scheduled minute) in Redis
// or in the database, so that with several instances sharing a database
// exactly one of them runs it. Every run, scheduled or triggered over HTTP
// or the CLI, is recorded in cron_runs, logged and counted in Prometheus.
// Handler serves the secret-protected trigger routes /api/cron/{job} that
// the hosted stack's cron service called.
package cron

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/store"
)

// The triggers a run can have.
const (
	TriggerSchedule = "schedule" // fired by the scheduler
	TriggerHTTP     = "http"     // GET or POST /api/cron/{job}
	TriggerCLI      = "cli"      // the "cron run JOB" command
	TriggerAdmin    = "admin"    // "Run now" in the admin console
)

// DefaultTimeout bounds one run unless Options.Timeout says otherwise.
const DefaultTimeout = 10 * time.Minute

// claimTTL is how long a Redis claim lives; claimRetention is how long
// database claims are kept before being cleaned away.
const (
	claimTTL       = 24 * time.Hour
	claimRetention = 7 * 24 * time.Hour
	cleanupEvery   = time.Hour
)

// Job is a unit of scheduled work.
type Job struct {
	Name        string // lowercase letters, digits and dashes; the route is /api/cron/{Name}
	Schedule    string // five-field cron in UTC, e.g. "0 8 * * *"
	Description string
	// Run does the work. Its result is recorded and, for an HTTP trigger,
	// merged into the JSON answer (e.g. {"deleted": 3}); it must encode as JSON.
	Run func(ctx context.Context) (map[string]any, error)
}

// Run is one recorded execution of a job.
type Run struct {
	ID        string
	Job       string
	Trigger   string // TriggerSchedule, TriggerHTTP or TriggerCLI
	StartedAt time.Time
	Duration  time.Duration // recorded to the millisecond
	OK        bool
	Result    map[string]any
	Error     string
}

// Options configures a Scheduler.
type Options struct {
	DB *store.DB // required: runs are recorded here, and claims when Redis is nil
	// Redis, when set, holds the slot claims (SET NX with a 24 h expiry).
	Redis      redis.UniversalClient
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not exported
	InstanceID string                // who claimed a slot; default host-pid-random
	Now        func() time.Time      // default time.Now; also names a scheduled run's slot
	Timeout    time.Duration         // per run; default DefaultTimeout
	// KeyPrefix starts every Redis claim key; default "cron:". Products that
	// share one Redis should set their own, so equal job names don't collide.
	KeyPrefix string
	// WithSeconds makes schedules six-field with a leading seconds field and
	// slots one second wide instead of one minute. For tests.
	WithSeconds bool
}

// Scheduler holds the registered jobs and runs them.
type Scheduler struct {
	db       *store.DB
	rdb      redis.UniversalClient
	log      *slog.Logger
	now      func() time.Time
	timeout  time.Duration
	instance string
	prefix   string
	seconds  bool
	gs       gocron.Scheduler
	metrics  metrics

	mu          sync.Mutex
	jobs        map[string]*entry
	started     bool
	stopped     bool
	running     sync.WaitGroup // runs in progress; Add only under mu while !stopped
	lastCleanup time.Time
}

// entry is a registered job and its parsed schedule.
type entry struct {
	job  Job
	cron gocron.Cron
}

// New returns a Scheduler; register jobs, then Start it.
func New(o Options) (*Scheduler, error) {
	if o.DB == nil {
		return nil, errors.New("cron: a database is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.InstanceID == "" {
		host, _ := os.Hostname()
		o.InstanceID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "cron:"
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, fmt.Errorf("cron metrics: %w", err)
	}
	gs, err := gocron.NewScheduler(
		gocron.WithLocation(time.UTC),
		gocron.WithLogger(o.Logger.With("component", "gocron")),
		// Stop waits for running jobs itself; keep gocron from giving up first.
		gocron.WithStopTimeout(o.Timeout+time.Minute),
	)
	if err != nil {
		return nil, fmt.Errorf("cron scheduler: %w", err)
	}
	return &Scheduler{
		db:       o.DB,
		rdb:      o.Redis,
		log:      o.Logger,
		now:      o.Now,
		timeout:  o.Timeout,
		instance: o.InstanceID,
		prefix:   o.KeyPrefix,
		seconds:  o.WithSeconds,
		gs:       gs,
		metrics:  m,
		jobs:     map[string]*entry{},
	}, nil
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// Register adds a job. Errors are apperr Invalid (bad name, schedule or no
// Run) or Conflict (name taken) and name the job.
func (s *Scheduler) Register(j Job) error {
	if !validName.MatchString(j.Name) {
		return apperr.E(apperr.Invalid, "cron job %q: the name must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit", j.Name)
	}
	if j.Run == nil {
		return apperr.E(apperr.Invalid, "cron job %q has no Run function", j.Name)
	}
	c, err := s.parse(j.Name, j.Schedule)
	if err != nil {
		return err
	}

	s.mu.Lock()
	switch _, taken := s.jobs[j.Name]; {
	case s.stopped:
		s.mu.Unlock()
		return fmt.Errorf("cron job %q: the scheduler is stopped", j.Name)
	case taken:
		s.mu.Unlock()
		return apperr.E(apperr.Conflict, "cron job %q is registered twice", j.Name)
	}
	s.jobs[j.Name] = &entry{job: j, cron: c}
	s.mu.Unlock()

	// gocron is called without s.mu held: its scheduler goroutine may be
	// starting a run that needs the lock.
	name := j.Name
	_, err = s.gs.NewJob(
		gocron.CronJob(j.Schedule, s.seconds),
		gocron.NewTask(func() { s.runScheduledAt(context.Background(), name, s.now()) }),
		gocron.WithName(name),
		// A run still going when the next is due skips that one on this instance.
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
	)
	if err != nil {
		s.mu.Lock()
		delete(s.jobs, name)
		s.mu.Unlock()
		return apperr.Wrap(apperr.Invalid, err, fmt.Sprintf("cron job %q: schedule %q", name, j.Schedule))
	}
	return nil
}

// parse checks a schedule has the right number of fields (gocron alone also
// takes descriptors such as "@daily" and a TZ= prefix, which would hide the
// schedule's meaning or move it off UTC) and that each field is valid.
func (s *Scheduler) parse(name, schedule string) (gocron.Cron, error) {
	want, form, example := 5, "minute hour day-of-month month day-of-week", "0 8 * * *"
	if s.seconds {
		want, form, example = 6, "second minute hour day-of-month month day-of-week", "*/5 * * * * *"
	}
	if n := len(strings.Fields(schedule)); n != want {
		return nil, apperr.E(apperr.Invalid, "cron job %q: schedule %q has %d fields; want %d (%s, in UTC), e.g. %q", name, schedule, n, want, form, example)
	}
	c := gocron.NewDefaultCron(s.seconds)
	if err := c.IsValid(schedule, time.UTC, s.now()); err != nil {
		// gocron joins its own error and the parser's with a newline.
		reason := strings.ReplaceAll(err.Error(), "\n", ": ")
		return nil, apperr.E(apperr.Invalid, "cron job %q: schedule %q is not a valid cron schedule (%s, in UTC): %s", name, schedule, form, reason)
	}
	return c, nil
}

// Jobs returns the registered jobs sorted by name.
func (s *Scheduler) Jobs() []Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Job, 0, len(s.jobs))
	for _, e := range s.jobs {
		out = append(out, e.job)
	}
	slices.SortFunc(out, func(a, b Job) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// NextRun returns when the job is next due after now, in UTC, and false for
// an unknown job. It does not need the scheduler to be started.
func (s *Scheduler) NextRun(name string) (time.Time, bool) {
	e, ok := s.lookup(name)
	if !ok {
		return time.Time{}, false
	}
	next := e.cron.Next(s.now().UTC())
	if next.IsZero() {
		return time.Time{}, false
	}
	return next.UTC(), true
}

// Start begins firing scheduled runs.
func (s *Scheduler) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopped:
		return errors.New("cron: the scheduler is stopped and cannot be started again")
	case s.started:
		return errors.New("cron: the scheduler is already started")
	}
	s.started = true
	s.gs.Start()
	return nil
}

// Stop stops firing runs and waits for the runs in progress, scheduled or
// triggered, to finish (each is bounded by Options.Timeout). Later RunNow
// calls are refused. Stopping twice is harmless.
func (s *Scheduler) Stop() error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()
	err := s.gs.Shutdown()
	s.running.Wait()
	if err != nil {
		return fmt.Errorf("cron: stop scheduler: %w", err)
	}
	return nil
}

// begin counts a run as in progress, unless the scheduler is stopped.
func (s *Scheduler) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return false
	}
	s.running.Add(1)
	return true
}

func (s *Scheduler) lookup(name string) (*entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.jobs[name]
	return e, ok
}

// runScheduledAt is what the scheduler fires: it claims the slot holding
// at and, if this instance won it, runs the job. It reports whether the job
// ran. Tests call it with chosen times to race instances for one slot.
func (s *Scheduler) runScheduledAt(ctx context.Context, name string, at time.Time) (Run, bool) {
	e, ok := s.lookup(name)
	if !ok || !s.begin() {
		return Run{}, false
	}
	defer s.running.Done()
	slot := s.slot(at)
	won, err := s.claim(ctx, name, slot)
	if err != nil {
		s.log.Error("cron claim failed; skipping this run", "job", name, "slot", slot.Format(time.RFC3339), "err", err.Error())
		return Run{}, false
	}
	if !won {
		s.log.Debug("cron slot taken by another instance", "job", name, "slot", slot.Format(time.RFC3339))
		return Run{}, false
	}
	return s.execute(ctx, e.job, TriggerSchedule), true
}

// slot is the scheduled minute (second with WithSeconds) holding t, in UTC.
func (s *Scheduler) slot(t time.Time) time.Time {
	if s.seconds {
		return t.UTC().Truncate(time.Second)
	}
	return t.UTC().Truncate(time.Minute)
}
