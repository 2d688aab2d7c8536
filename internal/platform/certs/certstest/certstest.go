// Package certstest runs real ACME infrastructure for tests: Pebble, Let's
// Encrypt's own ACME test server, as a process (installed with `go install
// github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3`; scripts/services.sh
// does it), and a small DNS server that Pebble and `domains check` ask, so
// test hostnames resolve to loopback without touching the machine's DNS.
package certstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DNS is an authoritative-for-everything DNS server on loopback.
type DNS struct {
	Addr string // host:port (UDP and TCP)

	mu    sync.Mutex
	a     map[string][]net.IP
	cname map[string]string
	def   net.IP
}

// StartDNS serves A records from a, CNAME records from cname, and answers
// every other A query with def (nil: NXDOMAIN). Names are without the
// trailing dot.
func StartDNS(t testing.TB, def net.IP) *DNS {
	t.Helper()
	d := &DNS{a: map[string][]net.IP{}, cname: map[string]string{}, def: def}
	var lastErr error
	for range 5 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			lastErr = err
			continue
		}
		d.Addr = pc.LocalAddr().String()
		udp := &dns.Server{PacketConn: pc, Handler: d}
		tcp := &dns.Server{Listener: ln, Handler: d}
		go udp.ActivateAndServe()
		go tcp.ActivateAndServe()
		t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
		return d
	}
	t.Fatalf("dns: no free port: %v", lastErr)
	return nil
}

// SetA points name at ips.
func (d *DNS) SetA(name string, ips ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []net.IP
	for _, s := range ips {
		out = append(out, net.ParseIP(s))
	}
	d.a[strings.ToLower(name)] = out
}

// SetCNAME makes name an alias of target.
func (d *DNS) SetCNAME(name, target string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cname[strings.ToLower(name)] = strings.ToLower(target)
}

// ServeDNS answers one query.
func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, q := range req.Question {
		name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
		for hops := 0; hops < 8; hops++ {
			target, ok := d.cname[name]
			if !ok {
				break
			}
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 1}, Target: dns.Fqdn(target)})
			name = target
		}
		ips, ok := d.a[name]
		if !ok && d.def != nil {
			ips = []net.IP{d.def}
		}
		switch q.Qtype {
		case dns.TypeA:
			for _, ip := range ips {
				if ip4 := ip.To4(); ip4 != nil {
					m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: ip4})
				}
			}
		case dns.TypeAAAA:
			for _, ip := range ips {
				if ip.To4() == nil {
					m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 1}, AAAA: ip})
				}
			}
		}
		if len(m.Answer) == 0 && !ok && d.def == nil {
			m.Rcode = dns.RcodeNameError
		}
	}
	_ = w.WriteMsg(m)
}

// Pebble is a running Pebble ACME server.
type Pebble struct {
	Directory string // ACME directory URL
	CARoot    string // PEM file that signs Pebble's own HTTPS (ACME_CA_ROOT)
	// HTTPPort and TLSPort are where Pebble validates HTTP-01 and
	// TLS-ALPN-01 challenges: the server under test must listen there.
	HTTPPort, TLSPort int
	mgmt              string
	caPool            *x509.CertPool
}

// Binary finds the pebble binary, or skips the test (fails it in CI).
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("HOME"), "go", "bin")} {
		if dir == "" {
			continue
		}
		if p := filepath.Join(dir, "pebble"); fileExists(p) {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("pebble is not installed (scripts/services.sh installs it: go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3)")
	}
	t.Skip("pebble not installed: go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.3")
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// StartPebble runs Pebble resolving names through dnsAddr, on free ports,
// and stops it when the test ends.
func StartPebble(t testing.TB, dnsAddr string) *Pebble {
	t.Helper()
	return StartPebbleValidity(t, dnsAddr, 90*24*time.Hour)
}

// StartPebbleValidity is StartPebble issuing certificates valid for
// validity (a short one makes renewal testable).
func StartPebbleValidity(t testing.TB, dnsAddr string, validity time.Duration) *Pebble {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	caFile, certFile, keyFile, pool := selfSignedCA(t, dir)
	var lastOut string
	for attempt := 0; attempt < 4; attempt++ {
		ports := freePorts(t, 4)
		p := &Pebble{
			Directory: fmt.Sprintf("https://127.0.0.1:%d/dir", ports[0]),
			CARoot:    caFile,
			HTTPPort:  ports[2], TLSPort: ports[3],
			mgmt:   fmt.Sprintf("https://127.0.0.1:%d", ports[1]),
			caPool: pool,
		}
		cfg := map[string]any{"pebble": map[string]any{
			"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", ports[0]),
			"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", ports[1]),
			"certificate":                    certFile,
			"privateKey":                     keyFile,
			"httpPort":                       p.HTTPPort,
			"tlsPort":                        p.TLSPort,
			"ocspResponderURL":               "",
			"externalAccountBindingRequired": false,
			"retryAfter":                     map[string]int{"authz": 1, "order": 1},
			"keyAlgorithm":                   "ecdsa",
			"profiles":                       map[string]any{"default": map[string]any{"description": "test", "validityPeriod": int(validity.Seconds())}},
		}}
		b, _ := json.Marshal(cfg)
		cfgFile := filepath.Join(dir, "pebble.json")
		if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out := &syncBuffer{}
		cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", dnsAddr)
		cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		if p.waitUp(exited) {
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				<-exited
				if t.Failed() {
					t.Logf("pebble output:\n%s", out.String())
				}
			})
			return p
		}
		_ = cmd.Process.Kill()
		<-exited
		lastOut = out.String()
	}
	t.Fatalf("pebble did not start:\n%s", lastOut)
	return nil
}

func (p *Pebble) client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.caPool}}}
}

func (p *Pebble) waitUp(exited <-chan struct{}) bool {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := p.client().Get(p.Directory); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// CARootPool trusts Pebble's own HTTPS (what ACME_CA_ROOT names).
func (p *Pebble) CARootPool(t testing.TB) *x509.CertPool { return p.caPool }

// Roots returns the pool of Pebble's issuing root, which certificates it
// issues chain to (it is made anew at each start).
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.client().Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble roots: no PEM in %q", b)
	}
	return pool
}

// RootFile writes Roots to a PEM file and returns its path.
func (p *Pebble) RootFile(t testing.TB) string {
	t.Helper()
	resp, err := p.client().Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	f := filepath.Join(t.TempDir(), "pebble-root.pem")
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// selfSignedCA makes a CA and a certificate for 127.0.0.1/localhost that
// Pebble serves its API with.
func selfSignedCA(t testing.TB, dir string) (caFile, certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certstest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(f, typ string, b []byte) {
		if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(caFile, "CERTIFICATE", caDER)
	write(certFile, "CERTIFICATE", der)
	write(keyFile, "EC PRIVATE KEY", kb)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return caFile, certFile, keyFile, pool
}

// freePorts returns n distinct ports that were free a moment ago.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var lns []net.Listener
	var out []int
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

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
