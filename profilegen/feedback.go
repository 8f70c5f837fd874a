package profilegen

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/edge"
)

// Feedback rule constants (docs/generate.md).
const (
	// Raise and Lower multiply the rate of a handled and a hurting profile.
	Raise = 1.5
	Lower = 0.5
	// MinTraces is the fewest traces with a profile's injections that the
	// loop judges: with ten, a profile whose traces fail no more than a
	// 10% baseline reads as hurt (six or more of ten failing) with
	// probability 0.00015, and one that fails every trace it touches
	// cannot read as handled.
	MinTraces = 10
	// HurtPropagation: a profile hurts when the share of the traces it
	// injected into that failed (at the root, or at the calling service
	// when the roots are not in the data) exceeds the share among the
	// edge's traces without injection, in the same windows, by more than
	// this.
	HurtPropagation = 0.5
	// HurtAmplification: a profile hurts when its traces made more than
	// this many times the calls per trace on its edge that traces without
	// injection made: retries multiplied the load its faults put on the
	// callee (one retry at most doubles it; retries of retries, a retry
	// storm, multiply it).
	HurtAmplification = 3
	// HurtRootP99: a profile hurts when the root p99 during its injections
	// exceeds the baseline by more than this factor.
	HurtRootP99 = 1.2
)

// response is how the system responded to one profile's injections.
type response struct {
	injected, retries, timeouts int64
	windows                     int // windows with injections
	// the traces it injected into, those of them whose outcome is known
	// (a root, or the calling service's span), the failed ones, and the
	// calls on its edge in them; base*: the same for the target edges'
	// traces without any injection in the same windows
	traces, judged, failed, calls                 int64
	baseTraces, baseJudged, baseFailed, baseCalls int64
	failShare, baseFailShare                      float64
	amplification                                 float64 // calls per trace against the baseline's
	rootErrDuring, rootErrBase                    float64
	rootP99During, rootP99Base                    float64
}

// windowIndex holds windows.parquet by edge.
type windowIndex struct {
	byEdge map[edge.Edge][]*analysis.WindowRow
	clean  map[int64]bool // window starts with no injection anywhere
	// byProfile counts injections per profile id and window start, from
	// injections.parquet; nil when the analysis has none.
	byProfile map[string]map[int64]int64
	// outcomes holds outcomes.parquet's rows by profile id ("": the traces
	// without injection).
	outcomes map[string][]*analysis.OutcomeRow
}

func indexWindows(ws []analysis.WindowRow) *windowIndex {
	idx := &windowIndex{byEdge: map[edge.Edge][]*analysis.WindowRow{}, clean: map[int64]bool{}}
	dirty := map[int64]bool{}
	for i := range ws {
		w := &ws[i]
		k := edge.Edge{Caller: w.Caller, Callee: w.Callee}
		idx.byEdge[k] = append(idx.byEdge[k], w)
		if injectedAny(w) > 0 {
			dirty[w.WindowStartUnixNano] = true
		} else {
			idx.clean[w.WindowStartUnixNano] = true
		}
	}
	for t := range dirty {
		delete(idx.clean, t)
	}
	return idx
}

func injectedAny(w *analysis.WindowRow) int64 {
	return w.InjectedLatency + w.InjectedAbort + w.InjectedDrop + w.InjectedCorrupt + w.InjectedOther
}

// edgesWhere lists the edge keys of idx that keep accepts, sorted.
func (idx *windowIndex) edgesWhere(keep func(edge.Edge) bool) []edge.Edge {
	var out []edge.Edge
	for k := range idx.byEdge {
		if keep(k) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, edge.Compare)
	return out
}

// sums adds calls, errors and the calls-weighted p99 of edges' windows
// whose start is in set.
func (idx *windowIndex) sums(keys []edge.Edge, set map[int64]bool) (calls, errs int64, p99 float64) {
	var wsum float64
	for _, k := range keys {
		for _, w := range idx.byEdge[k] {
			if set[w.WindowStartUnixNano] {
				calls += w.Calls
				errs += w.Errors
				wsum += float64(w.Calls) * w.P99Ms
			}
		}
	}
	if calls > 0 {
		p99 = wsum / float64(calls)
	}
	return calls, errs, p99
}

func rate(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// addInjections indexes injections.parquet by profile id.
func (idx *windowIndex) addInjections(rows []analysis.InjectionRow) {
	if len(rows) == 0 {
		return
	}
	idx.byProfile = map[string]map[int64]int64{}
	for _, r := range rows {
		m := idx.byProfile[r.FaultProfileID]
		if m == nil {
			m = map[int64]int64{}
			idx.byProfile[r.FaultProfileID] = m
		}
		m[r.WindowStartUnixNano] += r.Injected
	}
}

// addOutcomes indexes outcomes.parquet by profile id.
func (idx *windowIndex) addOutcomes(rows []analysis.OutcomeRow) {
	idx.outcomes = map[string][]*analysis.OutcomeRow{}
	for i := range rows {
		r := &rows[i]
		idx.outcomes[r.FaultProfileID] = append(idx.outcomes[r.FaultProfileID], r)
	}
}

// traceOutcomes adds up p's traces and, as the baseline, the traces
// without injection on the same edges in the same windows (in every window
// of the edges when those have none).
func (idx *windowIndex) traceOutcomes(p *bundle.Profile, r *response) {
	edges := map[edge.Edge]bool{}
	wins := map[int64]bool{}
	for _, o := range idx.outcomes[p.ID] {
		r.traces += o.Traces
		r.judged += o.Judged
		r.failed += o.Failed
		r.calls += o.Calls
		edges[edge.Edge{Caller: o.Caller, Callee: o.Callee}] = true
		wins[o.WindowStartUnixNano] = true
	}
	base := func(all bool) {
		for _, o := range idx.outcomes[""] {
			if edges[edge.Edge{Caller: o.Caller, Callee: o.Callee}] && (all || wins[o.WindowStartUnixNano]) {
				r.baseTraces += o.Traces
				r.baseJudged += o.Judged
				r.baseFailed += o.Failed
				r.baseCalls += o.Calls
			}
		}
	}
	base(false)
	if r.baseJudged == 0 {
		r.baseTraces, r.baseJudged, r.baseFailed, r.baseCalls = 0, 0, 0, 0
		base(true)
	}
	r.failShare, r.baseFailShare = rate(r.failed, r.judged), rate(r.baseFailed, r.baseJudged)
	if r.traces > 0 && r.baseCalls > 0 {
		r.amplification = r.callsPerTrace() / r.baseCallsPerTrace()
	}
}

// measure finds how the system responded to p's injections: by the traces
// it injected into (traceOutcomes), and for the root latency and error
// rate by windows. The injection windows are those with p's injections
// (older analyses: those where an edge of p's target has injections of p's
// fault type); the baseline windows are those with no injection anywhere
// (or, when there are none, those without p's injections).
func (idx *windowIndex) measure(p *bundle.Profile) response {
	var r response
	t := p.Target
	targets := idx.edgesWhere(func(k edge.Edge) bool { return k.Callee == t.Callee && (t.Caller == "" || k.Caller == t.Caller) })
	during := map[int64]bool{}
	if idx.byProfile != nil {
		// the profile's own injections, by its id
		for ts, n := range idx.byProfile[p.ID] {
			during[ts] = true
			r.injected += n
		}
	} else {
		// older analyses: the edge's injections of the profile's fault type
		for _, k := range targets {
			for _, w := range idx.byEdge[k] {
				if n := w.Faults().Of(p.Fault.Type); n > 0 {
					during[w.WindowStartUnixNano] = true
					r.injected += n
				}
			}
		}
	}
	for _, k := range targets {
		for _, w := range idx.byEdge[k] {
			if during[w.WindowStartUnixNano] {
				r.retries += w.Retries
				r.timeouts += w.Timeouts
			}
		}
	}
	r.windows = len(during)
	base := map[int64]bool{}
	for ts := range idx.clean {
		if !during[ts] {
			base[ts] = true
		}
	}
	if len(base) == 0 {
		for _, k := range targets {
			for _, w := range idx.byEdge[k] {
				if !during[w.WindowStartUnixNano] {
					base[w.WindowStartUnixNano] = true
				}
			}
		}
	}
	roots := idx.edgesWhere(func(k edge.Edge) bool { return k.Caller == "" })
	rc, re, rp := idx.sums(roots, during)
	bc, be, bp := idx.sums(roots, base)
	r.rootErrDuring, r.rootErrBase = rate(re, rc), rate(be, bc)
	r.rootP99During, r.rootP99Base = rp, bp
	idx.traceOutcomes(p, &r)
	return r
}

func (r *response) callsPerTrace() float64     { return rate(r.calls, r.traces) }
func (r *response) baseCallsPerTrace() float64 { return rate(r.baseCalls, r.baseTraces) }

// judge returns the verdict on a response and why, given the previous
// bundle's guards.
func judge(r response, g bundle.Guards) (string, string) {
	traces := fmt.Sprintf("%s%% of the %d traces it injected into failed, against %s%% of its edge's traces without injection",
		pct(r.failShare), r.judged, pct(r.baseFailShare))
	extra := r.failShare - r.baseFailShare
	switch {
	case r.injected == 0 && r.traces == 0:
		return VerdictUntested, "no injections of its fault type in the analysed spans"
	case r.traces == 0:
		return VerdictInconclusive, fmt.Sprintf("%d injections, but in no trace the analysis counted (%s has no rows of it; analyze the spans again)", r.injected, analysis.OutcomesFile)
	case r.traces < MinTraces:
		return VerdictInconclusive, fmt.Sprintf("only %d traces with its injections (fewer than %d)", r.traces, MinTraces)
	case r.judged == 0:
		return VerdictNoEvidence, fmt.Sprintf("%d traces with its injections, but none with its root request or its callers' spans: nothing shows how the callers fared", r.traces)
	case r.baseJudged == 0:
		return VerdictInconclusive, "no traces of its edge without injection to compare with"
	case extra > HurtPropagation && g.AbortIf.RootErrorRate > 0 && r.rootErrDuring >= g.AbortIf.RootErrorRate:
		return VerdictSevere, fmt.Sprintf("%s; the root error rate reached %s%% during injection, at or above the guard's %s%%", traces, pct(r.rootErrDuring), pct(g.AbortIf.RootErrorRate))
	case g.AbortIf.RootP99Ms > 0 && r.rootP99During >= g.AbortIf.RootP99Ms:
		return VerdictSevere, fmt.Sprintf("the root p99 reached %s ms during injection, at or above the guard's %s ms", num(r.rootP99During), num(g.AbortIf.RootP99Ms))
	case extra > HurtPropagation:
		return VerdictHurt, traces
	case r.amplification > HurtAmplification:
		return VerdictHurt, fmt.Sprintf("its traces made %s calls each on its edge, %s× the %s of traces without injection: retries multiplied its faults",
			num(r.callsPerTrace()), num(r.amplification), num(r.baseCallsPerTrace()))
	case r.rootP99Base > 0 && r.rootP99During > HurtRootP99*r.rootP99Base:
		return VerdictHurt, fmt.Sprintf("the root p99 rose from %s to %s ms during injection", num(r.rootP99Base), num(r.rootP99During))
	}
	why := fmt.Sprintf("%s; calls per trace on its edge %s against %s", traces, num(r.callsPerTrace()), num(r.baseCallsPerTrace()))
	if r.rootP99Base > 0 {
		why += fmt.Sprintf("; root p99 %s ms against %s ms", num(r.rootP99During), num(r.rootP99Base))
	}
	return VerdictHandled, why
}

// feedback applies last run's bundle to today's candidates: each profile
// of the previous bundle is judged by how the system responded to it and
// its rate (and, when severe, its fault) moved; previous profiles without a
// finding today are carried over while their edge exists.
func feedback(a *Analysis, edges map[edge.Edge]*analysis.EdgeRow, filter edgeFilter, cands []*candidate, opt Options, res *Result) []*candidate {
	prev := map[string]*bundle.Profile{}
	for i := range opt.Previous.Profiles {
		p := &opt.Previous.Profiles[i]
		prev[p.ID] = p
	}
	idx := indexWindows(a.Windows)
	idx.addInjections(a.Injections)
	idx.addOutcomes(a.Outcomes)
	if len(a.Windows) == 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("--previous given but the analysis has no %s rows: no response to judge", analysis.WindowsFile))
	}
	ids := map[string]bool{}
	for _, c := range cands {
		ids[c.p.ID] = true
	}
	// Carried profiles: in the previous bundle, no candidate today.
	for _, id := range slices.Sorted(maps.Keys(prev)) {
		if ids[id] {
			continue
		}
		p := prev[id]
		e := edgeFor(edges, p.Target)
		if e == nil || !filter.keep(p.Target.Caller, p.Target.Callee) {
			why := "its edge is not in the analysis"
			if e != nil {
				why = "its edge is filtered out by --include/--exclude"
			}
			res.Decisions = append(res.Decisions, Decision{ID: id, Verdict: VerdictDropped, OldRate: p.Rate, OldFault: p.Fault.Type, Reason: why})
			continue
		}
		c := &candidate{kind: "", edge: e, carried: true}
		c.p = *p
		c.p.Rationale = bundle.Rationale{Scores: maps.Clone(p.Rationale.Scores), Features: map[string]float64{}}
		for k, v := range p.Rationale.Features {
			if !strings.HasPrefix(k, "feedback.") {
				c.p.Rationale.Features[k] = v
			}
		}
		c.why = "no finding today, kept from the previous bundle"
		cands = append(cands, c)
	}
	for _, c := range cands {
		p, ok := prev[c.p.ID]
		if !ok {
			res.Decisions = append(res.Decisions, Decision{ID: c.p.ID, Verdict: VerdictNew, NewRate: c.p.Rate, NewFault: c.p.Fault.Type})
			continue
		}
		applyFeedback(c, p, idx, opt)
		res.Decisions = append(res.Decisions, c.decision)
	}
	slices.SortFunc(cands, func(x, y *candidate) int { return cmp.Compare(x.p.ID, y.p.ID) })
	slices.SortFunc(res.Decisions, func(x, y Decision) int { return cmp.Compare(x.ID, y.ID) })
	return cands
}

// edgeFor is the edge of a target; for an empty caller, the busiest edge
// into the callee.
func edgeFor(edges map[edge.Edge]*analysis.EdgeRow, t bundle.Target) *analysis.EdgeRow {
	if t.Caller != "" {
		return edges[edge.Edge{Caller: t.Caller, Callee: t.Callee}]
	}
	var best *analysis.EdgeRow
	for _, k := range slices.SortedFunc(maps.Keys(edges), edge.Compare) {
		if e := edges[k]; k.Callee == t.Callee && (best == nil || e.Calls > best.Calls) {
			best = e
		}
	}
	return best
}

// applyFeedback moves c's rate (and fault) from the previous profile p by
// the verdict on its injections.
func applyFeedback(c *candidate, p *bundle.Profile, idx *windowIndex, opt Options) {
	r := idx.measure(p)
	verdict, why := judge(r, opt.Previous.Guards)
	fault := c.p.Fault
	if bundle.Harshness(p.Fault.Type) < bundle.Harshness(fault.Type) {
		fault = p.Fault // the loop stepped this profile down before: keep the milder fault
	}
	rate := p.Rate
	var change string
	switch verdict {
	case VerdictHandled:
		rate = sig2(p.Rate * Raise)
		change = fmt.Sprintf("rate %s%% ×%s (handled) = %s%%", pct(p.Rate), num(Raise), pct(rate))
	case VerdictHurt, VerdictSevere:
		rate = sig2(p.Rate * Lower)
		change = fmt.Sprintf("rate %s%% ×%s (%s) = %s%%", pct(p.Rate), num(Lower), verdict, pct(rate))
		if floor := min(MinRate, p.Rate); rate < floor {
			// the floor MinRate, never above the previous rate: lowering
			// never raises
			rate = floor
			change += fmt.Sprintf(", held at the floor %s%% (MinRate %s%%, or the previous rate when lower)", pct(floor), pct(MinRate))
		}
		if verdict == VerdictSevere {
			if g, ok := milder(p.Fault, c.edge); ok {
				fault = g
				change += ", milder fault (" + p.Fault.Type + " → " + g.Type + ")"
			}
		}
	default:
		change = fmt.Sprintf("rate kept at %s%% (%s)", pct(p.Rate), verdict)
	}
	c.p.Fault = fault
	capWhy := ""
	if c.carried {
		// no finding today: the ceiling is the one the team committed,
		// the previous profile's maxRate (never above --max-rate)
		setRateWithin(c, rate, min(opt.MaxRate, p.MaxRate))
		capWhy = fmt.Sprintf("the previous maxRate %s%%, at most --max-rate %s%%", pct(p.MaxRate), pct(opt.MaxRate))
	} else {
		setRate(c, rate, opt.MaxRate)
		capWhy = fmt.Sprintf("today's maxRate: the lower of --max-rate %s%% and %s × its initial rate", pct(opt.MaxRate), num(MaxRateMultiple))
	}
	if c.p.Rate < rate {
		change += fmt.Sprintf(", capped at %s%% (%s)", pct(c.p.Rate), capWhy)
	}
	if c.p.Rate != rate {
		change += " → " + pct(c.p.Rate) + "%"
	}
	var sevWhy string
	if c.p.Severity != p.Severity {
		sevWhy = fmt.Sprintf("severity %s → %s: ", p.Severity, c.p.Severity)
		switch {
		case c.p.Fault.Type != p.Fault.Type:
			sevWhy += "the fault is now " + c.p.Fault.Type
		case c.p.Fault.Type == bundle.FaultLatency:
			sevWhy += "a latency fault is minor"
		case isCritical(c.edge):
			sevWhy += fmt.Sprintf("its edge's criticality is now %s (critical from %s)", num(c.edge.Criticality), num(CriticalEdge))
		default:
			sevWhy += fmt.Sprintf("its edge's criticality is now %s (below %s)", num(c.edge.Criticality), num(CriticalEdge))
		}
		change += "; " + sevWhy
	}
	c.feedback = "last run " + verdict + " (" + why + "): " + change
	f := c.p.Rationale.Features
	if f == nil {
		f = map[string]float64{}
		c.p.Rationale.Features = f
	}
	f["feedback.previousRate"] = p.Rate
	f["feedback.injected"] = float64(r.injected)
	if r.injected > 0 {
		f["feedback.injectionWindows"] = float64(r.windows)
		f["feedback.retries"] = float64(r.retries)
		f["feedback.timeouts"] = float64(r.timeouts)
		f["feedback.rootErrorRate"] = r.rootErrDuring
		f["feedback.rootErrorRateBaseline"] = r.rootErrBase
		f["feedback.rootP99Ms"] = r.rootP99During
		f["feedback.rootP99MsBaseline"] = r.rootP99Base
	}
	if r.traces > 0 {
		f["feedback.traces"] = float64(r.traces)
		f["feedback.tracesJudged"] = float64(r.judged)
		f["feedback.traceFailureRate"] = r.failShare
		f["feedback.traceFailureRateBaseline"] = r.baseFailShare
		f["feedback.callsPerTrace"] = r.callsPerTrace()
		f["feedback.callsPerTraceBaseline"] = r.baseCallsPerTrace()
	}
	c.decision = Decision{
		ID: c.p.ID, Verdict: verdict, Injected: r.injected,
		OldRate: p.Rate, NewRate: c.p.Rate, OldFault: p.Fault.Type, NewFault: c.p.Fault.Type, Reason: why,
		Change: change, OldSeverity: p.Severity, NewSeverity: c.p.Severity,
	}
}
