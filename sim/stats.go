package sim

import "math"

// Latencies are kept in log-spaced buckets of ratio histGamma from 1µs: a
// quantile is read as its bucket's geometric middle, within 1% of the exact
// value, in memory that does not grow with the number of calls.
const (
	histGamma = 1.02
	histMin   = 1000 // ns
)

var histLogGamma = math.Log(histGamma)

type hist struct {
	n      int64
	counts []int64
}

func (h *hist) add(ns int64) {
	i := 0
	if ns > histMin {
		i = 1 + int(math.Log(float64(ns)/histMin)/histLogGamma)
	}
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]int64, i+1-len(h.counts)+32)...)
	}
	h.counts[i]++
	h.n++
}

func (h *hist) merge(o *hist) {
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]int64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the nearest-rank q-quantile in milliseconds (0 when
// empty).
func (h *hist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	rank = max(1, min(rank, h.n))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == 0 {
				return histMin / 1e6
			}
			return histMin * math.Pow(histGamma, float64(i-1)+0.5) / 1e6
		}
	}
	return 0
}

// counters accumulate the outcome of calls on one edge, root operation or
// profile.
type counters struct {
	calls        int64 // logical calls (a call and its retries count once)
	ok           int64 // logical calls that succeeded (fallback successes included)
	attempts     int64 // tries sent, retries included
	timeouts     int64 // tries that ended in a timeout
	circuitOpen  int64 // tries refused by an open circuit breaker
	breakerOpens int64 // times the breaker opened
	fallbacks    int64 // calls answered by a fallback
	overflows    int64 // tries refused by a full queue
	injected     int64 // tries that got a fault
	lat          hist
}

func (c *counters) merge(o *counters) {
	c.calls += o.calls
	c.ok += o.ok
	c.attempts += o.attempts
	c.timeouts += o.timeouts
	c.circuitOpen += o.circuitOpen
	c.breakerOpens += o.breakerOpens
	c.fallbacks += o.fallbacks
	c.overflows += o.overflows
	c.injected += o.injected
	c.lat.merge(&o.lat)
}
