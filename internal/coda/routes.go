package coda

import (
	"net/http"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/web"
)

// routes maps every Coda route. The platform adds /healthz, /readyz,
// /metrics and /api/cron/{job}.
func (s *site) routes(p *app.Platform) {
	rt := p.Router
	rt.Handle("GET /{$}", p.Read(http.HandlerFunc(s.handleHome)))
}

// handleHome handles GET /.
func (s *site) handleHome(w http.ResponseWriter, r *http.Request) {
	s.render.Page(w, r, http.StatusOK, "home.html", &web.Page{
		Title:       "Ideas and a terminal, wherever you are",
		Description: Tagline,
		Data: map[string]any{
			"DevMode": s.p.Config.EnableDevMode,
		},
	})
}
