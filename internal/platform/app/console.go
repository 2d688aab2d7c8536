package app

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/admin"
	"github.com/relaywork/suite/internal/platform/cron"
	"github.com/relaywork/suite/internal/platform/rollup"
	"github.com/relaywork/suite/internal/platform/vitals"
)

// platformSources are the figures every product's overview charts: users,
// live sessions (sampled) and sign-ins (counted from the audit log).
func (p *Platform) platformSources() []rollup.Source {
	return []rollup.Source{
		{Metric: "users", Kind: rollup.Gauge, Collect: func(ctx context.Context, _, _ time.Time) (map[string]float64, error) {
			c, err := p.Auth.Count(ctx)
			return map[string]float64{"": float64(c.Users)}, err
		}},
		{Metric: "sessions.active", Kind: rollup.Gauge, Collect: func(ctx context.Context, _, _ time.Time) (map[string]float64, error) {
			c, err := p.Auth.Count(ctx)
			return map[string]float64{"": float64(c.Sessions)}, err
		}},
		{Metric: "signins", Kind: rollup.Counter, Collect: func(ctx context.Context, from, to time.Time) (map[string]float64, error) {
			n, err := p.Audit.Count(ctx, "signin", from, to)
			return map[string]float64{"": float64(n)}, err
		}},
	}
}

// registerRollupJob adds the rollup-metrics job: this instance's buffered
// minutes are written first, so a run (or "Run now") sees them.
func (p *Platform) registerRollupJob(m *Mounted) error {
	job := &rollup.Job{Store: p.Rollups, Sources: append(p.platformSources(), m.RollupSources...), Now: p.Now}
	p.rollupJob = job
	return p.Cron.Register(cron.Job{
		Name: rollup.JobName, Schedule: rollup.JobSchedule,
		Description: "sum every instance's per-minute metrics into the admin console's hourly and daily rollups (kept 90 days)",
		Run: func(ctx context.Context) (map[string]any, error) {
			if err := p.Recorder.Flush(ctx, true); err != nil {
				return nil, err
			}
			return job.Run(ctx)
		},
	})
}

// httpTap feeds finished requests to the rollups: counts, 5xx and latency,
// leaving out probes and scrapes, which would drown the request rate.
func (p *Platform) httpTap(route, _ string, code int, d time.Duration) {
	switch route {
	case "GET /healthz", "GET /readyz", "GET /metrics":
		return
	}
	p.Recorder.Count("http.requests", "", 1)
	if code >= 500 {
		p.Recorder.Count("http.errors", "", 1)
	}
	p.Recorder.Observe("http.latency", "", float64(d.Microseconds())/1000)
}

// mountConsole registers POST /api/vitals (unless VITALS_ENABLED is off)
// and the admin console, once the product has mounted its pages.
func (p *Platform) mountConsole(m *Mounted) error {
	if p.Config.VitalsEnabled {
		vh, err := vitals.NewHandler(vitals.Options{
			Registerer: p.Metrics,
			Recorder:   p.Recorder,
			Route: func(path string) string {
				pat := p.Router.PagePattern(path)
				// API, asset and admin paths are not pages people browse.
				if strings.HasPrefix(pat, "/api/") || strings.HasPrefix(pat, "/assets/") {
					return ""
				}
				return pat
			},
			Segment: m.VitalsSegment,
		})
		if err != nil {
			return err
		}
		p.Router.Handle("POST "+vitals.Path, p.Limit(VitalsPolicy, vh))
	}
	if p.pages == nil {
		return nil
	}
	console := admin.New(admin.Options{
		Render: p.pages, Auth: p.Auth, Audit: p.Audit, Cron: p.Cron, Maintenance: p.Maintenance, DB: p.DB,
		Rollups: p.Rollups, Secret: []byte("admin-console:" + p.Config.AuthSecret), Sections: m.Admin,
		Logger: p.Logger, Now: p.Now, VitalsOn: p.Config.VitalsEnabled,
		BeforeRead: func(ctx context.Context) {
			// Flush this instance's minutes and roll up the current hour at
			// most once a minute, so the charts show the last minutes.
			p.refreshRollups(ctx)
		},
	})
	console.Routes(p.Router, func(h http.Handler) http.Handler { return p.Write(h) })
	return nil
}

// refreshRollups flushes this instance's minutes and runs the rollup
// job's work at most once a minute per instance, so the console's charts
// show the last minutes and not only the last scheduled run.
func (p *Platform) refreshRollups(ctx context.Context) {
	p.rollupMu.Lock()
	if !p.rolledAt.IsZero() && p.Now().Sub(p.rolledAt) < time.Minute {
		p.rollupMu.Unlock()
		return
	}
	p.rolledAt = p.Now()
	p.rollupMu.Unlock()
	if err := p.Recorder.Flush(ctx, true); err != nil {
		p.Logger.Warn("flush metric rollups", "err", err.Error())
		return
	}
	if p.rollupJob == nil {
		return
	}
	if _, err := p.rollupJob.Run(ctx); err != nil {
		p.Logger.Warn("refresh metric rollups", "err", err.Error())
	}
}
