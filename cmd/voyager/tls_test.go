package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relaywork/suite/internal/platform/app/apptest"
	"github.com/relaywork/suite/internal/platform/certs/certstest"
	"github.com/relaywork/suite/internal/platform/store/storetest"
	"github.com/relaywork/suite/internal/platform/web/browsertest"
)

const tlsGammaJSON = `{
  "id": "gamma", "name": "Gamma Careers", "description": "A public community on its own domain.", "visibility": "public",
  "branding": {"domains": [%s]},
  "coach": {"name": "Gil", "systemPrompt": "You are Gil."},
  "limits": {"messagesPerDay": 0}
}`

func writeGamma(t *testing.T, dir string, domains ...string) {
	t.Helper()
	q := make([]string, len(domains))
	for i, d := range domains {
		q[i] = strconv.Quote(d)
	}
	body := strings.Replace(tlsGammaJSON, "%s", strings.Join(q, ", "), 1)
	tmp := filepath.Join(dir, ".gamma.json.tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "gamma.json")); err != nil {
		t.Fatal(err)
	}
}

// httpsServer is a voyager serving HTTPS with TLS=auto.
type httpsServer struct {
	*apptest.Server
	https, http int
	roots       *x509.CertPool
}

// startHTTPS runs voyager with TLS=auto against Pebble and waits until the
// public host's certificate is served.
func startHTTPS(t *testing.T, peb *certstest.Pebble, roots *x509.CertPool, httpsPort, httpPort int, extra map[string]string, domains ...string) *httpsServer {
	t.Helper()
	env := map[string]string{
		"TLS": "auto", "ACME_CA": peb.Directory, "ACME_CA_ROOT": peb.CARoot, "ACME_EMAIL": "ops@voyager.test",
		"HTTPS_PORT": strconv.Itoa(httpsPort), "HTTP_PORT": strconv.Itoa(httpPort),
		"PUBLIC_URL": "https://voyager.test:" + strconv.Itoa(httpsPort),
	}
	for k, v := range extra {
		env[k] = v
	}
	env = voyagerEnv(t, nil, nil, env)
	writeGamma(t, env["COMMUNITIES_DIR"], domains...)
	s := apptest.StartWith(t, run, env, tlsClient(roots, httpsPort, "voyager.test"))
	return &httpsServer{Server: s, https: httpsPort, http: httpPort, roots: roots}
}

// tlsClient dials 127.0.0.1:port for every host, verifying the server's
// certificate for host against roots, as a browser on the domain would.
func tlsClient(roots *x509.CertPool, port int, host string) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(port))
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: host},
		ForceAttemptHTTP2: true,
	}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (s *httpsServer) get(t *testing.T, host, path string) (*http.Response, string, error) {
	t.Helper()
	resp, err := tlsClient(s.roots, s.https, host).Get("https://" + host + ":" + strconv.Itoa(s.https) + path)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// handshake returns the leaf certificate served for host, or the error.
func handshake(port int, host string, roots *x509.CertPool) (*x509.Certificate, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 20 * time.Second}, "tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0], nil
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHTTPSCustomDomains issues real certificates from Pebble (Let's
// Encrypt's test CA) through voyager's own listeners: for the public host
// at start and on demand for a community's domain; a hostname no
// community lists gets neither a certificate nor an order; plain HTTP
// redirects; a reload adds and removes domains; `domains check` reports.
func TestHTTPSCustomDomains(t *testing.T) {
	t.Parallel()
	dns := certstest.StartDNS(t, net.ParseIP("127.0.0.1"))
	peb := certstest.StartPebble(t, dns.Addr)
	roots := peb.Roots(t)
	s := startHTTPS(t, peb, roots, peb.TLSPort, peb.HTTPPort, nil, "careers.gamma.test")
	dir := s.Env["COMMUNITIES_DIR"]

	// The community page over HTTPS on its domain, certificate issued on
	// the first handshake.
	start := time.Now()
	resp, body, err := s.get(t, "careers.gamma.test", "/")
	if err != nil {
		t.Fatalf("community page over HTTPS: %v", err)
	}
	t.Logf("first HTTPS request on a new domain, certificate issued on demand: %s", time.Since(start).Round(time.Millisecond))
	if resp.StatusCode != 200 || !strings.Contains(body, "Gamma Careers") {
		t.Fatalf("community page on its domain: got %d\n%s", resp.StatusCode, body)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname("careers.gamma.test"); err != nil {
		t.Fatal(err)
	}
	if resp.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("ALPN: got %q, want h2", resp.TLS.NegotiatedProtocol)
	}

	// A real browser loads the page over HTTPS on the custom domain. It
	// resolves the domain to loopback and accepts the chain by the issued
	// certificate's key (Pebble's root is not in its store).
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	b := browsertest.New(t, browsertest.MapHosts("careers.gamma.test"),
		browsertest.WithFlags(chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:]))))
	b.Navigate("https://careers.gamma.test:" + strconv.Itoa(s.https) + "/")
	b.WaitVisible("body")
	if got := browsertest.Eval[string](b, "location.protocol + ' ' + document.title"); !strings.HasPrefix(got, "https: ") || !strings.Contains(got, "Gamma Careers") {
		t.Fatalf("browser on the custom domain: got %q", got)
	}

	// A hostname no community lists: no certificate, no order.
	if _, err := handshake(s.https, "evil.gamma.test", roots); err == nil {
		t.Fatal("unlisted hostname got a certificate")
	}
	_, metrics, err := s.get(t, "voyager.test", "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`tls_certificate_issuance_attempts_total{domain="careers.gamma.test"} 1`,
		`tls_certificate_issued_total{domain="careers.gamma.test"} 1`,
		`tls_certificate_expiry_timestamp_seconds{domain="careers.gamma.test"}`,
		`tls_certificate_expiry_timestamp_seconds{domain="voyager.test"}`,
		`tls_on_demand_denied_total{reason="not_listed"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, "evil.gamma.test") {
		t.Error("an unlisted hostname appears in the metrics: an order was attempted or labels are unbounded")
	}
	if strings.Contains(s.Stderr.String(), `"domain":"evil.gamma.test"`) && strings.Contains(s.Stderr.String(), "asking for a certificate") {
		t.Error("an order was started for an unlisted hostname")
	}

	// The ask endpoint a proxy in front would call.
	for q, want := range map[string]int{"careers.gamma.test": 200, "CAREERS.gamma.test.": 200, "voyager.test": 200, "evil.gamma.test": 404, "": 400} {
		if r, _, err := s.get(t, "voyager.test", "/api/domains/allowed?domain="+q); err != nil || r.StatusCode != want {
			t.Errorf("/api/domains/allowed?domain=%s: got %v %v, want %d", q, r.StatusCode, err, want)
		}
	}

	// Plain HTTP: redirect to HTTPS for served names, 404 for others.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for host, want := range map[string]int{"careers.gamma.test": 308, "evil.gamma.test": 404} {
		req, _ := http.NewRequest("POST", "http://127.0.0.1:"+strconv.Itoa(s.http)+"/c/gamma?x=1", nil)
		req.Host = host
		r, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("http %s: got %d, want %d", host, r.StatusCode, want)
		}
		if want == 308 && r.Header.Get("Location") != "https://careers.gamma.test:"+strconv.Itoa(s.https)+"/c/gamma?x=1" {
			t.Errorf("redirect: got %q", r.Header.Get("Location"))
		}
	}

	// Hot reload: a new domain gets a certificate without a restart; a
	// removed one stops being served at once.
	writeGamma(t, dir, "careers.gamma.test", "new.gamma.test")
	waitFor(t, "new domain served over HTTPS", 30*time.Second, func() bool {
		_, err := handshake(s.https, "new.gamma.test", roots)
		return err == nil
	})
	writeGamma(t, dir, "new.gamma.test")
	waitFor(t, "removed domain no longer served", 10*time.Second, func() bool {
		_, err := handshake(s.https, "careers.gamma.test", roots)
		return err != nil
	})

	// domains check: the runbook as one command, against this deployment.
	dns.SetCNAME("new.gamma.test", "voyager.test")
	rootFile := peb.RootFile(t)
	checkEnv := map[string]string{"COMMUNITIES_DIR": dir, "PUBLIC_URL": s.Env["PUBLIC_URL"]}
	args := []string{"--resolver", dns.Addr, "--port", strconv.Itoa(s.https), "--ca-file", rootFile}
	out, _, err := apptest.Command(t, run, checkEnv, append([]string{"domains", "check"}, args...)...)
	if err != nil {
		t.Fatalf("domains check of a working domain: %v\n%s", err, out)
	}
	for _, want := range []string{"new.gamma.test", "DNS", "CNAME voyager.test", "answers for new.gamma.test", "issued by Pebble", "gamma ("} {
		if !strings.Contains(out, want) {
			t.Errorf("domains check output lacks %q:\n%s", want, out)
		}
	}
	// A domain pointing elsewhere and listed nowhere: both reported with fixes.
	dns.SetA("elsewhere.gamma.test", "127.0.0.2")
	out, _, err = apptest.Command(t, run, checkEnv, append([]string{"domains", "check", "elsewhere.gamma.test"}, args...)...)
	if err == nil || !strings.Contains(out, "not this deployment") || !strings.Contains(out, "create a CNAME record elsewhere.gamma.test → voyager.test") || !strings.Contains(out, "no community lists elsewhere.gamma.test") {
		t.Fatalf("domains check of a broken domain: err %v\n%s", err, out)
	}
}

// TestHTTPSSharedCertificates: two instances on one PostgreSQL database
// share certificates, challenge answers and issuance locks, so the second
// serves the first's certificate without asking the CA.
func TestHTTPSSharedCertificates(t *testing.T) {
	t.Parallel()
	pg := storetest.URL(t, "postgres")
	dns := certstest.StartDNS(t, net.ParseIP("127.0.0.1"))
	peb := certstest.StartPebble(t, dns.Addr)
	roots := peb.Roots(t)
	a := startHTTPS(t, peb, roots, peb.TLSPort, peb.HTTPPort, map[string]string{"DATABASE_URL": pg}, "careers.gamma.test")
	var first *x509.Certificate
	waitFor(t, "instance A serves the domain", 30*time.Second, func() bool {
		c, err := handshake(a.https, "careers.gamma.test", roots)
		first = c
		return err == nil
	})
	ports := freeTCPPorts(t, 2)
	b := startHTTPS(t, peb, roots, ports[0], ports[1], map[string]string{"DATABASE_URL": pg, "MIGRATE_ON_START": "false"}, "careers.gamma.test")
	var second *x509.Certificate
	waitFor(t, "instance B serves the domain", 30*time.Second, func() bool {
		c, err := handshake(b.https, "careers.gamma.test", roots)
		second = c
		return err == nil
	})
	if first.SerialNumber.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("instances serve different certificates (serials %s and %s): they did not share storage", first.SerialNumber, second.SerialNumber)
	}
	_, metrics, err := b.get(t, "voyager.test", "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(metrics, `tls_certificate_issuance_attempts_total{domain="careers.gamma.test"}`) {
		t.Errorf("instance B asked the CA for a certificate instance A already had:\n%s", grepLines(metrics, "tls_"))
	}
}

func freeTCPPorts(t *testing.T, n int) []int {
	t.Helper()
	var out []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}
