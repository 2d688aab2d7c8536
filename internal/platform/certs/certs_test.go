package certs_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/relaywork/suite/internal/platform/certs"
	"github.com/relaywork/suite/internal/platform/certs/certstest"
)

// TestTLSALPNChallenge obtains a certificate from Pebble with only the
// TLS-ALPN-01 challenge, answered by the HTTPS listener itself.
func TestTLSALPNChallenge(t *testing.T) {
	t.Parallel()
	dns := certstest.StartDNS(t, net.ParseIP("127.0.0.1"))
	peb := certstest.StartPebble(t, dns.Addr)
	reg := prometheus.NewRegistry()
	m, err := certs.New(certs.Options{
		Registerer: reg,
		Storage:    &certmagic.FileStorage{Path: t.TempDir()},
		CA:         peb.Directory,
		CARoots:    peb.CARootPool(t),
		Allowed:    func() []string { return []string{"alpn.test"} },
		ListenHost: "127.0.0.1",
		HTTPPort:   peb.HTTPPort, HTTPSPort: peb.TLSPort,
		OnlyTLSALPN: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(peb.TLSPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello " + r.Host)) })}
	go srv.Serve(tls.NewListener(ln, m.TLSConfig()))
	defer srv.Shutdown(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}

	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{ServerName: "alpn.test", RootCAs: peb.Roots(t)})
	if err != nil {
		t.Fatalf("handshake for an allowed name: %v", err)
	}
	leaf := c.ConnectionState().PeerCertificates[0]
	c.Close()
	if leaf.VerifyHostname("alpn.test") != nil || !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Fatalf("certificate: %v issued by %s", leaf.DNSNames, leaf.Issuer)
	}
	if got, ok := m.Certificate("ALPN.test."); !ok || got.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatal("Certificate: the cache does not hold the served certificate")
	}
	if n := counter(t, reg, "tls_certificate_issued_total", "alpn.test"); n != 1 {
		t.Fatalf("issued: got %v, want 1", n)
	}
	if _, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "other.test", InsecureSkipVerify: true}); err == nil {
		t.Fatal("a name not allowed got a certificate")
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name, domain string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "domain" && l.GetValue() == domain {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{domain=%q}", name, domain)
	return 0
}

func TestAllows(t *testing.T) {
	t.Parallel()
	list := func() []string { return []string{"Coach.Acme.example", "b.example."} }
	for host, want := range map[string]bool{
		"coach.acme.example": true, "COACH.acme.example.": true, "coach.acme.example:443": true, "b.example": true,
		"www.coach.acme.example": false, "acme.example": false, "": false, "public.example": true, "evil.example": false,
	} {
		if got := certs.Allows("public.example", list, host); got != want {
			t.Errorf("Allows(%q): got %v, want %v", host, got, want)
		}
	}
	if certs.Allows("", nil, "anything") {
		t.Error("nothing allowed: got true")
	}
}

// TestRenewal: a certificate entering its renewal window is renewed in
// the background and the new one is served, with no restart.
func TestRenewal(t *testing.T) {
	t.Parallel()
	dns := certstest.StartDNS(t, net.ParseIP("127.0.0.1"))
	peb := certstest.StartPebbleValidity(t, dns.Addr, 60*time.Second)
	reg := prometheus.NewRegistry()
	m, err := certs.New(certs.Options{
		Registerer: reg,
		Storage:    &certmagic.FileStorage{Path: t.TempDir()},
		CA:         peb.Directory, CARoots: peb.CARootPool(t),
		Allowed:    func() []string { return []string{"renew.test"} },
		ListenHost: "127.0.0.1", HTTPPort: peb.HTTPPort, HTTPSPort: peb.TLSPort,
		// Renew in the last 90 % of a 60 s lifetime, checked every second.
		RenewalWindowRatio: 0.9, RenewCheckInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(peb.TLSPort))
	if err != nil {
		t.Fatal(err)
	}
	hln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(peb.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(tls.NewListener(ln, m.TLSConfig()))
	hsrv := &http.Server{Handler: m.HTTPHandler()}
	go hsrv.Serve(hln)
	defer srv.Shutdown(context.Background())
	defer hsrv.Shutdown(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 30 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{ServerName: "renew.test", RootCAs: peb.Roots(t)})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	deadline := time.Now().Add(45 * time.Second)
	for serial() == first {
		if time.Now().After(deadline) {
			t.Fatal("the certificate was not renewed within its window")
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n := counter(t, reg, "tls_certificate_issued_total", "renew.test"); n < 2 {
		t.Fatalf("issued: got %v, want the first and a renewal", n)
	}
}
