package features

import (
	"cmp"
	"slices"
)

// Trace outcomes. Whether an injected fault hurt is a question about the
// requests it touched, not about the calls it was applied to: a caller that
// retries an injected call makes several injected calls for one request,
// and in a window several profiles inject at once. So the trace pass counts,
// per edge and window (of the trace's start), the traces that called the
// edge: those into which a profile injected a fault on the edge, per
// profile, and those without any injection, which are the baseline. For
// each, whether the trace failed, judged from its root (the request as its
// client saw it) or, in a trace without a root in the data, from the
// calling service's spans of the edge's calls (the call into the caller
// that made them); and how many calls the edge got in those traces, so
// that a retry storm shows as more calls per trace under injection.

// TraceOutcome counts the traces starting in one window that called one
// edge: with Profile set, those in which that profile injected a fault on
// the edge; with Profile empty, those without any injected call. Baseline
// rows are kept only for edges with injected rows.
type TraceOutcome struct {
	Caller, Callee string
	Profile        string
	StartUnixNano  int64
	Traces         int64
	// Judged counts the traces whose outcome is known: those with a root,
	// and those without whose edge calls have the calling service's span
	// in the trace.
	Judged int64
	// Failed counts the judged traces that failed: the root, or without a
	// root one of the calling service's spans of the edge's calls.
	Failed int64
	// Calls counts the edge's calls in the traces, retries included.
	Calls int64
}

// outKey is an edge's injected traces of one profile in one window.
type outKey struct {
	caller, callee, prof int32
	win                  int64
}

type outAcc struct{ traces, judged, failed, calls int64 }

// runEdge is one edge of the current run.
type runEdge struct {
	caller, callee int32
	calls          int64
	parentKnown    bool // a call of the edge has its parent in the run
	parentFailed   bool // ... and that parent failed
	profs          []int32
}

// edgeRef is where an edge sits in the edges of the run numbered run.
type edgeRef struct {
	run int64
	k   int32
}

// profID interns a profile id.
func (tr *tracer) profID(p []byte) int32 {
	if id, ok := tr.profIDs[string(p)]; ok {
		return id
	}
	id := int32(len(tr.profs))
	tr.profIDs[string(p)] = id
	tr.profs = append(tr.profs, string(p))
	return id
}

// outcome counts the resolved run (tr.parentOf is set) by edge; root is
// its root row, -1 when it has none.
func (tr *tracer) outcome(run []runRow, root int) {
	start := run[0].start
	injected := false
	for i := range run {
		start = min(start, run[i].start)
		injected = injected || run[i].inj
	}
	if root >= 0 {
		start = run[root].start
	}
	edges := tr.runEdges[:0]
	for i := range run {
		r := &run[i]
		// the edge's place in edges, if this run has met it (resolve
		// numbers the runs from 1)
		ref := cell(&tr.edgeRefs, r.caller, r.callee)
		if ref.run != tr.runs.Runs {
			*ref = edgeRef{tr.runs.Runs, int32(len(edges))}
			edges = append(edges, runEdge{caller: r.caller, callee: r.callee})
		}
		e := &edges[ref.k]
		e.calls++
		if p := tr.parentOf[i]; p >= 0 {
			e.parentKnown = true
			e.parentFailed = e.parentFailed || run[p].err
		}
		if r.prof >= 0 && !slices.Contains(e.profs, r.prof) {
			e.profs = append(e.profs, r.prof)
		}
	}
	win := floorDiv(start, tr.win)
	for i := range edges {
		e := &edges[i]
		judged, failed := e.parentKnown, e.parentFailed
		if root >= 0 {
			judged, failed = true, run[root].err
		}
		if !injected {
			tr.baseline(e.caller, e.callee, win).add(e.calls, judged, failed)
		}
		for _, p := range e.profs {
			tr.addOutcome(outKey{e.caller, e.callee, p, win}, e.calls, judged, failed)
		}
	}
	tr.runEdges = edges[:0]
}

func (tr *tracer) addOutcome(k outKey, calls int64, judged, failed bool) {
	a := tr.outcomes[k]
	if a == nil {
		a = &outAcc{}
		tr.outcomes[k] = a
	}
	a.add(calls, judged, failed)
}

func (a *outAcc) add(calls int64, judged, failed bool) {
	a.traces++
	a.calls += calls
	if judged {
		a.judged++
		if failed {
			a.failed++
		}
	}
}

// baseline returns the accumulator of caller→callee's traces without
// injection in window win. Every trace adds to it for each of its edges,
// so the edge's windows are a series by service ids, looked up without
// hashing, their accumulators carved from a slab (traces mostly come in
// time order).
func (tr *tracer) baseline(caller, callee int32, win int64) *outAcc {
	return cell(&tr.base, caller, callee).at(win, &tr.baseSlab)
}

// outName is an outKey by names: what a Partial keeps.
type outName struct {
	caller, callee, prof string // prof "": the traces without injection
	win                  int64
}

// addOutcomes adds worker w's trace outcomes to p. Baseline rows of every
// edge are kept: another partial may hold the edge's injected rows.
func (p *Partial) addOutcomes(w *worker) {
	for caller, row := range w.tr.base {
		for callee, b := range row {
			for j, a := range b.wins {
				if a != nil {
					p.addOutcome(outName{w.names[caller], w.names[callee], "", b.base + int64(j)}, a)
				}
			}
		}
	}
	for k, a := range w.tr.outcomes {
		p.addOutcome(outName{w.names[k.caller], w.names[k.callee], w.tr.profs[k.prof], k.win}, a)
	}
}

func (p *Partial) addOutcome(n outName, a *outAcc) {
	if o := p.outcomes[n]; o != nil {
		o.traces += a.traces
		o.judged += a.judged
		o.failed += a.failed
		o.calls += a.calls
	} else {
		c := *a
		p.outcomes[n] = &c
	}
}

// outSection is one partial's trace outcomes as its binary form holds
// them, checked (the decoder reads every row) but not decoded: most are
// baseline rows of edges without injected ones (every edge-window of every
// partial has one), which the table drops, so they are neither decoded
// into rows nor hashed into p.outcomes unless their edge has injections.
type outSection struct {
	b    []byte   // the rows, as encoded
	runs []outRun // the rows of each edge, in b's order
}

// outRun is one edge's rows in an outSection: b[lo:hi].
type outRun struct {
	caller, callee string
	lo, hi         int
	injected       bool // a row has a profile
}

// foldOutcomes adds the trace outcomes waiting in p.outPending to
// p.outcomes, those of the edges for which keep is true (all when keep is
// nil), and drops the others.
func (p *Partial) foldOutcomes(keep func(caller, callee string) bool) {
	for i := range p.outPending {
		sec := &p.outPending[i]
		d := &dec{b: sec.b}
		for _, r := range sec.runs {
			if keep != nil && !keep(r.caller, r.callee) {
				continue
			}
			for d.off = r.lo; d.off < r.hi && d.err == nil; {
				_, _, prof, win, a := d.outRow() // the caller and callee are r's
				p.addOutcome(outName{caller: r.caller, callee: r.callee, prof: d.nameOf(prof), win: win}, &a)
			}
		}
	}
	p.outPending = nil
}

// outcomesTable is the table's Outcomes: sorted by caller, callee, profile
// and start; baseline rows only for edges with injected ones.
func (p *Partial) outcomesTable() []TraceOutcome {
	injected := map[edgeKey]bool{}
	for n := range p.outcomes {
		if n.prof != "" {
			injected[edgeKey{n.caller, n.callee}] = true
		}
	}
	for _, sec := range p.outPending {
		for _, r := range sec.runs {
			if r.injected {
				injected[edgeKey{r.caller, r.callee}] = true
			}
		}
	}
	p.foldOutcomes(func(caller, callee string) bool { return injected[edgeKey{caller, callee}] })
	var out []TraceOutcome
	for n, a := range p.outcomes {
		if injected[edgeKey{n.caller, n.callee}] {
			out = append(out, TraceOutcome{Caller: n.caller, Callee: n.callee, Profile: n.prof, StartUnixNano: n.win * p.window,
				Traces: a.traces, Judged: a.judged, Failed: a.failed, Calls: a.calls})
		}
	}
	slices.SortFunc(out, func(a, b TraceOutcome) int {
		return cmp.Or(cmp.Compare(a.Caller, b.Caller), cmp.Compare(a.Callee, b.Callee), cmp.Compare(a.Profile, b.Profile),
			cmp.Compare(a.StartUnixNano, b.StartUnixNano))
	})
	return out
}
