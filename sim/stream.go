package sim

import (
	"context"
	"math"
	"sync/atomic"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/inject"
)

// Defaults of the input buffers.
const (
	DefaultMaxOpenSpans  = 1 << 16 // spans of traces not yet complete
	DefaultReorderWindow = 1024    // traces reordered by arrival time
)

// Options configure one simulation run.
type Options struct {
	Mesh   *Mesh          // nil: the default mesh (see docs/replay.md)
	Bundle *bundle.Bundle // profiles and guards; nil: none
	// Inject applies the bundle's faults. Without it the bundle only marks
	// the traces each profile would fire on, so a baseline run can be
	// compared with a faulted one trace for trace.
	Inject bool
	// LoadFactor > 1 compresses inter-arrival times (2: twice the rate);
	// 0 means 1.
	LoadFactor float64
	Seed       uint64 // seed of the jitter and backoff draws
	// Spans, when set, receives the simulated tries in schema v1, in the
	// order they end. The slice is reused after the call returns.
	Spans func([]ingest.Span) error
	// MaxOpenSpans bounds the spans buffered while grouping rows by trace
	// id; 0 means DefaultMaxOpenSpans. A trace whose rows are further apart
	// than that is replayed in parts (counted as orphans).
	MaxOpenSpans int
	// ReorderWindow is the number of complete traces held to replay them
	// in arrival order when the input is not sorted by time; 0 means
	// DefaultReorderWindow. A trace arriving earlier than one already
	// released starts late (counted in Result.Late).
	ReorderWindow int
	Progress      *atomic.Int64 // advanced by the rows read
}

// prow is a span row before its trace is complete.
type prow struct {
	sp                     rspan
	idLo, idHi, paLo, paHi int32
}

type pending struct {
	id      string
	buf     []byte
	rows    []prow
	flushed bool
}

// driver feeds traces to the engine in arrival order through a bounded
// reorder window, applying the load factor.
type driver struct {
	e       *engine
	lf      float64
	open    map[string]*pending
	fifo    []*pending
	fhead   int
	last    *pending
	nOpen   int
	maxOpen int
	window  int
	win     []*rtrace
	winSeq  []uint64
	seq     uint64
	started bool
	first   int64
	ws      []uint64
}

func newDriver(e *engine) *driver {
	lf := e.opt.LoadFactor
	if lf <= 0 {
		lf = 1
	}
	mo := e.opt.MaxOpenSpans
	if mo <= 0 {
		mo = DefaultMaxOpenSpans
	}
	w := e.opt.ReorderWindow
	if w <= 0 {
		w = DefaultReorderWindow
	}
	return &driver{e: e, lf: lf, open: map[string]*pending{}, maxOpen: mo, window: w}
}

// row adds one span row; ids are copied.
func (d *driver) row(traceID, spanID, parentID []byte, sp rspan) {
	p := d.last
	if p == nil || p.flushed || p.id != string(traceID) {
		var ok bool
		p, ok = d.open[string(traceID)]
		if !ok {
			p = &pending{id: string(traceID)}
			d.open[p.id] = p
			d.fifo = append(d.fifo, p)
		}
		d.last = p
	}
	r := prow{sp: sp}
	r.idLo = int32(len(p.buf))
	p.buf = append(p.buf, spanID...)
	r.idHi = int32(len(p.buf))
	p.buf = append(p.buf, parentID...)
	r.paHi = int32(len(p.buf))
	r.paLo = r.idHi
	p.rows = append(p.rows, r)
	d.nOpen++
	for d.nOpen > d.maxOpen && d.fhead < len(d.fifo) {
		d.flushOne()
	}
}

func (d *driver) flushOne() {
	p := d.fifo[d.fhead]
	d.fifo[d.fhead] = nil
	d.fhead++
	if d.fhead > 4096 && d.fhead*2 > len(d.fifo) {
		d.fifo = append(d.fifo[:0], d.fifo[d.fhead:]...)
		d.fhead = 0
	}
	delete(d.open, p.id)
	p.flushed = true
	d.nOpen -= len(p.rows)
	d.trace(p)
}

// trace builds a complete trace and puts it in the reorder window.
func (d *driver) trace(p *pending) {
	ids := string(p.buf)
	tr := &rtrace{id: p.id, spans: make([]rspan, len(p.rows))}
	for i := range p.rows {
		r := &p.rows[i]
		tr.spans[i] = r.sp
		tr.spans[i].spanID = ids[r.idLo:r.idHi]
		tr.spans[i].parentID = ids[r.paLo:r.paHi]
	}
	d.e.orphans += int64(tr.build())
	if len(tr.roots) == 0 {
		return
	}
	e := d.e
	tr.sole = -1
	if len(e.profiles) > 0 {
		many := false
		req := inject.Request{TraceID: tr.id}
		for i := range tr.spans {
			ri := &e.routes[tr.spans[i].route]
			if len(ri.profiles) == 0 || many {
				continue
			}
			req.Caller, req.Callee, req.Path = e.names[ri.caller], e.names[ri.callee], e.names[ri.op]
			for _, pi := range ri.profiles {
				if pi != tr.sole && inject.Decide(e.profiles[pi].p, e.seed, req) {
					if tr.sole >= 0 {
						many = true
						break
					}
					tr.sole = pi
				}
			}
		}
		if many {
			tr.sole = -1
		}
	}
	d.seq++
	d.win = append(d.win, tr)
	d.winSeq = append(d.winSeq, d.seq)
	d.up(len(d.win) - 1)
	if len(d.win) > d.window {
		d.release()
	}
}

func (d *driver) less(i, j int) bool {
	a, b := d.win[i], d.win[j]
	if a.arrival != b.arrival {
		return a.arrival < b.arrival
	}
	if a.id != b.id {
		return a.id < b.id
	}
	return d.winSeq[i] < d.winSeq[j]
}

func (d *driver) swap(i, j int) {
	d.win[i], d.win[j] = d.win[j], d.win[i]
	d.winSeq[i], d.winSeq[j] = d.winSeq[j], d.winSeq[i]
}

func (d *driver) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !d.less(i, p) {
			return
		}
		d.swap(i, p)
		i = p
	}
}

// release sends the earliest trace of the window to the engine.
func (d *driver) release() {
	tr := d.win[0]
	n := len(d.win) - 1
	d.swap(0, n)
	d.win[n] = nil
	d.win = d.win[:n]
	d.winSeq = d.winSeq[:n]
	for i := 0; ; {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && d.less(r, l) {
			m = r
		}
		if !d.less(m, i) {
			break
		}
		d.swap(i, m)
		i = m
	}
	if !d.started {
		d.started, d.first = true, tr.arrival
	}
	t := tr.arrival
	if d.lf != 1 {
		t = d.first + int64(math.Round(float64(tr.arrival-d.first)/d.lf))
	}
	d.e.addTrace(tr, t)
	d.e.runUntil(t)
}

func (d *driver) finish() {
	for d.fhead < len(d.fifo) {
		d.flushOne()
	}
	for len(d.win) > 0 {
		d.release()
	}
	d.e.drain()
	d.e.flush()
}

func (e *engine) rspanOf(caller, callee, op int32, depth int32, retry int32, start, dur int64, status int32, isErr, timedOut, fallback bool) rspan {
	return rspan{route: e.routeOf(caller, callee, op), depth: depth, retry: retry, start: start, dur: dur,
		status: status, err: isErr, timedOut: timedOut, fallback: fallback}
}

// RunSpans simulates spans held in memory.
func RunSpans(spans []ingest.Span, opt Options) (*Result, error) {
	e := newEngine(&opt)
	d := newDriver(e)
	for i := range spans {
		s := &spans[i]
		if s.DurationNano < 0 || s.Depth < 0 || s.Callee == "" || s.StartUnixNano == 0 {
			e.badRows++
			continue
		}
		sp := e.rspanOf(e.intern(s.Caller), e.intern(s.Callee), e.intern(s.Operation), s.Depth, s.RetryCount,
			s.StartUnixNano, s.DurationNano, s.StatusCode, s.Error, s.TimedOut, s.Fallback)
		d.row([]byte(s.TraceID), []byte(s.SpanID), []byte(s.ParentSpanID), sp)
	}
	d.finish()
	if e.outErr != nil {
		return nil, e.outErr
	}
	return e.result(), nil
}

// Run simulates the span files, reading them in order, trace by trace:
// memory holds the calls in flight and a bounded window of input, not the
// input.
func Run(ctx context.Context, files []string, opt Options) (*Result, error) {
	of, err := ingest.Open(files)
	if err != nil {
		return nil, err
	}
	defer of.Close()
	e := newEngine(&opt)
	d := newDriver(e)
	cols := []ingest.Column{ingest.ColTraceID, ingest.ColSpanID, ingest.ColParentSpanID, ingest.ColCaller,
		ingest.ColCallee, ingest.ColOperation, ingest.ColDepth, ingest.ColStartUnixNano, ingest.ColDurationNano,
		ingest.ColStatusCode, ingest.ColError, ingest.ColRetryCount, ingest.ColTimedOut, ingest.ColFallback}
	var dicts [3]dictCache
	bad, err := of.Scan(ctx, ingest.ScanOptions{Columns: cols, Workers: 1, Progress: opt.Progress}, func(_ int, b *ingest.Batch) error {
		caller := dicts[0].ids(e, &b.Str[ingest.ColCaller], b.N)
		callee := dicts[1].ids(e, &b.Str[ingest.ColCallee], b.N)
		op := dicts[2].ids(e, &b.Str[ingest.ColOperation], b.N)
		tid, sid, pid := &b.Str[ingest.ColTraceID], &b.Str[ingest.ColSpanID], &b.Str[ingest.ColParentSpanID]
		depth, start, dur, status := b.I32[ingest.ColDepth], b.I64[ingest.ColStartUnixNano], b.I64[ingest.ColDurationNano], b.I32[ingest.ColStatusCode]
		retry := b.I32[ingest.ColRetryCount]
		isErr, to, fb := b.Bool[ingest.ColError], b.Bool[ingest.ColTimedOut], b.Bool[ingest.ColFallback]
		for i := 0; i < b.N; i++ {
			if b.Bad[i] != ingest.ReasonOK {
				continue
			}
			sp := rspan{route: e.routeOf(caller[i], callee[i], op[i]), depth: depth[i], retry: retry[i], start: start[i],
				dur: dur[i], status: status[i], err: isErr[i], timedOut: to[i], fallback: fb[i]}
			d.row(tid.Value(i), sid.Value(i), pid.Value(i), sp)
		}
		return e.outErr
	})
	if err != nil {
		return nil, err
	}
	e.badRows += bad.Total()
	d.finish()
	if e.outErr != nil {
		return nil, e.outErr
	}
	return e.result(), nil
}

// dictCache maps a string column's dictionary entries to name ids, kept
// while the column chunk's dictionary stays the same.
type dictCache struct {
	id   uint64
	dict []int32
	out  []int32
}

func (c *dictCache) ids(e *engine, s *ingest.StringColumn, n int) []int32 {
	if s.DictID != c.id {
		c.id = s.DictID
		c.dict = c.dict[:0]
	}
	for s.DictID != 0 && len(c.dict) < s.DictLen {
		c.dict = append(c.dict, e.internBytes(s.Dict[len(c.dict)]))
	}
	if cap(c.out) < n {
		c.out = make([]int32, n)
	}
	c.out = c.out[:n]
	for i := 0; i < n; i++ {
		k := s.Idx[i]
		if int(k) < s.DictLen && s.DictID != 0 {
			c.out[i] = c.dict[k]
		} else {
			c.out[i] = e.internBytes(s.Dict[k])
		}
	}
	return c.out
}

func (e *engine) internBytes(b []byte) int32 {
	if id, ok := e.nameID[string(b)]; ok {
		return id
	}
	return e.intern(string(b))
}
