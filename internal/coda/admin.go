package coda

import (
	"context"
	"strconv"
	"time"

	"github.com/relaywork/suite/internal/coda/devmode"
	"github.com/relaywork/suite/internal/coda/idea/ideastore"
	"github.com/relaywork/suite/internal/coda/relay"
	"github.com/relaywork/suite/internal/platform/admin"
	"github.com/relaywork/suite/internal/platform/app"
	"github.com/relaywork/suite/internal/platform/rollup"
)

// Coda's rollup metrics.
const (
	metricIdeasCreated  = "ideas.created"
	metricIdeasEdited   = "ideas.edited"
	metricIdeasDeleted  = "ideas.deleted"
	metricRunnersOnline = "devmode.runners_online"
	metricTerminals     = "devmode.terminals"
	metricBytesOut      = "devmode.bytes_out"
	metricBytesIn       = "devmode.bytes_in"
)

// adminIdeas adds the console's Ideas section and the rollup sources
// behind its charts.
func (s *site) adminIdeas(m *app.Mounted, st *ideastore.Store) {
	p := s.p
	activity := func(pick func(ideastore.Activity) int64) func(ctx context.Context, from, to time.Time) (map[string]float64, error) {
		return func(ctx context.Context, from, to time.Time) (map[string]float64, error) {
			a, err := st.ActivityBetween(ctx, from, to)
			return map[string]float64{"": float64(pick(a))}, err
		}
	}
	m.RollupSources = append(m.RollupSources,
		rollup.Source{Metric: metricIdeasCreated, Kind: rollup.Counter, Collect: activity(func(a ideastore.Activity) int64 { return a.Created })},
		rollup.Source{Metric: metricIdeasEdited, Kind: rollup.Counter, Collect: activity(func(a ideastore.Activity) int64 { return a.Edited })},
		rollup.Source{Metric: metricIdeasDeleted, Kind: rollup.Counter, Collect: activity(func(a ideastore.Activity) int64 { return a.Deleted })},
	)
	m.Admin = append(m.Admin, admin.Section{Slug: "ideas", Title: "Ideas", Load: func(ctx context.Context, rg admin.Range) (admin.View, error) {
		t, err := st.CountAll(ctx)
		if err != nil {
			return admin.View{}, err
		}
		v := admin.View{Intro: "Ideas captured, edited and deleted by everyone, from the hourly rollups."}
		totals := map[string]float64{}
		for _, metric := range []string{metricIdeasCreated, metricIdeasEdited, metricIdeasDeleted} {
			n, _, err := admin.RollupTotal(ctx, p.Rollups, rg, metric, false)
			if err != nil {
				return v, err
			}
			totals[metric] = n
		}
		v.Stats = []admin.Stat{
			{Label: "Ideas kept", Value: strconv.FormatInt(t.Live, 10), Note: strconv.FormatInt(t.Deleted, 10) + " in the undo window"},
			{Label: "People with ideas", Value: strconv.FormatInt(t.Authors, 10)},
			{Label: "Created, " + rg.Name, Value: admin.FormatValue(totals[metricIdeasCreated], "")},
			{Label: "Edited, " + rg.Name, Value: admin.FormatValue(totals[metricIdeasEdited], "")},
			{Label: "Deleted, " + rg.Name, Value: admin.FormatValue(totals[metricIdeasDeleted], "")},
		}
		for _, c := range []struct{ id, title, metric string }{
			{"chart-ideas-created", "Ideas created", metricIdeasCreated},
			{"chart-ideas-edited", "Ideas edited", metricIdeasEdited},
			{"chart-ideas-deleted", "Ideas deleted", metricIdeasDeleted},
		} {
			ch, err := admin.RollupChart(ctx, p.Rollups, rg, admin.Chart{ID: c.id, Title: c.title}, c.metric, false, nil)
			if err != nil {
				return v, err
			}
			v.Charts = append(v.Charts, ch)
		}
		return v, nil
	}})
}

// adminDevMode adds the console's DevMode section: runners online (from
// the database, so relays run alone count too), terminals open and bytes
// relayed (from this process's relay, summed over instances).
func (s *site) adminDevMode(m *app.Mounted, svc *devmode.Service, rl *relay.Relay) {
	p := s.p
	onlineSince := func() time.Time { return p.Now().Add(-2*relay.DefaultSeenEvery - time.Minute) }
	m.RollupSources = append(m.RollupSources, rollup.Source{Metric: metricRunnersOnline, Kind: rollup.Gauge,
		Collect: func(ctx context.Context, _, _ time.Time) (map[string]float64, error) {
			c, err := svc.CountRunners(ctx, onlineSince())
			return map[string]float64{"": float64(c.Online)}, err
		}})
	p.Recorder.Gauge(metricTerminals, func() map[string]float64 {
		return map[string]float64{"": float64(rl.Stats().Terminals)}
	})
	var lastOut, lastIn uint64
	p.Recorder.OnSample(func() {
		st := rl.Stats()
		p.Recorder.Count(metricBytesOut, "", float64(st.BytesOut-lastOut))
		p.Recorder.Count(metricBytesIn, "", float64(st.BytesIn-lastIn))
		lastOut, lastIn = st.BytesOut, st.BytesIn
	})
	m.Admin = append(m.Admin, admin.Section{Slug: "devmode", Title: "DevMode", Load: func(ctx context.Context, rg admin.Range) (admin.View, error) {
		c, err := svc.CountRunners(ctx, onlineSince())
		if err != nil {
			return admin.View{}, err
		}
		st := rl.Stats()
		v := admin.View{Intro: "Runners paired and online, terminals open through the relay, and terminal traffic. Traffic and terminals are counted by the relay inside each coda serve instance."}
		out, _, err := admin.RollupTotal(ctx, p.Rollups, rg, metricBytesOut, false)
		if err != nil {
			return v, err
		}
		in, _, err := admin.RollupTotal(ctx, p.Rollups, rg, metricBytesIn, false)
		if err != nil {
			return v, err
		}
		v.Stats = []admin.Stat{
			{Label: "Runners paired", Value: strconv.FormatInt(c.Paired, 10)},
			{Label: "Runners online", Value: strconv.FormatInt(c.Online, 10), Note: strconv.Itoa(st.Runners) + " on this instance"},
			{Label: "Terminals open (this instance)", Value: strconv.Itoa(st.Terminals)},
			{Label: "Output relayed, " + rg.Name, Value: kib(out)},
			{Label: "Input relayed, " + rg.Name, Value: kib(in)},
		}
		perMin := rg.Res.Step().Minutes()
		for _, c := range []struct {
			id, title, unit, metric string
			value                   func(rollup.Point) float64
		}{
			{"chart-runners", "Runners online", "", metricRunnersOnline, nil},
			{"chart-terminals", "Terminals open", "", metricTerminals, nil},
			{"chart-relay-out", "Relay output", "KiB/min", metricBytesOut, func(p rollup.Point) float64 { return p.Value() / 1024 / perMin }},
			{"chart-relay-in", "Relay input", "KiB/min", metricBytesIn, func(p rollup.Point) float64 { return p.Value() / 1024 / perMin }},
		} {
			ch, err := admin.RollupChart(ctx, p.Rollups, rg, admin.Chart{ID: c.id, Title: c.title, Unit: c.unit}, c.metric, false, c.value)
			if err != nil {
				return v, err
			}
			v.Charts = append(v.Charts, ch)
		}
		return v, nil
	}})
}

func kib(b float64) string {
	switch {
	case b >= 1<<30:
		return admin.FormatValue(b/(1<<30), "GiB")
	case b >= 1<<20:
		return admin.FormatValue(b/(1<<20), "MiB")
	}
	return admin.FormatValue(b/1024, "KiB")
}
