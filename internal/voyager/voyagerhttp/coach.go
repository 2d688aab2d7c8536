package voyagerhttp

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/voyager/chat"
	"github.com/relaywork/suite/internal/voyager/coach"
)

// What the coach knows about a member: the profile page and its JSON API
// (profile, remembered facts, attached documents). Every route is a
// member's own; another member's rows are 404.

// coachOn reports whether the routes are served (they are 404 without a
// coach service).
func (h *Handlers) coachMember(w http.ResponseWriter, r *http.Request, api bool) (*scope, bool) {
	if h.o.Coach == nil {
		h.notFound(w, r, api)
		return nil, false
	}
	return h.member(w, r, api)
}

// profileJSON is the profile page's data as JSON.
type profileJSON struct {
	Profile   coach.Profile    `json:"profile"`
	Memory    bool             `json:"memory"`
	Memories  []coach.Memory   `json:"memories"`
	Documents []coach.Document `json:"documents"`
}

func (h *Handlers) profileData(r *http.Request, s *scope) (profileJSON, error) {
	st := h.o.Coach.Store()
	out := profileJSON{Memory: s.c.MemoryOn(), Memories: []coach.Memory{}, Documents: []coach.Document{}}
	var err error
	if out.Profile, err = st.Profile(r.Context(), s.c.ID, s.user.ID); err != nil {
		return out, err
	}
	ms, err := st.Memories(r.Context(), s.c.ID, s.user.ID)
	if err != nil {
		return out, err
	}
	out.Memories = append(out.Memories, ms...)
	ds, err := st.Documents(r.Context(), s.c.ID, s.user.ID, "")
	if err != nil {
		return out, err
	}
	out.Documents = append(out.Documents, ds...)
	return out, nil
}

// HandleProfileGet handles GET /api/c/{cid}/profile.
func (h *Handlers) HandleProfileGet(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, true)
	if !ok {
		return
	}
	d, err := h.profileData(r, s)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, d)
}

// HandleProfilePut handles PUT /api/c/{cid}/profile.
func (h *Handlers) HandleProfilePut(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, true)
	if !ok {
		return
	}
	var in coach.Profile
	if err := httpapi.Decode(w, r, &in, maxBody); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	in.CommunityID, in.UserID = s.c.ID, s.user.ID
	p, err := h.o.Coach.SaveProfile(r.Context(), in)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"profile": p})
}

// HandleMemoryCreate handles POST /api/c/{cid}/memories: a fact the member
// writes is kept at once.
func (h *Handlers) HandleMemoryCreate(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, true)
	if !ok {
		return
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := httpapi.Decode(w, r, &in, maxBody); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	m, err := h.o.Coach.Remember(r.Context(), s.c.ID, s.user.ID, in.Text)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusCreated, map[string]any{"memory": m})
}

// HandleMemoryUpdate handles PATCH /api/c/{cid}/memories/{id}: edit the
// text and/or accept a proposal ({"keep": true}).
func (h *Handlers) HandleMemoryUpdate(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, true)
	if !ok {
		return
	}
	var in struct {
		Text *string `json:"text"`
		Keep bool    `json:"keep"`
	}
	if err := httpapi.Decode(w, r, &in, maxBody); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	m, err := h.o.Coach.UpdateMemory(r.Context(), s.c.ID, s.user.ID, r.PathValue("id"), in.Text, in.Keep)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"memory": m})
}

// HandleMemoryDelete handles DELETE /api/c/{cid}/memories/{id} (also how a
// proposal is dismissed).
func (h *Handlers) HandleMemoryDelete(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, true)
	if !ok {
		return
	}
	if err := h.o.Coach.Store().DeleteMemory(r.Context(), s.c.ID, s.user.ID, r.PathValue("id")); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// upload reads the file of a multipart form (field "file") or, for
// scripts, a raw body named by ?name=.
func upload(r *http.Request, limit int64) (string, []byte, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	tooLarge := func(err error) error {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apperr.E(apperr.TooLarge, "That file is larger than the limit of %d MB.", limit>>20)
		}
		return apperr.InvalidFields("The upload could not be read.", map[string]string{"file": "Choose the file again."})
	}
	if mt == "multipart/form-data" {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			return "", nil, tooLarge(err)
		}
		defer r.MultipartForm.RemoveAll()
		f, fh, err := r.FormFile("file")
		if err != nil {
			return "", nil, apperr.InvalidFields("Choose a file to attach.", map[string]string{"file": "Choose a file."})
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		if err != nil {
			return "", nil, tooLarge(err)
		}
		return fh.Filename, b, nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return "", nil, tooLarge(err)
	}
	return r.URL.Query().Get("name"), b, nil
}

// HandleDocumentCreate handles POST /api/c/{cid}/documents[?conversation=ID]:
// attach a CV or job description to the profile or a conversation.
func (h *Handlers) HandleDocumentCreate(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, true)
	if !ok {
		return
	}
	d, err := h.attach(r, s, r.URL.Query().Get("conversation"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusCreated, map[string]any{"document": d})
}

func (h *Handlers) attach(r *http.Request, s *scope, conv string) (coach.Document, error) {
	if conv != "" {
		if _, err := h.o.Chat.Store().Conversation(r.Context(), s.c.ID, s.user.ID, conv); err != nil {
			return coach.Document{}, err
		}
	}
	name, data, err := upload(r, h.o.Coach.Settings().Limits.MaxBytes)
	if err != nil {
		return coach.Document{}, err
	}
	return h.o.Coach.Attach(r.Context(), s.c.ID, s.user.ID, conv, name, data, s.c.Limits.DocumentTokensPerDay)
}

// HandleDocumentList handles GET /api/c/{cid}/documents[?conversation=ID].
func (h *Handlers) HandleDocumentList(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, true)
	if !ok {
		return
	}
	ds, err := h.o.Coach.Store().Documents(r.Context(), s.c.ID, s.user.ID, r.URL.Query().Get("conversation"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	if ds == nil {
		ds = []coach.Document{}
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"documents": ds})
}

// HandleDocumentFile handles GET /api/c/{cid}/documents/{id}/file: the file
// as uploaded, always as a download (never rendered inline, so an uploaded
// HTML or SVG cannot run on our origin).
func (h *Handlers) HandleDocumentFile(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, true)
	if !ok {
		return
	}
	d, err := h.o.Coach.Document(r.Context(), s.c.ID, s.user.ID, r.PathValue("id"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	ct := d.MediaType
	if strings.HasPrefix(ct, "text/") {
		ct += "; charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": d.Name}))
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "private, no-store")
	_, _ = w.Write(d.Data)
}

// HandleDocumentDelete handles DELETE /api/c/{cid}/documents/{id}.
func (h *Handlers) HandleDocumentDelete(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, true)
	if !ok {
		return
	}
	if err := h.o.Coach.DeleteDocument(r.Context(), s.c.ID, s.user.ID, r.PathValue("id")); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// HandleProfilePage handles GET /c/{cid}/profile (and /profile on a
// community's domain).
func (h *Handlers) HandleProfilePage(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, false)
	if !ok {
		return
	}
	d, err := h.profileData(r, s)
	if err != nil {
		h.fail(w, r, false, err)
		return
	}
	var proposed, kept []coach.Memory
	for _, m := range d.Memories {
		if m.Status == coach.Proposed {
			proposed = append(proposed, m)
		} else {
			kept = append(kept, m)
		}
	}
	lim := h.o.Coach.Settings().Limits
	h.page(w, r, s, http.StatusOK, "profile.html", "What "+s.c.Coach.Name+" knows about you", map[string]any{
		"Profile": d.Profile, "MemoryOn": d.Memory, "Proposed": proposed, "Kept": kept, "Documents": d.Documents,
		"MaxMB": lim.MaxBytes >> 20, "MaxPages": lim.MaxPages, "Saved": r.URL.Query().Get("saved"), "Error": r.URL.Query().Get("error"),
	})
}

// profileRedirect returns to the profile page with a status line.
func profileRedirect(w http.ResponseWriter, r *http.Request, s *scope, key, msg string) {
	http.Redirect(w, r, s.base+"/profile?"+url.Values{key: {msg}}.Encode(), http.StatusSeeOther)
}

// formError puts a 4xx's message on the page instead of an error page.
func (h *Handlers) formError(w http.ResponseWriter, r *http.Request, s *scope, err error) {
	if e, ok := apperr.As(err); ok && e.Kind != apperr.Internal && e.Kind != apperr.Unavailable && e.Kind != apperr.NotFound {
		backTo(w, r, s, "error", e.Message)
		return
	}
	h.fail(w, r, false, err)
}

// HandleProfileForm handles POST /c/{cid}/profile.
func (h *Handlers) HandleProfileForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, false)
	if !ok {
		return
	}
	p := coach.Profile{CommunityID: s.c.ID, UserID: s.user.ID, CurrentRole: r.FormValue("current_role"), Experience: r.FormValue("experience"),
		Goals: r.FormValue("goals"), TargetRoles: r.FormValue("target_roles"), Location: r.FormValue("location"), Notes: r.FormValue("notes")}
	if _, err := h.o.Coach.SaveProfile(r.Context(), p); err != nil {
		h.formError(w, r, s, err)
		return
	}
	profileRedirect(w, r, s, "saved", "Profile saved.")
}

// HandleMemoryForm handles POST /c/{cid}/memories (add), and
// /c/{cid}/memories/{id} with action keep, save or delete. With
// ?conversation=ID (the card under an answer) it returns to that
// conversation.
func (h *Handlers) HandleMemoryForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, false)
	if !ok {
		return
	}
	id := r.PathValue("id")
	var err error
	msg := "Saved."
	switch action := r.FormValue("action"); {
	case id == "":
		_, err = h.o.Coach.Remember(r.Context(), s.c.ID, s.user.ID, r.FormValue("text"))
		msg = "Remembered."
	case action == "delete":
		err = h.o.Coach.Store().DeleteMemory(r.Context(), s.c.ID, s.user.ID, id)
		msg = "Forgotten."
		if r.URL.Query().Get("conversation") != "" {
			msg = "Dismissed."
		}
	default:
		text := r.FormValue("text")
		_, err = h.o.Coach.UpdateMemory(r.Context(), s.c.ID, s.user.ID, id, &text, true)
	}
	if err != nil {
		h.formError(w, r, s, err)
		return
	}
	if action := r.FormValue("action"); action == "keep" && id != "" {
		msg = "Remembered."
	}
	backTo(w, r, s, "saved", msg)
}

// HandleDocumentForm handles POST /c/{cid}/documents (upload to the
// profile, or with ?conversation=ID to that conversation, as its page does
// without JavaScript) and /c/{cid}/documents/{id}/delete.
func (h *Handlers) HandleDocumentForm(w http.ResponseWriter, r *http.Request) {
	s, ok := h.coachMember(w, r, false)
	if !ok {
		return
	}
	if id := r.PathValue("id"); id != "" {
		if err := h.o.Coach.DeleteDocument(r.Context(), s.c.ID, s.user.ID, id); err != nil {
			h.formError(w, r, s, err)
			return
		}
		backTo(w, r, s, "saved", "Document removed.")
		return
	}
	d, err := h.attach(r, s, r.URL.Query().Get("conversation"))
	if err != nil {
		h.formError(w, r, s, err)
		return
	}
	backTo(w, r, s, "saved", "Attached "+d.Name+".")
}

// attachmentView is a document as the conversation page lists it.
type attachmentView struct {
	coach.Document
	Type   string // what kind of file, for people: "PDF", "Word"
	Bytes  string // its size, for people: "12 KB"
	File   string // the download
	Remove string // the form that removes it without JavaScript
}

// kindLabels name the kinds of document for people.
var kindLabels = map[string]string{coach.KindPDF: "PDF", coach.KindDOCX: "Word", coach.KindMarkdown: "Markdown", coach.KindText: "Text"}

// byteSize writes n bytes for people (the page script writes them alike).
func byteSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%d KB", (n+500)/1000)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
}

func attachmentViews(s *scope, convID string, ds []coach.Document) []attachmentView {
	out := make([]attachmentView, len(ds))
	for i, d := range ds {
		out[i] = attachmentView{Document: d, Type: kindLabels[d.Kind], Bytes: byteSize(d.Size),
			File:   "/api/c/" + s.c.ID + "/documents/" + d.ID + "/file",
			Remove: s.base + "/documents/" + d.ID + "/delete?conversation=" + url.QueryEscape(convID)}
	}
	return out
}

// chatCoach adds to the conversation page what the coach has there: the
// conversation's attachments, the profile's documents that go with every
// conversation, and under each answer whose proposed fact still awaits the
// member, its "Remember this?" card. A kept fact is no longer proposed and
// a dismissed one is deleted, so neither card comes back.
func (h *Handlers) chatCoach(r *http.Request, s *scope, convID string, views []messageView, data map[string]any) error {
	st := h.o.Coach.Store()
	ds, err := st.Documents(r.Context(), s.c.ID, s.user.ID, convID)
	if err != nil {
		return err
	}
	prof, err := st.Documents(r.Context(), s.c.ID, s.user.ID, "")
	if err != nil {
		return err
	}
	if s.c.MemoryOn() {
		ms, err := st.Memories(r.Context(), s.c.ID, s.user.ID)
		if err != nil {
			return err
		}
		proposed := map[string]*coach.Memory{}
		for i, m := range ms {
			if m.Status == coach.Proposed && m.MessageID != "" {
				proposed[m.MessageID] = &ms[i]
			}
		}
		for i := range views {
			if m := proposed[views[i].ID]; m != nil && views[i].Role == "assistant" {
				views[i].Proposal = m
				views[i].Card = s.base + "/memories/" + m.ID + "?conversation=" + url.QueryEscape(convID)
			}
		}
	}
	lim := h.o.Coach.Settings().Limits
	data["CoachOn"], data["MemoryOn"] = true, s.c.MemoryOn()
	data["Attachments"], data["ProfileDocuments"] = attachmentViews(s, convID, ds), prof
	data["MaxMB"], data["MaxPages"] = lim.MaxBytes>>20, lim.MaxPages
	return nil
}

// backTo is where a form on the conversation page (?conversation=ID) or
// the profile page returns, with a status line.
func backTo(w http.ResponseWriter, r *http.Request, s *scope, key, msg string) {
	if conv := r.URL.Query().Get("conversation"); conv != "" {
		http.Redirect(w, r, s.base+"/chat/"+url.PathEscape(conv)+"?"+url.Values{key: {msg}}.Encode(), http.StatusSeeOther)
		return
	}
	profileRedirect(w, r, s, key, msg)
}

// proposalFor returns the fact answer m proposed that still awaits the
// member, or nil: for a stream opened after the answer finished, whose done
// event is read from the store, which does not hold the proposal.
func (h *Handlers) proposalFor(r *http.Request, m chat.Message) *coach.Memory {
	if h.o.Coach == nil || m.Role != "assistant" || m.Status != chat.Complete {
		return nil
	}
	ms, err := h.o.Coach.Store().Memories(r.Context(), m.CommunityID, m.UserID)
	if err != nil {
		return nil // the answer is still shown; the card waits on the profile page
	}
	for i := range ms {
		if ms[i].MessageID == m.ID && ms[i].Status == coach.Proposed {
			return &ms[i]
		}
	}
	return nil
}
