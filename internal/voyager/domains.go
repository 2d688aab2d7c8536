package voyager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/voyager/community"
)

// listedDomains are the custom hostnames exactly as the community files list
// them (lowercased, no trailing dot): the names that may get certificates.
func listedDomains(s *community.Set) []string {
	var out []string
	for _, c := range s.All() {
		for _, d := range c.Branding.Domains {
			out = append(out, strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), "."))
		}
	}
	sort.Strings(out)
	return out
}

// domainsCommand is `voyager domains check [DOMAIN]`: the custom-domain
// runbook (DNS, this deployment answering, certificate, community file) as
// one command.
func domainsCommand() app.Command {
	return app.Command{
		Name:    "domains",
		Usage:   "domains check [DOMAIN] [--target HOST] [--port N] [--resolver HOST:PORT] [--ca-file PEM]",
		Summary: "check each community domain: DNS points here, this deployment answers, its certificate, the community file",
		Run: func(ctx context.Context, env app.Env, args []string) error {
			if len(args) == 0 || args[0] != "check" {
				return app.Usagef("usage: voyager domains check [DOMAIN] [--target HOST] [--port N] [--resolver HOST:PORT] [--ca-file PEM]")
			}
			fl := flag.NewFlagSet("domains check", flag.ContinueOnError)
			fl.SetOutput(env.Stderr)
			target := fl.String("target", "", "hostname or IP the domains' DNS should point at (default: PUBLIC_URL's host)")
			port := fl.Int("port", 0, "HTTPS port to check (default 443, or HTTPS_PORT with TLS=auto)")
			resolver := fl.String("resolver", "", "DNS server to ask (host:port) instead of the system's")
			caFile := fl.String("ca-file", "", "PEM file of an extra root to trust (a private CA)")
			timeout := fl.Duration("timeout", 10*time.Second, "time allowed for each network step")
			rest := args[1:]
			var domain string
			if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
				domain, rest = rest[0], rest[1:]
			}
			if err := fl.Parse(rest); err != nil {
				return app.Usagef("voyager domains check: %v", err)
			}
			if fl.NArg() > 0 {
				return app.Usagef("usage: voyager domains check [DOMAIN] [flags]: unexpected %q", fl.Arg(0))
			}
			getenv := env.Getenv
			if getenv == nil {
				getenv = func(string) string { return "" }
			}
			dir := getenv("COMMUNITIES_DIR")
			if dir == "" {
				dir = "./communities"
			}
			set, err := community.LoadDir(dir)
			if err != nil {
				return app.Usagef("voyager domains check: %v\nRun `voyager communities validate %s` first.", err, dir)
			}
			ck := &domainCheck{target: *target, port: *port, timeout: *timeout, set: set}
			if ck.target == "" {
				if u, err := url.Parse(getenv("PUBLIC_URL")); err == nil {
					ck.target = u.Hostname()
				}
			}
			if ck.target == "" {
				return app.Usagef("voyager domains check: set PUBLIC_URL or give --target HOST (what the domains' CNAME should name)")
			}
			if ck.port == 0 {
				ck.port = 443
				if getenv("TLS") == "auto" && getenv("HTTPS_PORT") != "" {
					if n, err := strconv.Atoi(getenv("HTTPS_PORT")); err == nil {
						ck.port = n
					}
				}
			}
			ck.resolver = net.DefaultResolver
			if *resolver != "" {
				addr := *resolver
				ck.resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				}}
			}
			ck.roots, err = x509.SystemCertPool()
			if err != nil || ck.roots == nil {
				ck.roots = x509.NewCertPool()
			}
			if *caFile != "" {
				b, err := os.ReadFile(*caFile)
				if err != nil || !ck.roots.AppendCertsFromPEM(b) {
					return app.Usagef("voyager domains check: --ca-file %s: not a readable PEM certificate", *caFile)
				}
			}
			domains := listedDomains(set)
			if domain != "" {
				domains = []string{strings.TrimSuffix(strings.ToLower(domain), ".")}
			}
			if len(domains) == 0 {
				fmt.Fprintf(env.Stdout, "No community in %s lists a custom domain (branding.domains).\n", dir)
				return nil
			}
			problems := 0
			for _, d := range domains {
				problems += ck.run(ctx, env.Stdout, d)
			}
			if problems > 0 {
				return app.Usagef("%d problem(s) found", problems)
			}
			fmt.Fprintf(env.Stdout, "All %d domain(s) are served by this deployment with a valid certificate.\n", len(domains))
			return nil
		},
	}
}

type domainCheck struct {
	target   string
	port     int
	timeout  time.Duration
	resolver *net.Resolver
	roots    *x509.CertPool
	set      *community.Set
}

// step is one line of the report.
type step struct {
	name, detail, fix string
	ok, skipped       bool
}

// run checks d in the guide's runbook order and prints the report; it
// returns the number of problems.
func (ck *domainCheck) run(ctx context.Context, w io.Writer, d string) int {
	var steps []step
	dnsOK, addrs := ck.dns(ctx, d, &steps)
	var state *tls.ConnectionState
	if dnsOK {
		state = ck.served(ctx, d, addrs, &steps)
	} else {
		steps = append(steps, step{name: "this deployment", skipped: true, detail: "not checked until DNS points here"})
	}
	switch {
	case state != nil:
		ck.certificate(d, state, &steps)
	default:
		steps = append(steps, step{name: "certificate", skipped: true, detail: "not checked: no HTTPS answer"})
	}
	ck.community(d, &steps)

	fmt.Fprintln(w, d)
	problems := 0
	for i, s := range steps {
		mark := "ok  "
		switch {
		case s.skipped:
			mark = "--  "
		case !s.ok:
			mark = "FAIL"
			problems++
		}
		fmt.Fprintf(w, "  %d %-16s %s  %s\n", i+1, s.name, mark, s.detail)
		if s.fix != "" {
			fmt.Fprintf(w, "    %-16s fix:  %s\n", "", s.fix)
		}
	}
	fmt.Fprintln(w)
	return problems
}

// dns checks that d is a CNAME of the target, or has A/AAAA records among
// the target's addresses.
func (ck *domainCheck) dns(ctx context.Context, d string, steps *[]step) (bool, []string) {
	ctx, cancel := context.WithTimeout(ctx, ck.timeout)
	defer cancel()
	want := map[string]bool{}
	if ip := net.ParseIP(ck.target); ip != nil {
		want[ip.String()] = true
	} else if ips, err := ck.resolver.LookupIPAddr(ctx, ck.target); err == nil {
		for _, ip := range ips {
			want[ip.IP.String()] = true
		}
	}
	cname, _ := ck.resolver.LookupCNAME(ctx, d)
	cname = strings.TrimSuffix(strings.ToLower(cname), ".")
	ips, err := ck.resolver.LookupIPAddr(ctx, d)
	fix := fmt.Sprintf("create a CNAME record %s → %s (or A/AAAA records with %s's addresses), then wait for DNS to propagate (minutes, up to 48 h)", d, ck.target, ck.target)
	if err != nil || len(ips) == 0 {
		*steps = append(*steps, step{name: "DNS", detail: "no address for " + d + dnsErr(err), fix: fix})
		return false, nil
	}
	var got []string
	match := false
	for _, ip := range ips {
		got = append(got, ip.IP.String())
		if want[ip.IP.String()] {
			match = true
		}
	}
	via := "A/AAAA " + strings.Join(got, ", ")
	if cname != "" && cname != d {
		via = "CNAME " + cname + " → " + strings.Join(got, ", ")
	}
	if cname == strings.ToLower(ck.target) {
		match = true
	}
	if !match {
		*steps = append(*steps, step{name: "DNS", detail: via + ": not this deployment (" + ck.target + ")", fix: fix})
		return false, nil
	}
	*steps = append(*steps, step{name: "DNS", ok: true, detail: via})
	return true, got
}

func dnsErr(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return " (no such name)"
		}
		return " (" + de.Err + ")"
	}
	return ""
}

// served asks the deployment at d's address whether it serves d, over
// HTTPS with SNI d, and returns the TLS state of that connection.
func (ck *domainCheck) served(ctx context.Context, d string, addrs []string, steps *[]step) *tls.ConnectionState {
	var state *tls.ConnectionState
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var dd net.Dialer
			return dd.DialContext(ctx, network, net.JoinHostPort(addrs[0], strconv.Itoa(ck.port)))
		},
		// Verified by hand below so that a bad certificate is reported
		// in its own step rather than hiding whether the server answers.
		TLSClientConfig: &tls.Config{ServerName: d, InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
			state = &cs
			return nil
		}},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: ck.timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u := (&url.URL{Scheme: "https", Host: hostWithPort(d, ck.port), Path: "/api/domains/allowed", RawQuery: url.Values{"domain": {d}}.Encode()}).String()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := client.Do(req)
	if err != nil {
		fix := fmt.Sprintf("make sure voyager (TLS=auto) or your proxy listens on %s:%d and the firewall lets HTTPS in; with TLS=auto, HTTP_PORT (80) must be reachable too for certificate challenges", addrs[0], ck.port)
		*steps = append(*steps, step{name: "this deployment", detail: "no HTTPS answer from " + net.JoinHostPort(addrs[0], strconv.Itoa(ck.port)) + ": " + shortErr(err), fix: fix})
		return state
	}
	defer resp.Body.Close()
	var body struct {
		Allowed bool `json:"allowed"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&body)
	switch {
	case resp.StatusCode == http.StatusOK && body.Allowed:
		*steps = append(*steps, step{name: "this deployment", ok: true, detail: "answers for " + d})
	case resp.StatusCode == http.StatusNotFound:
		*steps = append(*steps, step{name: "this deployment", detail: "a server answers but does not serve " + d, fix: "list the domain in a community file (step 4) on the deployment that answers; an old deployment or another site may still hold this address"})
	default:
		*steps = append(*steps, step{name: "this deployment", detail: fmt.Sprintf("unexpected answer %s from %s", resp.Status, u), fix: "check that this address reaches Voyager and not another site or a proxy's error page"})
	}
	return state
}

// certificate checks the certificate the server sent for d.
func (ck *domainCheck) certificate(d string, cs *tls.ConnectionState, steps *[]step) {
	if len(cs.PeerCertificates) == 0 {
		*steps = append(*steps, step{name: "certificate", detail: "the server sent none", fix: "with TLS=auto the first visit asks for one; check the log for \"certificate order failed\""})
		return
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	issuer := leaf.Issuer.CommonName
	if len(leaf.Issuer.Organization) > 0 {
		issuer = leaf.Issuer.Organization[0] + " (" + leaf.Issuer.CommonName + ")"
	}
	left := time.Until(leaf.NotAfter)
	detail := fmt.Sprintf("issued by %s, expires %s (%d days)", issuer, leaf.NotAfter.UTC().Format("2006-01-02"), int(left.Hours()/24))
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: d, Roots: ck.roots, Intermediates: inter})
	switch {
	case err != nil:
		*steps = append(*steps, step{name: "certificate", detail: detail + ": not valid: " + shortErr(err), fix: "with TLS=auto: check ACME_CA and the log for \"certificate order failed\" (HTTP_PORT 80 or HTTPS_PORT 443 must be reachable from the internet); behind a proxy: its on-demand TLS must ask /api/domains/allowed"})
	case left < 14*24*time.Hour:
		*steps = append(*steps, step{name: "certificate", detail: detail + ": expires within 14 days", fix: "renewal starts 30 days before expiry: the log says why it fails (\"certificate order failed\")"})
	default:
		*steps = append(*steps, step{name: "certificate", ok: true, detail: detail})
	}
}

// community checks that a community file lists d.
func (ck *domainCheck) community(d string, steps *[]step) {
	for _, c := range ck.set.All() {
		for _, cd := range c.Branding.Domains {
			if strings.EqualFold(strings.TrimSuffix(cd, "."), d) {
				*steps = append(*steps, step{name: "community file", ok: true, detail: c.ID + " (" + c.File + ")"})
				return
			}
		}
	}
	*steps = append(*steps, step{name: "community file", detail: "no community lists " + d, fix: "add \"" + d + "\" to branding.domains in the community's JSON file; voyager reloads it within 2 s"})
}

func hostWithPort(host string, port int) string {
	if port == 443 {
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// shortErr drops the URL Go puts in front of transport errors.
func shortErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
