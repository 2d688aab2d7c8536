package admin

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart is a line chart over time, drawn on the server as SVG (classes and
// attributes only: the pages' CSP allows no inline styles) with a data
// table behind it for screen readers and for anyone who wants the numbers.
type Chart struct {
	ID     string // unique on the page; names the SVG's title and table
	Title  string
	Unit   string // shown after values: "ms", "%", "req/min"; "$" prefixes
	Series []Series
	// Step is the width of a point (an hour or a day), for the table's
	// time format.
	Step time.Duration
	// From and To span the x axis.
	From, To time.Time
	// Thresholds draw dashed lines (e.g. LCP's 2.5 s good and 4 s poor).
	Thresholds []Threshold
}

// Series is one line.
type Series struct {
	Name   string
	Points []XY
}

// XY is a value at a time.
type XY struct {
	T time.Time
	V float64
}

// Threshold is a horizontal reference line.
type Threshold struct {
	Label string
	V     float64
	Kind  string // "good" or "poor": its class
}

// Stat is a headline number.
type Stat struct {
	Label string
	Value string
	Note  string
	Tone  string // "", "ok", "warn" or "bad"
}

// Table is a data table.
type Table struct {
	Caption string
	Columns []string
	Rows    [][]string
	// Tones, when set, gives each row a class ("ok", "warn", "bad").
	Tones []string
	Empty string // shown when there are no rows
}

const (
	chartW, chartH         = 640, 220
	padL, padR, padT, padB = 56, 12, 12, 28
	maxSeries              = 6
)

// Empty reports whether the chart has no points at all.
func (c Chart) Empty() bool {
	for _, s := range c.Series {
		if len(s.Points) > 0 {
			return false
		}
	}
	return true
}

// SVG draws the chart.
func (c Chart) SVG() template.HTML {
	var b strings.Builder
	maxV := 0.0
	for _, s := range c.Series {
		for _, p := range s.Points {
			maxV = math.Max(maxV, p.V)
		}
	}
	for _, t := range c.Thresholds {
		maxV = math.Max(maxV, t.V*1.1)
	}
	top := niceCeil(maxV)
	from, to := c.From, c.To
	if !to.After(from) {
		to = from.Add(time.Hour)
	}
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 {
		return padL + (chartW-padL-padR)*t.Sub(from).Seconds()/span
	}
	y := func(v float64) float64 {
		return padT + (chartH-padT-padB)*(1-v/top)
	}
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="%s-title" focusable="false" xmlns="http://www.w3.org/2000/svg">`, chartW, chartH, template.HTMLEscapeString(c.ID))
	fmt.Fprintf(&b, `<title id="%s-title">%s</title>`, template.HTMLEscapeString(c.ID), template.HTMLEscapeString(c.summary()))
	// Grid: four lines with labels.
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		yy := y(v)
		fmt.Fprintf(&b, `<line class="grid-line" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, padL, chartW-padR, yy, yy)
		fmt.Fprintf(&b, `<text class="axis" x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, padL-6, yy, template.HTMLEscapeString(c.short(v)))
	}
	for _, t := range c.Thresholds {
		yy := y(t.V)
		fmt.Fprintf(&b, `<line class="threshold threshold-%s" x1="%d" x2="%d" y1="%.1f" y2="%.1f"/>`, template.HTMLEscapeString(t.Kind), padL, chartW-padR, yy, yy)
		fmt.Fprintf(&b, `<text class="axis threshold-label" x="%d" y="%.1f" text-anchor="end">%s</text>`, chartW-padR-2, yy-3, template.HTMLEscapeString(t.Label))
	}
	layout := "2 Jan"
	if c.Step < 24*time.Hour {
		layout = "2 Jan 15:04"
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="start">%s</text>`, padL, chartH-8, from.UTC().Format(layout))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s UTC</text>`, chartW-padR, chartH-8, to.UTC().Format(layout))
	for i, s := range c.Series {
		if i >= maxSeries {
			break
		}
		if len(s.Points) == 1 {
			p := s.Points[0]
			fmt.Fprintf(&b, `<circle class="series s%d" cx="%.1f" cy="%.1f" r="3"/>`, i, x(p.T), y(p.V))
			continue
		}
		var pts strings.Builder
		for k, p := range s.Points {
			if k > 0 {
				pts.WriteByte(' ')
			}
			fmt.Fprintf(&pts, "%.1f,%.1f", x(p.T), y(p.V))
		}
		fmt.Fprintf(&b, `<polyline class="series s%d" points="%s"/>`, i, pts.String())
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// summary is the chart's accessible name.
func (c Chart) summary() string {
	if c.Empty() {
		return c.Title + ": no data yet"
	}
	var parts []string
	for i, s := range c.Series {
		if i >= maxSeries || len(s.Points) == 0 {
			continue
		}
		last := s.Points[len(s.Points)-1]
		parts = append(parts, fmt.Sprintf("%s latest %s", s.Name, c.Format(last.V)))
	}
	return c.Title + ": " + strings.Join(parts, "; ")
}

// Legend lists the drawn series with their class.
func (c Chart) Legend() []LegendItem {
	var out []LegendItem
	for i, s := range c.Series {
		if i >= maxSeries {
			break
		}
		out = append(out, LegendItem{Name: s.Name, Class: "s" + strconv.Itoa(i)})
	}
	return out
}

// LegendItem is one series' legend entry.
type LegendItem struct{ Name, Class string }

// Data is the chart's table: one row per time, one column per series.
func (c Chart) Data() Table {
	t := Table{Caption: c.Title, Columns: []string{"Time (UTC)"}, Empty: "No data yet."}
	idx := map[int64]int{}
	var times []time.Time
	for _, s := range c.Series {
		for _, p := range s.Points {
			if _, ok := idx[p.T.Unix()]; !ok {
				idx[p.T.Unix()] = len(times)
				times = append(times, p.T)
			}
		}
	}
	sortTimes(times)
	for i, tm := range times {
		idx[tm.Unix()] = i
	}
	layout := "2006-01-02 15:04"
	if c.Step >= 24*time.Hour {
		layout = "2006-01-02"
	}
	rows := make([][]string, len(times))
	for i, tm := range times {
		rows[i] = make([]string, 1+len(c.Series))
		rows[i][0] = tm.UTC().Format(layout)
		for j := range c.Series {
			rows[i][j+1] = "–"
		}
	}
	for j, s := range c.Series {
		t.Columns = append(t.Columns, s.Name)
		for _, p := range s.Points {
			rows[idx[p.T.Unix()]][j+1] = c.Format(p.V)
		}
	}
	t.Rows = rows
	return t
}

func sortTimes(ts []time.Time) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Before(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// Format writes v with the chart's unit.
func (c Chart) Format(v float64) string { return FormatValue(v, c.Unit) }

// short is an axis label.
func (c Chart) short(v float64) string {
	if c.Unit == "$" {
		return FormatValue(v, "$")
	}
	return compact(v)
}

// FormatValue writes v for people: 1234.5 ms, 0.12, 3.4 %, $0.0123.
func FormatValue(v float64, unit string) string {
	switch unit {
	case "$":
		if v < 1 {
			return "$" + strconv.FormatFloat(v, 'f', 4, 64)
		}
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	case "":
		return trimFloat(v)
	case "%":
		return strconv.FormatFloat(v, 'f', 2, 64) + " %"
	}
	return trimFloat(v) + " " + unit
}

func trimFloat(v float64) string {
	switch {
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

func compact(v float64) string {
	switch {
	case v >= 1e6:
		return trimFloat(v/1e6) + "M"
	case v >= 1e4:
		return trimFloat(v/1e3) + "k"
	}
	return trimFloat(v)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
