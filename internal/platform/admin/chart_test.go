package admin

import (
	"strings"
	"testing"
	"time"

	"github.com/relaywork/suite/internal/platform/rollup"
)

func TestChartSVGAndTable(t *testing.T) {
	t.Parallel()
	from := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	c := Chart{ID: "c1", Title: `LCP <p75> "by" page`, Unit: "ms", Step: time.Hour, From: from, To: from.Add(24 * time.Hour),
		Thresholds: []Threshold{{Label: "good", V: 2500, Kind: "good"}},
		Series: []Series{
			{Name: "/ideas", Points: []XY{{from, 900}, {from.Add(time.Hour), 1200}}},
			{Name: `/x"><script>`, Points: []XY{{from.Add(time.Hour), 300}}},
		}}
	svg := string(c.SVG())
	for _, bad := range []string{"style=", "<script>", `"by"`} {
		if strings.Contains(svg, bad) {
			t.Errorf("SVG contains %q", bad)
		}
	}
	for _, want := range []string{`role="img"`, `aria-labelledby="c1-title"`, `class="series s0"`, `class="series s1"`, "threshold-good", "/ideas latest 1200 ms"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	tab := c.Data()
	if len(tab.Rows) != 2 || tab.Rows[0][1] != "900 ms" || tab.Rows[0][2] != "–" || tab.Rows[1][2] != "300 ms" || len(tab.Columns) != 3 {
		t.Fatalf("table %+v", tab)
	}
	if !(Chart{Title: "x"}).Empty() || c.Empty() {
		t.Error("Empty is wrong")
	}
}

func TestParseRangeAndFormat(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 10, 20, 0, 0, time.UTC)
	for _, c := range []struct {
		name, want string
		res        rollup.Res
		span       time.Duration
	}{{"24h", "24h", rollup.Hour, 24 * time.Hour}, {"7d", "7d", rollup.Hour, 7 * 24 * time.Hour}, {"90d", "90d", rollup.Day, 90 * 24 * time.Hour}, {"bogus", "24h", rollup.Hour, 24 * time.Hour}} {
		r := ParseRange(c.name, now)
		if r.Name != c.want || r.Res != c.res || r.To.Sub(r.From) != c.span || !r.To.After(now) {
			t.Errorf("ParseRange(%q) = %+v", c.name, r)
		}
	}
	for v, want := range map[float64]string{0.00012: "$0.0001", 12.5: "$12.50"} {
		if got := FormatValue(v, "$"); got != want {
			t.Errorf("FormatValue(%v, $) = %q, want %q", v, got, want)
		}
	}
	if got := FormatValue(2.345, "%"); got != "2.35 %" {
		t.Errorf("percent: %q", got)
	}
	if got := csvSafe("=HYPERLINK(1)"); got != "'=HYPERLINK(1)" {
		t.Errorf("csvSafe: %q", got)
	}
}
