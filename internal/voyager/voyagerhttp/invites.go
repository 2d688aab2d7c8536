package voyagerhttp

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/voyager/chat"
)

// inviteDays are the expiry choices of the invite form; the API takes any
// number of days from 1 to 90.
var inviteDays = []int{1, 7, 14, 30, 90}

// inviteToken is the secret of invite id: an HMAC of the id under the
// server's key, so a link can be shown again (copied from the list)
// without storing it; the store keeps only its hash. Without a key the
// token is random and the link is shown once.
func (h *Handlers) inviteToken(id string) string {
	if len(h.o.InviteKey) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, h.o.InviteKey)
	m.Write([]byte("voyager invite\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// inviteURL is the link of token as seen from the request's host.
func (h *Handlers) inviteURL(r *http.Request, s *scope, token string) string {
	if kind, _ := h.Resolve(r.Host); kind == CommunityHost {
		return baseURL(r) + "/invite/" + token
	}
	return baseURL(r) + "/c/" + s.c.ID + "/invite/" + token
}

// inviteInput is what creating an invite takes.
type inviteInput struct {
	MaxUses int    `json:"max_uses"`
	Days    int    `json:"days"`
	Role    string `json:"role"`
}

// createInvite validates in and stores a new invite; it returns it with its link.
func (h *Handlers) createInvite(r *http.Request, s *scope, in inviteInput) (chat.Invite, string, error) {
	fields := map[string]string{}
	if in.Days == 0 {
		in.Days = 14
	}
	if in.Days < 1 || in.Days > 90 {
		fields["days"] = "Choose 1 to 90 days."
	}
	if in.MaxUses < 0 || in.MaxUses > 10000 {
		fields["max_uses"] = "Use 0 (no limit) to 10,000."
	}
	role := chat.Role(in.Role)
	switch role {
	case "":
		role = chat.RoleMember
	case chat.RoleMember, chat.RoleCoach, chat.RoleAdmin:
	default:
		fields["role"] = "Use member, coach or admin."
	}
	if len(fields) > 0 {
		return chat.Invite{}, "", apperr.InvalidFields("Check the invite's settings.", fields)
	}
	now := h.o.Now().UTC()
	inv := chat.Invite{ID: newToken()[:16], CommunityID: s.c.ID, Role: role, MaxUses: in.MaxUses, CreatedAt: now, ExpiresAt: now.Add(time.Duration(in.Days) * 24 * time.Hour)}
	token := h.inviteToken(inv.ID)
	if token == "" {
		token = newToken()
	}
	if err := h.o.Chat.Store().CreateInvite(r.Context(), inv, hashToken(token)); err != nil {
		return inv, "", err
	}
	return inv, h.inviteURL(r, s, token), nil
}

// admin is member plus: a community admin or a platform admin. Others get
// 404 and a logged violation.
func (h *Handlers) admin(w http.ResponseWriter, r *http.Request, api bool) (*scope, bool) {
	s, ok := h.member(w, r, api)
	if !ok {
		return nil, false
	}
	if !s.isAdmin() {
		h.violation(r, s, "invite management by a non-admin")
		h.notFound(w, r, api)
		return nil, false
	}
	return s, true
}

// HandleInviteCreate handles POST /api/c/{cid}/invites (community admins):
// {"max_uses", "days", "role"} → 201 {"invite", "url"}.
func (h *Handlers) HandleInviteCreate(w http.ResponseWriter, r *http.Request) {
	s, ok := h.admin(w, r, true)
	if !ok {
		return
	}
	var in inviteInput
	if r.ContentLength != 0 {
		if err := httpapi.Decode(w, r, &in, maxBody); err != nil {
			httpapi.Error(w, r, err)
			return
		}
	}
	inv, url, err := h.createInvite(r, s, in)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusCreated, map[string]any{"invite": inv, "url": url})
}

// inviteView is an invite as the list shows it.
type inviteView struct {
	chat.Invite
	URL        string `json:"url,omitempty"`
	State      string `json:"state"` // active, expired, used
	StateText  string `json:"-"`
	UsesText   string `json:"-"`
	ExpiryText string `json:"-"`
}

func (h *Handlers) inviteViews(r *http.Request, s *scope) ([]inviteView, error) {
	list, err := h.o.Chat.Store().Invites(r.Context(), s.c.ID)
	if err != nil {
		return nil, err
	}
	now := h.o.Now()
	out := make([]inviteView, 0, len(list))
	for _, inv := range list {
		v := inviteView{Invite: inv, State: "active", StateText: "Active"}
		// Shown only when the derived token is the link's: not for random
		// links (no key, or made before keys) nor after AUTH_SECRET changed.
		if t := h.inviteToken(inv.ID); t != "" && hashToken(t) == inv.TokenHash {
			v.URL = h.inviteURL(r, s, t)
		}
		switch {
		case !now.Before(inv.ExpiresAt):
			v.State, v.StateText = "expired", "Expired"
		case inv.MaxUses > 0 && inv.Uses >= inv.MaxUses:
			v.State, v.StateText = "used", "Used up"
		}
		if inv.MaxUses > 0 {
			v.UsesText = fmt.Sprintf("%d of %d uses", inv.Uses, inv.MaxUses)
		} else {
			v.UsesText = fmt.Sprintf("%d uses, no limit", inv.Uses)
		}
		if v.State == "expired" {
			v.ExpiryText = "expired " + inv.ExpiresAt.UTC().Format("2 Jan 2006 15:04 UTC")
		} else {
			v.ExpiryText = "expires " + inv.ExpiresAt.UTC().Format("2 Jan 2006 15:04 UTC")
		}
		out = append(out, v)
	}
	return out, nil
}

// HandleInviteList handles GET /api/c/{cid}/invites (community admins).
func (h *Handlers) HandleInviteList(w http.ResponseWriter, r *http.Request) {
	s, ok := h.admin(w, r, true)
	if !ok {
		return
	}
	list, err := h.inviteViews(r, s)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"invites": list})
}

// HandleInviteRevoke handles DELETE /api/c/{cid}/invites/{iid}.
func (h *Handlers) HandleInviteRevoke(w http.ResponseWriter, r *http.Request) {
	s, ok := h.admin(w, r, true)
	if !ok {
		return
	}
	if err := h.o.Chat.Store().RevokeInvite(r.Context(), s.c.ID, r.PathValue("iid")); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// HandleInvitesPage handles GET /c/{cid}/invites: create, list, copy and
// revoke invite links.
func (h *Handlers) HandleInvitesPage(w http.ResponseWriter, r *http.Request) {
	s, ok := h.admin(w, r, false)
	if !ok {
		return
	}
	list, err := h.inviteViews(r, s)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	h.page(w, r, s, http.StatusOK, "invites.html", "Invite members", map[string]any{
		"Invites": list, "DayChoices": inviteDays, "Created": r.URL.Query().Get("created"),
	})
}

// HandleInviteCreateForm handles POST /c/{cid}/invites (the form).
func (h *Handlers) HandleInviteCreateForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.admin(w, r, false)
	if !ok {
		return
	}
	in := inviteInput{Role: r.FormValue("role")}
	var err error
	if v := strings.TrimSpace(r.FormValue("days")); v != "" {
		if in.Days, err = strconv.Atoi(v); err != nil {
			in.Days = -1
		}
	}
	if v := strings.TrimSpace(r.FormValue("max_uses")); v != "" {
		if in.MaxUses, err = strconv.Atoi(v); err != nil {
			in.MaxUses = -1
		}
	}
	inv, _, err := h.createInvite(r, s, in)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	http.Redirect(w, r, s.base+"/invites?created="+inv.ID+"#invite-"+inv.ID, http.StatusSeeOther)
}

// HandleInviteRevokeForm handles POST /c/{cid}/invites/{iid}/revoke.
func (h *Handlers) HandleInviteRevokeForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.admin(w, r, false)
	if !ok {
		return
	}
	if err := h.o.Chat.Store().RevokeInvite(r.Context(), s.c.ID, r.PathValue("iid")); err != nil {
		h.fail(w, r, false, err)
		return
	}
	http.Redirect(w, r, s.base+"/invites", http.StatusSeeOther)
}
