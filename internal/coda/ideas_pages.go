package coda

import (
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/relaywork/suite/internal/coda/apitoken"
	"github.com/relaywork/suite/internal/coda/idea"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/web"
)

// ideaView is an idea as the pages show it.
type ideaView struct {
	ID            string
	Title         string
	TitleHTML     template.HTML // highlighted when searching
	Snippet       template.HTML // highlighted excerpt, or the start of the body
	Tasks         []task        // the first maxListTasks task-list items
	MoreTasks     int           // how many more the start of the body has
	MoreTasksCut  bool          // the body goes on beyond what was read for tasks
	Body          string
	Tags          []string
	TagLine       string
	Version       int
	CreatedAt     time.Time
	UpdatedAt     time.Time
	UndoExpiresAt *time.Time
}

// maxListTasks is how many of an idea's tasks the list shows.
const maxListTasks = 6

func view(it idea.Idea) ideaView {
	v := ideaView{ID: it.ID, Title: it.Title, Body: it.Body, Tags: it.Tags, TagLine: strings.Join(it.Tags, ", "), Version: it.Version,
		CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt, UndoExpiresAt: it.UndoExpiresAt}
	v.TitleHTML = template.HTML(template.HTMLEscapeString(it.Title))
	ex, ts, more, cut := digest(it.Body, 180, maxListTasks)
	v.Tasks, v.MoreTasks, v.MoreTasksCut = ts, more, cut
	v.Snippet = template.HTML(template.HTMLEscapeString(ex))
	if it.Highlight != nil {
		v.TitleHTML = highlightHTML(it.Highlight.Title)
		if it.Highlight.Snippet != "" {
			v.Snippet = highlightHTML(highlightExcerpt(it.Highlight.Snippet))
		}
	}
	return v
}

// pageError renders the styled error page for err (a kind's status, or
// 500 logged once).
func (h *ideasHTTP) pageError(w http.ResponseWriter, r *http.Request, err error) {
	k := apperr.KindOf(err)
	if k == apperr.Internal {
		obs.Logger(r.Context()).Error("internal error", "err", err.Error())
	}
	status := httpapi.Status(k)
	if ae, ok := apperr.As(err); ok && k != apperr.Internal && ae.Message != "" {
		texts := http.StatusText(status)
		h.s.render.ErrorPage(w, r, web.ErrorInfo{Status: status, Heading: texts, Message: ae.Message})
		return
	}
	h.s.render.Error(w, r, status)
}

// formInput reads title, body and tags from a submitted form, noting
// fields that are not valid UTF-8.
func formInput(r *http.Request, fields ...string) idea.Input {
	in := idea.Input{BadUTF8: map[string]bool{}}
	for _, f := range fields {
		if _, ok := r.PostForm[f]; !ok {
			continue
		}
		v := r.PostForm.Get(f)
		if !utf8.ValidString(v) {
			in.BadUTF8[f] = true
			continue
		}
		switch f {
		case "title":
			in.Title = &v
		case "body":
			in.Body = &v
		case "tags":
			tags := idea.ParseTags(v)
			in.Tags = &tags
		}
	}
	return in
}

// captureInput splits a quick-capture line: words starting with # become
// tags ("Paint the fence #home" → title "Paint the fence", tag "home").
func captureInput(line string) (title string, tags []string) {
	var words []string
	for _, w := range strings.Fields(line) {
		if len(w) > 1 && strings.HasPrefix(w, "#") {
			tags = append(tags, strings.TrimPrefix(w, "#"))
			continue
		}
		words = append(words, w)
	}
	title = strings.Join(words, " ")
	if title == "" && len(tags) > 0 {
		title, tags = strings.TrimSpace(line), nil
	}
	return title, tags
}

// listData is the Data of ideas.html.
type listData struct {
	Query, Tag string
	Ideas      []ideaView
	Tags       []idea.TagCount
	Next       string
	Deleted    *ideaView // the idea just deleted, for the undo toast
	Capture    string
	Errors     map[string]string
	Empty      bool // the user has no ideas at all
	Window     string
}

// handleIdeasPage handles GET /ideas.
func (h *ideasHTTP) handleIdeasPage(w http.ResponseWriter, r *http.Request) {
	h.renderList(w, r, http.StatusOK, listData{})
}

func (h *ideasHTTP) renderList(w http.ResponseWriter, r *http.Request, status int, d listData) {
	q := r.URL.Query()
	d.Query, d.Tag = strings.TrimSpace(q.Get("q")), strings.TrimSpace(q.Get("tag"))
	d.Window = humanDuration(h.svc.UndoWindow())
	uid := userID(r)
	p, err := h.svc.List(r.Context(), uid, idea.ListOptions{Query: d.Query, Tag: d.Tag, Cursor: q.Get("cursor")})
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	for _, it := range p.Ideas {
		d.Ideas = append(d.Ideas, view(it))
	}
	if p.Next != "" {
		v := url.Values{}
		for k, val := range map[string]string{"q": d.Query, "tag": d.Tag, "cursor": p.Next} {
			if val != "" {
				v.Set(k, val)
			}
		}
		d.Next = "/ideas?" + v.Encode()
	}
	if d.Tags, err = h.svc.Tags(r.Context(), uid); err != nil {
		h.pageError(w, r, err)
		return
	}
	d.Empty = len(d.Ideas) == 0 && d.Query == "" && d.Tag == "" && q.Get("cursor") == ""
	if id := q.Get("deleted"); id != "" && d.Deleted == nil {
		if del, err := h.svc.RecentlyDeleted(r.Context(), uid); err == nil {
			for _, it := range del {
				if it.ID == id {
					v := view(it)
					d.Deleted = &v
				}
			}
		}
	}
	title := "Ideas"
	if d.Query != "" {
		title = "Search: " + d.Query
	}
	h.s.render.Page(w, r, status, "ideas.html", &web.Page{Title: title, Data: d})
}

// handleIdeasPageCreate handles POST /ideas, the capture form without
// JavaScript.
func (h *ideasHTTP) handleIdeasPageCreate(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, apperr.E(apperr.Invalid, "The form could not be read."))
		return
	}
	line := r.PostForm.Get("capture")
	in := idea.Input{BadUTF8: map[string]bool{}}
	if !utf8.ValidString(line) {
		in.BadUTF8["title"] = true
	} else {
		title, tags := captureInput(line)
		in.Title, in.Tags = &title, &tags
	}
	if _, err := h.svc.Create(r.Context(), userID(r), in); err != nil {
		if ae, ok := apperr.As(err); ok && ae.Kind == apperr.Invalid {
			h.renderList(w, r, http.StatusUnprocessableEntity, listData{Capture: line, Errors: ae.Fields})
			return
		}
		h.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/ideas", http.StatusSeeOther)
}

// editData is the Data of idea.html.
type editData struct {
	Idea     ideaView
	Preview  template.HTML
	Errors   map[string]string
	Conflict *ideaView // the saved version when a save was based on an old one
	Saved    bool
}

// handleIdeaPage handles GET /ideas/{id}.
func (h *ideasHTTP) handleIdeaPage(w http.ResponseWriter, r *http.Request) {
	it, err := h.svc.Get(r.Context(), userID(r), r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	h.renderEdit(w, r, http.StatusOK, editData{Idea: view(it), Preview: renderMarkdown(it.Body), Saved: r.URL.Query().Get("saved") == "1"})
}

func (h *ideasHTTP) renderEdit(w http.ResponseWriter, r *http.Request, status int, d editData) {
	h.s.render.Page(w, r, status, "idea.html", &web.Page{Title: d.Idea.Title, Data: d})
}

// handleIdeaPageSave handles POST /ideas/{id}, the editor form without
// JavaScript. A stale version shows both versions instead of saving.
func (h *ideasHTTP) handleIdeaPageSave(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.pageError(w, r, apperr.E(apperr.Invalid, "The form could not be read."))
		return
	}
	id := r.PathValue("id")
	version, _ := strconv.Atoi(r.PostForm.Get("version"))
	in := formInput(r, "title", "body", "tags")
	it, err := h.svc.Update(r.Context(), userID(r), id, version, in)
	if err == nil {
		http.Redirect(w, r, "/ideas/"+it.ID+"?saved=1", http.StatusSeeOther)
		return
	}
	// Show what was typed, so nothing is lost.
	mine := ideaView{ID: id, Title: r.PostForm.Get("title"), Body: r.PostForm.Get("body"), TagLine: r.PostForm.Get("tags"), Version: version}
	var ce *idea.ConflictError
	switch {
	case errors.As(err, &ce):
		cur := view(ce.Current)
		mine.Version = ce.Current.Version // saving again keeps mine over theirs
		h.renderEdit(w, r, http.StatusConflict, editData{Idea: mine, Preview: renderMarkdown(mine.Body), Conflict: &cur})
	case apperr.Is(err, apperr.Invalid):
		ae, _ := apperr.As(err)
		h.renderEdit(w, r, http.StatusUnprocessableEntity, editData{Idea: mine, Preview: renderMarkdown(mine.Body), Errors: ae.Fields})
	default:
		h.pageError(w, r, err)
	}
}

// handleIdeaPageDelete handles POST /ideas/{id}/delete.
func (h *ideasHTTP) handleIdeaPageDelete(w http.ResponseWriter, r *http.Request) {
	d, err := h.delete(r, r.PathValue("id"))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/ideas?deleted="+url.QueryEscape(d.Idea.ID), http.StatusSeeOther)
}

// handleIdeaPageRestore handles POST /ideas/{id}/restore (the undo
// toast's and the recently deleted page's button without JavaScript).
func (h *ideasHTTP) handleIdeaPageRestore(w http.ResponseWriter, r *http.Request) {
	if _, err := h.restore(r, r.PathValue("id")); err != nil {
		h.pageError(w, r, err)
		return
	}
	next := "/ideas"
	if r.FormValue("from") == "deleted" {
		next = "/ideas/deleted"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// handleDeletedPage handles GET /ideas/deleted.
func (h *ideasHTTP) handleDeletedPage(w http.ResponseWriter, r *http.Request) {
	del, err := h.svc.RecentlyDeleted(r.Context(), userID(r))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	var ideas []ideaView
	for _, it := range del {
		ideas = append(ideas, view(it))
	}
	h.s.render.Page(w, r, http.StatusOK, "ideas_deleted.html", &web.Page{Title: "Recently deleted", Data: map[string]any{
		"Ideas": ideas, "Window": humanDuration(h.svc.UndoWindow()),
	}})
}

// transferData is the Data of ideas_transfer.html.
type transferData struct {
	Result *idea.ImportResult
	Error  string
	Fields map[string]string
}

// handleTransferPage handles GET /ideas/transfer (export and import).
func (h *ideasHTTP) handleTransferPage(w http.ResponseWriter, r *http.Request) {
	h.s.render.Page(w, r, http.StatusOK, "ideas_transfer.html", &web.Page{Title: "Export and import", Data: transferData{}})
}

// handleImportPage handles POST /ideas/import: a multipart form whose
// "file" part is a JSON export, read as a stream.
func (h *ideasHTTP) handleImportPage(w http.ResponseWriter, r *http.Request) {
	render := func(status int, d transferData) {
		h.s.render.Page(w, r, status, "ideas_transfer.html", &web.Page{Title: "Export and import", Data: d})
	}
	file, err := importPart(r)
	if err != nil {
		ae, _ := apperr.As(err)
		render(http.StatusBadRequest, transferData{Error: ae.Message})
		return
	}
	res, err := h.svc.Import(r.Context(), userID(r), file)
	if err != nil {
		ae, ok := apperr.As(err)
		if !ok || ae.Kind == apperr.Internal {
			h.pageError(w, r, err)
			return
		}
		render(httpapi.Status(ae.Kind), transferData{Error: ae.Message, Fields: ae.Fields})
		return
	}
	h.record(r, "import", "", map[string]any{"imported": res.Imported, "duplicates": res.Duplicates})
	render(http.StatusOK, transferData{Result: &res})
}

// importPart returns the "file" part of a multipart upload.
func importPart(r *http.Request) (io.Reader, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "multipart/form-data" {
		return nil, apperr.E(apperr.Invalid, "Choose a Coda JSON export to import.")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, apperr.E(apperr.Invalid, "The upload could not be read.")
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			return nil, apperr.E(apperr.Invalid, "Choose a Coda JSON export to import.")
		}
		if part.FormName() == "file" {
			return part, nil
		}
	}
}

// tokensData is the Data of tokens.html.
type tokensData struct {
	Tokens   []apitoken.Token
	NewToken string
	NewName  string
	Errors   map[string]string
	Name     string
}

// handleTokensPage handles GET /settings/tokens.
func (h *ideasHTTP) handleTokensPage(w http.ResponseWriter, r *http.Request) {
	h.renderTokens(w, r, http.StatusOK, tokensData{})
}

func (h *ideasHTTP) renderTokens(w http.ResponseWriter, r *http.Request, status int, d tokensData) {
	ts, err := h.tokens.List(r.Context(), userID(r))
	if err != nil {
		h.pageError(w, r, err)
		return
	}
	d.Tokens = ts
	w.Header().Set("Cache-Control", "no-store")
	h.s.render.Page(w, r, status, "tokens.html", &web.Page{Title: "API tokens", Data: d})
}

// handleTokensPageCreate handles POST /settings/tokens.
func (h *ideasHTTP) handleTokensPageCreate(w http.ResponseWriter, r *http.Request) {
	name := r.FormValue("name")
	t, secret, err := h.createToken(r, name)
	if err != nil {
		if ae, ok := apperr.As(err); ok && ae.Kind != apperr.Internal {
			fields := ae.Fields
			if fields == nil {
				fields = map[string]string{"name": ae.Message}
			}
			h.renderTokens(w, r, httpapi.Status(ae.Kind), tokensData{Errors: fields, Name: name})
			return
		}
		h.pageError(w, r, err)
		return
	}
	h.renderTokens(w, r, http.StatusCreated, tokensData{NewToken: secret, NewName: t.Name})
}

// handleTokensPageRevoke handles POST /settings/tokens/{id}/revoke.
func (h *ideasHTTP) handleTokensPageRevoke(w http.ResponseWriter, r *http.Request) {
	if err := h.revokeToken(r, r.PathValue("id")); err != nil {
		h.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/settings/tokens", http.StatusSeeOther)
}

// humanDuration says a window in words ("10 minutes").
func humanDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0 && d >= time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0 && d >= time.Minute:
		return plural(int(d/time.Minute), "minute")
	default:
		return plural(int(d/time.Second), "second")
	}
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
