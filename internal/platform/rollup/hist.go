package rollup

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Distributions are kept as sparse histograms over one geometric scale
// shared by every metric, so rows of any instance, minute or hour merge by
// adding counts. Bucket i holds values in (base·growth^(i-1), base·growth^i];
// bucket 0 holds everything at or below base. With growth 1.1 a percentile
// read from the buckets is within 5% of the true value.
const (
	histBase   = 0.001
	histGrowth = 1.1
	histMax    = 400 // base·1.1^400 ≈ 3.6e13: far above any latency in ms
)

var logGrowth = math.Log(histGrowth)

// Hist counts observations by bucket index.
type Hist map[int]int64

func bucketOf(v float64) int {
	if !(v > histBase) { // also NaN
		return 0
	}
	i := int(math.Ceil(math.Log(v/histBase) / logGrowth))
	return min(max(i, 0), histMax)
}

// upper is bucket i's upper bound.
func upper(i int) float64 { return histBase * math.Pow(histGrowth, float64(i)) }

// Add counts one observation of v.
func (h Hist) Add(v float64) { h[bucketOf(v)]++ }

// Merge adds o's counts to h.
func (h Hist) Merge(o Hist) {
	for i, n := range o {
		h[i] += n
	}
}

// Count is the number of observations.
func (h Hist) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile returns the q-quantile (0 < q ≤ 1), interpolated inside its
// bucket on the log scale; 0 for an empty histogram.
func (h Hist) Quantile(q float64) float64 {
	total := h.Count()
	if total == 0 {
		return 0
	}
	idx := make([]int, 0, len(h))
	for i := range h {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	rank := q * float64(total)
	var seen float64
	for _, i := range idx {
		c := float64(h[i])
		if seen+c >= rank {
			if i == 0 {
				return histBase
			}
			lo, hi := upper(i-1), upper(i)
			frac := (rank - seen) / c
			return lo * math.Pow(hi/lo, frac)
		}
		seen += c
	}
	return upper(idx[len(idx)-1])
}

// String encodes h as "i:n,i:n" in bucket order.
func (h Hist) String() string {
	idx := make([]int, 0, len(h))
	for i, n := range h {
		if n > 0 {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	var b strings.Builder
	for k, i := range idx {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(h[i], 10))
	}
	return b.String()
}

// ParseHist decodes what String wrote.
func ParseHist(s string) (Hist, error) {
	h := Hist{}
	if s == "" {
		return h, nil
	}
	for _, part := range strings.Split(s, ",") {
		a, b, ok := strings.Cut(part, ":")
		i, err1 := strconv.Atoi(a)
		n, err2 := strconv.ParseInt(b, 10, 64)
		if !ok || err1 != nil || err2 != nil || i < 0 || i > histMax || n < 0 {
			return nil, fmt.Errorf("histogram %q: bad entry %q", s, part)
		}
		h[i] += n
	}
	return h, nil
}
