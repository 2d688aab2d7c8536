package coda

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaywork/suite/internal/coda/devmode"
	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/runnerdist"
	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/cron"
)

// Relay endpoint paths, on Coda itself or on a relay run alone.
const (
	relayRunnerPath   = "/devmode/relay/runner"
	relayTerminalPath = "/devmode/relay/terminal"
)

// devMode holds DevMode's services and handlers.
type devMode struct {
	s     *site
	svc   *devmode.Service
	relay *relay.Relay
	// downloadDir is the folder of runner builds served at
	// /devmode/downloads/; remote reads RUNNER_DOWNLOAD_BASE's manifest.
	downloadDir string
	remote      *runnerdist.Remote
	warnedDir   atomic.Bool
}

// mountDevMode registers the DevMode pages, the relay and its jobs.
func (s *site) mountDevMode(ctx context.Context, m *app.Mounted) error {
	p := s.p
	interval := devmode.DefaultInterval
	if !p.Config.Production() {
		// Development and tests pair quickly; production keeps RFC 8628's 5 s.
		interval = time.Second
	}
	svc, err := devmode.New(devmode.Options{
		DB:       p.DB,
		Secret:   []byte(p.Config.DevModeJWTSecret),
		Audit:    p.Audit,
		Logger:   p.Logger,
		Now:      p.Now,
		Redis:    p.Redis,
		Interval: interval,
	})
	if err != nil {
		return err
	}
	rl := relay.New(relay.Options{Auth: relayAuth{svc}, Logger: p.Logger, Now: p.Now})
	svc.SetOnRevoke(func(runnerID string) {
		rl.Disconnect(runnerID)
		if p.Redis != nil {
			// Relays run alone (`coda relay`) disconnect it too, at once.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := relay.PublishRevoke(ctx, p.Redis, runnerID); err != nil {
				p.Logger.Warn("devmode revoke not published; relays find it at their next heartbeat", "err", err)
			}
		}
	})
	d := &devMode{s: s, svc: svc, relay: rl, downloadDir: runnerDownloadDir(p.Config.RunnerDownloadDir)}
	if base := strings.TrimRight(p.Config.RunnerDownloadBase, "/"); base != "" {
		d.remote = &runnerdist.Remote{URL: base + "/" + runnerdist.ManifestName, Now: p.Now,
			OnError: func(err error) {
				p.Logger.Warn("devmode: cannot read the runner manifest under RUNNER_DOWNLOAD_BASE; links use the usual names and the update banner waits", "err", err.Error())
			}}
	}
	d.routes()
	m.AddClose(rl.Close)
	registerRelayMetrics(p.Metrics, rl)
	s.adminDevMode(m, svc, rl)
	return p.Cron.Register(cron.Job{
		Name:        "cleanup-pairings",
		Schedule:    "0 */6 * * *",
		Description: "delete DevMode pairing requests that expired without approval",
		Run: func(ctx context.Context) (map[string]any, error) {
			n, err := svc.CleanupPairings(ctx)
			if err != nil {
				return nil, err
			}
			return map[string]any{"deleted": n}, nil
		},
	})
}

// routes maps DevMode's routes.
func (d *devMode) routes() {
	p := d.s.p
	rt := p.Router
	user := p.Auth.RequireUser
	rt.Handle("POST /api/devmode/pair/start", p.SignInLimit(http.HandlerFunc(d.handlePairStart)))
	rt.Handle("POST /api/devmode/pair/token", p.Read(http.HandlerFunc(d.handlePairToken)))
	rt.Handle("GET /api/devmode/runners", user(p.Read(http.HandlerFunc(d.handleRunnersJSON))))
	rt.Handle("POST /api/devmode/runners/{id}/ticket", user(p.Read(http.HandlerFunc(d.handleTicket))))
	rt.Handle("GET /devmode", user(p.Read(http.HandlerFunc(d.handleIndex))))
	rt.Handle("GET /devmode/downloads/{file}", p.Read(http.HandlerFunc(d.handleDownload)))
	rt.Handle("GET /devmode/pair", user(p.Read(http.HandlerFunc(d.handlePairPage))))
	rt.Handle("POST /devmode/pair", user(p.Write(http.HandlerFunc(d.handlePairDecide))))
	rt.Handle("POST /devmode/runners/{id}/rename", user(p.Write(http.HandlerFunc(d.handleRename))))
	rt.Handle("POST /devmode/runners/{id}/revoke", user(p.Write(http.HandlerFunc(d.handleRevoke))))
	rt.Handle("GET /devmode/runners/{id}/terminal", user(p.Read(http.HandlerFunc(d.handleTerminalPage))))
	rt.Handle("GET "+relayRunnerPath, http.HandlerFunc(d.relay.HandleRunner))
	rt.Handle("GET "+relayTerminalPath, http.HandlerFunc(d.relay.HandleTerminal))
}

// runnerDownloadDir is RUNNER_DOWNLOAD_DIR, else the runner folder beside
// the coda binary (where a release archive puts it).
func runnerDownloadDir(dir string) string {
	if dir != "" {
		return dir
	}
	exe, err := os.Executable()
	if err != nil {
		return "runner"
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	return filepath.Join(filepath.Dir(exe), "runner")
}

// relayAuth adapts devmode.Service to the relay's Auth.
type relayAuth struct{ svc *devmode.Service }

func (a relayAuth) AuthenticateRunner(ctx context.Context, credential string) (relay.Identity, error) {
	id, err := a.svc.AuthenticateRunner(ctx, credential)
	if apperr.Is(err, apperr.Unauthorized) {
		err = fmt.Errorf("%w: %w", relay.ErrRefused, err)
	}
	return relay.Identity(id), err
}

func (a relayAuth) RedeemTicket(ctx context.Context, ticket string) (relay.Identity, error) {
	id, err := a.svc.RedeemTicket(ctx, ticket)
	return relay.Identity(id), err
}

func (a relayAuth) RunnerSeen(ctx context.Context, runnerID string, h relay.Hello) {
	_ = a.svc.Seen(ctx, runnerID, devmode.Device{Name: h.Name, OS: h.OS, Arch: h.Arch, Version: h.Version})
}

func (a relayAuth) Event(ctx context.Context, e relay.Event) {
	a.svc.Audit(ctx, audit.Entry{ActorID: e.Identity.UserID, Action: e.Action, Resource: "devmode_runner",
		ResourceID: e.Identity.RunnerID, Metadata: map[string]any{"terminal": e.Terminal[:8]}})
}

// publicBase is Coda's public origin: PUBLIC_URL, else the request's host.
func (d *devMode) publicBase(r *http.Request) string {
	if u := d.s.p.Config.PublicURL; u != "" {
		return strings.TrimRight(u, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// relayURL is the WebSocket URL of a relay endpoint: on DEVMODE_RELAY_URL
// when the relay runs alone, else on Coda itself.
func (d *devMode) relayURL(r *http.Request, path string) string {
	base := strings.TrimRight(d.s.p.Config.DevModeRelayURL, "/")
	if base == "" {
		base = d.publicBase(r)
	}
	u, err := url.Parse(base)
	if err != nil {
		return base + path
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u.String()
}

// registerRelayMetrics exports the relay's load on /metrics.
func registerRelayMetrics(reg prometheus.Registerer, rl *relay.Relay) {
	if reg == nil {
		return
	}
	for _, g := range []struct {
		name, help string
		value      func(relay.Stats) int
	}{
		{"devmode_relay_runners", "Runners connected to this relay.", func(s relay.Stats) int { return s.Runners }},
		{"devmode_relay_terminals", "Terminals open on this relay, attached or in their grace period.", func(s relay.Stats) int { return s.Terminals }},
		{"devmode_relay_queued_bytes", "Terminal output waiting for browsers (bounded by the credit window per terminal).", func(s relay.Stats) int { return s.Queued }},
	} {
		_ = reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: g.name, Help: g.help},
			func() float64 { return float64(g.value(rl.Stats())) }))
	}
}
