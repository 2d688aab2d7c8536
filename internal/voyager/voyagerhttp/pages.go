package voyagerhttp

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/server"
	"github.com/relaywork/suite/internal/platform/web"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/community"
)

// page renders a community page with its brand.
func (h *Handlers) page(w http.ResponseWriter, r *http.Request, s *scope, status int, name, title string, data map[string]any) {
	data["Community"] = s.c
	data["Base"] = s.base
	data["Member"] = s.mem
	data["IsAdmin"] = s.isAdmin()
	if s.mem != nil {
		data["Billing"] = h.billingFor(r, s)
	}
	home := s.base + "/"
	if logo := s.c.Branding.Logo; strings.HasPrefix(logo, "https://") {
		// The community's remote logo is the one image from elsewhere
		// its pages may load.
		w.Header().Set("Content-Security-Policy", server.CSPWithImages(server.Origin(logo)))
	}
	pg := &web.Page{Title: title, Description: s.c.Description, SignInURL: h.signInURL(s), Data: data}
	brandPage(pg, s.c, home)
	h.o.Render.Page(w, r, status, name, pg)
}

// brandPage dresses a page in the community's brand: its name, logo,
// favicon and colours.
func brandPage(pg *web.Page, c *community.Community, home string) {
	pg.Product = web.Product{Name: c.Name, Tagline: c.Description, Home: home, CSS: "voyager/main.css", JS: "voyager/main.js",
		Logo: c.LogoURL(), Icon: c.AssetURL("favicon")}
	pg.Nav = []web.NavLink{{Label: "Coach", Href: home}}
	pg.Stylesheets = append(pg.Stylesheets, "/brand/"+c.ID+".css")
}

// HandleRoot handles GET /: a custom domain's community, the platform's
// landing page, or the unknown-host page.
func (h *Handlers) HandleRoot(w http.ResponseWriter, r *http.Request) {
	switch kind, _ := h.Resolve(r.Host); kind {
	case CommunityHost:
		h.HandleCommunity(w, r)
	case PlatformHost:
		data := map[string]any{
			"Communities":  h.o.Communities.Current().Public(),
			"AIConfigured": h.o.Chat != nil && h.o.AIHint == "",
		}
		if u, ok := auth.UserFrom(r.Context()); ok && h.o.Chat != nil {
			mine, err := h.myCommunities(r, u.ID)
			if err != nil {
				h.fail(w, r, false, err)
				return
			}
			data["Mine"] = mine
			// The public list leaves out those already listed as the member's.
			in := map[string]bool{}
			for _, m := range mine {
				in[m.Community.ID] = true
			}
			var others []*community.Community
			for _, c := range h.o.Communities.Current().Public() {
				if !in[c.ID] {
					others = append(others, c)
				}
			}
			data["Communities"] = others
		}
		h.o.Render.Page(w, r, http.StatusOK, "home.html", &web.Page{Title: "AI career coaching for your community", Data: data})
	default:
		h.unknownHost(w, r, false)
	}
}

// myCommunity is one of the signed-in user's communities on the home page.
type myCommunity struct {
	Community *community.Community
	Role      chat.Role
	URL       string
}

// myCommunities lists the communities the user is a member of, by name;
// a community on its own domain links there.
func (h *Handlers) myCommunities(r *http.Request, userID string) ([]myCommunity, error) {
	ms, err := h.o.Chat.Store().Memberships(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	set := h.o.Communities.Current()
	var out []myCommunity
	for _, m := range ms {
		c, ok := set.ByID(m.CommunityID)
		if !ok {
			continue // its file was removed
		}
		out = append(out, myCommunity{Community: c, Role: m.Role, URL: "/c/" + c.ID + "/"})
	}
	slices.SortFunc(out, func(a, b myCommunity) int { return strings.Compare(a.Community.Name, b.Community.Name) })
	return out, nil
}

// HandleCommunity handles GET /c/{cid}/ (and / on a custom domain): the
// community's home with the member's conversations, or a join button.
func (h *Handlers) HandleCommunity(w http.ResponseWriter, r *http.Request) {
	s, ok := h.community(w, r, false)
	if !ok {
		return
	}
	// A platform admin may join any community (as its admin).
	adminJoin := s.c.Visibility == community.Private && s.mem == nil && s.user != nil && s.user.IsAdmin()
	if s.c.Visibility == community.Private && s.mem == nil && !adminJoin {
		if s.user != nil {
			h.violation(r, s, "not a member")
		}
		// Existence of a private community is not revealed to outsiders,
		// except on its own domain, where signing in is the way in.
		if s.base != "" || s.user != nil {
			h.notFound(w, r, false)
			return
		}
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) > 200 {
		q = q[:200]
	}
	data := map[string]any{"SignedIn": s.user != nil, "AIHint": h.o.AIHint, "SignInURL": h.signInURL(s), "CanAdminJoin": adminJoin, "Search": q}
	if s.mem != nil {
		convs, err := h.o.Chat.Store().FindConversations(r.Context(), s.c.ID, s.user.ID, q, 0)
		if err != nil {
			h.fail(w, r, false, err)
			return
		}
		q, err := h.o.Chat.Quota(r.Context(), s.c, s.user.ID)
		if err != nil {
			h.fail(w, r, false, err)
			return
		}
		data["Conversations"], data["Quota"] = convs, q
		data["CoachOn"] = h.o.Coach != nil
	}
	h.page(w, r, s, http.StatusOK, "community.html", s.c.Name, data)
}

// HandleJoin handles POST /c/{cid}/join: one click into a public community.
func (h *Handlers) HandleJoin(w http.ResponseWriter, r *http.Request) {
	s, ok := h.community(w, r, false)
	if !ok {
		return
	}
	if s.user == nil {
		http.Redirect(w, r, "/signin?next="+s.base+"/", http.StatusSeeOther)
		return
	}
	if s.c.Visibility != community.Public && !s.user.IsAdmin() {
		h.violation(r, s, "join of a private community without invite")
		h.notFound(w, r, false)
		return
	}
	role := chat.RoleMember
	if s.user.IsAdmin() {
		role = chat.RoleAdmin
	}
	if _, err := h.o.Chat.Store().Join(r.Context(), chat.Membership{CommunityID: s.c.ID, UserID: s.user.ID, Role: role, CreatedAt: h.o.Now().UTC()}); err != nil {
		h.fail(w, r, false, err)
		return
	}
	http.Redirect(w, r, s.base+"/", http.StatusSeeOther)
}

// HandleInvite handles GET /c/{cid}/invite/{token}: the invite page.
func (h *Handlers) HandleInvite(w http.ResponseWriter, r *http.Request) {
	s, ok := h.community(w, r, false)
	if !ok {
		return
	}
	if s.user == nil {
		http.Redirect(w, r, "/signin?next="+r.URL.Path, http.StatusSeeOther)
		return
	}
	if s.mem != nil {
		http.Redirect(w, r, s.base+"/", http.StatusSeeOther)
		return
	}
	h.page(w, r, s, http.StatusOK, "invite.html", "Join "+s.c.Name, map[string]any{"Token": r.PathValue("token")})
}

// HandleInviteAccept handles POST /c/{cid}/invite/{token}.
func (h *Handlers) HandleInviteAccept(w http.ResponseWriter, r *http.Request) {
	s, ok := h.community(w, r, false)
	if !ok {
		return
	}
	if s.user == nil {
		http.Redirect(w, r, "/signin?next="+r.URL.Path, http.StatusSeeOther)
		return
	}
	inv, err := h.o.Chat.Store().UseInvite(r.Context(), s.c.ID, hashToken(r.PathValue("token")), h.o.Now().UTC())
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	if _, err := h.o.Chat.Store().Join(r.Context(), chat.Membership{CommunityID: s.c.ID, UserID: s.user.ID, Role: inv.Role, CreatedAt: h.o.Now().UTC()}); err != nil {
		h.fail(w, r, false, err)
		return
	}
	http.Redirect(w, r, s.base+"/", http.StatusSeeOther)
}

// HandleNewConversation handles POST /c/{cid}/conversations (form).
func (h *Handlers) HandleNewConversation(w http.ResponseWriter, r *http.Request) {
	s, ok := h.member(w, r, false)
	if !ok {
		return
	}
	// An empty conversation left by an earlier "New conversation" is
	// reused, so the list does not fill with empty ones.
	conv, err := h.o.Chat.Store().EmptyConversation(r.Context(), s.c.ID, s.user.ID)
	if apperr.Is(err, apperr.NotFound) {
		conv, err = h.o.Chat.StartConversation(r.Context(), s.c, s.user.ID, "")
	}
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	// A starter question is sent at once: the chat page opens on the
	// answer as it streams.
	if q := strings.TrimSpace(r.FormValue("q")); q != "" {
		if _, err := h.o.Chat.Send(r.Context(), s.c, conv, q); err != nil {
			h.fail(w, r, false, err)
			return
		}
	}
	http.Redirect(w, r, s.base+"/chat/"+conv.ID, http.StatusSeeOther)
}

// messageView is a message with its rendered HTML.
type messageView struct {
	chat.Message
	HTML template.HTML
	Last bool // the conversation's last message (its answer can be regenerated)
	// Card is where the "Remember this?" card under the answer posts
	// without JavaScript (set when Proposal awaits the member).
	Card string
}

// views renders the messages. An answer still being generated shows the
// text so far (from the hub or the bus), so a reload is never empty.
func (h *Handlers) views(r *http.Request, ms []chat.Message) []messageView {
	out := make([]messageView, len(ms))
	for i, m := range ms {
		out[i] = messageView{Message: m, Last: i == len(ms)-1}
		switch {
		case m.Role != "assistant":
		case m.Status == chat.Streaming:
			if snap, _, cancel, live := h.o.Chat.Follow(r.Context(), m.ID); live {
				out[i].Content = snap
				cancel()
			}
		default:
			out[i].HTML = h.md.HTML(m.Content)
		}
	}
	return out
}

// HandleChat handles GET /c/{cid}/chat/{conv}: a conversation.
func (h *Handlers) HandleChat(w http.ResponseWriter, r *http.Request) {
	s, ok := h.member(w, r, false)
	if !ok {
		return
	}
	conv, err := h.o.Chat.Store().Conversation(r.Context(), s.c.ID, s.user.ID, r.PathValue("conv"))
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			h.violation(r, s, "conversation not theirs")
		}
		h.fail(w, r, false, err)
		return
	}
	msgs, err := h.o.Chat.Store().Messages(r.Context(), conv.ID, 0)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	q, err := h.o.Chat.Quota(r.Context(), s.c, s.user.ID)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	convs, err := h.o.Chat.Store().FindConversations(r.Context(), s.c.ID, s.user.ID, "", 100)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	views := h.views(r, msgs)
	data := map[string]any{
		"Conversation":  conv,
		"Conversations": convs,
		"Messages":      views,
		"Quota":         q,
		"AIHint":        h.o.AIHint,
		"API":           "/api/c/" + s.c.ID,
		"Saved":         statusLine(r, "saved"),
		"Error":         statusLine(r, "error"),
	}
	if h.o.Coach != nil {
		if err := h.chatCoach(r, s, conv.ID, views, data); err != nil {
			h.fail(w, r, false, err)
			return
		}
	}
	h.page(w, r, s, http.StatusOK, "chat.html", conv.Title, data)
}

// statusLine is the ?saved= or ?error= line a form's redirect left for the
// page (escaped like all output; cut short so a crafted link cannot fill
// the page).
func statusLine(r *http.Request, key string) string {
	v := strings.ToValidUTF8(r.URL.Query().Get(key), "")
	if rs := []rune(v); len(rs) > 300 {
		v = string(rs[:300])
	}
	return v
}

// HandleRenameForm handles POST /c/{cid}/chat/{conv}/rename.
func (h *Handlers) HandleRenameForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.member(w, r, false)
	if !ok {
		return
	}
	if err := h.o.Chat.Rename(r.Context(), s.c, s.user.ID, r.PathValue("conv"), r.FormValue("title")); err != nil {
		h.fail(w, r, false, err)
		return
	}
	http.Redirect(w, r, s.base+"/chat/"+r.PathValue("conv"), http.StatusSeeOther)
}

// HandleDeleteForm handles POST /c/{cid}/chat/{conv}/delete.
func (h *Handlers) HandleDeleteForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.member(w, r, false)
	if !ok {
		return
	}
	if err := h.o.Chat.Store().DeleteConversation(r.Context(), s.c.ID, s.user.ID, r.PathValue("conv")); err != nil {
		h.fail(w, r, false, err)
		return
	}
	http.Redirect(w, r, s.base+"/", http.StatusSeeOther)
}

// HandleBrandCSS handles GET /brand/{file}: a community's colours as CSS
// variables (the pages' CSP forbids inline styles), derived so that text
// reaches WCAG AA in the light and the dark scheme.
func (h *Handlers) HandleBrandCSS(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimSuffix(r.PathValue("file"), ".css")
	c, ok := h.o.Communities.Current().ByID(id)
	if !ok || !h.mayStyle(r, c) {
		http.NotFound(w, r)
		return
	}
	p, _ := community.DerivePalette(c.Branding.Colors)
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	if c.Visibility == community.Public {
		w.Header().Set("Cache-Control", "public, max-age=60")
	} else {
		// Not for shared caches: who may have it depends on the caller.
		w.Header().Set("Cache-Control", "private, max-age=60")
		w.Header().Set("Vary", "Cookie")
	}
	w.Write([]byte(p.CSS()))
}

// HandleBrandFile handles GET /brand/{cid}/{file}: a community's logo or
// favicon shipped beside its JSON file, under its hashed name, cached for
// a year.
func (h *Handlers) HandleBrandFile(w http.ResponseWriter, r *http.Request) {
	c, ok := h.o.Communities.Current().ByID(r.PathValue("cid"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	a, ok := c.FileByName(r.PathValue("file"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.Type)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("X-Content-Type-Options", "nosniff")
	// An SVG opened on its own runs nothing and loads nothing.
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	w.Write(a.Data)
}

// signInURL is where a visitor signs in: on a custom domain, through the
// platform's host (where magic links and OAuth callbacks land), which then
// hands the session over to the domain. The handoff starts on the domain
// itself, so the browser that asks is the one the token is bound to.
func (h *Handlers) signInURL(s *scope) string {
	if s.base == "" && h.o.PublicURL != "" {
		return "/auth/handoff/start"
	}
	return "/signin?next=" + s.base + "/"
}

// handoffLife bounds a handoff token's use; handoffCookieLife bounds the
// whole trip (sign-in on the platform included).
const (
	handoffLife       = 2 * time.Minute
	handoffCookieLife = 15 * time.Minute
)

// A handoff is bound to the browser that started it, the way OAuth binds
// its callback with state: /auth/handoff/start on the custom domain sets a
// random value in a cookie there and sends only its hash (the binding) to
// the platform, which stores the binding with the token it issues. The
// token is spent on the domain only together with that cookie. A token
// sent to someone else (a link to /auth/handoff?token=… in a mail or on a
// page) meets a browser without the cookie and signs nobody in: the login
// CSRF a plain GET handoff allowed. No extra click, no script.

// secure reports whether the site runs on https (then cookies are Secure
// and the handoff cookie gets the __Host- prefix, which a sibling
// subdomain cannot overwrite).
func (h *Handlers) secure() bool { return strings.HasPrefix(h.o.PublicURL, "https://") }

func (h *Handlers) handoffCookie() string {
	if h.secure() {
		return "__Host-voyager-handoff"
	}
	return "voyager_handoff"
}

// HandleHandoffBegin handles GET /auth/handoff/start on a custom domain:
// it binds this browser (cookie) and sends it to the platform's host to
// sign in.
func (h *Handlers) HandleHandoffBegin(w http.ResponseWriter, r *http.Request) {
	kind, c := h.Resolve(r.Host)
	if kind != CommunityHost || h.o.SignIn == nil || h.o.PublicURL == "" {
		h.notFound(w, r, false)
		return
	}
	nonce := newToken()
	http.SetCookie(w, &http.Cookie{Name: h.handoffCookie(), Value: nonce, Path: "/", MaxAge: int(handoffCookieLife.Seconds()),
		HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, strings.TrimRight(h.o.PublicURL, "/")+"/c/"+c.ID+"/handoff?state="+hashToken(nonce), http.StatusSeeOther)
}

// HandleHandoffStart handles GET /c/{cid}/handoff?state= on the platform
// host: a signed-in user is sent to the community's own domain with a
// one-time token bound to state. The target is always the community's
// configured domain. Without a well-formed state (someone opened the
// address directly) the trip starts over on the domain.
func (h *Handlers) HandleHandoffStart(w http.ResponseWriter, r *http.Request) {
	if kind, _ := h.Resolve(r.Host); kind == UnknownHost {
		h.unknownHost(w, r, false)
		return
	}
	// Signed out: sign in first, whatever the ID (so the answer says
	// nothing about which communities exist); afterwards the community
	// is resolved, and a private one is 404 to a non-member.
	if _, ok := auth.UserFrom(r.Context()); !ok {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	s, ok := h.community(w, r, false)
	if !ok {
		return
	}
	if len(s.c.Branding.Domains) == 0 || h.o.SignIn == nil {
		http.Redirect(w, r, s.base+"/", http.StatusSeeOther)
		return
	}
	scheme := "https"
	if u, err := url.Parse(h.o.PublicURL); err == nil && u.Scheme == "http" {
		scheme = "http"
	}
	domain := scheme + "://" + community.NormalizeHost(s.c.Branding.Domains[0])
	state := r.URL.Query().Get("state")
	if !isHex64(state) {
		http.Redirect(w, r, domain+"/auth/handoff/start", http.StatusSeeOther)
		return
	}
	token := newToken()
	if err := h.o.Chat.Store().CreateHandoff(r.Context(), hashToken(token), state, s.user.ID, s.c.ID, h.o.Now().Add(handoffLife)); err != nil {
		h.fail(w, r, false, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, domain+"/auth/handoff?token="+url.QueryEscape(token), http.StatusSeeOther)
}

// isHex64 reports whether s is a SHA-256 in lower-case hex.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// HandleHandoff handles GET /auth/handoff?token= on a custom domain: it
// spends the token and, when this browser is the one that started the
// handoff (its cookie hashes to the token's binding), starts a session on
// this host.
func (h *Handlers) HandleHandoff(w http.ResponseWriter, r *http.Request) {
	kind, c := h.Resolve(r.Host)
	if kind != CommunityHost || h.o.SignIn == nil {
		h.notFound(w, r, false)
		return
	}
	binding := ""
	if ck, err := r.Cookie(h.handoffCookie()); err == nil && ck.Value != "" {
		binding = hashToken(ck.Value)
	}
	// The cookie serves one handoff.
	http.SetCookie(w, &http.Cookie{Name: h.handoffCookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: h.secure(), SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	uid, err := h.o.Chat.Store().UseHandoff(r.Context(), hashToken(r.URL.Query().Get("token")), binding, c.ID, h.o.Now())
	if err != nil {
		if apperr.Is(err, apperr.Forbidden) {
			obs.Logger(r.Context()).Warn("handoff refused: token presented by another browser", "community", c.ID, "had_cookie", binding != "")
		}
		h.fail(w, r, false, err)
		return
	}
	if err := h.o.SignIn(w, r, uid, "handoff"); err != nil {
		h.fail(w, r, false, err)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// DressPlatformPage dresses the platform's own pages (sign-in, account,
// errors) in a community's brand when they are shown for it: on the
// community's domain, and on the platform's host when the sign-in leads
// back into a community (?next=/c/{id}/…, or the sign-in page that sent
// the visitor to "check your email"). Private communities are dressed only
// on their own domain or for a sign-in that hands over to it, so their
// names are not revealed by guessing ids.
func (h *Handlers) DressPlatformPage(r *http.Request, pg *web.Page) {
	c, home := h.pageCommunity(r)
	if c == nil {
		return
	}
	brandPage(pg, c, home)
	if c.Visibility != community.Public && !h.mayStyle(r, c) {
		// Outsiders get 404 for a private community's stylesheet on the
		// platform host (it does not exist there for them): its name and
		// logo lead the way back, the platform's colours stay.
		pg.Stylesheets = slices.DeleteFunc(pg.Stylesheets, func(s string) bool { return s == "/brand/"+c.ID+".css" })
	}
}

func (h *Handlers) pageCommunity(r *http.Request) (*community.Community, string) {
	switch kind, c := h.Resolve(r.Host); kind {
	case CommunityHost:
		return c, "/"
	case PlatformHost:
	default:
		return nil, ""
	}
	if !strings.HasPrefix(r.URL.Path, "/signin") && !strings.HasPrefix(r.URL.Path, "/auth/") {
		return nil, ""
	}
	next := r.URL.Query().Get("next")
	if next == "" && r.Form != nil {
		next = r.Form.Get("next")
	}
	if next == "" {
		// "Check your email" follows the sign-in form, which named the way back.
		if ref, err := url.Parse(r.Referer()); err == nil && ref.Host == r.Host && strings.HasPrefix(ref.Path, "/signin") {
			next = ref.Query().Get("next")
		}
	}
	rest, ok := strings.CutPrefix(next, "/c/")
	if !ok {
		return nil, ""
	}
	id, _, _ := strings.Cut(rest, "/")
	c, ok := h.o.Communities.Current().ByID(id)
	if !ok || (c.Visibility != community.Public && len(c.Branding.Domains) == 0) {
		return nil, ""
	}
	if len(c.Branding.Domains) > 0 {
		return c, h.domainScheme() + "://" + community.NormalizeHost(c.Branding.Domains[0]) + "/"
	}
	return c, "/c/" + c.ID + "/"
}

// domainScheme is the scheme of links to custom domains: https, or http
// when PUBLIC_URL is http (development).
func (h *Handlers) domainScheme() string {
	if u, err := url.Parse(h.o.PublicURL); err == nil && u.Scheme == "http" {
		return "http"
	}
	return "https"
}
