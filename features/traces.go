package features

import (
	"cmp"
	"maps"
	"slices"

	"github.com/chaosgen/chaosgen/ingest"
)

// The trace pass. Root-cause analysis needs what one call cannot tell: how
// long a service worked on a request itself (its self time: the call's
// duration minus the time covered by the calls it made, the critical path of
// its children), whether a failure started in the service or came from one
// of its callees, and where each trace stopped calling further (a service
// that throws ends its trace early, and is then the last service the trace
// called). These come from the spans of one trace together.
//
// Spans are resolved in runs: consecutive rows of one row group with the
// same trace id. chaosgen's writer, the importer and synth write the spans
// of a trace next to each other, so a run is a whole trace; a file whose
// traces are scattered gives partial runs, in which a call whose children
// are elsewhere keeps their time as its own. Table.TraceRuns counts the
// rows whose parent was not in their run (Orphans), so a caller can say how
// exact the self times are. A trace cut by a row-group boundary is joined
// again: the first and the last run of every row group are kept aside and
// resolved after the scan, joined with their neighbours in the same file
// when the trace id matches. So the result depends neither on how row
// groups are spread over workers nor on where the writer cut them; a trace
// cut by a file boundary stays two runs.

// selfOffsetNano is added to self times before taking their logarithm: a
// service that only forwards (a gateway) has self times of a few
// microseconds, whose relative jitter would otherwise swamp its
// statistics.
const selfOffsetNano = 100_000

// ServiceWindow is one service's behaviour in one window, from the calls
// into it (without injected faults) and the traces that passed through it.
type ServiceWindow struct {
	Service       string
	StartUnixNano int64
	// Calls is the number of calls into the service whose trace was
	// resolved (every call in a file with whole traces).
	Calls int64
	// SelfLogMean and SelfLogVar are the mean and variance of
	// ln(self time + 0.1 ms) in milliseconds over those calls (see
	// Sketch.LogMoments).
	SelfLogMean, SelfLogVar float64
	// SelfP50Ms is the median self time.
	SelfP50Ms float64
	// OwnErrors counts the failed calls none of whose children failed: the
	// failures that started in the service.
	OwnErrors int64
}

// TraceEnd counts the traces of one root (ingress service and operation)
// starting in one window whose last-started call went into Service.
type TraceEnd struct {
	Root          string // "service operation" of the ingress call
	StartUnixNano int64
	Service       string
	Traces        int64
}

// TraceRuns says how the spans were resolved into traces.
type TraceRuns struct {
	Runs    int64 // runs of rows of one trace
	Orphans int64 // rows whose parent span was not in their run
}

// svcAcc accumulates one service's calls in one window.
type svcAcc struct {
	calls, ownErrors int64
	self             Sketch
	// sum, when not nil, stands for self, which a merge's decoder skipped
	// (DecodeOptions.Summarise)
	sum *svcSum
}

// svcSum is what a service window's row takes from its self-time sketch:
// the median and the log moments.
type svcSum struct {
	p50, logMean, logVar float64
}

// runRow is one row of the current run.
type runRow struct {
	span, parent   uint64 // hashes; parent 0 at a root
	start, dur     int64
	caller, callee int32
	root           int32 // root id for a root row, else -1
	prof           int32 // the injecting profile's id for an injected row, else -1
	err, inj       bool
}

// runChild is a child's interval, for coverSorted.
type runChild struct{ start, end int64 }

// tracer resolves the runs of one worker.
type tracer struct {
	win      int64
	svcWins  []svcSeries // by worker service id
	svcSlab  []svcAcc
	ends     [][]series[int64] // traces ended, by root id, then by service id
	endSlab  []int64
	rootIDs  map[string]int32
	roots    []string
	runs     TraceRuns
	run      []runRow
	runTrace uint64 // hash of the run's trace id
	runFile  int    // file index and row group of the run
	runRG    int
	runNext  int64   // the file row that continues the run
	table    []int32 // open addressing: run row + 1 by span hash, 0 empty
	parentOf []int32 // per run row: its parent's row, -1 when none found
	cover    []cover // per run row: its children's
	first    []int32 // per run row: start of its children in kids (coverSorted)
	fill     []int32
	keyBuf   []byte
	kids     []runChild
	runHead  bool // the run is the first of its row group
	stash    []stashRun
	// the traces' outcomes (outcomes.go); none with noOutcomes (see
	// Options.Whole)
	noOutcomes bool
	profIDs    map[string]int32
	profs      []string
	outcomes   map[outKey]*outAcc // the injected traces
	base       [][]series[outAcc] // the traces without injection, by caller and callee service id
	baseSlab   []outAcc
	runEdges   []runEdge
	edgeRefs   [][]edgeRef // by caller and callee service id: where runEdges holds the edge
}

// stashRun is a run at a row group's edge, kept for joining after the
// scan, with worker-independent names.
type stashRun struct {
	file, rg   int
	head, tail bool
	trace      uint64
	rows       []runRow
	callers    []string // per row
	callees    []string // per row
	roots      []string // per row; "" unless a root row
	profs      []string // per row; "" unless an injected row
}

// svcSeries is one service's windows, with the last one looked up kept at
// hand.
type svcSeries struct {
	series[svcAcc]
	last     *svcAcc
	lastFrom int64 // the start (ns) of last's window
}

// at returns the accumulator of the window that holds start (ns), windows
// being win long; a new one is carved from accs, its sketch from counts.
func (s *svcSeries) at(start, win int64, accs *[]svcAcc, counts *[]uint16) *svcAcc {
	// a service's spans in a run mostly fall in one window: compare with
	// its bounds before dividing
	if s.last != nil && start >= s.lastFrom && start < s.lastFrom+win {
		return s.last
	}
	wi := floorDiv(start, win)
	t := windowSlot(&s.base, &s.wins, wi)
	a := *t
	if a == nil {
		a = carve(accs, 256)
		// size the sketch like the last window's, as edge windows do
		if s.last != nil {
			a.self.presizeLike(&s.last.self, counts)
		}
		*t = a
	}
	s.last, s.lastFrom = a, wi*win
	return a
}

func newTracer(win int64) *tracer {
	return &tracer{win: win, rootIDs: map[string]int32{}, profIDs: map[string]int32{}, outcomes: map[outKey]*outAcc{}}
}

// rootID interns "callee operation" of a root row.
func (tr *tracer) rootID(callee string, op []byte) int32 {
	tr.keyBuf = append(append(append(tr.keyBuf[:0], callee...), ' '), op...)
	if id, ok := tr.rootIDs[string(tr.keyBuf)]; ok { // no allocation for the lookup
		return id
	}
	return tr.rootKey(string(tr.keyBuf))
}

func (tr *tracer) rootKey(k string) int32 {
	if id, ok := tr.rootIDs[k]; ok {
		return id
	}
	id := int32(len(tr.roots))
	tr.rootIDs[k] = id
	tr.roots = append(tr.roots, k)
	return id
}

// add feeds one batch's good rows into runs; callers and callees are the
// worker's service ids of the batch's caller and callee dictionaries,
// hashes its trace hashes.
func (tr *tracer) add(w *worker, b *ingest.Batch, callers, callees []int32, hashes []uint64) {
	if b.FileIndex != tr.runFile || b.RowGroup != tr.runRG || b.FirstRow != tr.runNext || tr.runNext == 0 {
		tr.endRun(w, true)
		tr.runHead = true
	}
	tr.runFile, tr.runRG, tr.runNext = b.FileIndex, b.RowGroup, b.FirstRow+int64(b.N)
	trace := &b.Str[ingest.ColTraceID]
	// span and parent ids arrive hashed (ingest.HashID, 0 when empty)
	spans, parents, ops := b.Hash[ingest.ColSpanID], b.Hash[ingest.ColParentSpanID], &b.Str[ingest.ColOperation]
	callerIdx, calleeIdx := b.Str[ingest.ColCaller].Idx, b.Str[ingest.ColCallee].Idx
	profiles := &b.Str[ingest.ColFaultProfileID]
	starts, durs := b.I64[ingest.ColStartUnixNano], b.I64[ingest.ColDurationNano]
	depth := b.I32[ingest.ColDepth]
	errs, injected := b.Bool[ingest.ColError], b.Bool[ingest.ColInjected]
	for i := 0; i < b.N; i++ {
		if b.Bad[i] != ingest.ReasonOK {
			continue
		}
		ti := trace.Idx[i]
		h := hashes[ti]
		if h == 0 {
			h = hashBytes(trace.Dict[ti]) | 1
			hashes[ti] = h
		}
		if h != tr.runTrace && len(tr.run) > 0 {
			tr.endRun(w, false)
		}
		tr.runTrace = h
		// The row is written in place, every field: a row built aside and
		// appended is stored field by field and then loaded 16 bytes at a
		// time to be copied, and such loads wait for the stores to retire.
		n := len(tr.run)
		if n == cap(tr.run) {
			tr.run = slices.Grow(tr.run, 1)
		}
		tr.run = tr.run[:n+1]
		r := &tr.run[n]
		r.span, r.parent, r.start, r.dur = spans[i], parents[i], starts[i], durs[i]
		r.caller, r.callee = callers[callerIdx[i]], callees[calleeIdx[i]]
		r.root, r.prof = -1, -1
		r.err, r.inj = errs[i], injected[i]
		if r.inj {
			if p := profiles.Value(i); len(p) > 0 {
				r.prof = tr.profID(p)
			}
		}
		if r.parent == 0 && depth[i] == 0 {
			r.root = tr.rootID(w.names[r.callee], ops.Value(i))
		}
	}
}

// endRun ends the current run: a run at either edge of its row group
// (the first one, or the last one when tail is set) is stashed for
// joining, any other is resolved now.
func (tr *tracer) endRun(w *worker, tail bool) {
	if len(tr.run) == 0 {
		return
	}
	if tr.runHead || tail {
		s := stashRun{file: tr.runFile, rg: tr.runRG, head: tr.runHead, tail: tail, trace: tr.runTrace,
			rows: slices.Clone(tr.run), callers: make([]string, len(tr.run)), callees: make([]string, len(tr.run)),
			roots: make([]string, len(tr.run)), profs: make([]string, len(tr.run))}
		for i, r := range tr.run {
			s.callers[i] = w.names[r.caller]
			s.callees[i] = w.names[r.callee]
			if r.root >= 0 {
				s.roots[i] = tr.roots[r.root]
			}
			if r.prof >= 0 {
				s.profs[i] = tr.profs[r.prof]
			}
		}
		tr.stash = append(tr.stash, s)
		tr.run = tr.run[:0]
	} else {
		tr.resolve(w)
	}
	tr.runHead = false
}

// cover is what resolve knows of one row's children: the part of the row's
// interval their calls covered, as the total length of the closed segments
// of their union (covered; the last of them ends at closedHi) and the
// segment still open (lo, hi; empty when lo == hi), and whether one of them
// failed.
type cover struct {
	covered, closedHi, lo, hi int64
	kidErr                    bool
}

// add adds the child interval [start, end) clipped to the parent's
// [from, to), and reports false when the child may overlap a closed
// segment: the union is built in one pass while each child starts after
// the closed segments, which children in order of their starts always
// do, and so do most children of a writer that puts concurrent calls
// in another order.
func (c *cover) add(start, end, from, to int64) bool {
	lo, hi := max(start, from), min(end, to)
	switch {
	case hi <= lo:
	case c.hi == c.lo: // nothing open yet
		c.lo, c.hi = lo, hi
	case lo < c.lo:
		if c.covered > 0 && lo <= c.closedHi {
			return false
		}
		if hi < c.lo { // a closed segment of its own, before the open one
			c.covered += hi - lo
			c.closedHi = hi
		} else {
			c.lo, c.hi = lo, max(hi, c.hi)
		}
	case lo > c.hi:
		c.covered += c.hi - c.lo
		c.closedHi = c.hi
		c.lo, c.hi = lo, hi
	case hi > c.hi:
		c.hi = hi
	}
	return true
}

// resolve computes the current run's self times, own errors and end, and
// empties it.
func (tr *tracer) resolve(w *worker) {
	run := tr.run
	tr.run = tr.run[:0]
	if len(run) == 0 {
		return
	}
	tr.runs.Runs++
	n := len(run)
	// span hash → first row with it, in a small open-addressing table
	size := 8
	for size < 2*n {
		size *= 2
	}
	tr.table = slices.Grow(tr.table[:0], size)[:size]
	clear(tr.table)
	mask := uint64(size - 1)
	tr.parentOf = slices.Grow(tr.parentOf[:0], n)[:n]
	tr.cover = slices.Grow(tr.cover[:0], n)[:n]
	clear(tr.cover)
	// One pass: each row's parent is looked up among the rows before it
	// (a parent written before its children is found at once) and its
	// interval added to the parent's cover; then the row's span goes into
	// the table. A row whose parent is not among the earlier rows is looked
	// up again after the pass.
	late, onePass := false, true
	for i := range run {
		r := &run[i]
		tr.parentOf[i] = -1
		if h := r.parent; h != 0 {
			if j := tr.lookup(h, mask, run); j >= 0 {
				tr.parentOf[i] = j
				onePass = tr.addChild(run, i, j) && onePass
			} else {
				tr.parentOf[i] = -2
				late = true
			}
		}
		if h := r.span; h != 0 {
			for k := h & mask; ; k = (k + 1) & mask {
				if tr.table[k] == 0 {
					tr.table[k] = int32(i) + 1
					break
				}
				if run[tr.table[k]-1].span == h {
					break // a repeated span id: its first row keeps it
				}
			}
		}
	}
	if late {
		for i := range run {
			if tr.parentOf[i] != -2 {
				continue
			}
			r := &run[i]
			switch j := tr.lookup(r.parent, mask, run); {
			case j < 0:
				tr.parentOf[i] = -1
				tr.runs.Orphans++
			case int(j) == i: // its own parent
				tr.parentOf[i] = -1
			default:
				tr.parentOf[i] = j
				onePass = tr.addChild(run, i, j) && onePass
			}
		}
	}
	if !onePass {
		tr.coverSorted(run)
	}
	// the root and the last-started call, chosen whatever the order of
	// the rows: ties go to the later end, then the larger span hash
	later := func(a, b *runRow) bool {
		if a.start != b.start {
			return a.start > b.start
		}
		if ae, be := a.start+a.dur, b.start+b.dur; ae != be {
			return ae > be
		}
		return a.span > b.span
	}
	if len(tr.svcWins) < len(w.names) { // every service id indexes w.names
		tr.svcWins = append(tr.svcWins, make([]svcSeries, len(w.names)-len(tr.svcWins))...)
	}
	root, last := -1, 0
	for i := range run {
		r := &run[i]
		if r.root >= 0 && (root < 0 || later(&run[root], r)) {
			root = i
		}
		if later(r, &run[last]) {
			last = i
		}
		if r.inj {
			continue
		}
		s := &tr.svcWins[r.callee]
		a := s.last // at's common case inlined
		if a == nil || r.start < s.lastFrom || r.start >= s.lastFrom+tr.win {
			a = s.at(r.start, tr.win, &tr.svcSlab, &w.counts)
		}
		a.calls++
		c := &tr.cover[i]
		if d := r.dur - (c.covered + c.hi - c.lo) + selfOffsetNano; d <= 0 || !a.self.bump(bucketOfDuration(d)) {
			a.self.addDuration(d)
		}
		if r.err && !c.kidErr {
			a.ownErrors++
		}
	}
	if root >= 0 {
		tr.addEnd(run[root].root, floorDiv(run[root].start, tr.win), run[last].callee)
	}
	if !tr.noOutcomes {
		tr.outcome(run, root)
	}
}

// addChild adds row i's call to the cover of its parent, row j, and
// reports whether cover.add could.
func (tr *tracer) addChild(run []runRow, i int, j int32) bool {
	r, p, c := &run[i], &run[j], &tr.cover[j]
	c.kidErr = c.kidErr || r.err
	return c.add(r.start, r.start+r.dur, p.start, p.start+p.dur)
}

// lookup returns the row of the run whose span hash is h (the first such
// row), -1 when none is in the table.
func (tr *tracer) lookup(h, mask uint64, run []runRow) int32 {
	for k := h & mask; tr.table[k] != 0; k = (k + 1) & mask {
		if j := tr.table[k] - 1; run[j].span == h {
			return j
		}
	}
	return -1
}

// coverSorted computes every row's cover again from its children sorted by
// start (then end), for a run in which some parent's children did not come
// in that order: the children grouped by parent with a counting sort, each
// group sorted, their union taken in one pass.
func (tr *tracer) coverSorted(run []runRow) {
	n := len(run)
	tr.first = slices.Grow(tr.first[:0], n+1)[:n+1]
	clear(tr.first)
	kids := 0
	for _, p := range tr.parentOf {
		if p >= 0 {
			tr.first[p+1]++
			kids++
		}
	}
	for i := 1; i <= n; i++ {
		tr.first[i] += tr.first[i-1]
	}
	tr.kids = slices.Grow(tr.kids[:0], kids)[:kids]
	tr.fill = slices.Grow(tr.fill[:0], n)[:n]
	fill := tr.fill
	copy(fill, tr.first[:n])
	for i, p := range tr.parentOf {
		if p >= 0 {
			tr.kids[fill[p]] = runChild{start: run[i].start, end: run[i].start + run[i].dur}
			fill[p]++
		}
	}
	for p := range n {
		ks := tr.kids[tr.first[p]:tr.first[p+1]]
		slices.SortFunc(ks, func(a, b runChild) int {
			return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end))
		})
		c := &tr.cover[p]
		c.covered, c.closedHi, c.lo, c.hi = 0, 0, 0, 0
		for _, k := range ks {
			c.add(k.start, k.end, run[p].start, run[p].start+run[p].dur) // in order: never false
		}
	}
}

// addEnd counts a trace of root starting in window win that ended in
// service svc: a few slice lookups per trace instead of a map's hashing.
func (tr *tracer) addEnd(root int32, win int64, svc int32) {
	*cell(&tr.ends, root, svc).at(win, &tr.endSlab)++
}

// collectTraces adds the workers' trace passes to p: their services'
// windows and trace ends by name, and the runs stashed at row-group edges.
func (p *Partial) collectTraces(workers []*worker) {
	for _, w := range workers {
		if w != nil {
			w.tr.endRun(w, true)
			p.stash = append(p.stash, w.tr.stash...)
		}
	}
	p.addTraces(workers)
}

// addTraces adds the workers' resolved runs to p.
func (p *Partial) addTraces(workers []*worker) {
	var ws []*worker
	for _, w := range workers {
		if w != nil {
			ws = append(ws, w)
			p.runs.Runs += w.tr.runs.Runs
			p.runs.Orphans += w.tr.runs.Orphans
		}
	}
	if len(p.svcs) == 0 && len(p.ends) == 0 && len(p.outcomes) == 0 {
		// each map made for all the workers' entries at once, an upper
		// bound (workers share only the windows at the edges of their row
		// groups), so that it never grows
		var svcs, ends, outs int
		for _, w := range ws {
			for _, series := range w.tr.svcWins {
				svcs += countSet(series.wins)
			}
			for _, row := range w.tr.ends {
				for _, e := range row {
					ends += countSet(e.wins)
				}
			}
			for _, row := range w.tr.base {
				for _, b := range row {
					outs += countSet(b.wins)
				}
			}
			outs += len(w.tr.outcomes)
		}
		p.svcs, p.ends, p.outcomes = make(map[sk]*svcAcc, svcs), make(map[ek]int64, ends), make(map[outName]*outAcc, outs)
	}
	// three independent maps, filled at once (each merge adds integer
	// counts, so the result does not depend on the order)
	merges := []func(w *worker){
		func(w *worker) {
			for svc, series := range w.tr.svcWins {
				for j, a := range series.wins {
					if a != nil {
						mergeSvc(p.svcs, sk{w.names[svc], series.base + int64(j)}, a)
					}
				}
			}
		},
		func(w *worker) {
			for root, row := range w.tr.ends {
				for svc, e := range row {
					for j, n := range e.wins {
						if n != nil {
							p.ends[ek{w.tr.roots[root], e.base + int64(j), w.names[svc]}] += *n
						}
					}
				}
			}
		},
		p.addOutcomes,
	}
	parallel(len(merges), func(i int) {
		for _, w := range ws {
			merges[i](w)
		}
	})
}

// tracesTable joins the stashed runs and writes the services' windows and
// the trace ends into t, sorted by service and window, and by root, window
// and service.
func (p *Partial) tracesTable(t *Table) {
	p.addTraces([]*worker{joinStashed(p.stash, p.window)})
	p.stash = nil
	t.TraceRuns = p.runs
	t.Outcomes = p.outcomesTable()
	// The keys sorted by their names' ranks (each name compared with the
	// others once, not once per window) and windows, their values kept
	// beside them: tens of thousands of keys, a handful of names, packed into
	// integers to sort (orderByFields).
	rank, names := nameRanks(p)
	// ranks instead of names: records a third the size, fewer fresh pages
	type svcKey struct {
		svc int32
		win int64
		a   *svcAcc
	}
	n := len(p.svcs)
	for _, l := range p.svcLists {
		n += len(l)
	}
	keys := make([]svcKey, 0, n)
	for k, a := range p.svcs {
		keys = append(keys, svcKey{rank[k.svc], k.win, a})
	}
	var rk ranker
	for _, l := range p.svcLists {
		for i := range l {
			e := &l[i]
			keys = append(keys, svcKey{rk.of(rank, e.k.svc), e.k.win, &e.a})
		}
	}
	p.svcLists = nil
	order := orderByFields(keys, len(rank), func(k *svcKey) (int32, int64, int32) { return k.svc, k.win, 0 })
	// a window held by several partials (at their edges in time) comes
	// once from each, adjacent in order: merged into the first
	order = mergeAdjacent(order, func(i, j int32) bool {
		k, o := &keys[i], &keys[j]
		if k.svc != o.svc || k.win != o.win {
			return false
		}
		k.a.merge(o.a)
		return true
	})
	// written before the workers store into it: a pointer store while the
	// GC runs reads the old value first (see zeroed)
	t.Services = zeroed[ServiceWindow](len(order), len(order))
	// in parallel chunks: tens of thousands of sketches to summarise
	const chunk = 1024
	parallel((len(order)+chunk-1)/chunk, func(c int) {
		end := min(len(order), (c+1)*chunk)
		for i := c * chunk; i < end; i++ {
			k := &keys[order[i]]
			a := k.a
			var p50 float64
			if a.sum != nil {
				p50 = a.sum.p50
			} else {
				p50 = a.self.Quantile(0.5)
			}
			t.Services[i] = ServiceWindow{
				Service: names[k.svc], StartUnixNano: k.win * int64(t.Window), Calls: a.calls,
				SelfP50Ms: max(0, p50-selfOffsetNano) / 1e6,
				OwnErrors: a.ownErrors,
			}
		}
		// the log moments two windows at a time (logMoments2), of the
		// windows not summarised
		var pairs momentPairs
		for i := c * chunk; i < end; i++ {
			a, s := keys[order[i]].a, &t.Services[i]
			if a.sum != nil {
				s.SelfLogMean, s.SelfLogVar = a.sum.logMean, a.sum.logVar
			} else {
				pairs.add(&a.self, &s.SelfLogMean, &s.SelfLogVar)
			}
		}
		pairs.flush()
	})
	type endKey struct {
		root, svc int32
		win       int64
		n         int64
	}
	n = len(p.ends)
	for _, l := range p.endLists {
		n += len(l)
	}
	ekeys := make([]endKey, 0, n)
	for k, n := range p.ends {
		ekeys = append(ekeys, endKey{rank[k.root], rank[k.svc], k.win, n})
	}
	var rs ranker
	for _, l := range p.endLists {
		for i := range l {
			e := &l[i]
			ekeys = append(ekeys, endKey{rk.of(rank, e.k.root), rs.of(rank, e.k.svc), e.k.win, e.n})
		}
	}
	p.endLists = nil
	eorder := orderByFields(ekeys, len(rank), func(k *endKey) (int32, int64, int32) { return k.root, k.win, k.svc })
	eorder = mergeAdjacent(eorder, func(i, j int32) bool {
		k, o := &ekeys[i], &ekeys[j]
		if k.root != o.root || k.win != o.win || k.svc != o.svc {
			return false
		}
		k.n += o.n
		return true
	})
	t.TraceEnds = make([]TraceEnd, len(eorder))
	for i, j := range eorder {
		e := &ekeys[j]
		t.TraceEnds[i] = TraceEnd{Root: names[e.root], StartUnixNano: e.win * int64(t.Window), Service: names[e.svc], Traces: e.n}
	}
}

// ranker looks names up in a map of ranks, the last one kept at hand: the
// decoded lists hold runs of one name.
type ranker struct {
	name string
	rank int32
	ok   bool
}

func (r *ranker) of(rank map[string]int32, name string) int32 {
	if !r.ok || name != r.name {
		r.name, r.rank, r.ok = name, rank[name], true
	}
	return r.rank
}

// nameRanks returns the rank of every service and root name of p's
// service windows and trace ends in the sorted list of those names (one
// list: ranks compare as the names do), and that list.
func nameRanks(p *Partial) (map[string]int32, []string) {
	seen := map[string]bool{}
	for k := range p.svcs {
		seen[k.svc] = true
	}
	for k := range p.ends {
		seen[k.root], seen[k.svc] = true, true
	}
	// the lists are sorted by service and by root: a name once per run
	for _, l := range p.svcLists {
		for i := range l {
			if i == 0 || l[i].k.svc != l[i-1].k.svc {
				seen[l[i].k.svc] = true
			}
		}
	}
	for _, l := range p.endLists {
		for i := range l {
			if i == 0 || l[i].k.root != l[i-1].k.root {
				seen[l[i].k.root] = true
			}
			seen[l[i].k.svc] = true
		}
	}
	names := slices.Sorted(maps.Keys(seen))
	rank := make(map[string]int32, len(names))
	for i, name := range names {
		rank[name] = int32(i)
	}
	return rank, names
}

// svcEntry is a service window as decoded (Partial.svcLists).
type svcEntry struct {
	k sk
	a svcAcc
}

// endEntry is a trace end as decoded (Partial.endLists).
type endEntry struct {
	k ek
	n int64
}

// foldLists moves the decoded service windows and trace ends into p's maps.
func (p *Partial) foldLists() {
	for _, l := range p.svcLists {
		for i := range l {
			mergeSvc(p.svcs, l[i].k, &l[i].a)
		}
	}
	for _, l := range p.endLists {
		for i := range l {
			p.ends[l[i].k] += l[i].n
		}
	}
	p.svcLists, p.endLists = nil, nil
}

// ek is a trace end's root, window index and service.
type ek struct {
	root string
	win  int64
	svc  string
}

// sk is a service and window index.
type sk struct {
	svc string
	win int64
}

func mergeSvc(svcs map[sk]*svcAcc, key sk, a *svcAcc) {
	if o := svcs[key]; o != nil {
		o.merge(a)
	} else {
		svcs[key] = a
	}
}

// merge adds a's calls to s.
func (s *svcAcc) merge(a *svcAcc) {
	if s.sum != nil || a.sum != nil {
		// the decoder summarises only the windows no other partial, nor
		// the runs joined at row-group edges, can add to
		panic("features: a summarised service window merged")
	}
	s.calls += a.calls
	s.ownErrors += a.ownErrors
	s.self.Merge(&a.self)
}

// joinStashed resolves the runs kept at row-group edges, joining the last
// run of a row group with the first of the next one in the same file when
// they belong to the same trace, into a worker of its own.
func joinStashed(all []stashRun, win int64) *worker {
	g := newWorker(win)
	// by file and row group; a row group's head before its tail (a run that
	// is both comes once)
	slices.SortFunc(all, func(a, b stashRun) int {
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.rg, b.rg), cmp.Compare(boolInt(b.head), boolInt(a.head)))
	})
	var open *stashRun // the trace still open at the end of row group open.rg
	emit := func(s *stashRun) {
		for i, r := range s.rows {
			r.caller = g.service([]byte(s.callers[i]))
			r.callee = g.service([]byte(s.callees[i]))
			r.root, r.prof = -1, -1
			if s.roots[i] != "" {
				r.root = g.tr.rootKey(s.roots[i])
			}
			if s.profs[i] != "" {
				r.prof = g.tr.profID([]byte(s.profs[i]))
			}
			g.tr.run = append(g.tr.run, r)
		}
	}
	for i := range all {
		s := &all[i]
		if s.head && open != nil && open.file == s.file && open.rg == s.rg-1 && open.trace == s.trace {
			emit(s) // the trace goes on
		} else {
			if open != nil {
				g.tr.resolve(g)
			}
			emit(s)
		}
		open = s
		if !s.tail {
			g.tr.resolve(g)
			open = nil
		}
	}
	if open != nil {
		g.tr.resolve(g)
	}
	return g
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
