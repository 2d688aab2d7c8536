package voyager

import (
	"net/http"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/web"
)

// routes maps every Voyager route. The platform adds /healthz, /readyz,
// /metrics and /api/cron/{job}.
func (s *site) routes(p *app.Platform) {
	rt := p.Router
	rt.Handle("GET /{$}", p.Read(http.HandlerFunc(s.handleHome)))
}

// handleHome handles GET /: the platform's landing page.
func (s *site) handleHome(w http.ResponseWriter, r *http.Request) {
	s.render.Page(w, r, http.StatusOK, "home.html", &web.Page{
		Title:       "AI career coaching for your community",
		Description: Tagline,
		Data: map[string]any{
			"AIConfigured": s.p.Config.AnthropicAPIKey != "" || s.p.Config.OpenAIAPIKey != "",
		},
	})
}
