package app

import (
	"fmt"
	"io/fs"
	"net/http"

	"github.com/relaywork/suite/internal/platform/admin"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/web"
	webdist "github.com/relaywork/suite/web"
)

// Site is a product's page kit: the renderer (product pages over the
// platform's sign-in pages) and the built assets.
type Site struct {
	Render *web.Renderer
	Assets *web.Assets
}

// MountSite builds the product's renderer, serves /assets/, and registers
// the sign-in pages and API. Pages see the signed-in user as .User.
func (p *Platform) MountSite(templates fs.FS, product web.Product, nav []web.NavLink) (*Site, error) {
	assets, err := web.NewAssets(webdist.Dist())
	if err != nil {
		return nil, err
	}
	tpl, err := web.Overlay(templates, auth.Templates(), admin.Templates())
	if err != nil {
		return nil, err
	}
	r, err := web.NewRenderer(web.RendererOptions{
		Templates: tpl,
		Assets:    assets,
		Product:   product,
		Nav:       nav,
		Vitals:    p.Config.VitalsEnabled,
		Prepare: func(req *http.Request, pg *web.Page) {
			if u, ok := auth.UserFrom(req.Context()); ok {
				if pg.User == nil {
					pg.User = u
				}
				if u.IsAdmin() {
					// Admins see which build answers, for support and upgrades.
					pg.Build = Version
				}
			}
			if p.DressPage != nil && pg.Product == (web.Product{}) {
				p.DressPage(req, pg)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	p.pages = r
	p.Router.SetFail(r.Fail)
	p.Router.Handle("GET "+web.AssetsPrefix, assets.Handler())
	p.Auth.Routes(p.Router, auth.RouteOptions{Pages: r, SignInLimit: p.SignInLimit, WriteLimit: p.Write})
	return &Site{Render: r, Assets: assets}, nil
}
