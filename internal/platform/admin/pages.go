package admin

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/apperr"
	"github.com/relaywork/suite/internal/platform/audit"
	"github.com/relaywork/suite/internal/platform/auth"
	"github.com/relaywork/suite/internal/platform/cron"
	"github.com/relaywork/suite/internal/platform/obs"
	"github.com/relaywork/suite/internal/platform/rollup"
	"github.com/relaywork/suite/internal/platform/web"
)

// navItem is one link of the console's own navigation.
type navItem struct {
	Label, Href string
	Current     bool
}

// base is what every console page's Data carries.
type base struct {
	Nav      []navItem
	Token    string
	Range    Range
	Ranges   []string
	Path     string
	Notice   string
	Problem  string
	Heading  string
	VitalsOn bool
}

func (c *Console) base(r *http.Request, current, heading string) base {
	b := base{Token: c.Token(r), Ranges: Ranges, Path: r.URL.Path, Heading: heading, VitalsOn: c.o.VitalsOn,
		Range: ParseRange(r.URL.Query().Get("range"), c.o.Now())}
	items := []navItem{{"Overview", "/admin", false}, {"Users", "/admin/users", false}, {"Audit log", "/admin/audit", false},
		{"Cron", "/admin/cron", false}, {"Maintenance", "/admin/maintenance", false}, {"Database", "/admin/database", false}}
	for _, s := range c.o.Sections {
		items = append(items, navItem{Label: s.Title, Href: "/admin/" + s.Slug})
	}
	for i := range items {
		items[i].Current = items[i].Href == current
	}
	b.Nav = items
	switch r.URL.Query().Get("done") {
	case "role":
		b.Notice = "Role changed."
	case "revoked":
		b.Notice = "The user was signed out of every device."
	case "deleted":
		b.Notice = "The user and their data were deleted."
	case "maintenance":
		b.Notice = "Maintenance mode updated."
	case "ran":
		b.Notice = "The job ran; its result is at the top of the list."
	}
	return b
}

func (c *Console) page(w http.ResponseWriter, r *http.Request, status int, name, title string, data any) {
	c.o.Render.Page(w, r, status, name, &web.Page{Title: title + " · Admin", Data: data})
}

// fail maps an error to a console page: Invalid and NotFound show the
// message; anything else is logged once and shown as "unavailable".
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch apperr.KindOf(err) {
	case apperr.NotFound:
		c.o.Render.NotFound(w, r)
		return
	case apperr.Invalid:
		var e *apperr.Error
		msg := "The request was not valid."
		if apperrAs(err, &e) {
			msg = e.Message
			for f, p := range e.Fields {
				msg += " " + f + ": " + p + "."
			}
		}
		c.o.Render.ErrorPage(w, r, web.ErrorInfo{Status: http.StatusUnprocessableEntity, Heading: "Check the form", Message: msg})
		return
	}
	obs.Logger(r.Context()).Error("admin console", "path", r.URL.Path, "err", err.Error())
	w.Header().Set("Retry-After", "5")
	c.o.Render.ErrorPage(w, r, web.ErrorInfo{Status: http.StatusServiceUnavailable, Heading: "Unavailable", Message: "The console could not read what it needs. Try again in a moment."})
}

func apperrAs(err error, e **apperr.Error) bool {
	for err != nil {
		if x, ok := err.(*apperr.Error); ok {
			*e = x
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// overviewData is the Data of admin/overview.html.
type overviewData struct {
	base
	Stats  []Stat
	Charts []Chart
	Vitals []Chart
	Pages  Table
}

// handleOverview handles GET /admin.
func (c *Console) handleOverview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if c.o.BeforeRead != nil {
		c.o.BeforeRead(ctx)
	}
	d := overviewData{base: c.base(r, "/admin", "Overview")}
	rg := d.Range
	counts, err := c.o.Auth.Count(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	now := c.o.Now()
	signins, err := c.o.Audit.Count(ctx, "signin", now.Add(-24*time.Hour), now)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	series := func(metric string) ([]rollup.Point, error) {
		return c.o.Rollups.Series(ctx, rollup.Query{Res: rg.Res, Metric: metric, From: rg.From, To: rg.To})
	}
	req, err := series("http.requests")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	errs, _ := series("http.errors")
	lat, _ := series("http.latency")
	users, _ := series("users")
	sessions, _ := series("sessions.active")
	signinPts, _ := series("signins")

	var nReq, nErr float64
	for _, p := range req {
		nReq += p.Value()
	}
	for _, p := range errs {
		nErr += p.Value()
	}
	all := rollup.Hist{}
	for _, p := range lat {
		all.Merge(p.Hist)
	}
	errRate := 0.0
	if nReq > 0 {
		errRate = 100 * nErr / nReq
	}
	tone := ""
	switch {
	case errRate >= 5:
		tone = "bad"
	case errRate >= 1:
		tone = "warn"
	}
	d.Stats = []Stat{
		{Label: "Users", Value: strconv.FormatInt(counts.Users, 10), Note: fmt.Sprintf("%d admin(s)", counts.Admins)},
		{Label: "Active sessions", Value: strconv.FormatInt(counts.Sessions, 10)},
		{Label: "Sign-ins, last 24 h", Value: strconv.FormatInt(signins, 10)},
		{Label: "Requests, " + rg.Name, Value: FormatValue(nReq, "")},
		{Label: "Error rate (5xx), " + rg.Name, Value: FormatValue(errRate, "%"), Tone: tone},
		{Label: "p95 latency, " + rg.Name, Value: FormatValue(all.Quantile(0.95), "ms")},
	}
	step := rg.Res.Step()
	perMin := step.Minutes()
	ch := func(id, title, unit string, pts []rollup.Point, v func(rollup.Point) float64) Chart {
		s := Series{Name: title}
		for _, p := range pts {
			s.Points = append(s.Points, XY{p.Bucket, v(p)})
		}
		return Chart{ID: id, Title: title, Unit: unit, Series: []Series{s}, Step: step, From: rg.From, To: rg.To}
	}
	errBy := map[int64]float64{}
	for _, p := range errs {
		errBy[p.Bucket.Unix()] = p.Value()
	}
	d.Charts = []Chart{
		ch("chart-users", "Users", "", users, rollup.Point.Value),
		ch("chart-signins", "Sign-ins", "", signinPts, rollup.Point.Value),
		ch("chart-sessions", "Active sessions", "", sessions, rollup.Point.Value),
		ch("chart-requests", "Request rate", "req/min", req, func(p rollup.Point) float64 { return p.Value() / perMin }),
		ch("chart-errors", "Error rate (5xx)", "%", req, func(p rollup.Point) float64 {
			if p.Value() == 0 {
				return 0
			}
			return 100 * errBy[p.Bucket.Unix()] / p.Value()
		}),
		ch("chart-latency", "p95 latency", "ms", lat, func(p rollup.Point) float64 { return p.Quantile(0.95) }),
	}
	vit, table, err := c.vitals(ctx, rg)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Vitals, d.Pages = vit, table
	c.page(w, r, http.StatusOK, "admin/overview.html", "Overview", d)
}

// vitalDef mirrors vitals.Metrics without importing the handler's package
// state: name, unit and the guides' thresholds.
type vitalDef struct {
	name, unit string
	good, poor float64
}

var vitalDefs = []vitalDef{{"LCP", "ms", 2500, 4000}, {"INP", "ms", 200, 500}, {"CLS", "", 0.1, 0.25}, {"FCP", "ms", 1800, 3000}, {"TTFB", "ms", 800, 1800}}

// vitals builds a p75 chart per metric (top pages by beacons) and the
// table of p75 by page over the whole range.
func (c *Console) vitals(ctx context.Context, rg Range) ([]Chart, Table, error) {
	pts, err := c.o.Rollups.Series(ctx, rollup.Query{Res: rg.Res, Metric: "vitals.", Prefix: true, AllDims: true, From: rg.From, To: rg.To})
	if err != nil {
		return nil, Table{}, err
	}
	type agg struct {
		h rollup.Hist
		n int64
	}
	byPage := map[string]map[string]*agg{} // page → metric → all
	count := map[string]int64{}
	byMetric := map[string]map[string][]rollup.Point{}
	for _, p := range pts {
		name := strings.TrimPrefix(p.Metric, "vitals.")
		if byPage[p.Dim] == nil {
			byPage[p.Dim] = map[string]*agg{}
		}
		a := byPage[p.Dim][name]
		if a == nil {
			a = &agg{h: rollup.Hist{}}
			byPage[p.Dim][name] = a
		}
		a.h.Merge(p.Hist)
		a.n += p.N
		count[p.Dim] += p.N
		if byMetric[name] == nil {
			byMetric[name] = map[string][]rollup.Point{}
		}
		byMetric[name][p.Dim] = append(byMetric[name][p.Dim], p)
	}
	pages := make([]string, 0, len(byPage))
	for p := range byPage {
		pages = append(pages, p)
	}
	sort.Slice(pages, func(i, j int) bool {
		if count[pages[i]] != count[pages[j]] {
			return count[pages[i]] > count[pages[j]]
		}
		return pages[i] < pages[j]
	})
	t := Table{Caption: "Web vitals p75 by page, " + rg.Name, Columns: []string{"Page", "Beacons"}, Empty: "No beacons yet: browsers report when a visitor leaves or hides a page."}
	for _, v := range vitalDefs {
		t.Columns = append(t.Columns, v.name+" p75")
	}
	for _, pg := range pages {
		row := []string{pg, strconv.FormatInt(count[pg], 10)}
		worst := ""
		for _, v := range vitalDefs {
			a := byPage[pg][v.name]
			if a == nil || a.n == 0 {
				row = append(row, "–")
				continue
			}
			q := a.h.Quantile(0.75)
			label := FormatValue(q, v.unit)
			switch {
			case q > v.poor:
				label += " (poor)"
				worst = "bad"
			case q > v.good:
				label += " (needs improvement)"
				if worst == "" {
					worst = "warn"
				}
			}
			row = append(row, label)
		}
		t.Rows = append(t.Rows, row)
		t.Tones = append(t.Tones, worst)
	}
	var charts []Chart
	for _, v := range vitalDefs {
		ch := Chart{ID: "chart-vitals-" + strings.ToLower(v.name), Title: v.name + " p75 by page", Unit: v.unit, Step: rg.Res.Step(), From: rg.From, To: rg.To,
			Thresholds: []Threshold{{Label: "good", V: v.good, Kind: "good"}, {Label: "poor", V: v.poor, Kind: "poor"}}}
		for _, pg := range pages {
			ps := byMetric[v.name][pg]
			if len(ps) == 0 {
				continue
			}
			s := Series{Name: pg}
			for _, p := range ps {
				s.Points = append(s.Points, XY{p.Bucket, p.Quantile(0.75)})
			}
			ch.Series = append(ch.Series, s)
			if len(ch.Series) == maxSeries {
				break
			}
		}
		charts = append(charts, ch)
	}
	return charts, t, nil
}

// usersData is the Data of admin/users.html.
type usersData struct {
	base
	Query, Role string
	Users       []auth.User
	Total       int
	Next, Prev  string
}

const usersPerPage = 50

// handleUsers handles GET /admin/users.
func (c *Console) handleUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := usersData{base: c.base(r, "/admin/users", "Users"), Query: strings.TrimSpace(q.Get("q")), Role: q.Get("role")}
	if d.Role != auth.RoleAdmin && d.Role != auth.RoleUser {
		d.Role = ""
	}
	if len(d.Query) > 200 {
		d.Query = d.Query[:200]
	}
	off, _ := strconv.Atoi(q.Get("offset"))
	off = max(off, 0)
	users, total, err := c.o.Auth.ListUsers(r.Context(), auth.UserQuery{Search: d.Query, Role: d.Role, Limit: usersPerPage, Offset: off})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Users, d.Total = users, total
	link := func(o int) string {
		v := url.Values{}
		if d.Query != "" {
			v.Set("q", d.Query)
		}
		if d.Role != "" {
			v.Set("role", d.Role)
		}
		v.Set("offset", strconv.Itoa(o))
		return "/admin/users?" + v.Encode()
	}
	if off+usersPerPage < total {
		d.Next = link(off + usersPerPage)
	}
	if off > 0 {
		d.Prev = link(max(off-usersPerPage, 0))
	}
	c.page(w, r, http.StatusOK, "admin/users.html", "Users", d)
}

// userData is the Data of admin/user.html.
type userData struct {
	base
	U        auth.User
	Self     bool
	Sessions []auth.Session
	Accounts []auth.Account
	Entries  []audit.Entry
}

// handleUser handles GET /admin/users/{id}.
func (c *Console) handleUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := c.o.Auth.UserByID(ctx, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := userData{base: c.base(r, "/admin/users", u.Email), U: u}
	me, _ := auth.UserFrom(ctx)
	d.Self = me != nil && me.ID == u.ID
	if d.Sessions, err = c.o.Auth.Sessions(context.Background(), u.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Accounts, err = c.o.Auth.Accounts(ctx, u.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.Entries, err = c.o.Audit.List(ctx, audit.Filter{ActorID: u.ID, Limit: 20}); err != nil {
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "admin/user.html", u.Email, d)
}

// handleUserRole handles POST /admin/users/{id}/role.
func (c *Console) handleUserRole(w http.ResponseWriter, r *http.Request) {
	id, role := r.PathValue("id"), r.PostFormValue("role")
	if me, _ := auth.UserFrom(r.Context()); me != nil && me.ID == id && role != auth.RoleAdmin {
		c.fail(w, r, apperr.InvalidFields("You cannot remove your own admin role here.", map[string]string{"role": "ask another admin, or use `admin login-link EMAIL --role user`"}))
		return
	}
	before, err := c.o.Auth.UserByID(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.o.Auth.SetRole(r.Context(), id, role); err != nil {
		c.fail(w, r, err)
		return
	}
	c.record(r, "admin.role_changed", "user", id, map[string]any{"from": before.Role, "to": role})
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(id)+"?done=role", http.StatusSeeOther)
}

// handleUserRevoke handles POST /admin/users/{id}/revoke.
func (c *Console) handleUserRevoke(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := c.o.Auth.UserByID(r.Context(), id); err != nil {
		c.fail(w, r, err)
		return
	}
	n, err := c.o.Auth.RevokeUser(r.Context(), id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.record(r, "admin.sessions_revoked", "user", id, map[string]any{"count": n})
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(id)+"?done=revoked", http.StatusSeeOther)
}

// handleUserExport handles POST /admin/users/{id}/export: the same file as
// the user's own "download my data".
func (c *Console) handleUserExport(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var buf bytes.Buffer
	if err := c.o.Auth.ExportAccount(r.Context(), id, &buf); err != nil {
		c.fail(w, r, err)
		return
	}
	c.record(r, "admin.user_exported", "user", id, map[string]any{"bytes": buf.Len()})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="account-`+safeName(id)+`.json"`)
	w.Write(buf.Bytes())
}

// handleUserDelete handles POST /admin/users/{id}/delete; the form must
// repeat the user's address.
func (c *Console) handleUserDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	u, err := c.o.Auth.UserByID(ctx, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if me, _ := auth.UserFrom(ctx); me != nil && me.ID == id {
		c.fail(w, r, apperr.InvalidFields("Delete your own account from your account page.", map[string]string{"confirm": "not here"}))
		return
	}
	if !strings.EqualFold(strings.TrimSpace(r.PostFormValue("confirm")), u.Email) {
		c.fail(w, r, apperr.InvalidFields("Type the user's address to confirm.", map[string]string{"confirm": "must be " + u.Email}))
		return
	}
	if err := c.o.Auth.DeleteAccount(ctx, id); err != nil {
		c.fail(w, r, err)
		return
	}
	c.record(r, "admin.user_deleted", "user", id, nil)
	http.Redirect(w, r, "/admin/users?done=deleted", http.StatusSeeOther)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, s)
}

// auditData is the Data of admin/audit.html.
type auditData struct {
	base
	Actor, Action, From, To string
	Actions                 []string
	Entries                 []auditRow
	More                    string
	CSV                     string
}

type auditRow struct {
	audit.Entry
	Actor string // the actor's address when known
	Meta  string
}

// auditFilter reads the audit filters from the query.
func (c *Console) auditFilter(r *http.Request, limit int) (audit.Filter, auditData, error) {
	q := r.URL.Query()
	d := auditData{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")), From: q.Get("from"), To: q.Get("to")}
	f := audit.Filter{Action: d.Action, Limit: limit}
	fields := map[string]string{}
	if d.Actor != "" {
		if strings.Contains(d.Actor, "@") {
			u, err := c.o.Auth.UserByEmail(r.Context(), d.Actor)
			if err != nil && !apperr.Is(err, apperr.NotFound) && !apperr.Is(err, apperr.Invalid) {
				return f, d, err
			}
			f.ActorID = u.ID
			if u.ID == "" {
				f.ActorID = "(no such user)" // no such address: match nothing
			}
		} else {
			f.ActorID = d.Actor
		}
	}
	parse := func(name, v string, endOfDay bool) time.Time {
		if v == "" {
			return time.Time{}
		}
		for _, layout := range []string{"2006-01-02T15:04", time.RFC3339, "2006-01-02"} {
			if t, err := time.Parse(layout, v); err == nil {
				if layout == "2006-01-02" && endOfDay {
					t = t.Add(24 * time.Hour)
				}
				return t.UTC()
			}
		}
		fields[name] = "a date such as 2026-03-04 or 2026-03-04T15:30 (UTC)"
		return time.Time{}
	}
	f.After = parse("from", d.From, false)
	f.Before = parse("to", d.To, true)
	if b := q.Get("before"); b != "" {
		if t, err := time.Parse(time.RFC3339Nano, b); err == nil && (f.Before.IsZero() || t.Before(f.Before)) {
			f.Before = t
		}
	}
	if len(fields) > 0 {
		return f, d, apperr.InvalidFields("A date filter is not a date.", fields)
	}
	return f, d, nil
}

// handleAudit handles GET /admin/audit.
func (c *Console) handleAudit(w http.ResponseWriter, r *http.Request) {
	f, d, err := c.auditFilter(r, 100)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.base = c.base(r, "/admin/audit", "Audit log")
	entries, err := c.o.Audit.List(r.Context(), f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Actions, _ = c.o.Audit.Actions(r.Context())
	d.Entries = c.rows(r.Context(), entries)
	q := r.URL.Query()
	q.Del("before")
	d.CSV = "/admin/audit.csv?" + q.Encode()
	if len(entries) == f.Limit {
		q.Set("before", entries[len(entries)-1].At.Format(time.RFC3339Nano))
		d.More = "/admin/audit?" + q.Encode()
	}
	c.page(w, r, http.StatusOK, "admin/audit.html", "Audit log", d)
}

// rows resolves actors to addresses for display.
func (c *Console) rows(ctx context.Context, entries []audit.Entry) []auditRow {
	names := map[string]string{}
	out := make([]auditRow, 0, len(entries))
	for _, e := range entries {
		row := auditRow{Entry: e, Actor: e.ActorID}
		if e.ActorID != "" {
			n, ok := names[e.ActorID]
			if !ok {
				if u, err := c.o.Auth.UserByID(ctx, e.ActorID); err == nil {
					n = u.Email
				} else {
					n = e.ActorID
				}
				names[e.ActorID] = n
			}
			row.Actor = n
		} else {
			row.Actor = "system"
		}
		if len(e.Metadata) > 0 {
			keys := make([]string, 0, len(e.Metadata))
			for k := range e.Metadata {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var parts []string
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s=%v", k, e.Metadata[k]))
			}
			row.Meta = strings.Join(parts, " ")
		}
		out = append(out, row)
	}
	return out
}

// handleAuditCSV handles GET /admin/audit.csv: up to audit.MaxLimit entries
// per request, newest first (page with ?before=).
func (c *Console) handleAuditCSV(w http.ResponseWriter, r *http.Request) {
	f, _, err := c.auditFilter(r, audit.MaxLimit)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	entries, err := c.o.Audit.List(r.Context(), f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.record(r, "admin.audit_exported", "audit_log", "", map[string]any{"rows": len(entries)})
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-`+c.o.Now().UTC().Format("20060102-150405")+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"at", "actor_id", "actor", "action", "resource", "resource_id", "metadata", "ip", "user_agent"})
	for _, row := range c.rows(r.Context(), entries) {
		_ = cw.Write([]string{row.At.Format(time.RFC3339Nano), row.ActorID, csvSafe(row.Actor), csvSafe(row.Action), csvSafe(row.Resource), csvSafe(row.ResourceID), csvSafe(row.Meta), row.IP, csvSafe(row.UserAgent)})
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// cronData is the Data of admin/cron.html.
type cronData struct {
	base
	Jobs []cronJob
	Runs []cronRun
}

type cronJob struct {
	cron.Job
	Next     string
	Last     *cronRun
	Failures int // of the recent runs
}

type cronRun struct {
	cron.Run
	Result string
}

// handleCron handles GET /admin/cron.
func (c *Console) handleCron(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := cronData{base: c.base(r, "/admin/cron", "Cron jobs")}
	for _, j := range c.o.Cron.Jobs() {
		cj := cronJob{Job: j}
		if t, ok := c.o.Cron.NextRun(j.Name); ok {
			cj.Next = t.Format("2006-01-02 15:04 UTC")
		}
		runs, err := c.o.Cron.Runs(ctx, j.Name, 20)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		for i, run := range runs {
			if !run.OK {
				cj.Failures++
			}
			if i == 0 {
				cr := runRow(run)
				cj.Last = &cr
			}
		}
		d.Jobs = append(d.Jobs, cj)
	}
	runs, err := c.o.Cron.Runs(ctx, "", 30)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, run := range runs {
		d.Runs = append(d.Runs, runRow(run))
	}
	c.page(w, r, http.StatusOK, "admin/cron.html", "Cron jobs", d)
}

func runRow(run cron.Run) cronRun {
	cr := cronRun{Run: run}
	if !run.OK {
		cr.Result = run.Error
		return cr
	}
	keys := make([]string, 0, len(run.Result))
	for k := range run.Result {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, run.Result[k]))
	}
	cr.Result = strings.Join(parts, " ")
	return cr
}

// handleCronRun handles POST /admin/cron/{job}/run.
func (c *Console) handleCronRun(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("job")
	run, err := c.o.Cron.RunNow(r.Context(), name, cron.TriggerAdmin)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.record(r, "admin.cron_run", "cron_job", name, map[string]any{"ok": run.OK, "run_id": run.ID})
	http.Redirect(w, r, "/admin/cron?done=ran", http.StatusSeeOther)
}

// maintenanceData is the Data of admin/maintenance.html.
type maintenanceData struct {
	base
	On      bool
	Since   time.Time
	Message string
	Default string
}

// handleMaintenance handles GET /admin/maintenance.
func (c *Console) handleMaintenance(w http.ResponseWriter, r *http.Request) {
	st, err := c.o.Maintenance.Status(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "admin/maintenance.html", "Maintenance", maintenanceData{base: c.base(r, "/admin/maintenance", "Maintenance mode"),
		On: st.On, Since: st.Since, Message: st.Message, Default: maintenanceDefault})
}

const maintenanceDefault = "We're doing some maintenance and will be back shortly."

// handleMaintenanceSet handles POST /admin/maintenance.
func (c *Console) handleMaintenanceSet(w http.ResponseWriter, r *http.Request) {
	on := r.PostFormValue("on") == "1"
	st, err := c.o.Maintenance.Set(r.Context(), on, r.PostFormValue("message"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	action := "admin.maintenance_off"
	var meta map[string]any
	if st.On {
		action, meta = "admin.maintenance_on", map[string]any{"message": st.Message}
	}
	c.record(r, action, "system", "maintenance", meta)
	http.Redirect(w, r, "/admin/maintenance?done=maintenance", http.StatusSeeOther)
}

// databaseData is the Data of admin/database.html.
type databaseData struct {
	base
	Stats any // store.Stats, as `db stats` prints it
	Size  string
}

// handleDatabase handles GET /admin/database: the same figures as the
// `db stats` command (store.DB.Inspect).
func (c *Console) handleDatabase(w http.ResponseWriter, r *http.Request) {
	st, err := c.o.DB.Inspect(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.page(w, r, http.StatusOK, "admin/database.html", "Database", databaseData{base: c.base(r, "/admin/database", "Database"),
		Stats: st, Size: fmt.Sprintf("%.1f MB", float64(st.Bytes)/(1<<20))})
}

// sectionData is the Data of admin/section.html.
type sectionData struct {
	base
	View
}

// handleSection handles GET /admin/{section}.
func (c *Console) handleSection(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("section")
	for _, s := range c.o.Sections {
		if s.Slug != slug {
			continue
		}
		d := sectionData{base: c.base(r, "/admin/"+s.Slug, s.Title)}
		v, err := s.Load(r.Context(), d.Range)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		d.View = v
		c.page(w, r, http.StatusOK, "admin/section.html", s.Title, d)
		return
	}
	c.o.Render.NotFound(w, r)
}
