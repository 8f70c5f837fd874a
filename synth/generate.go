package synth

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
)

// generator makes the traces of one chunk of time from its own random stream.
type generator struct {
	m      *mesh
	r      *rand.Rand
	rps    float64
	spans  []ingest.Span
	traces int64
	trace  string
	hex    [32]byte
	// emit, when set, takes the spans of whole traces every batchSpans
	// spans (and the rest at the end), and the traces among them; it
	// returns false to stop the generator.
	emit    func(spans []ingest.Span, traces int64) bool
	stopped bool
}

// batchSpans is how many spans a generator holds before it emits them.
const batchSpans = 4096

// flush hands the spans made so far to emit.
func (g *generator) flush() {
	if g.emit == nil || g.stopped || len(g.spans) == 0 {
		return
	}
	if !g.emit(g.spans, g.traces) {
		g.stopped = true
	}
	g.spans, g.traces = make([]ingest.Span, 0, batchSpans+batchSpans/4), 0
}

func (g *generator) run(from, to int64) {
	sec := int64(time.Second)
	var arrivals []int64
	for s := from; s < to; s += sec {
		lam := g.rps * level(s) * float64(min(sec, to-s)) / float64(sec)
		n := g.poisson(lam)
		arrivals = arrivals[:0]
		for i := 0; i < n; i++ {
			arrivals = append(arrivals, s+g.r.Int64N(min(sec, to-s)))
		}
		slices.Sort(arrivals)
		for _, t := range arrivals {
			g.root(t)
			if len(g.spans) >= batchSpans {
				g.flush()
			}
		}
		if g.stopped {
			return
		}
	}
	g.flush()
}

func (g *generator) poisson(lam float64) int {
	if lam > 30 {
		return max(0, int(math.Round(lam+math.Sqrt(lam)*g.r.NormFloat64())))
	}
	l, k, p := math.Exp(-lam), 0, 1.0
	for {
		p *= g.r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (g *generator) root(t int64) {
	g.traces++
	g.trace = g.hexID(2)
	// pick a root operation by weight
	x, i := g.r.Float64(), 0
	for ; i < len(g.m.rootW)-1; i++ {
		x -= g.m.rootW[i]
		if x < 0 {
			break
		}
	}
	e := g.m.roots[i]
	g.call(e, "", t, 0, nil)
}

// call makes the call e starting at start, with its retries; it returns when
// the caller sees the last attempt end and whether the call failed.
func (g *generator) call(e *edge, parent string, start int64, depth int32, stack []string) (end int64, failed bool) {
	callee := g.m.services[e.to]
	st := make([]string, len(stack)+1)
	copy(st, stack)
	st[len(stack)] = callee.name
	caller := ""
	if e.from >= 0 {
		caller = g.m.services[e.from].name
	}
	retries := e.retries
	t := start
	for attempt := 0; ; attempt++ {
		idx := len(g.spans)
		id := g.hexID(1)
		g.spans = append(g.spans, ingest.Span{
			TraceID: g.trace, SpanID: id, ParentSpanID: parent,
			Caller: caller, Callee: callee.name, Operation: e.op,
			Depth: depth, Stack: st, StartUnixNano: t, RetryCount: int32(attempt),
		})
		dur, fail, timedOut, fallback := g.serve(e, callee, id, t, depth, st)
		sp := &g.spans[idx]
		sp.DurationNano = dur
		sp.TimedOut = timedOut
		sp.Fallback = fallback
		sp.Error = fail
		sp.StatusCode = g.status(callee.grpc, fail, timedOut)
		end = t + dur
		if !fail || attempt >= retries {
			return end, fail
		}
		// exponential backoff with jitter before the retry
		back := float64(25*time.Millisecond) * math.Pow(2, float64(attempt)) * (0.5 + g.r.Float64())
		t = end + int64(back)
	}
}

// serve simulates one attempt: network, the callee's own time around its
// downstream calls, errors and the caller's timeout.
func (g *generator) serve(e *edge, s *service, id string, start int64, depth int32, stack []string) (dur int64, fail, timedOut, fallback bool) {
	net := int64(e.netMs * (0.8 + 0.4*g.r.Float64()) * 1e6)
	own := g.ownTime(e, s, start)
	fail = g.r.Float64() < g.errRate(e, start)
	if fail && g.r.IntN(10) < 7 {
		// most errors raised by the callee itself come back fast, before
		// it calls anything downstream
		dur = net + int64(own*(0.2+0.3*g.r.Float64()))
		return max(dur, 1000), true, false, false
	}
	cursor := start + net/2 + int64(own*0.3)
	childFailed := false
	calls := s.calls
	for i := 0; i < len(calls); {
		grp := calls[i].group
		groupEnd := cursor
		j := i
		for ; j < len(calls) && calls[j].group == grp; j++ {
			c := calls[j]
			if c.prob < 1 && g.r.Float64() >= c.prob {
				continue
			}
			stagger := int64(g.r.IntN(50_000))
			end, f := g.call(c, id, cursor+stagger, depth+1, stack)
			groupEnd = max(groupEnd, end)
			childFailed = childFailed || f
		}
		cursor = groupEnd + int64(g.r.IntN(20_000))
		i = j
	}
	dur = cursor - start + int64(own*0.7) + net/2
	if e.regressFrom > 0 && start >= e.regressFrom {
		// a regression in the callee on this edge (a slow query, a bad
		// deploy): the whole server time stretches, after its calls
		dur = net + int64(float64(dur-net)*e.slowdown)
	}
	if childFailed && !fail {
		// half of downstream failures propagate; the rest are absorbed
		// by a fallback in the callee
		if g.r.IntN(2) == 0 {
			fail = true
		} else {
			fallback = true
		}
	}
	if e.timeout > 0 && dur > e.timeout {
		dur, fail, timedOut = e.timeout, true, true
	}
	return max(dur, 1000), fail, timedOut, fallback
}

// ownTime draws the callee's own time in ns: lognormal around the service's
// median with a 1% heavy tail (Pareto, capped), scaled by load on a
// capacity-limited service.
func (g *generator) ownTime(e *edge, s *service, t int64) float64 {
	ms := s.median * math.Exp(s.sigma*g.r.NormFloat64())
	if g.r.Float64() < 0.01 {
		ms *= 1 + math.Min(50, math.Pow(g.r.Float64(), -1/1.5)-1)
	}
	if s.capacity > 0 {
		ms *= capacityFactor(t)
	}
	return ms * 1e6
}

func (g *generator) errRate(e *edge, t int64) float64 {
	switch {
	case e.burstTo > 0 && t >= e.burstFrom && t < e.burstTo:
		return e.burstRate
	case e.stormTo > 0 && t >= e.stormFrom && t < e.stormTo:
		return e.stormRate
	}
	return e.errRate
}

// status returns a realistic status code: HTTP for HTTP services, gRPC codes
// for gRPC ones.
func (g *generator) status(grpc, fail, timedOut bool) int32 {
	switch {
	case !fail && grpc:
		return 0
	case !fail:
		return 200
	case timedOut && grpc:
		return 4 // DEADLINE_EXCEEDED
	case timedOut:
		return 504
	}
	x := g.r.Float64()
	if grpc {
		switch {
		case x < 0.6:
			return 14 // UNAVAILABLE
		case x < 0.9:
			return 13 // INTERNAL
		default:
			return 8 // RESOURCE_EXHAUSTED
		}
	}
	switch {
	case x < 0.5:
		return 500
	case x < 0.8:
		return 503
	case x < 0.9:
		return 502
	default:
		return 429
	}
}

const hexdigits = "0123456789abcdef"

// hexID returns n random 64-bit words in lowercase hex.
func (g *generator) hexID(n int) string {
	b := g.hex[:16*n]
	for w := 0; w < n; w++ {
		v := g.r.Uint64()
		for i := 15; i >= 0; i-- {
			b[w*16+i] = hexdigits[v&15]
			v >>= 4
		}
	}
	return string(b)
}
