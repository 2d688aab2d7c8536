// Package certs serves HTTPS from the binary itself: it obtains and renews
// certificates over ACME with CertMagic (Caddy's library) for the public
// host and, on demand at the first TLS handshake, for exactly the hostnames
// a product allows (Voyager: the communities' branding.domains), answers
// HTTP-01 and TLS-ALPN-01 challenges, staples OCSP, and redirects plain
// HTTP to HTTPS. Certificates live in a Storage: files under DATA_DIR on
// one machine, the database when several instances share PostgreSQL.
package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Manager.
type Options struct {
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Storage    certmagic.Storage
	// CA is the ACME directory URL; Email the account's contact.
	CA, Email string
	// CARoots, if set, are trusted for the CA's own HTTPS (a private CA).
	CARoots *x509.CertPool
	// PublicHost always has a certificate, obtained at start.
	PublicHost string
	// Allowed lists the other hostnames that may get a certificate on
	// demand; it is asked at every decision, so a reloaded list applies at
	// once. Nil: only PublicHost.
	Allowed func() []string
	// ListenHost, HTTPPort and HTTPSPort are where this server listens,
	// so CertMagic answers challenges through it rather than opening ports
	// of its own, and redirects name the right port.
	ListenHost          string
	HTTPPort, HTTPSPort int
	// OnlyTLSALPN turns the HTTP-01 challenge off, so the CA validates
	// over HTTPS_PORT alone (for a deployment whose port 80 is closed).
	OnlyTLSALPN bool
	// RenewalWindowRatio is the part of a certificate's lifetime, at its
	// end, in which it is renewed (default CertMagic's, 1/3).
	RenewalWindowRatio float64
	// RenewCheckInterval is how often certificates are checked for
	// renewal (default CertMagic's, 10 minutes).
	RenewCheckInterval time.Duration
}

// Manager holds the certificate cache and the ACME issuer.
type Manager struct {
	o      Options
	log    *slog.Logger
	cache  *certmagic.Cache
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer

	attempts, obtained, failures, denied *prometheus.CounterVec

	mu      sync.Mutex
	managed map[string]bool // names obtained or loaded, for Sync
}

// New returns a Manager; call Start to obtain the public host's
// certificate and Close when done.
func New(o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Storage == nil {
		return nil, errors.New("certs: no storage")
	}
	if o.CA == "" {
		return nil, errors.New("certs: no ACME CA")
	}
	m := &Manager{o: o, log: o.Logger.With("component", "certs"), managed: map[string]bool{}}
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tls_certificate_issuance_attempts_total", Help: "Certificate orders started, by domain."}, []string{"domain"})
	m.obtained = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tls_certificate_issued_total", Help: "Certificates obtained or renewed, by domain."}, []string{"domain"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tls_certificate_issuance_failures_total", Help: "Failed certificate orders, by domain."}, []string{"domain"})
	m.denied = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tls_on_demand_denied_total", Help: "TLS handshakes for a hostname no community lists (no certificate asked for), by reason."}, []string{"reason"})
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{m.attempts, m.obtained, m.failures, m.denied, expiryCollector{m}} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("certs: metrics: %w", err)
			}
		}
	}
	zl := zapFromSlog(m.log)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   func(certmagic.Certificate) (*certmagic.Config, error) { return m.cfg, nil },
		RenewCheckInterval: o.RenewCheckInterval,
		Logger:             zl,
	})
	m.cfg = certmagic.New(m.cache, certmagic.Config{
		Storage:            o.Storage,
		Logger:             zl,
		RenewalWindowRatio: o.RenewalWindowRatio,
		OnEvent:            m.onEvent,
		OnDemand:           &certmagic.OnDemandConfig{DecisionFunc: m.decide},
		// Clients without SNI (an IP address) get the public host's.
		DefaultServerName: Normalize(o.PublicHost),
	})
	m.issuer = certmagic.NewACMEIssuer(m.cfg, certmagic.ACMEIssuer{
		CA:                   o.CA,
		Email:                o.Email,
		Agreed:               true,
		TrustedRoots:         o.CARoots,
		ListenHost:           o.ListenHost,
		AltHTTPPort:          o.HTTPPort,
		AltTLSALPNPort:       o.HTTPSPort,
		DisableHTTPChallenge: o.OnlyTLSALPN,
		Logger:               zl,
	})
	m.cfg.Issuers = []certmagic.Issuer{m.issuer}
	return m, nil
}

// Start obtains (or loads) the public host's certificate in the
// background; handshakes for it wait until it is there.
func (m *Manager) Start(ctx context.Context) error {
	if m.o.PublicHost == "" {
		return nil
	}
	m.remember(m.o.PublicHost)
	go func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.Sync()
			}
		}
	}()
	return m.cfg.ManageAsync(ctx, []string{m.o.PublicHost})
}

// Close stops renewals.
func (m *Manager) Close() { m.cache.Stop() }

// TLSConfig is the server's TLS configuration: certificates chosen per
// SNI name (obtained on demand for allowed names), TLS-ALPN-01 answered,
// HTTP/2 offered.
func (m *Manager) TLSConfig() *tls.Config {
	tc := m.cfg.TLSConfig()
	get := tc.GetCertificate
	tc.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		// A name that is no longer listed (a community dropped a domain)
		// stops being served at once, even while its certificate is cached.
		if hello.ServerName != "" && !m.Allowed(hello.ServerName) {
			m.denied.WithLabelValues("not_listed").Inc()
			return nil, fmt.Errorf("no certificate for %q: not a domain of this deployment", hello.ServerName)
		}
		return get(hello)
	}
	tc.NextProtos = append([]string{"h2", "http/1.1"}, tc.NextProtos...)
	tc.MinVersion = tls.VersionTLS12
	return tc
}

// HTTPHandler answers ACME HTTP-01 challenges and sends every other plain
// HTTP request to the same URL over HTTPS (308, so methods survive).
func (m *Manager) HTTPHandler() http.Handler {
	return m.issuer.HTTPChallengeHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || !m.Allowed(host) {
			http.Error(w, "This address is served over HTTPS only.", http.StatusNotFound)
			return
		}
		target := "https://" + hostPort(host, m.o.HTTPSPort) + r.URL.RequestURI()
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	}))
}

// Allowed reports whether host may have a certificate: the public host or
// one of the allowed names, compared without case or a trailing dot.
func (m *Manager) Allowed(host string) bool { return Allows(m.o.PublicHost, m.o.Allowed, host) }

// Allows reports whether host is publicHost or one of allowed's names,
// compared without case, port or a trailing dot. It is the one decision
// behind on-demand certificates and the ask endpoint a proxy in front
// (Caddy's on_demand_tls) calls.
func Allows(publicHost string, allowed func() []string, host string) bool {
	host = Normalize(host)
	if host == "" {
		return false
	}
	if host == Normalize(publicHost) {
		return true
	}
	if allowed == nil {
		return false
	}
	for _, d := range allowed() {
		if Normalize(d) == host {
			return true
		}
	}
	return false
}

// Sync drops from the cache the certificates of names that are no longer
// allowed (a community removed a domain), so they stop being served at
// once; nothing is deleted from storage.
func (m *Manager) Sync() {
	m.mu.Lock()
	var gone []string
	for name := range m.managed {
		if !m.Allowed(name) {
			gone = append(gone, name)
			delete(m.managed, name)
		}
	}
	m.mu.Unlock()
	if len(gone) == 0 {
		return
	}
	subjects := make([]certmagic.SubjectIssuer, len(gone))
	for i, n := range gone {
		subjects[i] = certmagic.SubjectIssuer{Subject: n}
	}
	m.cache.RemoveManaged(subjects)
	m.log.Info("certificates no longer served: domain removed", "domains", gone)
}

// Certificate returns the leaf certificate the cache holds for name.
func (m *Manager) Certificate(name string) (*x509.Certificate, bool) {
	for _, c := range m.cache.AllMatchingCertificates(Normalize(name)) {
		if c.Leaf != nil {
			return c.Leaf, true
		}
	}
	return nil, false
}

// Names are the hostnames that may have a certificate.
func (m *Manager) Names() []string {
	all := []string{m.o.PublicHost}
	if m.o.Allowed != nil {
		all = append(all, m.o.Allowed()...)
	}
	seen := map[string]bool{}
	var names []string
	for _, d := range all {
		if n := Normalize(d); n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	return names
}

// decide is CertMagic's on-demand decision: a name no community lists never
// triggers an order.
func (m *Manager) decide(ctx context.Context, name string) error {
	if !m.Allowed(name) {
		m.denied.WithLabelValues("not_listed").Inc()
		return fmt.Errorf("%s is not a domain of this deployment", name)
	}
	m.remember(name)
	return nil
}

func (m *Manager) remember(name string) {
	m.mu.Lock()
	m.managed[Normalize(name)] = true
	m.mu.Unlock()
}

// onEvent turns CertMagic's events into metrics and log lines.
func (m *Manager) onEvent(ctx context.Context, event string, data map[string]any) error {
	id, _ := data["identifier"].(string)
	if id != "" && !m.Allowed(id) {
		id = "other" // never a label per unknown name
	}
	switch event {
	case "cert_obtaining":
		m.attempts.WithLabelValues(id).Inc()
		m.log.Info("asking for a certificate", "domain", id)
	case "cert_obtained":
		m.obtained.WithLabelValues(id).Inc()
		m.log.Info("certificate obtained", "domain", id, "renewal", data["renewal"] == true)
	case "cert_failed":
		m.failures.WithLabelValues(id).Inc()
		msg := ""
		if err, ok := data["error"].(error); ok {
			msg = err.Error()
		}
		m.log.Warn("certificate order failed", "domain", id, "renewal", data["renewal"] == true, "err", msg)
	}
	return nil
}

// expiryCollector reports each served certificate's expiry at scrape time.
type expiryCollector struct{ m *Manager }

var expiryDesc = prometheus.NewDesc("tls_certificate_expiry_timestamp_seconds", "When the certificate served for a domain expires (Unix time).", []string{"domain"}, nil)

func (c expiryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiryDesc }

func (c expiryCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.m.Names() {
		if leaf, ok := c.m.Certificate(name); ok {
			ch <- prometheus.MustNewConstMetric(expiryDesc, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()), name)
		}
	}
}

// Normalize lowercases a hostname and drops a port and a trailing dot.
func Normalize(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	return strings.TrimSuffix(h, ".")
}

func hostPort(host string, port int) string {
	if port == 443 || port == 0 {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
