// Package voyager wires the Voyager product (AI career coaching in communities) onto the shared
// platform: its routes, pages, jobs and migrations.
package voyager

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/blob"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/cron"
	"github.com/relaywork/suite/internal/platform/web"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/ai/anthropic"
	"github.com/relaywork/suite/internal/voyager/ai/openai"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/chat/chatredis"
	"github.com/relaywork/suite/internal/voyager/chat/chatstore"
	"github.com/relaywork/suite/internal/voyager/coach"
	"github.com/relaywork/suite/internal/voyager/coach/coachstore"
	"github.com/relaywork/suite/internal/voyager/community"
	"github.com/relaywork/suite/internal/voyager/voyagerhttp"
)

//go:embed migrations
var migrations embed.FS

//go:embed templates
var templates embed.FS

// Title and Tagline describe the product in pages and help.
const (
	Title   = "Voyager"
	Tagline = "An AI career coach in your community: honest answers about your next move, any time."
)

// Product returns the voyager binary's description for app.Run.
func Product() app.Product {
	m, _ := fs.Sub(migrations, "migrations")
	return app.Product{
		Name:        config.Voyager,
		Title:       Title,
		Description: "AI career-coaching chat in white-label communities",
		Migrations:  m,
		Mount:       mount,
		Commands:    []app.Command{communitiesCommand(), domainsCommand(), archiveCommand(), billingCommand()},
		Check:       billingCheck,
	}
}

// Migrations returns Voyager's migrations (sqlite/ and postgres/), for store tests.
func Migrations() fs.FS {
	m, _ := fs.Sub(migrations, "migrations")
	return m
}

// site holds what Voyager's handlers share.
type site struct {
	p      *app.Platform
	render *web.Renderer
}

// reloadInterval is how often the communities folder is checked for changes.
const reloadInterval = 2 * time.Second

func mount(ctx context.Context, p *app.Platform) (*app.Mounted, error) {
	reg, err := community.Open(p.Config.CommunitiesDir, p.Logger)
	if err != nil {
		var ps community.Problems
		if errors.As(err, &ps) {
			return nil, app.Usagef("voyager: refusing to start: %v\nRun `voyager communities validate %s` after fixing.", err, p.Config.CommunitiesDir)
		}
		return nil, err
	}
	tpl, _ := fs.Sub(templates, "templates")
	kit, err := p.MountSite(tpl,
		web.Product{Name: Title, Tagline: Tagline, Home: "/", CSS: "voyager/main.css", JS: "voyager/main.js"},
		[]web.NavLink{{Label: "Home", Href: "/"}})
	if err != nil {
		return nil, err
	}
	router := ai.NewRouter(ai.Options{Providers: providers(p.Config), Logger: p.Logger, Metrics: p.Metrics, Now: p.Now})
	st := chatstore.New(p.DB)
	var bus chat.Bus
	if p.Redis != nil {
		// Several instances: answers in progress are shared through Redis.
		bus = chatredis.New(p.Redis, "voyager:")
	}
	bill := newBilling(p, reg)
	coachSet := coach.Settings{
		ContextTokens: p.Config.CoachContextTokens,
		Limits:        coach.Limits{MaxBytes: p.Config.DocumentMaxBytes, MaxPages: p.Config.DocumentMaxPages},
	}
	if p.Config.FilesURL != "" {
		files, err := blob.Open(p.Config.FilesURL, blob.Credentials{AccessKeyID: p.Config.FilesS3AccessKeyID, SecretAccessKey: p.Config.FilesS3SecretAccessKey})
		if err != nil {
			return nil, app.Usagef("voyager: %v", err)
		}
		coachSet.Files = files
		p.Logger.Info("attached files are kept outside the database", "store", files.String())
	}
	coachSvc := coach.NewService(coachstore.New(p.DB), coachSet, p.Now)
	svc := chat.NewService(chat.Options{Store: st, AI: router, Bus: bus, Logger: p.Logger, Now: p.Now, HistoryLimit: p.Config.ChatHistoryLimit,
		Coach: coachSvc, CacheMetrics: chat.NewCacheMetrics(p.Metrics), Gate: bill})
	hint := ""
	if !router.Configured() {
		hint = "ANTHROPIC_API_KEY"
	}
	h := voyagerhttp.New(voyagerhttp.Options{Communities: reg, Chat: svc, Render: kit.Render, Audit: p.Audit, Logger: p.Logger, Now: p.Now, PublicURL: p.Config.PublicURL, AIHint: hint, Coach: coachSvc, Billing: bill,
		InviteKey: inviteKey(p.Config.AuthSecret),
		SignIn: func(w http.ResponseWriter, r *http.Request, userID, method string) error {
			_, err := p.Auth.SignIn(w, r, userID, method)
			return err
		}})
	// Sign-in pages shown for a community wear its brand.
	p.DressPage = h.DressPlatformPage
	s := &site{p: p, render: kit.Render}
	s.routes(p, h)
	s.billingRoutes(p, h, bill)
	p.Auth.AddDataSection(dataSection(p, st))
	p.Auth.AddDataSection(coachDataSection(st, coachSvc))
	if err := p.Cron.Register(cron.Job{Name: "purge-answer-cache", Schedule: "41 * * * *", Description: "delete expired cached answers",
		Run: func(ctx context.Context) (map[string]any, error) {
			n, err := coachSvc.Store().PurgeCache(ctx, p.Now())
			return map[string]any{"deleted": n}, err
		}}); err != nil {
		return nil, err
	}

	m := &app.Mounted{NotFound: http.HandlerFunc(kit.Render.NotFound), Domains: func() []string { return listedDomains(reg.Current()) }, BodyLimits: map[string]int64{
		// Attached documents: the file plus the multipart envelope.
		"/api/c/{cid}/documents": p.Config.DocumentMaxBytes + 64<<10,
		"/c/{cid}/documents":     p.Config.DocumentMaxBytes + 64<<10,
		"/documents":             p.Config.DocumentMaxBytes + 64<<10,
	}}
	adminMount(p, m, reg, st, router)
	for _, d := range reg.Current().Domains() {
		m.TrustedOrigins = append(m.TrustedOrigins, "https://"+d, "https://www."+d)
	}
	m.AddStart(func(ctx context.Context) {
		// Answers left streaming by a process that stopped are interrupted.
		if p.Redis == nil {
			if n, err := st.InterruptStreaming(ctx, p.Now()); err == nil && n > 0 {
				p.Logger.Warn("answers left streaming by the last run marked interrupted", "count", n)
			}
		}
		reg.Watch(ctx, reloadInterval)
	})
	m.AddClose(svc.Close)
	return m, nil
}

// providers builds the configured AI providers, Anthropic first.
func providers(c *config.Config) []ai.Provider {
	var out []ai.Provider
	if c.AnthropicAPIKey != "" {
		out = append(out, anthropic.New(anthropic.Options{APIKey: c.AnthropicAPIKey, BaseURL: c.AnthropicBaseURL}))
	}
	if c.OpenAIAPIKey != "" || c.OpenAIBaseURL != "" {
		key := c.OpenAIAPIKey
		if key == "" {
			key = "local" // OpenAI-compatible local servers ignore the key
		}
		out = append(out, openai.New(openai.Options{APIKey: key, BaseURL: c.OpenAIBaseURL}))
	}
	return out
}

// inviteKey derives the key of invite links from AUTH_SECRET. After the
// secret changes, older links keep working, but the list no longer shows
// them (their tokens no longer derive from the key).
func inviteKey(secret string) []byte {
	if secret == "" {
		return nil
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("voyager invite links"))
	return m.Sum(nil)
}
