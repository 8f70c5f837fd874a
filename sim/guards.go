package sim

import (
	"math"
	"math/bits"

	"github.com/chaosgen/chaosgen/bundle"
)

// The bundle's guards as the deployed injector (package inject, one
// injector in front of each service) applies them, in virtual time:
//
//   - every try that reaches a service's injector (its caller's breaker let
//     it through) counts as a request in the injector's window of
//     guardSeconds one-second slots, in the slot of the second it arrived;
//   - a fault that fired is admitted, in this order, unless the injector's
//     abortIf breaker has tripped, the profile's perSecond bucket is empty
//     (a token is taken even if a later check suppresses the fault),
//     injected + 1 would exceed maxGlobalRate × requests in the window, or
//     maxActiveFaults faults are in progress at this injector;
//   - a fault is in progress until the injector's response is done: at once
//     for abort and drop, else when the callee answers or the caller gives
//     up (cancels);
//   - each request's outcome, as the injector sees it, goes into its arrival
//     slot when it ends: failed when the status is 5xx (gRPC UNKNOWN,
//     DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL, UNAVAILABLE,
//     DATA_LOSS), for drops, and when the caller gave up; its latency in a
//     histogram of four buckets per power of two of microseconds;
//   - every virtual second each injector with abortIf evaluates its window
//     (once it holds guardMinRequests requests): an error rate ≥
//     rootErrorRate or a p99 (the bucket's upper bound) ≥ rootP99Ms trips
//     its breaker, which stops its injection for the rest of the replay.
const (
	guardSeconds     = 10 // inject.Options.GuardWindow default
	guardMinRequests = 20 // inject.Options.GuardMinRequests default
	latBuckets       = 4 * 31
)

// latBucket is inject's guard histogram bucket of a duration in ns: four
// buckets per power of two of microseconds.
func latBucket(ns int64) int {
	us := uint64(max(ns, 0) / 1000)
	if us < 1 {
		return 0
	}
	n := bits.Len64(us) - 1
	frac := 0
	if n >= 2 {
		frac = int(us>>(n-2)) & 3
	} else if n == 1 {
		frac = int(us&1) << 1
	}
	return min(4*n+frac, latBuckets-1)
}

// latUpper is the upper bound of bucket i, in ns.
func latUpper(i int) int64 {
	n, frac := i/4, i%4
	us := (uint64(4+frac+1) << n) >> 2
	return int64(us) * 1000
}

type guardSlot struct {
	sec                       int64 // the second it holds; -1: none
	total, injected, failures int64
	lat                       [latBuckets]int32
}

// injector is the guard state of the injector in front of one service.
type injector struct {
	callee  int32
	slots   [guardSeconds]guardSlot
	active  int64 // faults in progress
	tripped bool
	tripAt  int64
	reason  string
}

func newInjector(callee int32) *injector {
	in := &injector{callee: callee}
	for i := range in.slots {
		in.slots[i].sec = -1
	}
	return in
}

func second(t int64) int64 {
	if t < 0 {
		return (t+1)/1e9 - 1
	}
	return t / 1e9
}

// slot returns the slot index of second sec, emptying it when it held an
// older second.
func (in *injector) slot(sec int64) int8 {
	i := int8(uint64(sec) % guardSeconds)
	s := &in.slots[i]
	if s.sec != sec {
		*s = guardSlot{sec: sec}
	}
	return i
}

// counts sums the requests and injections of the window ending at sec.
func (in *injector) counts(sec int64) (requests, injected int64) {
	for i := range in.slots {
		s := &in.slots[i]
		if s.sec > sec-guardSeconds && s.sec <= sec {
			requests += s.total
			injected += s.injected
		}
	}
	return requests, injected
}

// check evaluates abortIf over the window ending at sec and trips the
// breaker when a condition holds.
func (in *injector) check(a *bundle.AbortIf, sec, now int64) {
	var requests, failures int64
	var lat [latBuckets]int64
	for i := range in.slots {
		s := &in.slots[i]
		if s.sec <= sec-guardSeconds || s.sec > sec {
			continue
		}
		requests += s.total
		failures += s.failures
		if a.RootP99Ms > 0 {
			for j, c := range s.lat {
				lat[j] += int64(c)
			}
		}
	}
	if requests < guardMinRequests {
		return
	}
	if a.RootErrorRate > 0 && float64(failures)/float64(requests) >= a.RootErrorRate {
		in.trip(now, "rootErrorRate")
		return
	}
	if a.RootP99Ms <= 0 {
		return
	}
	var n int64
	for _, c := range lat {
		n += c
	}
	if n == 0 {
		return
	}
	rank := (n*99 + 99) / 100
	var cum int64
	for j, c := range lat {
		cum += c
		if cum >= rank {
			if float64(latUpper(j))/1e6 >= a.RootP99Ms {
				in.trip(now, "rootP99Ms")
			}
			return
		}
	}
}

func (in *injector) trip(now int64, guard string) {
	in.tripped, in.tripAt, in.reason = true, now, guard
}

// recent says whether the injector saw a request in the window ending at
// sec.
func (in *injector) recent(sec int64) bool {
	for i := range in.slots {
		if s := &in.slots[i]; s.total > 0 && s.sec > sec-guardSeconds && s.sec <= sec {
			return true
		}
	}
	return false
}

// injectorOf returns the injector in front of callee, nil when no profile
// targets it (or faults are off).
func (e *engine) injectorOf(callee int32) *injector {
	if int(callee) < len(e.injectors) {
		return e.injectors[callee]
	}
	return nil
}

// setupInjector creates callee's injector when a profile targets it.
func (e *engine) setupInjector(callee int32) {
	if !e.opt.Inject || e.injectorOf(callee) != nil {
		return
	}
	name := e.names[callee]
	for i := range e.profiles {
		if e.profiles[i].p.Target.Callee == name {
			if int(callee) >= len(e.injectors) {
				e.injectors = append(e.injectors, make([]*injector, int(callee)+1-len(e.injectors))...)
			}
			in := newInjector(callee)
			e.injectors[callee] = in
			e.injList = append(e.injList, in)
			return
		}
	}
}

// arrive counts try x as a request at its callee's injector.
func (e *engine) arrive(in *injector, x int32) {
	xe := &e.execs[x]
	i := in.slot(second(e.now))
	in.slots[i].total++
	xe.gslot = i
	xe.gstart = e.now
	if !e.ticking && e.abortIf() {
		e.ticking = true
		e.schedule((second(e.now)+1)*1e9, evGuardTick, 0, 0)
	}
}

// abortIf says whether the bundle has abortIf guards to evaluate.
func (e *engine) abortIf() bool {
	a := e.opt.Bundle.Guards.AbortIf
	return a.RootErrorRate > 0 || a.RootP99Ms > 0
}

// served ends try x at its callee's injector (status as the injector saw
// it; failed for drops and cancellations): it frees its fault's slot of
// maxActiveFaults and goes into the window.
func (e *engine) served(x int32, status int32, failed bool) {
	xe := &e.execs[x]
	if xe.gslot < 0 {
		return
	}
	in := e.injectorOf(e.routes[e.traces[xe.tr].spans[xe.rs].route].callee)
	if xe.held {
		xe.held = false
		in.active--
	}
	s := &in.slots[xe.gslot]
	xe.gslot = -1
	if s.sec != second(xe.gstart) {
		return // the slot moved on to a later second: lost, as in inject
	}
	if !failed {
		if status < 100 {
			failed = grpcServerError(status)
		} else {
			failed = status >= 500
		}
	}
	if failed {
		s.failures++
	}
	s.lat[latBucket(e.now-xe.gstart)]++
}

func grpcServerError(code int32) bool {
	switch code {
	case 2, 4, 8, 13, 14, 15:
		return true
	}
	return false
}

// guardTick evaluates abortIf at every injector, every virtual second while
// there is traffic.
func (e *engine) guardTick() {
	a := &e.opt.Bundle.Guards.AbortIf
	sec := second(e.now)
	recent := false
	for _, in := range e.injList {
		if !in.tripped {
			in.check(a, sec, e.now)
		}
		recent = recent || in.recent(sec)
	}
	if recent || e.pending() > 0 {
		e.schedule(e.now+1e9, evGuardTick, 0, 0)
		return
	}
	e.ticking = false
}

// pending is the number of events in the queue.
func (e *engine) pending() int {
	n := len(e.ev.h)
	for i := range e.ev.f {
		n += len(e.ev.f[i].q) - e.ev.f[i].head
	}
	return n
}

// admitFault applies the injector's breaker, the profile's per-second cap
// and the guards to a fault that inject.Decide fired, as inject does.
func (e *engine) admitFault(in *injector, ps *profileState, x int32) bool {
	g := &e.opt.Bundle.Guards
	if in.tripped {
		e.suppress[supBreaker]++
		return false
	}
	if ps.p.PerSecond > 0 {
		if ps.last != math.MinInt64 {
			if dt := e.now - ps.last; dt > 0 {
				ps.tokens = min(ps.burst, ps.tokens+float64(dt)*ps.p.PerSecond/1e9)
				ps.last = e.now
			}
		} else {
			ps.last = e.now
		}
		if ps.tokens < 1 {
			e.suppress[supPerSecond]++
			return false
		}
		ps.tokens--
	}
	sec := second(e.now)
	requests, injected := in.counts(sec)
	if float64(injected+1) > g.MaxGlobalRate*float64(requests) {
		e.suppress[supGlobalRate]++
		return false
	}
	if g.MaxActiveFaults > 0 && in.active+1 > int64(g.MaxActiveFaults) {
		e.suppress[supActive]++
		return false
	}
	in.active++
	e.execs[x].held = true
	in.slots[in.slot(sec)].injected++
	return true
}
