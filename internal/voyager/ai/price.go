package ai

import "strings"

// Price is USD per million tokens.
type Price struct{ Input, Output, CacheRead, CacheWrite float64 }

// prices are list prices by model-name prefix, longest prefix first;
// models not listed (local servers) cost 0.
var prices = []struct {
	prefix string
	p      Price
}{
	{"claude-opus-4", Price{15, 75, 1.5, 18.75}},
	{"claude-sonnet-4", Price{3, 15, 0.3, 3.75}},
	{"claude-3-7-sonnet", Price{3, 15, 0.3, 3.75}},
	{"claude-3-5-sonnet", Price{3, 15, 0.3, 3.75}},
	{"claude-haiku-4", Price{1, 5, 0.1, 1.25}},
	{"claude-3-5-haiku", Price{0.8, 4, 0.08, 1}},
	{"gpt-4o-mini", Price{0.15, 0.6, 0.075, 0}},
	{"gpt-4o", Price{2.5, 10, 1.25, 0}},
	{"gpt-4.1-mini", Price{0.4, 1.6, 0.1, 0}},
	{"gpt-4.1", Price{2, 8, 0.5, 0}},
	{"gpt-4-turbo", Price{10, 30, 0, 0}},
	{"gpt-4", Price{30, 60, 0, 0}},
	{"gpt-3.5-turbo", Price{0.5, 1.5, 0, 0}},
}

// PriceOf returns the list price of model and whether it is known.
func PriceOf(model string) (Price, bool) {
	m := strings.ToLower(model)
	best := -1
	for i, e := range prices {
		if strings.HasPrefix(m, e.prefix) && (best < 0 || len(e.prefix) > len(prices[best].prefix)) {
			best = i
		}
	}
	if best < 0 {
		return Price{}, false
	}
	return prices[best].p, true
}

// CostMicros estimates a call's cost in millionths of a US dollar.
func CostMicros(model string, u Usage) int64 {
	p, ok := PriceOf(model)
	if !ok {
		return 0
	}
	// USD per million tokens × tokens = micro-dollars.
	c := p.Input*float64(u.Input) + p.Output*float64(u.Output) + p.CacheRead*float64(u.CacheRead) + p.CacheWrite*float64(u.CacheWrite)
	return int64(c + 0.5)
}
