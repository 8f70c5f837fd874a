package sim

import (
	"math"
	"math/bits"
	"sync"
)

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

// histBucketOf is the bucket of a latency: 0 up to histMin, then 1 +
// floor(log_gamma(ns / histMin)). histBucket is the same without a
// logarithm.
func histBucketOf(ns int64) int {
	if ns <= histMin {
		return 0
	}
	return 1 + int(math.Log(float64(ns)/histMin)/histLogGamma)
}

// histTable holds, for histBucket, the first latency of every bucket
// (histBucketOf is monotonic: bounds[i] is the least ns in bucket i) and
// the bucket of the start of every sixteenth of every power of two.
type histTable struct {
	bounds []int64
	start  [64 << 4]int32
}

var histTab = sync.OnceValue(func() *histTable {
	t := &histTable{}
	top := histBucketOf(math.MaxInt64)
	t.bounds = make([]int64, top+2)
	t.bounds[top+1] = math.MaxInt64 // a sentinel: histBucket stops before it
	for i := 1; i <= top; i++ {
		lo, hi := int64(histMin+1), int64(math.MaxInt64)
		for lo < hi { // least ns with histBucketOf(ns) >= i
			m := lo + (hi-lo)/2
			if histBucketOf(m) >= i {
				hi = m
			} else {
				lo = m + 1
			}
		}
		t.bounds[i] = lo
	}
	for k := range t.start {
		l, sub := k>>4, int64(k&15)
		if l < 5 {
			continue
		}
		base := int64(1)<<(l-1) | sub<<(l-5)
		if l == 64 || base <= 0 {
			continue
		}
		t.start[k] = int32(histBucketOf(base))
	}
	return t
})

// histBucket is histBucketOf(ns), from the table.
func histBucket(ns int64) int {
	if ns <= histMin {
		return 0
	}
	t := histTab()
	l := bits.Len64(uint64(ns))
	i := int(t.start[l<<4|int(ns>>(l-5))&15])
	for i+1 < len(t.bounds)-1 && t.bounds[i+1] <= ns {
		i++
	}
	return i
}

func (h *hist) add(ns int64) { h.addBucket(histBucket(ns)) }

func (h *hist) addBucket(i int) {
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]int64, i+1-len(h.counts)+32)...)
	}
	h.counts[i]++
	h.n++
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
