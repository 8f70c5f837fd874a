package features

import (
	"cmp"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/prefault"
)

// acc accumulates one edge's calls in one window. Everything is an integer
// or a sketch of integer counts, so merges are exact and order-independent.
type acc struct {
	calls, errors, timeouts, retries int64
	fallbacks, circuitOpen           int64
	durSum, maxDur                   int64
	injected                         [NumFaultTypes]int64 // by index into FaultTypes
	injResp                          Responses            // among the injected calls
	sk                               Sketch
	// sum, when not nil, stands for the sketch, which a merge's decoder
	// skipped (DecodeOptions.Summarise): what Stats takes from it
	sum *winSum
}

// winSum is what a window's Stats take from its sketch, when it holds
// calls: the quantiles and the log moments. The partial format carries it
// beside each edge window's sketch (enc.windowSum).
type winSum struct {
	q               [len(statQuantiles)]float64
	logMean, logVar float64
}

func (a *acc) merge(o *acc) {
	a.mergeCounts(o)
	a.sk.Merge(&o.sk)
}

// mergeCounts is merge without the sketch.
func (a *acc) mergeCounts(o *acc) {
	a.calls += o.calls
	a.errors += o.errors
	a.timeouts += o.timeouts
	a.retries += o.retries
	a.fallbacks += o.fallbacks
	a.circuitOpen += o.circuitOpen
	a.durSum += o.durSum
	a.maxDur = max(a.maxDur, o.maxDur)
	for i := range a.injected {
		a.injected[i] += o.injected[i]
	}
	a.injResp.merge(&o.injResp)
}

// statQuantiles are the quantiles of Stats: p50, p90 and p99.
var statQuantiles = [3]float64{0.50, 0.90, 0.99}

func (a *acc) stats() Stats {
	s := a.countStats()
	if a.calls > 0 {
		s.LogMean, s.LogVar = a.sk.LogMoments(1e6)
	}
	return s
}

// countStats is stats without the log moments (LogMean, LogVar), which
// mergedEdge computes two windows at a time.
func (a *acc) countStats() Stats {
	s := Stats{
		Calls: a.calls, Errors: a.errors, Timeouts: a.timeouts, Retries: a.retries,
		Fallbacks: a.fallbacks, CircuitOpen: a.circuitOpen,
		DurationSumNano: a.durSum, Injected: faultCounts(&a.injected), InjectedResponses: a.injResp,
		MaxMs: float64(a.maxDur) / 1e6,
	}
	if a.calls > 0 {
		s.ErrorRate = float64(a.errors) / float64(a.calls)
		s.MeanMs = float64(a.durSum) / float64(a.calls) / 1e6
		var q [len(statQuantiles)]float64
		if a.sum != nil {
			q = a.sum.q
		} else {
			a.sk.quantiles(statQuantiles[:], q[:])
		}
		s.P50Ms, s.P90Ms, s.P99Ms = q[0]/1e6, q[1]/1e6, q[2]/1e6
	}
	return s
}

// injKey identifies injected calls of one profile and fault type in one
// window (index).
type injKey struct {
	win     int64
	profile string
	fault   int8
}

type edgeAcc struct {
	caller, callee string
	base           int64 // window index of wins[0]
	wins           []*acc
	traces         distinct
	minDepth       int32
	depthSum       int64
	calls          int64
	codes          map[int32]int64
	lastTrace      uint64           // hash of the last trace added to traces
	inj            map[injKey]int64 // injected calls by window, profile and fault type
	cur            *acc             // the window of the last call, starting at curFrom
	curFrom        int64
	grpc, http     int64 // calls with a gRPC-like (0-16) or HTTP-like (100-599) status
	grpcCodes      int64 // calls with a gRPC status other than OK (1-16)
	// summed: the edge's total sketch is pre, the sum of the partials'
	// totals, and not that of its windows' sketches, some of which a
	// merge's decoder skipped (DecodeOptions.Summarise)
	summed bool
	pre    Sketch
}

func (e *edgeAcc) window(wi int64, w *worker) *acc {
	t := e.slot(wi)
	a := *t
	if a == nil {
		a = carve(&w.slab, 256)
		// An edge's latencies vary little from one window to the next: size
		// the new window's sketch like the last one's, so it rarely grows
		// (each growth reallocates).
		if e.cur != nil {
			a.sk.presizeLike(&e.cur.sk, &w.counts)
		}
		*t = a
	}
	return a
}

// slot returns the place of window wi's accumulator, growing e.wins.
func (e *edgeAcc) slot(wi int64) **acc { return windowSlot(&e.base, &e.wins, wi) }

// windowSlot returns the place of window wi in a series of windows that
// starts at window *base, growing it either way.
func windowSlot[T any](base *int64, wins *[]*T, wi int64) **T {
	if len(*wins) == 0 {
		*base = wi
	}
	if wi < *base {
		shift := int(*base - wi)
		nw := zeroed[*T](shift+len(*wins), shift+len(*wins)+len(*wins)/4)
		copy(nw[shift:], *wins)
		*wins = nw
		*base = wi
	}
	k := int(wi - *base)
	if k >= len(*wins) {
		if k < cap(*wins) {
			*wins = (*wins)[:k+1]
		} else {
			nw := zeroed[*T](k+1, k+1+(k+1)/2)
			copy(nw, *wins)
			*wins = nw
		}
	}
	return &(*wins)[k]
}

// countSet returns the number of windows of a series that are set.
func countSet[T any](wins []*T) int {
	n := 0
	for _, a := range wins {
		if a != nil {
			n++
		}
	}
	return n
}

// zeroed returns make([]T, n, c) after writing zeros over all its capacity.
// Go does not clear memory fresh from the kernel, which reads as zeros
// through one shared page until it is written; memory whose first access
// is a read (a counter's increment, a register's compare, a nil check)
// therefore faults twice per page, the second time copying the page and
// flushing the TLB of every CPU. Written first, it faults once: on the
// 10M-span file analyze took 17% fewer page faults and 37% less system
// time this way. A slice of 64 KiB or more (the sketches' slabs, the
// accumulators') has its pages mapped in one system call first where the
// system can (prefault.Make): then the clear faults none.
func zeroed[T any](n, c int) []T {
	s := prefault.Make[T](c)
	clear(s)
	return s[:n]
}

// series is a run of windows' accumulators indexed from window base (as
// edgeAcc's windows; nil: none).
type series[T any] struct {
	base int64
	wins []*T
}

// at returns window wi's accumulator, carved from *slab when it is new.
func (s *series[T]) at(wi int64, slab *[]T) *T {
	t := windowSlot(&s.base, &s.wins, wi)
	if *t == nil {
		*t = carve(slab, 1024)
	}
	return *t
}

// dictCache maps a string column's dictionary entries to small integers,
// reusing the work for the shared part of the dictionary across batches.
type dictCache struct {
	id  uint64
	ids []int32
}

type worker struct {
	win     int64
	svc     map[string]int32
	edgeIdx [][]int32 // [caller svc][callee svc] → edge index + 1
	edges   []*edgeAcc
	names   []string

	caller, callee dictCache
	faults         dictCache
	traceID        uint64
	traceHash      []uint64

	profiles         map[string]string // interned profile ids
	all              distinct
	rows             int64
	minStart, maxEnd int64
	slab             []acc
	counts           []uint16 // slab for the window sketches' counts
	tr               *tracer
}

func newWorker(win int64) *worker {
	return &worker{win: win, svc: map[string]int32{}, minStart: math.MaxInt64, maxEnd: math.MinInt64, tr: newTracer(win)}
}

// carve returns a zero T from *slab, refilled n at a time: one allocation
// for many small accumulators.
func carve[T any](slab *[]T, n int) *T {
	if len(*slab) == 0 {
		*slab = zeroed[T](n, n)
	}
	a := &(*slab)[0]
	*slab = (*slab)[1:]
	return a
}

func (w *worker) profile(b []byte) string {
	if p, ok := w.profiles[string(b)]; ok {
		return p
	}
	if w.profiles == nil {
		w.profiles = map[string]string{}
	}
	p := string(b)
	w.profiles[p] = p
	return p
}

func (w *worker) service(b []byte) int32 {
	if id, ok := w.svc[string(b)]; ok {
		return id
	}
	id := int32(len(w.names))
	name := string(b)
	w.svc[name] = id
	w.names = append(w.names, name)
	return id
}

func (w *worker) serviceIDs(c *ingest.StringColumn, dc *dictCache) []int32 {
	if c.DictID == 0 || c.DictID != dc.id {
		dc.ids = dc.ids[:0]
		dc.id = c.DictID
	}
	shared := c.DictLen
	if c.DictID == 0 {
		shared = 0
	}
	if len(dc.ids) < shared {
		for _, v := range c.Dict[len(dc.ids):shared] {
			dc.ids = append(dc.ids, w.service(v))
		}
	}
	dc.ids = dc.ids[:shared]
	for _, v := range c.Dict[shared:] {
		dc.ids = append(dc.ids, w.service(v))
	}
	return dc.ids
}

func (w *worker) faultIDs(c *ingest.StringColumn) []int32 {
	dc := &w.faults
	dc.ids = dc.ids[:0]
	for _, v := range c.Dict {
		id := int32(-1)
		if len(v) > 0 {
			id = NumFaultTypes - 1
			for k, ft := range FaultTypes[:NumFaultTypes-1] {
				if string(v) == ft {
					id = int32(k)
				}
			}
		}
		dc.ids = append(dc.ids, id)
	}
	return dc.ids
}

// cell returns the place of (i, j) in a table of rows, growing it.
func cell[T any](rows *[][]T, i, j int32) *T {
	for int(i) >= len(*rows) {
		*rows = append(*rows, nil)
	}
	row := (*rows)[i]
	if int(j) >= len(row) {
		row = append(row, make([]T, int(j)+1-len(row))...)
		(*rows)[i] = row
	}
	return &row[j]
}

// newEdge adds the edge caller→callee, which add found missing from
// w.edgeIdx (add looks edges up itself, inline).
func (w *worker) newEdge(caller, callee int32) *edgeAcc {
	slot := cell(&w.edgeIdx, caller, callee)
	e := &edgeAcc{caller: w.names[caller], callee: w.names[callee], minDepth: math.MaxInt32, codes: map[int32]int64{}}
	w.edges = append(w.edges, e)
	*slot = int32(len(w.edges))
	return e
}

func (w *worker) traceHashes(c *ingest.StringColumn) []uint64 {
	if c.DictID == 0 || c.DictID != w.traceID {
		w.traceID = c.DictID
		w.traceHash = w.traceHash[:0]
	}
	shared := c.DictLen
	if c.DictID == 0 {
		shared = 0
	}
	if len(w.traceHash) < shared {
		w.traceHash = append(w.traceHash, make([]uint64, shared-len(w.traceHash))...)
	}
	w.traceHash = w.traceHash[:shared]
	for range c.Dict[shared:] {
		w.traceHash = append(w.traceHash, 0)
	}
	return w.traceHash
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// add aggregates one batch.
func (w *worker) add(b *ingest.Batch) {
	callers := w.serviceIDs(&b.Str[ingest.ColCaller], &w.caller)
	callees := w.serviceIDs(&b.Str[ingest.ColCallee], &w.callee)
	faults := w.faultIDs(&b.Str[ingest.ColFaultType])
	trace := &b.Str[ingest.ColTraceID]
	hashes := w.traceHashes(trace)
	callerIdx, calleeIdx := b.Str[ingest.ColCaller].Idx, b.Str[ingest.ColCallee].Idx
	faultIdx := b.Str[ingest.ColFaultType].Idx
	profiles := &b.Str[ingest.ColFaultProfileID]
	starts, durs := b.I64[ingest.ColStartUnixNano], b.I64[ingest.ColDurationNano]
	depth, status, retry := b.I32[ingest.ColDepth], b.I32[ingest.ColStatusCode], b.I32[ingest.ColRetryCount]
	errs, timedOut, injected := b.Bool[ingest.ColError], b.Bool[ingest.ColTimedOut], b.Bool[ingest.ColInjected]
	fallback, circuitOpen := b.Bool[ingest.ColFallback], b.Bool[ingest.ColCircuitOpen]

	var last *edgeAcc
	var lastTrace uint64
	lastCaller, lastCallee := int32(-1), int32(-1)
	for i := 0; i < b.N; i++ {
		if b.Bad[i] != ingest.ReasonOK {
			continue
		}
		ci, ce := callers[callerIdx[i]], callees[calleeIdx[i]]
		if ci != lastCaller || ce != lastCallee {
			// the lookup of an edge seen before, inlined (a function
			// would be too large for the compiler to inline)
			var row []int32
			if int(ci) < len(w.edgeIdx) {
				row = w.edgeIdx[ci]
			}
			if int(ce) < len(row) && row[ce] > 0 {
				last = w.edges[row[ce]-1]
			} else {
				last = w.newEdge(ci, ce)
			}
			lastCaller, lastCallee = ci, ce
		}
		e := last
		start, dur := starts[i], durs[i]
		// consecutive calls of an edge mostly fall in the same window:
		// compare with its bounds before dividing
		a := e.cur
		if start < e.curFrom || start >= e.curFrom+w.win || a == nil {
			wi := floorDiv(start, w.win)
			a = e.window(wi, w)
			e.cur, e.curFrom = a, wi*w.win
		}
		if injected[i] {
			// Injected calls are counted by fault type (and profile) only:
			// the organic features (and so the findings) describe the
			// system, not the faults chaosgen injected into it.
			f := faults[faultIdx[i]]
			if f < 0 {
				f = NumFaultTypes - 1
			}
			a.injected[f]++
			a.injResp.count(retry[i] > 0, timedOut[i], circuitOpen[i], fallback[i])
			if e.inj == nil {
				e.inj = map[injKey]int64{}
			}
			e.inj[injKey{e.curFrom / w.win, w.profile(profiles.Value(i)), int8(f)}]++
		} else {
			a.calls++
			a.durSum += dur
			a.maxDur = max(a.maxDur, dur)
			if dur <= 0 || !a.sk.bump(bucketOfDuration(dur)) {
				a.sk.addDuration(dur)
			}
			if errs[i] {
				a.errors++
				e.codes[status[i]]++
			}
			if sc := status[i]; uint32(sc) <= 16 {
				e.grpc++
				if sc > 0 {
					e.grpcCodes++
				}
			} else if sc >= 100 && sc <= 599 {
				e.http++
			}
			if timedOut[i] {
				a.timeouts++
			}
			if retry[i] > 0 {
				a.retries++
			}
			if fallback[i] {
				a.fallbacks++
			}
			if circuitOpen[i] {
				a.circuitOpen++
			}
		}
		e.calls++
		e.depthSum += int64(depth[i])
		e.minDepth = min(e.minDepth, depth[i])
		ti := trace.Idx[i]
		h := hashes[ti]
		if h == 0 {
			h = hashBytes(trace.Dict[ti]) | 1
			hashes[ti] = h
		}
		// Spans of one trace are usually adjacent: skip repeated adds of
		// the same trace (the result is the same, the work is not).
		if h != e.lastTrace {
			if e.traces.regs != nil { // the common case inlined
				e.traces.addHLL(h)
			} else {
				e.traces.add(h)
			}
			e.lastTrace = h
		}
		if h != lastTrace {
			if w.all.regs != nil {
				w.all.addHLL(h)
			} else {
				w.all.add(h)
			}
			lastTrace = h
		}
		w.rows++
		w.minStart = min(w.minStart, start)
		w.maxEnd = max(w.maxEnd, start+dur)
	}
}

// addTraces feeds the batch to the trace pass (traces.go). It runs after
// add, whose dictionary caches it reuses.
func (w *worker) addTraces(b *ingest.Batch) {
	w.tr.add(w, b, w.caller.ids, w.callee.ids, w.traceHash)
}

// merge adds o's calls to e; o is discarded (e may take its windows).
func (e *edgeAcc) merge(o *edgeAcc) {
	e.traces.merge(&o.traces)
	e.minDepth = min(e.minDepth, o.minDepth)
	e.depthSum += o.depthSum
	e.calls += o.calls
	e.grpc += o.grpc
	e.grpcCodes += o.grpcCodes
	e.http += o.http
	for c, n := range o.codes {
		e.codes[c] += n
	}
	for k, n := range o.inj {
		if e.inj == nil {
			e.inj = map[injKey]int64{}
		}
		e.inj[k] += n
	}
	for j, a := range o.wins {
		if a == nil {
			continue
		}
		if t := e.slot(o.base + int64(j)); *t == nil {
			*t = a // o is discarded: take its window as is
		} else {
			(*t).merge(a)
		}
	}
}

// parallel runs f(i) for i in [0, n) on up to GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), n)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// collect merges the workers' accumulators into one Partial. Edges are
// merged in parallel (each edge's windows are independent).
func collect(workers []*worker, bad *ingest.BadRows, window time.Duration) *Partial {
	p := newPartial(window)
	p.bad.Merge(bad)
	parts := map[edgeKey][]*edgeAcc{} // each edge's accumulators, in worker order
	for _, w := range workers {
		if w == nil {
			continue
		}
		p.rows += w.rows
		p.minStart = min(p.minStart, w.minStart)
		p.maxEnd = max(p.maxEnd, w.maxEnd)
		p.all.merge(&w.all)
		for _, e := range w.edges {
			k := edgeKey{e.caller, e.callee}
			parts[k] = append(parts[k], e)
		}
	}
	keys := slices.Collect(maps.Keys(parts))
	merged := make([]*edgeAcc, len(keys))
	parallel(len(keys), func(i int) {
		ps := parts[keys[i]]
		for _, o := range ps[1:] {
			ps[0].merge(o)
		}
		merged[i] = ps[0]
	})
	for i, k := range keys {
		p.edges[k] = merged[i]
	}
	p.collectTraces(workers)
	return p
}

// Table computes the feature table from the accumulators. The table is
// assembled in sorted order, so it depends only on the accumulated calls,
// not on how they were split or merged. Table consumes p: call it once.
func (p *Partial) Table() *Table {
	window := time.Duration(p.window)
	t := &Table{Window: window, Bad: p.bad, Rows: p.rows, StartUnixNano: p.minStart, EndUnixNano: p.maxEnd}
	if t.Rows == 0 {
		t.StartUnixNano, t.EndUnixNano = 0, 0
	}
	t.Traces = p.all.count()
	keys := slices.SortedFunc(maps.Keys(p.edges), func(a, b edgeKey) int {
		return cmp.Or(cmp.Compare(a.caller, b.caller), cmp.Compare(a.callee, b.callee))
	})
	callees := map[string]int{}
	for _, k := range keys {
		callees[k.caller]++
	}
	// every edge's windows go straight to their place in t.Windows
	first := make([]int, len(keys)+1)
	for i, k := range keys {
		first[i+1] = first[i] + countSet(p.edges[k].wins)
	}
	t.Windows = make([]Window, first[len(keys)])
	results := make([]mergeResult, len(keys))
	parallel(len(keys), func(i int) {
		k := keys[i]
		results[i] = mergedEdge(p.edges[k], k.caller, k.callee, callees[k.callee], window, t.Windows[first[i]:first[i+1]:first[i+1]])
	})
	ninj := 0
	for _, r := range results {
		ninj += len(r.inj)
	}
	if ninj > 0 {
		t.Injections = make([]Injection, 0, ninj)
	}
	if len(keys) > 0 {
		t.Edges = make([]Edge, 0, len(keys))
	}
	for i, r := range results {
		for j := range r.inj {
			r.inj[j].Edge = i
		}
		t.Injections = append(t.Injections, r.inj...)
		r.edge.FirstWindow = first[i]
		for j := range r.wins {
			r.wins[j].Edge = i
		}
		if t.Traces > 0 {
			r.edge.Criticality = min(1, float64(r.edge.Traces)/float64(t.Traces))
		}
		t.Edges = append(t.Edges, r.edge)
	}
	p.tracesTable(t)
	t.NoTraces = p.noTraces
	return t
}

// mergeResult is one edge and its windows, before they take their places
// in the table.
type mergeResult struct {
	edge Edge
	wins []Window
	inj  []Injection
}

// mergedEdge computes an edge's totals and window rows from its merged
// accumulator, the rows appended to wins (empty, of capacity
// countSet(e.wins)).
func mergedEdge(e *edgeAcc, caller, callee string, fanOut int, window time.Duration, wins []Window) (out mergeResult) {
	var total acc
	out.wins = wins[:0]
	// the windows' log moments two at a time (logMoments2)
	var pairs momentPairs
	for j, a := range e.wins {
		if a == nil {
			continue
		}
		total.mergeCounts(a)
		if !e.summed {
			total.sk.Merge(&a.sk)
		}
		out.wins = append(out.wins, Window{
			StartUnixNano: (e.base + int64(j)) * int64(window),
			Stats:         a.countStats(),
			Concurrency:   float64(a.durSum) / float64(window),
		})
		t := &out.wins[len(out.wins)-1].Stats
		switch {
		case a.sum != nil:
			t.LogMean, t.LogVar = a.sum.logMean, a.sum.logVar
		case a.calls > 0:
			pairs.add(&a.sk, &t.LogMean, &t.LogVar)
		}
	}
	pairs.flush()
	if e.summed {
		total.sk = e.pre
	}
	edge := Edge{
		Caller: caller, Callee: callee,
		Stats:     total.stats(),
		Traces:    e.traces.count(),
		FanOut:    fanOut,
		Depth:     e.minDepth,
		MeanDepth: float64(e.depthSum) / float64(max(e.calls, 1)),
		Windows:   len(out.wins),
		sketch:    total.sk,
	}
	switch {
	case e.grpc > e.http && (e.grpcCodes > 0 || total.errors == 0):
		// status 0 alone is also what tools write for "unset": an edge is
		// gRPC when its failures carry gRPC codes
		edge.Protocol = "grpc"
	case e.http > 0:
		edge.Protocol = "http"
	}
	for _, w := range out.wins {
		edge.PeakCallsPerSecond = max(edge.PeakCallsPerSecond, float64(w.Calls)/window.Seconds())
	}
	for c, n := range e.codes {
		edge.ErrorCodes = append(edge.ErrorCodes, CodeCount{c, n})
	}
	slices.SortFunc(edge.ErrorCodes, func(a, b CodeCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
	})
	for k, n := range e.inj {
		out.inj = append(out.inj, Injection{Profile: k.profile, FaultType: FaultTypes[k.fault],
			StartUnixNano: k.win * int64(window), Calls: n})
	}
	slices.SortFunc(out.inj, func(a, b Injection) int {
		return cmp.Or(cmp.Compare(a.Profile, b.Profile), cmp.Compare(a.StartUnixNano, b.StartUnixNano), cmp.Compare(a.FaultType, b.FaultType))
	})
	out.edge = edge
	return out
}
