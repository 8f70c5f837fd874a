// Package guard is the guard state of one injector: the sliding window of
// the requests it serves, the admission of a fault that fired, and the
// abortIf breaker. Package inject runs one per sidecar on the wall clock
// and package sim one per simulated injector on its virtual clock; every
// call takes the time as Unix nanoseconds, so both make the same decisions
// on the same traffic.
//
// The rules (docs/inject.md, "Guards"):
//
//   - every request the injector serves is counted, at Arrive, in the
//     one-second slot of the second it arrived; the window is the last
//     Window seconds (10 by default) up to and including the current one;
//   - a fault that fired is admitted (Admit), in this order, unless the
//     breaker has tripped, the profile's perSecond bucket is empty (a token
//     is taken even if a later check suppresses the fault), injected + 1
//     would exceed maxGlobalRate × max(requests, MinRequests) of the window
//     (so a nearly empty window does not suppress), or maxActiveFaults
//     faults are in progress; an admitted fault is in progress until
//     Release;
//   - a request's outcome goes into its arrival slot when it ends
//     (Observe), unless that slot has moved on to a later second: failed or
//     not, and its latency in a log histogram of four buckets per power of
//     two of microseconds;
//   - Tick, every second, evaluates the abort conditions over the window:
//     the injector's own (errorRate, p99Ms of guards.injectors, over every
//     request it serves) once the window holds at least MinRequests (20)
//     requests, and the root ones (abortIf.rootErrorRate, rootP99Ms, over
//     the root requests it serves: those without a caller) once it holds
//     MinRequests root requests; a value that reaches its limit (≥) trips
//     the breaker, which stays open until Reset.
package guard

import (
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
)

// Defaults of Options.
const (
	DefaultWindow      = 10 * time.Second
	DefaultMinRequests = 20
)

// Reasons a fired fault is suppressed.
const (
	Breaker         = "breaker"
	PerSecond       = "perSecond"
	MaxGlobalRate   = "maxGlobalRate"
	MaxActiveFaults = "maxActiveFaults"
)

// Abort conditions, as Trip.Guard names them.
const (
	RootErrorRate = "rootErrorRate"
	RootP99Ms     = "rootP99Ms"
	ErrorRate     = "errorRate"
	P99Ms         = "p99Ms"
)

// Options configure a Guard.
type Options struct {
	// Window is the sliding window of maxGlobalRate and the abort
	// conditions, in whole seconds; DefaultWindow when 0.
	Window time.Duration
	// MinRequests is how many requests (root requests for the root
	// conditions) the window needs before a condition may trip, and the
	// least number of requests maxGlobalRate is taken of;
	// DefaultMinRequests when 0.
	MinRequests int64
}

// Limits are the guards of a bundle as one injector applies them.
type Limits struct {
	MaxGlobalRate   float64
	MaxActiveFaults int64 // 0: no limit
	// The root conditions, over the root requests the injector serves;
	// 0 disables one.
	RootErrorRate, RootP99Ms float64
	// The injector's own conditions, over every request it serves.
	ErrorRate, P99Ms float64
}

// LimitsFor returns the limits of the injector in front of service.
func LimitsFor(g bundle.Guards, service string) Limits {
	l := Limits{MaxGlobalRate: g.MaxGlobalRate, MaxActiveFaults: int64(g.MaxActiveFaults),
		RootErrorRate: g.AbortIf.RootErrorRate, RootP99Ms: g.AbortIf.RootP99Ms}
	for _, ig := range g.Injectors {
		if ig.Service == service {
			l.ErrorRate, l.P99Ms = ig.ErrorRate, ig.P99Ms
		}
	}
	return l
}

// Aborts reports whether l has an abort condition for Tick to evaluate.
func (l *Limits) Aborts() bool {
	return l.RootErrorRate > 0 || l.RootP99Ms > 0 || l.ErrorRate > 0 || l.P99Ms > 0
}

// latBuckets is the number of latency histogram buckets: four per power of
// two of microseconds, up to about 2^30 µs.
const latBuckets = 4 * 31

// latBucket maps a duration in ns to its histogram bucket (about 19% wide).
func latBucket(ns int64) int {
	us := uint64(max(ns, 0) / 1000)
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

// latUpper is the upper bound of bucket i in ns.
func latUpper(i int) int64 {
	n, frac := i/4, i%4
	us := (uint64(4+frac+1) << n) >> 2
	return int64(us) * 1000
}

// counts are the requests of one second, or of its root requests.
type counts struct {
	total    atomic.Int64
	failures atomic.Int64
	lat      [latBuckets]atomic.Uint32
}

func (c *counts) reset() {
	c.total.Store(0)
	c.failures.Store(0)
	for i := range c.lat {
		c.lat[i].Store(0)
	}
}

// slot counts one second of traffic.
type slot struct {
	sec      atomic.Int64 // the second it holds
	injected atomic.Int64
	all      counts
	root     counts
}

// Trip is the breaker tripping: which condition, its value and limit over
// the window, and when.
type Trip struct {
	Guard      string  `json:"guard"` // RootErrorRate, RootP99Ms, ErrorRate or P99Ms
	Value      float64 `json:"value"` // a fraction, or milliseconds
	Limit      float64 `json:"limit"`
	Requests   int64   `json:"requests"` // in the window (root requests for the root conditions)
	AtUnixNano int64   `json:"atUnixNano"`
	Window     float64 `json:"windowSeconds"`
}

// Reason says what tripped in words.
func (t *Trip) Reason() string {
	w := time.Duration(t.Window * float64(time.Second))
	switch t.Guard {
	case RootErrorRate:
		return fmt.Sprintf("root error rate %.4f over the last %v reached abortIf.rootErrorRate %g", t.Value, w, t.Limit)
	case RootP99Ms:
		return fmt.Sprintf("root p99 latency %gms over the last %v reached abortIf.rootP99Ms %g", t.Value, w, t.Limit)
	case ErrorRate:
		return fmt.Sprintf("error rate %.4f over the last %v reached the injector's errorRate %g", t.Value, w, t.Limit)
	default:
		return fmt.Sprintf("p99 latency %gms over the last %v reached the injector's p99Ms %g", t.Value, w, t.Limit)
	}
}

// Guard is the guard state of one injector. It is safe for concurrent use.
type Guard struct {
	minRequests int64
	window      float64 // seconds
	mu          sync.Mutex
	slots       []slot
	active      atomic.Int64
	trip        atomic.Pointer[Trip]
}

// New returns a Guard with an empty window.
func New(opt Options) *Guard {
	if opt.Window <= 0 {
		opt.Window = DefaultWindow
	}
	if opt.MinRequests <= 0 {
		opt.MinRequests = DefaultMinRequests
	}
	n := max(int(opt.Window/time.Second), 1)
	g := &Guard{minRequests: opt.MinRequests, window: float64(n), slots: make([]slot, n)}
	for i := range g.slots {
		g.slots[i].sec.Store(-1 << 62)
	}
	return g
}

// Second is the Unix second of the time t in ns, rounded down.
func Second(t int64) int64 {
	if t < 0 {
		return (t+1)/1e9 - 1
	}
	return t / 1e9
}

// slot returns the slot of second sec, emptying it when it held an older
// second.
func (g *Guard) slot(sec int64) (*slot, int32) {
	i := int32(uint64(sec) % uint64(len(g.slots)))
	s := &g.slots[i]
	if s.sec.Load() == sec {
		return s, i
	}
	g.mu.Lock()
	if s.sec.Load() != sec {
		s.injected.Store(0)
		s.all.reset()
		s.root.reset()
		s.sec.Store(sec)
	}
	g.mu.Unlock()
	return s, i
}

// in says whether slot s holds a second of the window ending at sec.
func (g *Guard) in(s *slot, sec int64) bool {
	v := s.sec.Load()
	return v > sec-int64(len(g.slots)) && v <= sec
}

// Arrival is a request counted in the window, for Observe.
type Arrival struct {
	start int64
	sec   int64
	idx   int32
	root  bool
}

// Arrive counts a request that reaches the injector at now; root says it
// has no caller (it enters the mesh here).
func (g *Guard) Arrive(now int64, root bool) Arrival {
	sec := Second(now)
	s, i := g.slot(sec)
	s.all.total.Add(1)
	if root {
		s.root.total.Add(1)
	}
	return Arrival{start: now, sec: sec, idx: i, root: root}
}

// Observe adds the outcome of a request that ended at now to the slot it
// arrived in; it is lost when that slot has moved on to a later second.
func (g *Guard) Observe(a Arrival, now int64, failed bool) {
	s := &g.slots[a.idx]
	if s.sec.Load() != a.sec {
		return
	}
	b := latBucket(now - a.start)
	if failed {
		s.all.failures.Add(1)
	}
	s.all.lat[b].Add(1)
	if a.root {
		if failed {
			s.root.failures.Add(1)
		}
		s.root.lat[b].Add(1)
	}
}

// Admit decides whether a fault that fired at now is applied: it returns
// "" and holds a slot of maxActiveFaults until Release, or the reason it
// is suppressed. bucket is the profile's perSecond cap, nil without one.
func (g *Guard) Admit(now int64, l *Limits, bucket *Bucket) string {
	if g.trip.Load() != nil {
		return Breaker
	}
	if bucket != nil && !bucket.Take(now) {
		return PerSecond
	}
	sec := Second(now)
	s, _ := g.slot(sec)
	var requests, injected int64
	for i := range g.slots {
		if t := &g.slots[i]; g.in(t, sec) {
			requests += t.all.total.Load()
			injected += t.injected.Load()
		}
	}
	if float64(injected+1) > l.MaxGlobalRate*float64(max(requests, g.minRequests)) {
		return MaxGlobalRate
	}
	if n := g.active.Add(1); l.MaxActiveFaults > 0 && n > l.MaxActiveFaults {
		g.active.Add(-1)
		return MaxActiveFaults
	}
	s.injected.Add(1)
	return ""
}

// Release ends an admitted fault: it frees its slot of maxActiveFaults.
func (g *Guard) Release() { g.active.Add(-1) }

// Active is the number of admitted faults in progress.
func (g *Guard) Active() int64 { return g.active.Load() }

// Stats are the sums of a window.
type Stats struct {
	Requests, Injected, Failures int64
	P99Ms                        float64 // the p99 bucket's upper bound; 0 without observations
	RootRequests, RootFailures   int64
	RootP99Ms                    float64
	WindowSeconds                float64
}

// ErrorRate is Failures / Requests, 0 without requests.
func (s *Stats) ErrorRate() float64 { return ratio(s.Failures, s.Requests) }

// RootErrorRate is RootFailures / RootRequests, 0 without root requests.
func (s *Stats) RootErrorRate() float64 { return ratio(s.RootFailures, s.RootRequests) }

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Stats sums the window ending at now.
func (g *Guard) Stats(now int64) Stats {
	sec := Second(now)
	st := Stats{WindowSeconds: g.window}
	var all, root [latBuckets]int64
	for i := range g.slots {
		s := &g.slots[i]
		if !g.in(s, sec) {
			continue
		}
		st.Requests += s.all.total.Load()
		st.Injected += s.injected.Load()
		st.Failures += s.all.failures.Load()
		st.RootRequests += s.root.total.Load()
		st.RootFailures += s.root.failures.Load()
		for j := range all {
			all[j] += int64(s.all.lat[j].Load())
			root[j] += int64(s.root.lat[j].Load())
		}
	}
	st.P99Ms, st.RootP99Ms = p99(&all), p99(&root)
	return st
}

// p99 is the upper bound, in ms, of the bucket holding the 99th percentile
// (rank ceil(0.99 n)).
func p99(lat *[latBuckets]int64) float64 {
	var n int64
	for _, c := range lat {
		n += c
	}
	if n == 0 {
		return 0
	}
	rank := (n*99 + 99) / 100
	var cum int64
	for j, c := range lat {
		cum += c
		if cum >= rank {
			return float64(latUpper(j)) / 1e6
		}
	}
	return 0
}

// Recent says whether the window ending at now holds a request.
func (g *Guard) Recent(now int64) bool {
	sec := Second(now)
	for i := range g.slots {
		if s := &g.slots[i]; g.in(s, sec) && s.all.total.Load() > 0 {
			return true
		}
	}
	return false
}

// Tick evaluates l's abort conditions over the window ending at now and
// trips the breaker when one holds; it returns the trip when it tripped
// now, nil otherwise (also when the breaker was already open).
func (g *Guard) Tick(now int64, l *Limits) *Trip {
	if g.trip.Load() != nil || !l.Aborts() {
		return nil
	}
	st := g.Stats(now)
	t := &Trip{AtUnixNano: now, Window: g.window}
	switch {
	case st.RootRequests >= g.minRequests && l.RootErrorRate > 0 && st.RootErrorRate() >= l.RootErrorRate:
		t.Guard, t.Value, t.Limit, t.Requests = RootErrorRate, st.RootErrorRate(), l.RootErrorRate, st.RootRequests
	case st.RootRequests >= g.minRequests && l.RootP99Ms > 0 && st.RootP99Ms >= l.RootP99Ms:
		t.Guard, t.Value, t.Limit, t.Requests = RootP99Ms, st.RootP99Ms, l.RootP99Ms, st.RootRequests
	case st.Requests >= g.minRequests && l.ErrorRate > 0 && st.ErrorRate() >= l.ErrorRate:
		t.Guard, t.Value, t.Limit, t.Requests = ErrorRate, st.ErrorRate(), l.ErrorRate, st.Requests
	case st.Requests >= g.minRequests && l.P99Ms > 0 && st.P99Ms >= l.P99Ms:
		t.Guard, t.Value, t.Limit, t.Requests = P99Ms, st.P99Ms, l.P99Ms, st.Requests
	default:
		return nil
	}
	if !g.trip.CompareAndSwap(nil, t) {
		return nil
	}
	return t
}

// Tripped returns the trip that opened the breaker, nil while it is closed.
func (g *Guard) Tripped() *Trip { return g.trip.Load() }

// Reset closes the breaker, returning the trip that had opened it (nil if
// none).
func (g *Guard) Reset() *Trip { return g.trip.Swap(nil) }

// ServerError reports whether a gRPC status code counts as a failure of
// the server: UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL,
// UNAVAILABLE, DATA_LOSS.
func ServerError(code int) bool {
	switch code {
	case 2, 4, 8, 13, 14, 15:
		return true
	}
	return false
}

// Bucket is a profile's perSecond cap: it holds up to max(1, rate) tokens
// and refills rate tokens per second from its first use.
type Bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   int64
	used   bool
}

// NewBucket returns a full bucket refilling perSecond tokens a second, or
// nil when perSecond is not positive (no cap).
func NewBucket(perSecond float64) *Bucket {
	if perSecond <= 0 {
		return nil
	}
	burst := max(1, perSecond)
	return &Bucket{rate: perSecond, burst: burst, tokens: burst}
}

// Take removes a token at now, reporting whether there was one.
func (b *Bucket) Take(now int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.used {
		b.used, b.last = true, now
	} else if dt := now - b.last; dt > 0 {
		b.tokens = min(b.burst, b.tokens+float64(dt)/1e9*b.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}
