package voyager

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/relaywork/suite/internal/platform/admin"
	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/rollup"
	"github.com/relaywork/suite/internal/platform/vitals"
	"github.com/relaywork/suite/internal/voyager/ai"
	"github.com/relaywork/suite/internal/voyager/chat/chatstore"
	"github.com/relaywork/suite/internal/voyager/community"
)

// Voyager's rollup metrics, by community.
const (
	metricMessages = "voyager.messages"
	metricTokens   = "voyager.tokens"
	metricCost     = "voyager.cost_usd"
	metricMembers  = "voyager.members"
)

// adminMount adds the console's Communities and AI providers sections,
// the rollup sources behind their charts, and the community label of the
// web-vitals histograms.
func adminMount(p *app.Platform, m *app.Mounted, reg *community.Registry, st *chatstore.Store, router *ai.Router) {
	activity := func(pick func(chatstore.CommunityActivity) float64) func(ctx context.Context, from, to time.Time) (map[string]float64, error) {
		return func(ctx context.Context, from, to time.Time) (map[string]float64, error) {
			by, err := st.ActivityBetween(ctx, from, to)
			out := map[string]float64{}
			for id, a := range by {
				out[id] = pick(a)
			}
			return out, err
		}
	}
	m.RollupSources = append(m.RollupSources,
		rollup.Source{Metric: metricMessages, Kind: rollup.Counter, Collect: activity(func(a chatstore.CommunityActivity) float64 { return float64(a.Messages) })},
		rollup.Source{Metric: metricTokens, Kind: rollup.Counter, Collect: activity(func(a chatstore.CommunityActivity) float64 { return float64(a.Tokens) })},
		rollup.Source{Metric: metricCost, Kind: rollup.Counter, Collect: activity(func(a chatstore.CommunityActivity) float64 { return float64(a.CostMicros) / 1e6 })},
		rollup.Source{Metric: metricMembers, Kind: rollup.Gauge, Collect: func(ctx context.Context, _, _ time.Time) (map[string]float64, error) {
			by, err := st.MemberCounts(ctx)
			out := map[string]float64{}
			for id, n := range by {
				out[id] = float64(n)
			}
			return out, err
		}},
	)
	// Vitals by community: /c/{cid}/… on the platform's host, or the
	// community whose domain the page is on. Only known communities become
	// label values, so a beacon cannot invent series.
	m.VitalsSegment = &vitals.Segment{Label: "community", Of: func(r *http.Request, _, path string) string {
		set := reg.Current()
		if rest, ok := strings.CutPrefix(path, "/c/"); ok {
			id, _, _ := strings.Cut(rest, "/")
			if c, ok := set.ByID(id); ok {
				return c.ID
			}
			return ""
		}
		if c, ok := set.ByHost(r.Host); ok {
			return c.ID
		}
		return ""
	}}
	m.Admin = append(m.Admin,
		admin.Section{Slug: "communities", Title: "Communities", Load: func(ctx context.Context, rg admin.Range) (admin.View, error) {
			return communitiesView(ctx, p, reg, st, rg)
		}},
		admin.Section{Slug: "ai", Title: "AI providers", Load: func(ctx context.Context, rg admin.Range) (admin.View, error) {
			return providersView(ctx, p, st, router)
		}},
	)
}

func communitiesView(ctx context.Context, p *app.Platform, reg *community.Registry, st *chatstore.Store, rg admin.Range) (admin.View, error) {
	v := admin.View{Intro: "Each community's members, messages, tokens and estimated AI cost, and how much of the daily answer quota members use today (UTC)."}
	members, err := st.MemberCounts(ctx)
	if err != nil {
		return v, err
	}
	list := reg.Current().All()
	limits := map[string]int{}
	for _, c := range list {
		limits[c.ID] = c.Limits.MessagesPerDay
	}
	usage, err := st.UsageOn(ctx, p.Now().UTC().Format("2006-01-02"), limits)
	if err != nil {
		return v, err
	}
	totals := map[string]map[string]float64{}
	for _, metric := range []string{metricMessages, metricTokens, metricCost} {
		_, by, err := admin.RollupTotal(ctx, p.Rollups, rg, metric, true)
		if err != nil {
			return v, err
		}
		totals[metric] = by
	}
	t := admin.Table{Caption: "Communities, " + rg.Name, Columns: []string{"Community", "Visibility", "Members", "Messages", "Tokens", "Cost", "Daily limit", "Answers today", "Members at the limit today"},
		Empty: "No communities are defined in COMMUNITIES_DIR."}
	var allMembers int64
	var allMsgs, allTokens, allCost float64
	sort.Slice(list, func(i, j int) bool {
		return members[list[i].ID] > members[list[j].ID] || (members[list[i].ID] == members[list[j].ID] && list[i].ID < list[j].ID)
	})
	for _, c := range list {
		u := usage[c.ID]
		limit := "unlimited"
		if c.Limits.MessagesPerDay > 0 {
			limit = strconv.Itoa(c.Limits.MessagesPerDay) + " per member"
		}
		tone := ""
		if u.AtLimit > 0 {
			tone = "warn"
		}
		t.Rows = append(t.Rows, []string{c.Name + " (" + c.ID + ")", string(c.Visibility), strconv.FormatInt(members[c.ID], 10),
			admin.FormatValue(totals[metricMessages][c.ID], ""), admin.FormatValue(totals[metricTokens][c.ID], ""), admin.FormatValue(totals[metricCost][c.ID], "$"),
			limit, strconv.FormatInt(u.Answers, 10), strconv.FormatInt(u.AtLimit, 10)})
		t.Tones = append(t.Tones, tone)
		allMembers += members[c.ID]
		allMsgs += totals[metricMessages][c.ID]
		allTokens += totals[metricTokens][c.ID]
		allCost += totals[metricCost][c.ID]
	}
	v.Stats = []admin.Stat{
		{Label: "Communities", Value: strconv.Itoa(len(list))},
		{Label: "Memberships", Value: strconv.FormatInt(allMembers, 10)},
		{Label: "Messages, " + rg.Name, Value: admin.FormatValue(allMsgs, "")},
		{Label: "Tokens, " + rg.Name, Value: admin.FormatValue(allTokens, "")},
		{Label: "Estimated cost, " + rg.Name, Value: admin.FormatValue(allCost, "$")},
	}
	v.Tables = []admin.Table{t}
	for _, c := range []struct{ id, title, unit, metric string }{
		{"chart-members", "Members by community", "", metricMembers},
		{"chart-messages", "Messages by community", "", metricMessages},
		{"chart-tokens", "Tokens by community", "", metricTokens},
		{"chart-cost", "Cost by community", "$", metricCost},
	} {
		ch, err := admin.RollupChart(ctx, p.Rollups, rg, admin.Chart{ID: c.id, Title: c.title, Unit: c.unit}, c.metric, true, nil)
		if err != nil {
			return v, err
		}
		v.Charts = append(v.Charts, ch)
	}
	return v, nil
}

func providersView(ctx context.Context, p *app.Platform, st *chatstore.Store, router *ai.Router) (admin.View, error) {
	v := admin.View{NoPeriod: true, Intro: "Each configured AI provider in order of preference, its circuit breaker on this instance (open: skipped after consecutive failures, half-open: one trial call), and its answers in the last 24 hours."}
	use, err := st.ProviderUseSince(ctx, p.Now().Add(-24*time.Hour))
	if err != nil {
		return v, err
	}
	t := admin.Table{Caption: "AI providers", Columns: []string{"Provider", "Health", "Breaker", "Answers, 24 h", "Failed or interrupted", "Mean latency"},
		Empty: "No AI provider is configured: set ANTHROPIC_API_KEY or OPENAI_API_KEY (or OPENAI_BASE_URL)."}
	healthy := 0
	for _, name := range router.Providers() {
		state := router.BreakerState(name)
		u := use[name]
		bad := u.Interrupted
		health, tone := "healthy", ""
		switch {
		case state == "open":
			health, tone = "failing: skipped until the breaker's cool-down ends", "bad"
		case state == "half-open":
			health, tone = "recovering: one trial call at a time", "warn"
		case u.Answers > 0 && float64(bad) > 0.2*float64(u.Answers):
			health, tone = "degraded: many answers cut short", "warn"
		default:
			healthy++
		}
		t.Rows = append(t.Rows, []string{name, health, state, strconv.FormatInt(u.Answers, 10), strconv.FormatInt(bad, 10), admin.FormatValue(u.AvgLatencyMs, "ms")})
		t.Tones = append(t.Tones, tone)
	}
	failedAll := use[""].Failed
	v.Stats = []admin.Stat{
		{Label: "Providers configured", Value: strconv.Itoa(len(router.Providers()))},
		{Label: "Healthy", Value: strconv.Itoa(healthy)},
		{Label: "Answers no provider gave, 24 h", Value: strconv.FormatInt(failedAll, 10)},
	}
	if failedAll > 0 {
		v.Stats[2].Tone = "bad"
	}
	v.Tables = []admin.Table{t}
	return v, nil
}
