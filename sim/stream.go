package sim

import (
	"bytes"
	"context"
	"errors"
	"math"
	"runtime"
	"sync/atomic"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/ingest"
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

// driver feeds traces to the engine in arrival order through a bounded
// reorder window, applying the load factor.
type driver struct {
	e       *engine
	lf      float64
	open    map[uint64]*rtrace // traces being read, by hash of their id
	fifo    []*rtrace
	fhead   int
	last    *rtrace
	nOpen   int
	maxOpen int
	window  int
	win     []*rtrace
	winSeq  []uint64
	seq     uint64
	started bool
	first   int64
	b       builder
	// traces built when the next trace started, and those of them that
	// got more rows after (built again when complete)
	specBuilt, rebuilt int
}

// speculate says whether to build traces as soon as the next one starts:
// not when that is wasted work on most traces (rows of traces interleaved).
func (d *driver) speculate() bool {
	return d.specBuilt < 1024 || d.rebuilt*4 < d.specBuilt
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
	return &driver{e: e, lf: lf, open: map[uint64]*rtrace{}, maxOpen: mo, window: w}
}

// row adds one span row; ids are copied.
func (d *driver) row(traceID, spanID, parentID []byte, sp rspan) {
	p := d.last
	if p == nil || !bytes.Equal(p.idBytes(), traceID) {
		h := hashID(traceID)
		head := d.open[h]
		for p = head; p != nil && !bytes.Equal(p.idBytes(), traceID); p = p.hnext {
		}
		if p == nil {
			// Rows of a trace are usually adjacent: the trace just left
			// is likely complete. Build it now, while its rows are in the
			// cache (it is rebuilt if more rows come).
			if l := d.last; l != nil && !l.built && d.speculate() {
				d.b.build(l)
				d.specBuilt++
			}
			p = d.e.newTrace()
			p.buf = append(p.buf, traceID...)
			p.idLen = int32(len(p.buf))
			p.hash, p.hnext = h, head
			d.open[h] = p
			d.fifo = append(d.fifo, p)
		}
		d.last = p
	}
	if p.built {
		p.built = false
		d.rebuilt++
	}
	sp.idLo = int32(len(p.buf))
	p.buf = append(p.buf, spanID...)
	sp.idHi = int32(len(p.buf))
	p.buf = append(p.buf, parentID...)
	sp.paLo, sp.paHi = sp.idHi, int32(len(p.buf))
	p.spans = append(p.spans, sp)
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
		n := copy(d.fifo, d.fifo[d.fhead:])
		clear(d.fifo[n:])
		d.fifo = d.fifo[:n]
		d.fhead = 0
	}
	// unlink it from the open traces
	if head := d.open[p.hash]; head == p {
		if p.hnext == nil {
			delete(d.open, p.hash)
		} else {
			d.open[p.hash] = p.hnext
		}
	} else {
		for q := head; q != nil; q = q.hnext {
			if q.hnext == p {
				q.hnext = p.hnext
				break
			}
		}
	}
	p.hnext = nil
	if d.last == p {
		d.last = nil
	}
	d.nOpen -= len(p.spans)
	d.trace(p)
}

// trace builds a complete trace and puts it in the reorder window.
func (d *driver) trace(tr *rtrace) {
	e := d.e
	if !tr.built {
		d.b.build(tr)
	}
	e.orphans += int64(tr.orphans)
	if len(tr.roots) == 0 {
		e.recycle(tr)
		return
	}
	if e.opt.Spans != nil {
		tr.str = string(tr.buf)
		tr.id = tr.str[:tr.idLen]
	} else if len(e.profiles) > 0 {
		tr.id = string(tr.idBytes())
	}
	tr.sole = -1
	if len(e.profiles) > 0 {
		many := false
		for i := range tr.spans {
			ri := &e.routes[tr.spans[i].route]
			if len(ri.profiles) == 0 || many {
				continue
			}
			for _, pi := range ri.profiles {
				if pi != tr.sole && tr.decide(e, pi) {
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
	if c := bytes.Compare(a.idBytes(), b.idBytes()); c != 0 {
		return c < 0
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
		status: status, err: isErr, recTimedOut: timedOut, fallback: fallback}
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
// input. With more than one P, the files are decoded on another goroutine
// (bounded by a few batches); the simulation is the same.
func Run(ctx context.Context, files []string, opt Options) (*Result, error) {
	of, err := ingest.Open(files)
	if err != nil {
		return nil, err
	}
	defer of.Close()
	e := newEngine(&opt)
	d := newDriver(e)
	var bad *ingest.BadRows
	if runtime.GOMAXPROCS(0) > 1 {
		bad, err = runPipelined(ctx, of, e, d)
	} else {
		bad, err = runDirect(ctx, of, e, d)
	}
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

var scanColumns = []ingest.Column{ingest.ColTraceID, ingest.ColSpanID, ingest.ColParentSpanID, ingest.ColCaller,
	ingest.ColCallee, ingest.ColOperation, ingest.ColDepth, ingest.ColStartUnixNano, ingest.ColDurationNano,
	ingest.ColStatusCode, ingest.ColError, ingest.ColRetryCount, ingest.ColTimedOut, ingest.ColFallback}

// runDirect decodes and simulates on one goroutine.
func runDirect(ctx context.Context, of *ingest.OpenedFiles, e *engine, d *driver) (*ingest.BadRows, error) {
	var dicts [3]dictCache
	return of.Scan(ctx, ingest.ScanOptions{Columns: scanColumns, Workers: 1, Progress: e.opt.Progress}, func(_ int, b *ingest.Batch) error {
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
				dur: dur[i], status: status[i], err: isErr[i], recTimedOut: to[i], fallback: fb[i]}
			d.row(tid.Value(i), sid.Value(i), pid.Value(i), sp)
		}
		return e.outErr
	})
}

// rowChunk is a decoded batch's good rows, handed from the decoding
// goroutine to the simulation: the names first seen in it (in the order
// they were numbered), the name ids and the ids' bytes.
type rowChunk struct {
	names                []string
	caller, callee, op   []int32
	depth, retry, status []int32
	start, dur           []int64
	isErr, to, fb        []bool
	ids                  []byte
	idEnd                []int32 // per row: ends of the trace, span and parent ids in ids
}

// reset empties the chunk, with room for n rows.
func (c *rowChunk) reset(n int) {
	if cap(c.caller) < n {
		*c = rowChunk{names: c.names, ids: c.ids, idEnd: make([]int32, 0, 3*n),
			caller: make([]int32, 0, n), callee: make([]int32, 0, n), op: make([]int32, 0, n),
			depth: make([]int32, 0, n), retry: make([]int32, 0, n), status: make([]int32, 0, n),
			start: make([]int64, 0, n), dur: make([]int64, 0, n),
			isErr: make([]bool, 0, n), to: make([]bool, 0, n), fb: make([]bool, 0, n)}
	}
	c.names = c.names[:0]
	c.caller, c.callee, c.op = c.caller[:0], c.callee[:0], c.op[:0]
	c.depth, c.retry, c.status = c.depth[:0], c.retry[:0], c.status[:0]
	c.start, c.dur = c.start[:0], c.dur[:0]
	c.isErr, c.to, c.fb = c.isErr[:0], c.to[:0], c.fb[:0]
	c.ids, c.idEnd = c.ids[:0], c.idEnd[:0]
}

// namer numbers names on the decoding goroutine exactly as engine.intern
// does on the simulation's (the engine interns each chunk's new names in
// order).
type namer struct {
	id  map[string]int32
	cur *rowChunk
}

func (n *namer) internBytes(b []byte) int32 {
	if id, ok := n.id[string(b)]; ok {
		return id
	}
	s := string(b)
	id := int32(len(n.id))
	n.id[s] = id
	n.cur.names = append(n.cur.names, s)
	return id
}

var errStopped = errors.New("sim: stopped")

// runPipelined decodes on a goroutine of its own and simulates on the
// caller's.
func runPipelined(ctx context.Context, of *ingest.OpenedFiles, e *engine, d *driver) (*ingest.BadRows, error) {
	const chunks = 4
	full := make(chan *rowChunk, chunks)
	free := make(chan *rowChunk, chunks)
	for range chunks {
		free <- &rowChunk{}
	}
	var stop atomic.Bool
	nm := &namer{id: make(map[string]int32, len(e.names))}
	for i, s := range e.names {
		nm.id[s] = int32(i)
	}
	var (
		bad     *ingest.BadRows
		scanErr error
	)
	go func() {
		defer close(full)
		var dicts [3]dictCache
		bad, scanErr = of.Scan(ctx, ingest.ScanOptions{Columns: scanColumns, Workers: 1, Progress: e.opt.Progress}, func(_ int, b *ingest.Batch) error {
			if stop.Load() {
				return errStopped
			}
			c := <-free
			c.reset(b.N)
			nm.cur = c
			caller := dicts[0].ids(nm, &b.Str[ingest.ColCaller], b.N)
			callee := dicts[1].ids(nm, &b.Str[ingest.ColCallee], b.N)
			op := dicts[2].ids(nm, &b.Str[ingest.ColOperation], b.N)
			tid, sid, pid := &b.Str[ingest.ColTraceID], &b.Str[ingest.ColSpanID], &b.Str[ingest.ColParentSpanID]
			for i := 0; i < b.N; i++ {
				if b.Bad[i] != ingest.ReasonOK {
					continue
				}
				c.caller = append(c.caller, caller[i])
				c.callee = append(c.callee, callee[i])
				c.op = append(c.op, op[i])
				c.depth = append(c.depth, b.I32[ingest.ColDepth][i])
				c.retry = append(c.retry, b.I32[ingest.ColRetryCount][i])
				c.status = append(c.status, b.I32[ingest.ColStatusCode][i])
				c.start = append(c.start, b.I64[ingest.ColStartUnixNano][i])
				c.dur = append(c.dur, b.I64[ingest.ColDurationNano][i])
				c.isErr = append(c.isErr, b.Bool[ingest.ColError][i])
				c.to = append(c.to, b.Bool[ingest.ColTimedOut][i])
				c.fb = append(c.fb, b.Bool[ingest.ColFallback][i])
				c.ids = append(c.ids, tid.Value(i)...)
				c.idEnd = append(c.idEnd, int32(len(c.ids)))
				c.ids = append(c.ids, sid.Value(i)...)
				c.idEnd = append(c.idEnd, int32(len(c.ids)))
				c.ids = append(c.ids, pid.Value(i)...)
				c.idEnd = append(c.idEnd, int32(len(c.ids)))
			}
			nm.cur = nil
			full <- c
			return nil
		})
	}()
	for c := range full {
		if e.outErr == nil {
			for _, s := range c.names {
				e.intern(s)
			}
			lo := int32(0)
			for i := range c.caller {
				t, sp, pa := c.idEnd[3*i], c.idEnd[3*i+1], c.idEnd[3*i+2]
				r := rspan{route: e.routeOf(c.caller[i], c.callee[i], c.op[i]), depth: c.depth[i], retry: c.retry[i], start: c.start[i],
					dur: c.dur[i], status: c.status[i], err: c.isErr[i], recTimedOut: c.to[i], fallback: c.fb[i]}
				d.row(c.ids[lo:t], c.ids[t:sp], c.ids[sp:pa], r)
				lo = pa
			}
			if e.outErr != nil {
				stop.Store(true)
			}
		}
		free <- c
	}
	if e.outErr != nil {
		return nil, e.outErr
	}
	if scanErr != nil {
		return nil, scanErr
	}
	return bad, nil
}

// internBytes numbers a name.
type nameInterner interface {
	internBytes(b []byte) int32
}

// dictCache maps a string column's dictionary entries to name ids, kept
// while the column chunk's dictionary stays the same.
type dictCache struct {
	id   uint64
	dict []int32
	out  []int32
}

func (c *dictCache) ids(e nameInterner, s *ingest.StringColumn, n int) []int32 {
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
