package sim

import (
	"github.com/chaosgen/chaosgen/guard"
)

// The bundle's guards as the deployed injector applies them (package
// guard, one guard per injector in front of each service a profile
// targets), in virtual time:
//
//   - every try that reaches a service's injector (its caller's breaker let
//     it through) arrives at its guard, as a root request when its caller
//     is the ingress (caller "");
//   - a fault that inject.Decide fired goes through guard.Admit: the
//     breaker, the profile's perSecond bucket, maxGlobalRate,
//     maxActiveFaults;
//   - a fault is in progress until the injector's response is done: at once
//     for abort and drop, else when the callee answers or the caller gives
//     up (cancels);
//   - each try's outcome, as the injector sees it, is observed when it ends:
//     failed when the status is 5xx (gRPC: guard.ServerError), for drops,
//     and when the caller gave up;
//   - every virtual second, while there is traffic, each injector's guard
//     ticks: its abort conditions may trip its breaker, which stops its
//     injection for the rest of the replay.

// injector is the injector in front of one service.
type injector struct {
	callee int32
	g      *guard.Guard
	limits guard.Limits
}

// injectorOf returns the injector in front of callee, nil when no profile
// targets it.
func (e *engine) injectorOf(callee int32) *injector {
	if int(callee) < len(e.injectors) {
		return e.injectors[callee]
	}
	return nil
}

// setupInjector creates callee's injector when a profile targets it, or
// when it serves root requests (root says this route's caller is the
// ingress) and the bundle has root abort conditions: every service has its
// sidecar, and the ingress's checks the root conditions even when no
// profile targets it. Also without Inject, where the guards watch the
// traffic and may trip but nothing fires.
func (e *engine) setupInjector(callee int32, root bool) {
	if e.opt.Bundle == nil || e.injectorOf(callee) != nil {
		return
	}
	name := e.names[callee]
	a := e.opt.Bundle.Guards.AbortIf
	need := root && (a.RootErrorRate > 0 || a.RootP99Ms > 0)
	for i := range e.profiles {
		need = need || e.profiles[i].p.Target.Callee == name
	}
	if !need {
		return
	}
	if int(callee) >= len(e.injectors) {
		e.injectors = append(e.injectors, make([]*injector, int(callee)+1-len(e.injectors))...)
	}
	in := &injector{callee: callee, g: guard.New(guard.Options{}), limits: guard.LimitsFor(e.opt.Bundle.Guards, name)}
	e.injectors[callee] = in
	e.injList = append(e.injList, in)
}

// arrive counts try x as a request at its callee's injector.
func (e *engine) arrive(in *injector, x int32, root bool) {
	xe := &e.execs[x]
	xe.arrival = in.g.Arrive(e.now, root)
	xe.arrived = true
	if !e.ticking && in.limits.Aborts() {
		e.ticking = true
		e.schedule((guard.Second(e.now)+1)*1e9, evGuardTick, 0, 0)
	}
}

// served ends try x at its callee's injector (status as the injector saw
// it; failed for drops and cancellations): it frees its fault's slot of
// maxActiveFaults and is observed.
func (e *engine) served(x int32, status int32, failed bool) {
	xe := &e.execs[x]
	if !xe.arrived {
		return
	}
	xe.arrived = false
	in := e.injectorOf(e.routes[e.traces[xe.tr].spans[xe.rs].route].callee)
	if xe.held {
		xe.held = false
		in.g.Release()
	}
	if !failed {
		if status < 100 {
			failed = guard.ServerError(int(status))
		} else {
			failed = status >= 500
		}
	}
	in.g.Observe(xe.arrival, e.now, failed)
}

// guardTick ticks every injector's guard, every virtual second while there
// is traffic.
func (e *engine) guardTick() {
	recent := false
	for _, in := range e.injList {
		if t := in.g.Tick(e.now, &in.limits); t != nil {
			e.trips = append(e.trips, GuardTrip{Service: e.names[in.callee], Guard: t.Guard, AtUnixNano: t.AtUnixNano,
				Value: t.Value, Limit: t.Limit, Requests: t.Requests, Reason: t.Reason()})
		}
		recent = recent || in.g.Recent(e.now)
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

// admitFault applies the injector's guards to a fault that inject.Decide
// fired, as inject does.
func (e *engine) admitFault(in *injector, ps *profileState, x int32) bool {
	ps.fired++
	if r := in.g.Admit(e.now, &in.limits, ps.bucket); r != "" {
		k := supReason[r]
		e.suppress[k]++
		ps.suppressed[k]++
		return false
	}
	e.execs[x].held = true
	return true
}
