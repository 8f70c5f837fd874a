package sim

import (
	"cmp"
	"slices"

	"github.com/chaosgen/chaosgen/bundle"
)

// Stats are the outcome of a set of calls. Latencies are of logical calls
// (a call with its retries and fallback), as its caller sees them.
type Stats struct {
	Calls              int64   `json:"calls"`
	Succeeded          int64   `json:"succeeded"`
	SuccessRate        float64 `json:"successRate"`
	P50Ms              float64 `json:"p50Ms"`
	P99Ms              float64 `json:"p99Ms"`
	Attempts           int64   `json:"attempts"`
	RetryAmplification float64 `json:"retryAmplification"` // attempts / calls
	Timeouts           int64   `json:"timeouts"`
	CircuitOpen        int64   `json:"circuitOpen"`  // tries refused by an open breaker
	BreakerOpens       int64   `json:"breakerOpens"` // times the breaker opened
	Fallbacks          int64   `json:"fallbacks"`
	Overflows          int64   `json:"overflows"`
	Injected           int64   `json:"injected"`
}

func (c *counters) stats() Stats {
	s := Stats{Calls: c.calls, Succeeded: c.ok, Attempts: c.attempts, Timeouts: c.timeouts, CircuitOpen: c.circuitOpen,
		BreakerOpens: c.breakerOpens, Fallbacks: c.fallbacks, Overflows: c.overflows, Injected: c.injected}
	if c.calls > 0 {
		s.SuccessRate = bundle.Round(float64(c.ok) / float64(c.calls))
		s.RetryAmplification = bundle.Round(float64(c.attempts) / float64(c.calls))
	}
	s.P50Ms = bundle.Round(c.lat.quantile(0.50))
	s.P99Ms = bundle.Round(c.lat.quantile(0.99))
	return s
}

// OpStats are the stats of one root operation (the ingress edge to Callee).
type OpStats struct {
	Callee    string `json:"callee"`
	Operation string `json:"operation"`
	Stats
}

// EdgeStats are the stats of one caller→callee edge (caller empty at the
// ingress).
type EdgeStats struct {
	Caller string `json:"caller"`
	Callee string `json:"callee"`
	Stats
}

// ProfileStats are the stats of the root requests of the traces that the
// profile alone is decided to fire on (inject.Decide true on some recorded
// call of the trace, and false for every other profile), and the faults it
// injected.
type ProfileStats struct {
	ID           string     `json:"id"`
	Matched      int64      `json:"matched"`      // tries at an injector its target matched, as inject counts them
	Fired        int64      `json:"fired"`        // tries at an injector that inject.Decide fired it on
	Injected     int64      `json:"injected"`     // tries that got its fault
	Suppressed   Suppressed `json:"suppressed"`   // fired tries a guard held back, by reason
	FaultedCalls int64      `json:"faultedCalls"` // logical calls with at least one such try
	Exposed      Stats      `json:"exposedRoots"`
}

// Suppressed counts faults that inject.Decide fired but a cap or guard held
// back (as the deployed injector does: see guards.go).
type Suppressed struct {
	PerSecond       int64 `json:"perSecond"`
	MaxGlobalRate   int64 `json:"maxGlobalRate"`
	MaxActiveFaults int64 `json:"maxActiveFaults"`
	Breaker         int64 `json:"breaker,omitempty"` // the injector's abortIf breaker had tripped
}

// GuardTrip is an injector's breaker tripping during the replay: from then
// on that injector injects nothing.
type GuardTrip struct {
	Service    string  `json:"service"`
	Guard      string  `json:"guard"` // rootErrorRate, rootP99Ms, errorRate or p99Ms
	AtUnixNano int64   `json:"atUnixNano"`
	Value      float64 `json:"value"` // over the injector's window: a fraction or milliseconds
	Limit      float64 `json:"limit"`
	Requests   int64   `json:"requests"` // in the window
	Reason     string  `json:"reason"`
}

// Result is the outcome of one simulation run.
type Result struct {
	Traces     int64          `json:"traces"`
	Orphans    int64          `json:"orphanSpans"` // spans that hang from no root, left out
	BadRows    int64          `json:"badRows"`
	Late       int64          `json:"lateTraces"` // arrived after the reorder window had moved on
	Tries      int64          `json:"simulatedCalls"`
	Recorded   Stats          `json:"recordedRoot"`
	Root       Stats          `json:"root"`
	RootOps    []OpStats      `json:"rootOperations"`
	RecordedOp []OpStats      `json:"recordedRootOperations"`
	Edges      []EdgeStats    `json:"edges"`
	Profiles   []ProfileStats `json:"profiles,omitempty"`
	Suppressed Suppressed     `json:"suppressed"`
	GuardTrips []GuardTrip    `json:"guardTrips,omitempty"`

	profileExposed []counters
	edgeCounters   []counters
}

func (e *engine) result() *Result {
	r := &Result{Traces: e.nTraces, Orphans: e.orphans, BadRows: e.badRows, Late: e.late, Tries: e.tries,
		Recorded: e.recorded.stats(), Root: e.roots.stats()}
	r.Suppressed = Suppressed{e.suppress[supPerSecond], e.suppress[supGlobalRate], e.suppress[supActive], e.suppress[supBreaker]}
	r.GuardTrips = append(r.GuardTrips, e.trips...)
	slices.SortFunc(r.GuardTrips, func(a, b GuardTrip) int {
		return cmp.Or(cmp.Compare(a.AtUnixNano, b.AtUnixNano), cmp.Compare(a.Service, b.Service))
	})
	for i := range e.rootOps {
		ri := &e.routes[e.rootOpID[i]]
		r.RootOps = append(r.RootOps, OpStats{e.names[ri.callee], e.names[ri.op], e.rootOps[i].stats()})
	}
	for route, c := range e.recOps {
		if c == nil {
			continue
		}
		ri := &e.routes[route]
		r.RecordedOp = append(r.RecordedOp, OpStats{e.names[ri.callee], e.names[ri.op], c.stats()})
	}
	byOp := func(a, b OpStats) int {
		return cmp.Or(cmp.Compare(a.Callee, b.Callee), cmp.Compare(a.Operation, b.Operation))
	}
	slices.SortFunc(r.RootOps, byOp)
	slices.SortFunc(r.RecordedOp, byOp)
	for i := range e.edges {
		ed := &e.edges[i]
		if ed.st.calls == 0 && ed.st.attempts == 0 {
			continue
		}
		r.Edges = append(r.Edges, EdgeStats{e.names[ed.caller], e.names[ed.callee], ed.st.stats()})
		r.edgeCounters = append(r.edgeCounters, ed.st)
	}
	idx := make([]int, len(r.Edges))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		return cmp.Or(cmp.Compare(r.Edges[a].Caller, r.Edges[b].Caller), cmp.Compare(r.Edges[a].Callee, r.Edges[b].Callee))
	})
	edges, ec := make([]EdgeStats, len(idx)), make([]counters, len(idx))
	for k, i := range idx {
		edges[k], ec[k] = r.Edges[i], r.edgeCounters[i]
	}
	r.Edges, r.edgeCounters = edges, ec
	for i := range e.profiles {
		ps := &e.profiles[i]
		r.Profiles = append(r.Profiles, ProfileStats{ID: ps.p.ID, Matched: ps.matched, Fired: ps.fired, Injected: ps.injects,
			Suppressed:   Suppressed{ps.suppressed[supPerSecond], ps.suppressed[supGlobalRate], ps.suppressed[supActive], ps.suppressed[supBreaker]},
			FaultedCalls: ps.faultedCalls, Exposed: ps.exposed.stats()})
		r.profileExposed = append(r.profileExposed, ps.exposed)
	}
	return r
}
