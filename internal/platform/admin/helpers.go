package admin

import (
	"context"

	"github.com/relaywork/suite/internal/platform/rollup"
)

// RollupChart fills c with metric's rollups over rg: one line per dim when
// allDims (at most six, the busiest first), else the dim "" only. value
// turns a point into the plotted number (nil: Point.Value).
func RollupChart(ctx context.Context, st *rollup.Store, rg Range, c Chart, metric string, allDims bool, value func(rollup.Point) float64) (Chart, error) {
	if value == nil {
		value = rollup.Point.Value
	}
	pts, err := st.Series(ctx, rollup.Query{Res: rg.Res, Metric: metric, AllDims: allDims, From: rg.From, To: rg.To})
	if err != nil {
		return c, err
	}
	c.Step, c.From, c.To = rg.Res.Step(), rg.From, rg.To
	idx := map[string]int{}
	weight := map[string]float64{}
	for _, p := range pts {
		name := p.Dim
		if name == "" {
			name = c.Title
		}
		i, ok := idx[name]
		if !ok {
			i = len(c.Series)
			idx[name] = i
			c.Series = append(c.Series, Series{Name: name})
		}
		v := value(p)
		c.Series[i].Points = append(c.Series[i].Points, XY{p.Bucket, v})
		weight[name] += v
	}
	// Busiest first, so the six drawn are the ones that matter.
	for i := 1; i < len(c.Series); i++ {
		for j := i; j > 0 && weight[c.Series[j].Name] > weight[c.Series[j-1].Name]; j-- {
			c.Series[j], c.Series[j-1] = c.Series[j-1], c.Series[j]
		}
	}
	if len(c.Series) > maxSeries {
		c.Series = c.Series[:maxSeries]
	}
	return c, nil
}

// RollupTotal sums metric's values (dim "", or every dim when allDims) over rg.
func RollupTotal(ctx context.Context, st *rollup.Store, rg Range, metric string, allDims bool) (float64, map[string]float64, error) {
	pts, err := st.Series(ctx, rollup.Query{Res: rg.Res, Metric: metric, AllDims: allDims, From: rg.From, To: rg.To})
	if err != nil {
		return 0, nil, err
	}
	var total float64
	by := map[string]float64{}
	for _, p := range pts {
		total += p.Value()
		by[p.Dim] += p.Value()
	}
	return total, by, nil
}
