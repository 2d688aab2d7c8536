// Package coda wires the Coda product (ideas and DevMode) onto the shared
// platform: its routes, pages, jobs and migrations.
package coda

import (
	"context"
	"embed"
	"io/fs"
	"net/http"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/config"
	"github.com/relaywork/suite/internal/platform/web"
)

//go:embed migrations
var migrations embed.FS

//go:embed templates
var templates embed.FS

// Title and Tagline describe the product in pages and help.
const (
	Title   = "Coda"
	Tagline = "Capture ideas the moment they arrive, and open a terminal on your own machine from the browser."
)

// Product returns the coda binary's description for app.Run.
func Product() app.Product {
	m, _ := fs.Sub(migrations, "migrations")
	return app.Product{
		Name:        config.Coda,
		Title:       Title,
		Description: "ideas app with a browser terminal (DevMode)",
		Migrations:  m,
		Mount:       mount,
		Commands:    []app.Command{RelayCommand()},
	}
}

// site holds what Coda's handlers share.
type site struct {
	p      *app.Platform
	render *web.Renderer
}

func mount(ctx context.Context, p *app.Platform) (*app.Mounted, error) {
	tpl, _ := fs.Sub(templates, "templates")
	kit, err := p.MountSite(tpl,
		web.Product{Name: Title, Tagline: Tagline, Home: "/", CSS: "coda/main.css", JS: "coda/main.js"},
		nav(p.Config.EnableDevMode))
	if err != nil {
		return nil, err
	}
	s := &site{p: p, render: kit.Render}
	m := &app.Mounted{NotFound: http.HandlerFunc(kit.Render.NotFound)}
	s.routes(p)
	// Each part of Coda mounts its own routes, jobs and background work.
	if err := s.mountIdeas(ctx, m); err != nil {
		return nil, err
	}
	if p.Config.EnableDevMode {
		if err := s.mountDevMode(ctx, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// nav is Coda's main navigation.
func nav(devMode bool) []web.NavLink {
	links := []web.NavLink{{Label: "Ideas", Href: "/ideas"}}
	if devMode {
		links = append(links, web.NavLink{Label: "DevMode", Href: "/devmode"})
	}
	return links
}
