package coda

import (
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/coda/devmode"
	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/coda/runnerdist"
	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/httpapi"
	"github.com/relaywork/suite/internal/platform/web"
)

// handlePairStart handles POST /api/devmode/pair/start: a runner asks to
// pair (RFC 8628 §3.1–3.2).
func (d *devMode) handlePairStart(w http.ResponseWriter, r *http.Request) {
	var in devmode.Device
	if err := httpapi.Decode(w, r, &in, 4<<10); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	st, err := d.svc.StartPairing(r.Context(), in, httpapi.ClientIP(r))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	verify := d.publicBase(r) + "/devmode/pair"
	w.Header().Set("Cache-Control", "no-store")
	httpapi.Write(w, http.StatusOK, map[string]any{
		"device_code":               st.DeviceCode,
		"user_code":                 st.UserCode,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?code=" + url.QueryEscape(st.UserCode),
		"expires_in":                int(st.ExpiresIn / time.Second),
		"interval":                  int(st.Interval / time.Second),
	})
}

// handlePairToken handles POST /api/devmode/pair/token: the runner polls
// with its device code (RFC 8628 §3.4–3.5). Until approval the answer is a
// 400 whose error code is authorization_pending, slow_down, expired_token
// or access_denied.
func (d *devMode) handlePairToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		DeviceCode string `json:"device_code"`
		GrantType  string `json:"grant_type,omitempty"`
	}
	if err := httpapi.Decode(w, r, &in, 4<<10); err != nil {
		httpapi.Error(w, r, err)
		return
	}
	cred, err := d.svc.PollPairing(r.Context(), in.DeviceCode)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.Write(w, http.StatusOK, map[string]any{
		"credential": cred.Token,
		"runner_id":  cred.RunnerID,
		"relay_url":  d.relayURL(r, relayRunnerPath),
	})
}

// runnerView is a runner as pages and the API show it.
type runnerView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
	Version string `json:"version"`
	Online  bool   `json:"online"`
	// Known is false when the relay runs in another process: this one
	// cannot tell whether the runner is connected.
	Known      bool       `json:"online_known"`
	Outdated   bool       `json:"outdated"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt *time.Time `json:"last_seen_at"`
}

// views lists userID's runners; each is Outdated when older than latest,
// the latest runner release's version.
func (d *devMode) views(r *http.Request, userID, latest string) ([]runnerView, error) {
	rs, err := d.svc.Runners(r.Context(), userID)
	if err != nil {
		return nil, err
	}
	// The relay is in this process, or (with Redis) lists its runners
	// there; a separate relay without Redis cannot be asked.
	local := d.s.p.Config.DevModeRelayURL == ""
	rdb := d.s.p.Redis
	out := make([]runnerView, 0, len(rs))
	for _, x := range rs {
		online := d.relay.Online(x.ID)
		if !local && rdb != nil {
			online = relay.OnlineIn(r.Context(), rdb, x.ID)
		}
		out = append(out, runnerView{ID: x.ID, Name: x.Name, OS: x.OS, Arch: x.Arch, Version: x.Version,
			Online: online, Known: local || rdb != nil, Outdated: olderVersion(x.Version, latest),
			CreatedAt: x.CreatedAt, LastSeenAt: x.LastSeenAt})
	}
	return out, nil
}

// handleRunnersJSON handles GET /api/devmode/runners.
func (d *devMode) handleRunnersJSON(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom(r.Context())
	latest := d.downloads(r).Latest
	vs, err := d.views(r, u.ID, latest)
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, map[string]any{"runners": vs, "latest_runner_version": latest})
}

// handleTicket handles POST /api/devmode/runners/{id}/ticket: a 60 s,
// single-use pass for the relay to one of the user's runners.
func (d *devMode) handleTicket(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom(r.Context())
	t, err := d.svc.IssueTicket(r.Context(), u.ID, r.PathValue("id"))
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	httpapi.Write(w, http.StatusOK, map[string]any{
		"ticket":     t.Token,
		"expires_at": t.ExpiresAt,
		"relay_url":  d.relayURL(r, relayTerminalPath),
	})
}

// download is one runner build to download.
type download struct {
	Label, Name, URL, SHA256 string
	Size                     int64
}

// SizeText is the size as the page shows it, e.g. "9.4 MB".
func (d download) SizeText() string {
	if d.Size <= 0 {
		return ""
	}
	return strconv.FormatFloat(float64(d.Size)/1e6, 'f', 1, 64) + " MB"
}

// runnerDownloads is what the DevMode page offers: the builds, where the
// checksums are, and the latest runner release's version (empty when no
// manifest could be read, so no banner is shown).
type runnerDownloads struct {
	Files     []download
	Checksums string
	Latest    string
}

// downloads lists the runner builds: from RUNNER_DOWNLOAD_BASE (its
// latest.json, else every platform's usual name) when set, else from the
// folder coda serves itself (RUNNER_DOWNLOAD_DIR).
func (d *devMode) downloads(r *http.Request) runnerDownloads {
	var out runnerDownloads
	var m *runnerdist.Manifest
	prefix := "/devmode/downloads/"
	if base := strings.TrimRight(d.s.p.Config.RunnerDownloadBase, "/"); base != "" {
		prefix = base + "/"
		m = d.remote.Get(r.Context())
		if m == nil {
			// No manifest there (yet): link every platform by the
			// release's names; the banner waits for a manifest.
			for _, p := range runnerdist.Platforms {
				name := runnerdist.BinaryName(p.OS, p.Arch)
				out.Files = append(out.Files, download{Label: p.Label, Name: name, URL: prefix + name})
			}
			out.Checksums = prefix + runnerdist.ChecksumsName
			return out
		}
	} else {
		m = d.localManifest()
		if m == nil {
			return out
		}
	}
	files := append([]runnerdist.File(nil), m.Files...)
	runnerdist.SortFiles(files)
	for _, f := range files {
		out.Files = append(out.Files, download{Label: f.Label(), Name: f.Name, URL: prefix + f.Name, SHA256: f.SHA256, Size: f.Size})
	}
	out.Checksums = prefix + runnerdist.ChecksumsName
	out.Latest = m.Version
	return out
}

// localManifest reads RUNNER_DOWNLOAD_DIR's latest.json; nil when the
// folder has none (the page then explains how to get the runner).
func (d *devMode) localManifest() *runnerdist.Manifest {
	m, err := runnerdist.Read(d.downloadDir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && d.warnedDir.CompareAndSwap(false, true) {
			d.s.p.Logger.Warn("devmode runner downloads unavailable", "dir", d.downloadDir, "err", err.Error())
		}
		return nil
	}
	d.warnedDir.Store(false)
	return m
}

// handleDownload handles GET /devmode/downloads/{file}: a runner build,
// checksums.txt or latest.json from RUNNER_DOWNLOAD_DIR. No sign-in is
// needed, so `curl -fLO` works; only the files the manifest lists are served.
func (d *devMode) handleDownload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	m := d.localManifest()
	if m == nil || (name != runnerdist.ManifestName && name != runnerdist.ChecksumsName && !m.Has(name)) {
		httpapi.Error(w, r, apperr.E(apperr.NotFound, "No such runner download on this server."))
		return
	}
	f, err := os.Open(filepath.Join(d.downloadDir, name))
	if err != nil {
		httpapi.Error(w, r, apperr.E(apperr.NotFound, "No such runner download on this server."))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		httpapi.Error(w, r, err)
		return
	}
	switch name {
	case runnerdist.ManifestName:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
	case runnerdist.ChecksumsName:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
	default:
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		// The names carry no version: caches check back after 5 minutes.
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, name, fi.ModTime(), f)
}

// handleIndex handles GET /devmode.
func (d *devMode) handleIndex(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom(r.Context())
	// The banner compares with the latest runner release, not with this
	// server's version: a runner-only release raises it too.
	dl := d.downloads(r)
	vs, err := d.views(r, u.ID, dl.Latest)
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	outdated := false
	for _, v := range vs {
		outdated = outdated || v.Outdated
	}
	pg := &web.Page{Title: "DevMode", Data: map[string]any{
		"Runners":   vs,
		"Outdated":  outdated,
		"Version":   dl.Latest,
		"Downloads": dl,
		"Server":    d.publicBase(r),
	}}
	switch r.URL.Query().Get("done") {
	case "approved":
		pg.Toasts = append(pg.Toasts, web.Toast{Kind: "ok", Text: "Runner paired. It appears here once it connects."})
	case "denied":
		pg.Toasts = append(pg.Toasts, web.Toast{Kind: "info", Text: "Pairing denied."})
	case "revoked":
		pg.Toasts = append(pg.Toasts, web.Toast{Kind: "ok", Text: "Runner revoked and disconnected."})
	case "renamed":
		pg.Toasts = append(pg.Toasts, web.Toast{Kind: "ok", Text: "Runner renamed."})
	}
	d.s.render.Page(w, r, http.StatusOK, "devmode/index.html", pg)
}

// handlePairPage handles GET /devmode/pair?code=…: what is asking to pair,
// with approve and deny buttons.
func (d *devMode) handlePairPage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	data := map[string]any{"Code": code}
	status := http.StatusOK
	if code != "" {
		p, err := d.svc.PairingByCode(r.Context(), code)
		switch {
		case err == nil:
			data["Pairing"] = p
			data["Expired"] = p.Expired(d.s.p.Now())
			data["Answered"] = p.ApprovedAt != nil || p.DeniedAt != nil
		case apperr.Is(err, apperr.NotFound):
			data["NotFound"] = true
			status = http.StatusNotFound
		default:
			d.pageError(w, r, err)
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	d.s.render.Page(w, r, status, "devmode/pair.html", &web.Page{Title: "Pair a runner", Data: data})
}

// handlePairDecide handles POST /devmode/pair (code, decision=approve|deny).
func (d *devMode) handlePairDecide(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom(r.Context())
	approve := r.PostFormValue("decision") == "approve"
	_, err := d.svc.Decide(r.Context(), u.ID, r.PostFormValue("code"), approve, httpapi.ClientIP(r))
	if err != nil {
		if k := apperr.KindOf(err); k == apperr.Gone || k == apperr.Conflict || k == apperr.NotFound {
			e, _ := apperr.As(err)
			d.s.render.Page(w, r, httpapi.Status(k), "devmode/pair.html", &web.Page{Title: "Pair a runner",
				Data: map[string]any{"Code": r.PostFormValue("code"), "Problem": e.Message}})
			return
		}
		d.pageError(w, r, err)
		return
	}
	done := "denied"
	if approve {
		done = "approved"
	}
	http.Redirect(w, r, "/devmode?done="+done, http.StatusSeeOther)
}

// handleRename handles POST /devmode/runners/{id}/rename.
func (d *devMode) handleRename(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom(r.Context())
	if err := d.svc.Rename(r.Context(), u.ID, r.PathValue("id"), r.PostFormValue("name")); err != nil {
		d.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/devmode?done=renamed", http.StatusSeeOther)
}

// handleRevoke handles POST /devmode/runners/{id}/revoke: the credential
// is refused from now on and the runner is disconnected at once.
func (d *devMode) handleRevoke(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom(r.Context())
	if err := d.svc.Revoke(r.Context(), u.ID, r.PathValue("id"), httpapi.ClientIP(r)); err != nil {
		d.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/devmode?done=revoked", http.StatusSeeOther)
}

// handleTerminalPage handles GET /devmode/runners/{id}/terminal.
func (d *devMode) handleTerminalPage(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom(r.Context())
	rn, err := d.svc.Runner(r.Context(), u.ID, r.PathValue("id"))
	if err != nil {
		d.pageError(w, r, err)
		return
	}
	d.s.render.Page(w, r, http.StatusOK, "devmode/terminal.html", &web.Page{Title: "Terminal · " + rn.Name,
		Data: map[string]any{"Runner": rn}})
}

// pageError shows the error page for err's kind.
func (d *devMode) pageError(w http.ResponseWriter, r *http.Request, err error) {
	k := apperr.KindOf(err)
	if k == apperr.Internal {
		d.s.p.Logger.Error("devmode page", "path", r.URL.Path, "err", err)
	}
	d.s.render.Error(w, r, httpapi.Status(k))
}

// olderVersion reports whether runner version v is older than latest
// (the runner release in latest.json): both must read as vMAJOR.MINOR.PATCH (a git describe suffix is
// ignored); anything else (dev builds) never shows the banner.
func olderVersion(v, server string) bool {
	a, ok1 := parseVersion(v)
	b, ok2 := parseVersion(server)
	if !ok1 || !ok2 {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return out, false
		}
		out[i] = n
	}
	return out, true
}
