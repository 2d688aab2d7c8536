package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// testCert is a self-signed certificate for localhost and 127.0.0.1, made
// once per test binary.
var testCert = sync.OnceValues(func() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mail test server"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
})

// clientTLS returns a client config that trusts only the test certificate.
func clientTLS(t *testing.T) *tls.Config {
	t.Helper()
	cert, err := testCert()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return &tls.Config{RootCAs: pool}
}

// serverOptions shape a test SMTP server.
type serverOptions struct {
	host        string // listen address; 127.0.0.1 when empty
	user, pass  string // when user is set, AUTH PLAIN is required before MAIL
	startTLS    bool   // offer STARTTLS
	implicitTLS bool   // speak TLS from the first byte (smtps)
	insecure    bool   // offer AUTH without TLS
}

// delivery is one message the test server accepted.
type delivery struct {
	from string
	to   []string
	data []byte
	user string // authenticated user, if any
	tls  bool   // whether the session was encrypted
}

// testServer is a real SMTP server (emersion/go-smtp) on a loopback port.
type testServer struct {
	host, port string
	got        chan delivery
	authTried  chan string // user names of AUTH attempts, successful or not
}

func startServer(t *testing.T, o serverOptions) *testServer {
	t.Helper()
	if o.host == "" {
		o.host = "127.0.0.1"
	}
	ts := &testServer{got: make(chan delivery, 16), authTried: make(chan string, 16)}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &testSession{srv: ts, opts: o, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.AllowInsecureAuth = o.insecure
	s.ReadTimeout = 10 * time.Second
	s.WriteTimeout = 10 * time.Second
	if o.startTLS || o.implicitTLS {
		cert, err := testCert()
		if err != nil {
			t.Fatal(err)
		}
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}

	addr := net.JoinHostPort(o.host, "0")
	var (
		l   net.Listener
		err error
	)
	if o.implicitTLS {
		l, err = tls.Listen("tcp", addr, s.TLSConfig)
	} else {
		l, err = net.Listen("tcp", addr)
	}
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	ts.host, ts.port, _ = net.SplitHostPort(l.Addr().String())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("smtp server: %v", err)
		}
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return ts
}

// url returns an EMAIL_SERVER URL for the server with the given scheme,
// userinfo (may be nil) and query.
func (ts *testServer) url(scheme string, user *url.Userinfo, query string) string {
	u := &url.URL{Scheme: scheme, User: user, Host: net.JoinHostPort(ts.host, ts.port), RawQuery: query}
	return u.String()
}

// next returns the next delivered message or fails the test.
func (ts *testServer) next(t *testing.T) delivery {
	t.Helper()
	select {
	case d := <-ts.got:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("got no message, want one")
		return delivery{}
	}
}

// none fails the test if the server has accepted a message. Send has
// returned by the time it is called, so anything accepted is already queued.
func (ts *testServer) none(t *testing.T) {
	t.Helper()
	select {
	case d := <-ts.got:
		t.Errorf("got a delivery to %v, want none", d.to)
	default:
	}
}

// testSession captures one SMTP session.
type testSession struct {
	srv  *testServer
	opts serverOptions
	conn *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*testSession)(nil)

func (s *testSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *testSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.srv.authTried <- username
		if s.opts.user == "" || username != s.opts.user || password != s.opts.pass {
			return smtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}), nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.opts.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.got <- delivery{from: s.from, to: s.to, data: b, user: s.user, tls: isTLS}
	return nil
}

func (s *testSession) Reset() { s.from, s.to = "", nil }

func (s *testSession) Logout() error { return nil }

// silentListener accepts connections and never says anything, like a
// firewalled or wedged server. accepted receives each connection.
func silentListener(t *testing.T) (addr string, accepted <-chan net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan net.Conn, 4)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			ch <- c
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), ch
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}
