package coda

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relaywork/suite/internal/coda/apitoken"
	"github.com/relaywork/suite/internal/coda/idea"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
)

// maxIdeaJSON bounds a create or update body: a 100 KB idea body can grow
// when JSON escapes it.
const maxIdeaJSON = 1 << 20

// ideaJSON is an idea in API answers.
type ideaJSON struct {
	ID            string         `json:"id"`
	Title         string         `json:"title"`
	Body          string         `json:"body"`
	Tags          []string       `json:"tags"`
	Version       int            `json:"version"`
	CreatedAt     time.Time      `json:"createdAt"`
	UpdatedAt     time.Time      `json:"updatedAt"`
	DeletedAt     *time.Time     `json:"deletedAt,omitempty"`
	UndoExpiresAt *time.Time     `json:"undoExpiresAt,omitempty"`
	Highlight     *highlightJSON `json:"highlight,omitempty"`
	// Excerpt is the start of the body as plain text (Markdown reduced
	// to its words), as the list shows it.
	Excerpt string `json:"excerpt"`
}

// highlightJSON holds HTML-escaped text with <mark> around matches.
type highlightJSON struct {
	Title   string `json:"title"`
	Snippet string `json:"snippet"`
}

func toJSON(it idea.Idea) ideaJSON {
	j := ideaJSON{ID: it.ID, Title: it.Title, Body: it.Body, Tags: it.Tags, Version: it.Version, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, DeletedAt: it.DeletedAt, UndoExpiresAt: it.UndoExpiresAt,
		Excerpt: excerpt(it.Body, 180, false)}
	if j.Tags == nil {
		j.Tags = []string{}
	}
	if it.Highlight != nil {
		j.Highlight = &highlightJSON{Title: string(highlightHTML(it.Highlight.Title)), Snippet: string(highlightHTML(highlightExcerpt(it.Highlight.Snippet)))}
	}
	return j
}

func toJSONList(ideas []idea.Idea) []ideaJSON {
	out := make([]ideaJSON, len(ideas))
	for i, it := range ideas {
		out[i] = toJSON(it)
	}
	return out
}

// apiError answers err as JSON: validation problems that name fields are
// 422, malformed requests 400, everything else by its kind.
func apiError(w http.ResponseWriter, r *http.Request, err error) {
	if ae, ok := apperr.As(err); ok && ae.Kind == apperr.Invalid && len(ae.Fields) > 0 {
		httpapi.ErrorStatus(w, r, http.StatusUnprocessableEntity, err)
		return
	}
	var ce *idea.ConflictError
	if errors.As(err, &ce) {
		ae, _ := apperr.As(err)
		httpapi.Write(w, http.StatusConflict, map[string]any{
			"error":   httpapi.ErrorDetail{Code: "conflict", Message: ae.Message, RequestID: obs.RequestID(r.Context())},
			"current": toJSON(ce.Current),
		})
		return
	}
	httpapi.Error(w, r, err)
}

// userID is the signed-in user's ID; routes are wrapped in RequireUser.
func userID(r *http.Request) string {
	u, _ := auth.UserFrom(r.Context())
	return u.ID
}

// withToken signs in a request that carries "Authorization: Bearer
// coda_pat_…" as the token's user. A bad token is refused outright rather
// than treated as anonymous.
func (h *ideasHTTP) withToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			next.ServeHTTP(w, r)
			return
		}
		uid, err := h.tokens.Authenticate(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="coda"`)
			httpapi.Error(w, r, err)
			return
		}
		u, err := h.s.p.Auth.UserByID(r.Context(), uid)
		if err != nil {
			httpapi.Error(w, r, apperr.E(apperr.Unauthorized, "The API token's user no longer exists."))
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithUser(r.Context(), &u, nil)))
	})
}

// decodeIdeaInput reads a JSON object with title, body, tags and (for
// updates) version, reporting every bad field at once, including text
// whose bytes are not valid UTF-8.
func decodeIdeaInput(w http.ResponseWriter, r *http.Request, creating bool) (idea.Input, int, error) {
	var raw map[string]json.RawMessage
	if err := httpapi.Decode(w, r, &raw, maxIdeaJSON); err != nil {
		return idea.Input{}, 0, err
	}
	if raw == nil {
		return idea.Input{}, 0, apperr.E(apperr.Invalid, "The body must be a JSON object.")
	}
	in := idea.Input{BadUTF8: map[string]bool{}}
	bad := map[string]string{}
	version := 0
	text := func(k string, v json.RawMessage) *string {
		if !utf8.Valid(v) {
			in.BadUTF8[k] = true
			return nil
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			bad[k] = "must be a string"
			return nil
		}
		return &s
	}
	for k, v := range raw {
		if string(v) == "null" {
			continue
		}
		switch k {
		case "title":
			in.Title = text(k, v)
		case "body":
			in.Body = text(k, v)
		case "tags":
			if !utf8.Valid(v) {
				in.BadUTF8[k] = true
				continue
			}
			var tags []string
			if err := json.Unmarshal(v, &tags); err != nil {
				bad[k] = "must be an array of strings"
				continue
			}
			in.Tags = &tags
		case "version":
			if err := json.Unmarshal(v, &version); err != nil {
				bad[k] = "must be a whole number"
			}
		default:
			bad[k] = "unknown field"
		}
	}
	// Let validation add its own findings to the decoding ones.
	if len(bad) > 0 {
		_, verr := in.Validate(idea.Fields{}, creating)
		if ae, ok := apperr.As(verr); ok {
			for f, m := range ae.Fields {
				if bad[f] == "" {
					bad[f] = m
				}
			}
		}
		return idea.Input{}, 0, apperr.InvalidFields("Some fields need attention.", bad)
	}
	return in, version, nil
}

// handleIdeaList handles GET /api/ideas.
func (h *ideasHTTP) handleIdeaList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			apiError(w, r, apperr.InvalidFields("The limit is not valid.", map[string]string{"limit": fmt.Sprintf("must be a whole number from 1 to %d", idea.MaxPageSize)}))
			return
		}
		limit = n
	}
	p, err := h.svc.List(r.Context(), userID(r), idea.ListOptions{Query: q.Get("q"), Tag: q.Get("tag"), Cursor: q.Get("cursor"), Limit: limit})
	if err != nil {
		apiError(w, r, err)
		return
	}
	out := map[string]any{"ideas": toJSONList(p.Ideas), "nextCursor": nil}
	if p.Next != "" {
		out["nextCursor"] = p.Next
	}
	httpapi.Write(w, http.StatusOK, out)
}

// handleIdeaCreate handles POST /api/ideas.
func (h *ideasHTTP) handleIdeaCreate(w http.ResponseWriter, r *http.Request) {
	in, _, err := decodeIdeaInput(w, r, true)
	if err != nil {
		apiError(w, r, err)
		return
	}
	it, err := h.svc.Create(r.Context(), userID(r), in)
	if err != nil {
		apiError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/ideas/"+it.ID)
	httpapi.Write(w, http.StatusCreated, toJSON(it))
}

// handleIdeaGet handles GET /api/ideas/{id}.
func (h *ideasHTTP) handleIdeaGet(w http.ResponseWriter, r *http.Request) {
	it, err := h.svc.Get(r.Context(), userID(r), r.PathValue("id"))
	if err != nil {
		apiError(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, toJSON(it))
}

// handleIdeaUpdate handles PATCH /api/ideas/{id}.
func (h *ideasHTTP) handleIdeaUpdate(w http.ResponseWriter, r *http.Request) {
	in, version, err := decodeIdeaInput(w, r, false)
	if err != nil {
		apiError(w, r, err)
		return
	}
	it, err := h.svc.Update(r.Context(), userID(r), r.PathValue("id"), version, in)
	if err != nil {
		apiError(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, toJSON(it))
}

// taskJSON is the body of POST /api/ideas/{id}/tasks/{n}.
type taskJSON struct {
	Done    bool `json:"done"`
	Version int  `json:"version"`
}

// handleIdeaTask handles POST /api/ideas/{id}/tasks/{n}: ticks (done) or
// clears the idea's task n (0-based, in the order the tasks appear), as an
// update of the version the caller saw: a stale version is 409 with the
// current idea, as for PATCH.
func (h *ideasHTTP) handleIdeaTask(w http.ResponseWriter, r *http.Request) {
	var in taskJSON
	if err := httpapi.Decode(w, r, &in, 4<<10); err != nil {
		apiError(w, r, err)
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		apiError(w, r, apperr.InvalidFields("The task number is not valid.", map[string]string{"n": "must be a task number from 0"}))
		return
	}
	it, err := h.setTask(r, r.PathValue("id"), n, in.Done, in.Version)
	if err != nil {
		apiError(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, toJSON(it))
}

// setTask ticks or clears task n of idea id at version.
func (h *ideasHTTP) setTask(r *http.Request, id string, n int, done bool, version int) (idea.Idea, error) {
	if version < 1 {
		return idea.Idea{}, apperr.InvalidFields("Say which version the change is based on.", map[string]string{"version": "is required (the version you last saw)"})
	}
	cur, err := h.svc.Get(r.Context(), userID(r), id)
	if err != nil {
		return idea.Idea{}, err
	}
	if cur.Version != version {
		return idea.Idea{}, idea.Conflict(cur)
	}
	body, ok := setTask(cur.Body, n, done)
	if !ok {
		return idea.Idea{}, apperr.E(apperr.NotFound, "This idea has no task %d.", n)
	}
	return h.svc.Update(r.Context(), userID(r), id, version, idea.Input{Body: &body})
}

// deletedJSON answers a delete.
type deletedJSON struct {
	Idea          ideaJSON  `json:"idea"`
	UndoToken     string    `json:"undoToken"`
	UndoExpiresAt time.Time `json:"undoExpiresAt"`
}

// handleIdeaDelete handles DELETE /api/ideas/{id}.
func (h *ideasHTTP) handleIdeaDelete(w http.ResponseWriter, r *http.Request) {
	d, err := h.delete(r, r.PathValue("id"))
	if err != nil {
		apiError(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, deletedJSON{Idea: toJSON(d.Idea), UndoToken: d.UndoToken, UndoExpiresAt: *d.Idea.UndoExpiresAt})
}

// delete soft-deletes and audits.
func (h *ideasHTTP) delete(r *http.Request, id string) (idea.Deleted, error) {
	d, err := h.svc.Delete(r.Context(), userID(r), id)
	if err != nil {
		return d, err
	}
	h.record(r, "delete", d.Idea.ID, map[string]any{"ideaId": d.Idea.ID, "undoExpiresAt": d.Idea.UndoExpiresAt})
	return d, nil
}

// record writes an audit entry for the signed-in user; a failure is
// logged, not shown, since the action itself has happened.
func (h *ideasHTTP) record(r *http.Request, action, ideaID string, meta map[string]any) {
	e := h.audit.FromRequest(r, audit.Entry{ActorID: userID(r), Action: action, Resource: "idea", ResourceID: ideaID, Metadata: meta})
	if err := h.audit.Record(r.Context(), e); err != nil {
		obs.Logger(r.Context()).Error("audit", "action", action, "err", err.Error())
	}
}

// handleIdeaUndo handles POST /api/ideas/undo: {"token": "…"}.
func (h *ideasHTTP) handleIdeaUndo(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token string `json:"token"`
	}
	if err := httpapi.Decode(w, r, &body, 4096); err != nil {
		apiError(w, r, err)
		return
	}
	it, err := h.svc.Undo(r.Context(), userID(r), body.Token)
	if err != nil {
		apiError(w, r, err)
		return
	}
	h.record(r, "undo", it.ID, map[string]any{"ideaId": it.ID, "via": "token"})
	httpapi.Write(w, http.StatusOK, toJSON(it))
}

// handleIdeaRestore handles POST /api/ideas/{id}/restore.
func (h *ideasHTTP) handleIdeaRestore(w http.ResponseWriter, r *http.Request) {
	it, err := h.restore(r, r.PathValue("id"))
	if err != nil {
		apiError(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, toJSON(it))
}

func (h *ideasHTTP) restore(r *http.Request, id string) (idea.Idea, error) {
	it, err := h.svc.Restore(r.Context(), userID(r), id)
	if err != nil {
		return it, err
	}
	h.record(r, "undo", it.ID, map[string]any{"ideaId": it.ID, "via": "recently-deleted"})
	return it, nil
}

// handleIdeaDeletedList handles GET /api/ideas/deleted.
func (h *ideasHTTP) handleIdeaDeletedList(w http.ResponseWriter, r *http.Request) {
	ideas, err := h.svc.RecentlyDeleted(r.Context(), userID(r))
	if err != nil {
		apiError(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"ideas": toJSONList(ideas), "undoWindowSeconds": int(h.svc.UndoWindow().Seconds())})
}

// handleIdeaExport handles GET /api/ideas/export?format=json|markdown. The
// export is audited before the first byte is sent, then streamed.
func (h *ideasHTTP) handleIdeaExport(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "markdown" {
		apiError(w, r, apperr.InvalidFields("Unknown export format.", map[string]string{"format": "must be json or markdown"}))
		return
	}
	e := h.audit.FromRequest(r, audit.Entry{ActorID: userID(r), Action: "export", Resource: "idea", Metadata: map[string]any{"format": format}})
	if err := h.audit.Record(r.Context(), e); err != nil {
		apiError(w, r, err)
		return
	}
	day := h.s.p.Now().UTC().Format("2006-01-02")
	w.Header().Set("Cache-Control", "no-store")
	var err error
	if format == "json" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="coda-ideas-`+day+`.json"`)
		_, err = h.svc.ExportJSON(r.Context(), userID(r), w)
	} else {
		w.Header().Set("Content-Type", "application/zip")
		w.Header().Set("Content-Disposition", `attachment; filename="coda-ideas-`+day+`.zip"`)
		_, err = h.svc.ExportMarkdown(r.Context(), userID(r), w)
	}
	if err != nil {
		// Headers are gone; the truncated body is the signal. Log it once.
		obs.Logger(r.Context()).Error("export failed mid-stream", "format", format, "err", err.Error())
	}
}

// handleIdeaImport handles POST /api/ideas/import with a JSON export as
// the body (at most MAX_BODY_BYTES).
func (h *ideasHTTP) handleIdeaImport(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		apiError(w, r, &apperr.Error{Kind: apperr.Invalid, Code: "unsupported_media_type", Message: "Send the export as application/json."})
		return
	}
	res, err := h.svc.Import(r.Context(), userID(r), r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = &apperr.Error{Kind: apperr.TooLarge, Message: fmt.Sprintf("The file is larger than the %d MB an import accepts; split it and import the parts.", importMaxBytes>>20)}
		}
		apiError(w, r, err)
		return
	}
	h.record(r, "import", "", map[string]any{"imported": res.Imported, "duplicates": res.Duplicates})
	httpapi.Write(w, http.StatusOK, res)
}

// handleIdeaPreview handles POST /api/ideas/preview: {"body": "…"} →
// {"html": "…"}, the sanitised rendering the editor shows.
func (h *ideasHTTP) handleIdeaPreview(w http.ResponseWriter, r *http.Request) {
	in, _, err := decodeIdeaInput(w, r, false)
	if err == nil && in.Body != nil {
		_, err = in.Validate(idea.Fields{}, false)
	}
	if err != nil {
		apiError(w, r, err)
		return
	}
	body := ""
	if in.Body != nil {
		body = *in.Body
	}
	httpapi.Write(w, http.StatusOK, map[string]string{"html": string(renderMarkdown(body))})
}

// tokenJSON is an API token in answers; the secret appears only on create.
type tokenJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Hint       string     `json:"hint"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	Token      string     `json:"token,omitempty"`
}

func toTokenJSON(t apitoken.Token) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, Hint: t.Hint, CreatedAt: t.CreatedAt, LastUsedAt: t.LastUsedAt}
}

// handleTokenList handles GET /api/tokens.
func (h *ideasHTTP) handleTokenList(w http.ResponseWriter, r *http.Request) {
	ts, err := h.tokens.List(r.Context(), userID(r))
	if err != nil {
		apiError(w, r, err)
		return
	}
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = toTokenJSON(t)
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"tokens": out})
}

// handleTokenCreate handles POST /api/tokens: {"name": "…"}.
func (h *ideasHTTP) handleTokenCreate(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"name"`
	}
	if err := httpapi.Decode(w, r, &body, 4096); err != nil {
		apiError(w, r, err)
		return
	}
	t, secret, err := h.createToken(r, body.Name)
	if err != nil {
		apiError(w, r, err)
		return
	}
	j := toTokenJSON(t)
	j.Token = secret
	httpapi.Write(w, http.StatusCreated, j)
}

func (h *ideasHTTP) createToken(r *http.Request, name string) (apitoken.Token, string, error) {
	t, secret, err := h.tokens.Create(r.Context(), userID(r), name)
	if err != nil {
		return t, "", err
	}
	e := h.audit.FromRequest(r, audit.Entry{ActorID: userID(r), Action: "create", Resource: "api_token", ResourceID: t.ID, Metadata: map[string]any{"name": t.Name}})
	if err := h.audit.Record(r.Context(), e); err != nil {
		obs.Logger(r.Context()).Error("audit", "action", "create api_token", "err", err.Error())
	}
	return t, secret, nil
}

// handleTokenRevoke handles DELETE /api/tokens/{id}.
func (h *ideasHTTP) handleTokenRevoke(w http.ResponseWriter, r *http.Request) {
	if err := h.revokeToken(r, r.PathValue("id")); err != nil {
		apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *ideasHTTP) revokeToken(r *http.Request, id string) error {
	if err := h.tokens.Revoke(r.Context(), userID(r), id); err != nil {
		return err
	}
	e := h.audit.FromRequest(r, audit.Entry{ActorID: userID(r), Action: "revoke", Resource: "api_token", ResourceID: id})
	if err := h.audit.Record(r.Context(), e); err != nil {
		obs.Logger(r.Context()).Error("audit", "action", "revoke api_token", "err", err.Error())
	}
	return nil
}
