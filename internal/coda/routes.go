package coda

import (
	"net/http"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/web"
)

// routes maps every Coda route. The platform adds /healthz, /readyz,
// /metrics and /api/cron/{job} (where purge-soft-deletes runs).
func (s *site) routes(p *app.Platform) {
	rt := p.Router
	rt.Handle("GET /{$}", p.Read(http.HandlerFunc(s.handleHome)))
}

// ideaRoutes maps the ideas API, pages and token settings. API routes
// accept a session cookie or a personal API token (Bearer); token
// management and pages need the session.
func (s *site) ideaRoutes(h *ideasHTTP) {
	p, rt := s.p, s.p.Router
	api := func(f http.HandlerFunc) http.Handler { return h.withToken(p.Auth.RequireUser(p.Read(f))) }
	apiWrite := func(f http.HandlerFunc) http.Handler {
		return h.withToken(p.Auth.RequireUser(p.Limit(ideasWritePolicy, f)))
	}
	rt.Handle("GET /api/ideas", api(h.handleIdeaList))
	rt.Handle("POST /api/ideas", apiWrite(h.handleIdeaCreate))
	rt.Handle("GET /api/ideas/deleted", api(h.handleIdeaDeletedList))
	rt.Handle("GET /api/ideas/export", api(h.handleIdeaExport))
	rt.Handle("POST /api/ideas/import", apiWrite(h.handleIdeaImport))
	rt.Handle("POST /api/ideas/undo", apiWrite(h.handleIdeaUndo))
	rt.Handle("POST /api/ideas/preview", api(h.handleIdeaPreview))
	rt.Handle("GET /api/ideas/{id}", api(h.handleIdeaGet))
	rt.Handle("PATCH /api/ideas/{id}", apiWrite(h.handleIdeaUpdate))
	rt.Handle("DELETE /api/ideas/{id}", apiWrite(h.handleIdeaDelete))
	rt.Handle("POST /api/ideas/{id}/restore", apiWrite(h.handleIdeaRestore))
	rt.Handle("POST /api/ideas/{id}/tasks/{n}", apiWrite(h.handleIdeaTask))

	session := func(f http.HandlerFunc) http.Handler { return p.Auth.RequireUser(p.Read(f)) }
	sessionWrite := func(f http.HandlerFunc) http.Handler { return p.Auth.RequireUser(p.Limit(ideasWritePolicy, f)) }
	rt.Handle("GET /api/tokens", session(h.handleTokenList))
	rt.Handle("POST /api/tokens", sessionWrite(h.handleTokenCreate))
	rt.Handle("DELETE /api/tokens/{id}", sessionWrite(h.handleTokenRevoke))

	rt.Handle("GET /ideas", session(h.handleIdeasPage))
	rt.Handle("POST /ideas", sessionWrite(h.handleIdeasPageCreate))
	rt.Handle("GET /ideas/deleted", session(h.handleDeletedPage))
	rt.Handle("GET /ideas/transfer", session(h.handleTransferPage))
	rt.Handle("POST /ideas/import", sessionWrite(h.handleImportPage))
	rt.Handle("GET /ideas/{id}", session(h.handleIdeaPage))
	rt.Handle("POST /ideas/{id}", sessionWrite(h.handleIdeaPageSave))
	rt.Handle("POST /ideas/{id}/delete", sessionWrite(h.handleIdeaPageDelete))
	rt.Handle("POST /ideas/{id}/restore", sessionWrite(h.handleIdeaPageRestore))
	rt.Handle("GET /settings/tokens", session(h.handleTokensPage))
	rt.Handle("POST /settings/tokens", sessionWrite(h.handleTokensPageCreate))
	rt.Handle("POST /settings/tokens/{id}/revoke", sessionWrite(h.handleTokensPageRevoke))
}

// handleHome handles GET /: the product page, or for a signed-in user
// the way in, their ideas.
func (s *site) handleHome(w http.ResponseWriter, r *http.Request) {
	if _, ok := auth.UserFrom(r.Context()); ok {
		http.Redirect(w, r, "/ideas", http.StatusSeeOther)
		return
	}
	s.render.Page(w, r, http.StatusOK, "home.html", &web.Page{
		Title:       "Ideas and a terminal, wherever you are",
		Description: Tagline,
		Data: map[string]any{
			"DevMode":    s.p.Config.EnableDevMode,
			"UndoWindow": web.DurationText(s.p.Config.UndoWindow),
		},
	})
}
