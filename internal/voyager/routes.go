package voyager

import (
	"net/http"

	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/voyager/voyagerhttp"
)

// routes maps every Voyager route. The platform adds /healthz, /readyz,
// /metrics, /api/cron/{job}, /assets/ and the sign-in routes.
//
// Community pages exist twice: under /c/{cid} on the platform's host, and
// at the root on a community's own domain (the handlers resolve the host;
// on the platform host the root forms answer 404). The JSON API always
// names the community: /api/c/{cid}/….
func (s *site) routes(p *app.Platform, h *voyagerhttp.Handlers) {
	rt := p.Router
	read := func(f http.HandlerFunc) http.Handler { return p.Read(f) }
	write := func(f http.HandlerFunc) http.Handler { return p.Write(f) }

	rt.Handle("GET /{$}", read(h.HandleRoot))
	rt.Handle("GET /brand/{file}", read(h.HandleBrandCSS))
	rt.Handle("GET /brand/{cid}/{file}", read(h.HandleBrandFile))
	// Sign-in on a custom domain: signed in on the platform's host, then
	// handed over to the domain with a one-time token.
	rt.Handle("GET /c/{cid}/handoff", read(h.HandleHandoffStart))
	rt.Handle("GET /auth/handoff/start", p.SignInLimit(http.HandlerFunc(h.HandleHandoffBegin)))
	rt.Handle("GET /auth/handoff", p.SignInLimit(http.HandlerFunc(h.HandleHandoff)))
	for _, base := range []string{"/c/{cid}", ""} {
		if base != "" {
			rt.Handle("GET "+base+"/{$}", read(h.HandleCommunity))
		}
		rt.Handle("POST "+base+"/join", write(h.HandleJoin))
		rt.Handle("GET "+base+"/invite/{token}", read(h.HandleInvite))
		rt.Handle("POST "+base+"/invite/{token}", write(h.HandleInviteAccept))
		rt.Handle("POST "+base+"/conversations", write(h.HandleNewConversation))
		rt.Handle("GET "+base+"/chat/{conv}", read(h.HandleChat))
		rt.Handle("POST "+base+"/chat/{conv}/rename", write(h.HandleRenameForm))
		rt.Handle("POST "+base+"/chat/{conv}/delete", write(h.HandleDeleteForm))
		rt.Handle("GET "+base+"/profile", read(h.HandleProfilePage))
		rt.Handle("POST "+base+"/profile", write(h.HandleProfileForm))
		rt.Handle("POST "+base+"/memories", write(h.HandleMemoryForm))
		rt.Handle("POST "+base+"/memories/{id}", write(h.HandleMemoryForm))
		rt.Handle("POST "+base+"/documents", write(h.HandleDocumentForm))
		rt.Handle("POST "+base+"/documents/{id}/delete", write(h.HandleDocumentForm))
		rt.Handle("GET "+base+"/invites", read(h.HandleInvitesPage))
		rt.Handle("POST "+base+"/invites", write(h.HandleInviteCreateForm))
		rt.Handle("POST "+base+"/invites/{iid}/revoke", write(h.HandleInviteRevokeForm))
	}

	api := "/api/c/{cid}"
	rt.Handle("GET "+api+"/conversations", read(h.HandleConversationList))
	rt.Handle("POST "+api+"/conversations", write(h.HandleConversationCreate))
	rt.Handle("PATCH "+api+"/conversations/{conv}", write(h.HandleConversationRename))
	rt.Handle("DELETE "+api+"/conversations/{conv}", write(h.HandleConversationDelete))
	rt.Handle("GET "+api+"/conversations/{conv}/messages", read(h.HandleMessageList))
	rt.Handle("POST "+api+"/conversations/{conv}/messages", write(h.HandleMessageSend))
	rt.Handle("POST "+api+"/conversations/{conv}/regenerate", write(h.HandleRegenerate))
	rt.Handle("GET "+api+"/messages/{mid}/stream", read(h.HandleStream))
	rt.Handle("POST "+api+"/messages/{mid}/stop", write(h.HandleStop))
	rt.Handle("GET "+api+"/quota", read(h.HandleQuota))
	rt.Handle("GET "+api+"/invites", read(h.HandleInviteList))
	rt.Handle("POST "+api+"/invites", write(h.HandleInviteCreate))
	rt.Handle("GET "+api+"/profile", read(h.HandleProfileGet))
	rt.Handle("PUT "+api+"/profile", write(h.HandleProfilePut))
	rt.Handle("POST "+api+"/memories", write(h.HandleMemoryCreate))
	rt.Handle("PATCH "+api+"/memories/{id}", write(h.HandleMemoryUpdate))
	rt.Handle("DELETE "+api+"/memories/{id}", write(h.HandleMemoryDelete))
	rt.Handle("GET "+api+"/documents", read(h.HandleDocumentList))
	rt.Handle("POST "+api+"/documents", write(h.HandleDocumentCreate))
	rt.Handle("GET "+api+"/documents/{id}/file", read(h.HandleDocumentFile))
	rt.Handle("DELETE "+api+"/documents/{id}", write(h.HandleDocumentDelete))
	rt.Handle("DELETE "+api+"/invites/{iid}", write(h.HandleInviteRevoke))
}
