package inject

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// latBuckets is the number of latency histogram buckets of a window
// second: four per power of two of microseconds, up to about 2^30 µs.
const latBuckets = 4 * 31

// latBucket maps a duration to its histogram bucket: four buckets per
// power of two of microseconds (about 19% wide).
func latBucket(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us < 1 {
		return 0
	}
	n := bits.Len64(us) - 1 // floor(log2 us)
	frac := 0
	if n >= 2 {
		frac = int(us>>(n-2)) & 3
	} else if n == 1 {
		frac = int(us&1) << 1
	}
	return min(4*n+frac, latBuckets-1)
}

// latUpper is the upper bound of bucket i.
func latUpper(i int) time.Duration {
	n, frac := i/4, i%4
	us := (uint64(4+frac+1) << n) >> 2
	return time.Duration(us) * time.Microsecond
}

// second counts one second of traffic.
type second struct {
	sec      atomic.Int64 // unix second this slot holds
	total    atomic.Int64 // requests
	injected atomic.Int64 // requests that got a fault
	errors   atomic.Int64 // requests that failed, as the client saw them
	lat      [latBuckets]atomic.Uint32
}

// window is a sliding window of per-second slots: the request count and
// the injections for maxGlobalRate, the errors and latencies for abortIf.
type window struct {
	mu    sync.Mutex // serialises slot resets
	slots []second
}

func newWindow(seconds int) *window {
	return &window{slots: make([]second, max(seconds, 1))}
}

// slot returns the slot of unix second sec, resetting it when it last held
// an older second.
func (w *window) slot(sec int64) *second {
	s := &w.slots[uint64(sec)%uint64(len(w.slots))]
	if s.sec.Load() == sec {
		return s
	}
	w.mu.Lock()
	if s.sec.Load() != sec {
		s.total.Store(0)
		s.injected.Store(0)
		s.errors.Store(0)
		for i := range s.lat {
			s.lat[i].Store(0)
		}
		s.sec.Store(sec)
	}
	w.mu.Unlock()
	return s
}

// windowStats sums the slots of the last len(slots) seconds up to now.
type windowStats struct {
	Requests int64
	Injected int64
	Errors   int64
	P99      time.Duration
}

// counts sums the requests and injections of the window ending at now.
func (w *window) counts(now int64) (requests, injected int64) {
	lo := now - int64(len(w.slots)) + 1
	for i := range w.slots {
		s := &w.slots[i]
		if sec := s.sec.Load(); sec >= lo && sec <= now {
			requests += s.total.Load()
			injected += s.injected.Load()
		}
	}
	return requests, injected
}

func (w *window) stats(now int64) windowStats {
	var st windowStats
	var lat [latBuckets]int64
	lo := now - int64(len(w.slots)) + 1
	for i := range w.slots {
		s := &w.slots[i]
		if sec := s.sec.Load(); sec < lo || sec > now {
			continue
		}
		st.Requests += s.total.Load()
		st.Injected += s.injected.Load()
		st.Errors += s.errors.Load()
		for j := range s.lat {
			lat[j] += int64(s.lat[j].Load())
		}
	}
	var n int64
	for _, c := range lat {
		n += c
	}
	if n > 0 {
		rank := (n*99 + 99) / 100 // ceil(0.99 n)
		var cum int64
		for j, c := range lat {
			cum += c
			if cum >= rank {
				st.P99 = latUpper(j)
				break
			}
		}
	}
	return st
}

// tokenBucket enforces a profile's perSecond cap: it holds up to
// max(1, rate) tokens and refills rate tokens per second.
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, now time.Time) *tokenBucket {
	burst := max(1, rate)
	return &tokenBucket{rate: rate, burst: burst, tokens: burst, last: now}
}

// take removes one token, reporting whether there was one.
func (b *tokenBucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(b.burst, b.tokens+dt.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
