package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/certs"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/store"
)

// publicHost is PUBLIC_URL's hostname.
func publicHost(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// registerDomainsAllowed adds GET /api/domains/allowed?domain=…: 200 when
// this deployment serves the domain (PUBLIC_URL's host or a product's
// custom domain), else 404. It is the "ask" endpoint of Caddy's on-demand
// TLS for operators who keep Caddy in front, and what `domains check` asks.
func (p *Platform) registerDomainsAllowed(domains func() []string) {
	pub := publicHost(p.Config.PublicURL)
	p.Router.Handle("GET /api/domains/allowed", p.Read(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := r.URL.Query().Get("domain")
		if d == "" {
			httpapi.Error(w, r, apperr.InvalidFields("domain is required", map[string]string{"domain": "give the hostname to check, such as coach.example.com"}))
			return
		}
		if !certs.Allows(pub, domains, d) {
			httpapi.Error(w, r, apperr.E(apperr.NotFound, "no community of this deployment lists this domain"))
			return
		}
		httpapi.Write(w, http.StatusOK, map[string]any{"domain": certs.Normalize(d), "allowed": true})
	})))
}

// tlsListeners is what TLS=auto adds to serve: the HTTPS listener wrapped
// in the certificate manager's TLS configuration, and a plain HTTP server
// for ACME HTTP-01 challenges and redirects.
type tlsListeners struct {
	mgr  *certs.Manager
	http *http.Server
	hln  net.Listener
}

// listenTLS binds HTTP_PORT and HTTPS_PORT for TLS=auto. It returns the
// raw HTTPS listener (wrapped later, once the product is mounted) so that
// start-up binds its ports before anything slow.
func listenTLS(httpsAddr, httpAddr string) (hs, h net.Listener, err error) {
	hs, err = net.Listen("tcp", httpsAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen on %s (HTTPS_PORT): %w", httpsAddr, err)
	}
	h, err = net.Listen("tcp", httpAddr)
	if err != nil {
		hs.Close()
		return nil, nil, fmt.Errorf("listen on %s (HTTP_PORT): %w", httpAddr, err)
	}
	return hs, h, nil
}

// startTLS builds the certificate manager for pl and starts the HTTP
// side. It returns the HTTPS listener to serve on.
func startTLS(ctx context.Context, pl *Platform, domains func() []string, hs, h net.Listener) (net.Listener, *tlsListeners, error) {
	c := pl.Config
	var roots *x509.CertPool
	if c.ACMECARoot != "" {
		pem, err := os.ReadFile(c.ACMECARoot)
		if err != nil {
			return nil, nil, fmt.Errorf("ACME_CA_ROOT: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, nil, errors.New("ACME_CA_ROOT: no PEM certificate in the file")
		}
	}
	var storage certmagic.Storage = &certmagic.FileStorage{Path: filepath.Join(c.DataDir, "certs")}
	if pl.DB.Dialect == store.Postgres {
		// Several instances share the database: they share certificates,
		// challenge answers and issuance locks through it too.
		storage = certs.NewSQLStorage(pl.DB, pl.Now)
	}
	listenHost, _, _ := net.SplitHostPort(hs.Addr().String())
	if ip := net.ParseIP(listenHost); ip != nil && ip.IsUnspecified() {
		listenHost = ""
	}
	mgr, err := certs.New(certs.Options{
		Logger:     pl.Logger,
		Registerer: pl.Metrics,
		Storage:    storage,
		CA:         c.ACMECA,
		Email:      c.ACMEEmail,
		CARoots:    roots,
		PublicHost: publicHost(c.PublicURL),
		Allowed:    domains,
		ListenHost: listenHost,
		HTTPPort:   h.Addr().(*net.TCPAddr).Port,
		HTTPSPort:  hs.Addr().(*net.TCPAddr).Port,
	})
	if err != nil {
		return nil, nil, err
	}
	t := &tlsListeners{mgr: mgr, hln: h, http: &http.Server{
		Handler:           mgr.HTTPHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          nil,
	}}
	go func() {
		if err := t.http.Serve(h); err != nil && !errors.Is(err, http.ErrServerClosed) {
			pl.Logger.Error("HTTP (ACME challenges and redirects) stopped", "err", err.Error())
		}
	}()
	if err := mgr.Start(ctx); err != nil {
		t.close()
		return nil, nil, err
	}
	pl.Logger.Info("HTTPS with automatic certificates", "ca", c.ACMECA, "public_host", publicHost(c.PublicURL), "http", h.Addr().String(), "https", hs.Addr().String())
	return tls.NewListener(hs, mgr.TLSConfig()), t, nil
}

func (t *tlsListeners) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = t.http.Shutdown(ctx)
	t.mgr.Close()
}
