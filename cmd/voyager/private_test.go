package main

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/relaywork/suite/internal/platform/app/apptest"
)

// communityRoute matches a route in internal/voyager/routes.go that names
// a community: `rt.Handle("GET "+base+"/chat/{conv}", …)`, the API's
// `"POST "+api+"/invites"`, and the literal /c/{cid}/… and /brand/ ones.
var communityRoute = regexp.MustCompile(`rt\.Handle\("([A-Z]+) (?:"\+(base|api)\+")?([^"]*)"`)

// communityRoutes reads every route that names a community from routes.go,
// as method and path on the platform host with {cid} left in, so a route
// added later is walked too.
func communityRoutes(t *testing.T) [][2]string {
	t.Helper()
	src, err := os.ReadFile("../../internal/voyager/routes.go")
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for _, m := range communityRoute.FindAllStringSubmatch(string(src), -1) {
		method, prefix, path := m[1], m[2], m[3]
		switch prefix {
		case "base":
			path = "/c/{cid}" + path
		case "api":
			path = "/api/c/{cid}" + path
		}
		if strings.Contains(path, "{cid}") || strings.HasPrefix(path, "/brand/") {
			out = append(out, [2]string{method, path})
		}
	}
	if len(out) < 20 {
		t.Fatalf("found only %d community routes in routes.go: %v", len(out), out)
	}
	return out
}

var requestIDs = regexp.MustCompile(`("request_id":\s*"|Request ID[^<]*<code>|data-request-id=")[^"<]*`)

// TestPrivateCommunityIsUnknownToOutsiders walks every community route of
// a private community as an anonymous visitor and as a signed-in
// non-member, and compares each answer with the one for an ID that does
// not exist: same status, same body (IDs and request IDs aside), same
// redirect. A member, an invite holder and the community's own domain
// still get in.
func TestPrivateCommunityIsUnknownToOutsiders(t *testing.T) {
	t.Parallel()
	s := apptest.Start(t, run, voyagerEnv(t, nil, nil, nil))
	noFollow := func(c *http.Client) *http.Client {
		cc := *c
		cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &cc
	}
	outsider := signIn(t, s, "outsider@example.com", false)
	if r := do(t, outsider, "POST", s.URL+"/c/alpha/join", "", nil); r.status != 200 {
		t.Fatalf("outsider joins the public community: %d", r.status)
	}
	callers := map[string]*http.Client{"anonymous": noFollow(&http.Client{}), "non-member": noFollow(outsider)}

	type answer struct {
		status                int
		location, ctype, body string
	}
	ask := func(c *http.Client, method, path, id string) answer {
		t.Helper()
		u := s.URL + strings.NewReplacer("{cid}", id, "{file}", id+".css", "{conv}", "0193b2c4-7d3e-7abc-9def-0123456789ab",
			"{mid}", "0193b2c4-7d3e-7abc-9def-0123456789ac", "{token}", "no-such-invite-token").Replace(path)
		var body io.Reader
		req, _ := http.NewRequest(method, u, nil)
		if method != "GET" {
			if strings.HasPrefix(path, "/api/") {
				body = strings.NewReader(`{"content":"hi","title":"t"}`)
				req, _ = http.NewRequest(method, u, body)
				req.Header.Set("Content-Type", "application/json")
			} else {
				req, _ = http.NewRequest(method, u, strings.NewReader("title=t&q=hi"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			req.Header.Set("Origin", s.URL)
		}
		if strings.HasPrefix(path, "/api/") {
			req.Header.Set("Accept", "application/json")
		} else {
			req.Header.Set("Accept", "text/html")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		norm := func(v string) string { return requestIDs.ReplaceAllString(strings.ReplaceAll(v, id, "{ID}"), "$1…") }
		return answer{resp.StatusCode, norm(resp.Header.Get("Location")), resp.Header.Get("Content-Type"), norm(string(b))}
	}

	routes := communityRoutes(t)
	for who, c := range callers {
		for _, rt := range routes {
			private, unknown := ask(c, rt[0], rt[1], "beta"), ask(c, rt[0], rt[1], "no-such-community")
			if private != unknown {
				t.Errorf("%s %s %s: the private community answers\n  %d %q %q %.300q\nwhere an unknown ID answers\n  %d %q %q %.300q",
					who, rt[0], rt[1], private.status, private.location, private.ctype, private.body, unknown.status, unknown.location, unknown.ctype, unknown.body)
			}
			if private.status >= 500 {
				t.Errorf("%s %s %s: %d", who, rt[0], rt[1], private.status)
			}
		}
	}
	if strings.Contains(s.Stderr.String(), `"msg":"community access violation"`) == false {
		t.Error("the non-member's requests were not logged as community access violations")
	}

	// Members, invite holders and the community's own domain still get in.
	admin := signIn(t, s, "root@example.com", true)
	if r := do(t, admin, "POST", s.URL+"/c/beta/join", "", nil); r.status != 200 {
		t.Fatalf("platform admin joins: %d", r.status)
	}
	if r := page(t, admin, s.URL+"/c/beta/", ""); r.status != 200 || !strings.Contains(r.body, "Beta Alumni") {
		t.Fatalf("member's page: %d", r.status)
	}
	if r := page(t, admin, s.URL+"/brand/beta.css", ""); r.status != 200 || !strings.Contains(r.body, ":root") {
		t.Fatalf("member's brand CSS: %d %s", r.status, r.body)
	}
	if r := page(t, http.DefaultClient, s.URL+"/brand/beta.css", "beta.example"); r.status != 200 {
		t.Fatalf("brand CSS on the community's own domain: %d", r.status)
	}
	if r := page(t, http.DefaultClient, s.URL+"/", "beta.example"); r.status != 200 || !strings.Contains(r.body, "Beta Alumni") {
		t.Fatalf("the community's own domain, signed out: %d", r.status)
	}
	inv := decode[struct {
		URL string `json:"url"`
	}](t, do(t, admin, "POST", s.URL+"/api/c/beta/invites", "", map[string]any{"max_uses": 1}))
	if inv.URL == "" {
		t.Fatal("no invite URL")
	}
	path := inv.URL[strings.Index(inv.URL, "/c/beta/"):]
	req, _ := http.NewRequest("GET", s.URL+path, nil)
	resp, err := callers["anonymous"].Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/signin") {
		t.Fatalf("invite link, signed out: %d %s, want a redirect to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}
	if r := page(t, outsider, s.URL+path, ""); r.status != 200 || !strings.Contains(r.body, "Beta Alumni") {
		t.Fatalf("invite page for the non-member: %d", r.status)
	}
	if r := do(t, outsider, "POST", s.URL+path, "", nil); r.status != 200 {
		t.Fatalf("accept the invite: %d", r.status)
	}
	if r := page(t, outsider, s.URL+"/c/beta/", ""); r.status != 200 {
		t.Fatalf("new member's page: %d", r.status)
	}
}
