package features

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
	"unsafe"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/prefault"
)

// The binary form of a Partial (docs/scale.md, "The partial file"): a
// sequence of unsigned and zig-zag varints, length-prefixed strings and
// fixed 8-byte hashes, every map in sorted key order, so the same
// accumulators always give the same bytes. The file format around it
// (magic, version, compression, inputs) belongs to package analysis.

// AppendBinary appends the binary form of p to b: the length of its main
// part, the main part and the interior part (AppendBinaryParts).
func (p *Partial) AppendBinary(b []byte) ([]byte, error) {
	main, interior, err := p.AppendBinaryParts(nil, nil)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(main)))
	return append(append(b, main...), interior...), nil
}

// edgeZone is the number of windows at either end of a partial's time
// range whose sketches its main part holds: where the time ranges of
// partials that split a day in time meet.
const edgeZone = 2

// AppendBinaryParts appends the two parts of the binary form of p to main
// and interior. The interior part holds the sketches of the edge and
// service windows more than edgeZone windows from either end of p's time
// range, but for the service windows of rows of the runs at row-group
// edges, in the main part's order; the main part holds everything else. A
// merge reads the interior part only when another partial's time range
// reaches into p's interior (DecodePartialParts).
func (p *Partial) AppendBinaryParts(main, interior []byte) ([]byte, []byte, error) {
	if p.summarised {
		return nil, nil, errSummarised
	}
	if p.noTraces {
		return nil, nil, errNoTraces
	}
	p.foldOutcomes(nil)
	p.foldLists()
	e := &enc{b: slices.Grow(main, p.sizeHint()/4), ib: slices.Grow(interior, p.sizeHint())}
	e.winLo, e.winHi = windowRange(p.minStart, p.maxEnd, p.window)
	e.i(p.window)
	e.i(p.rows)
	e.i(p.minStart)
	e.i(p.maxEnd)
	e.distinct(&p.all)
	for r := ingest.ReasonOK + 1; r < ingest.NumReasons; r++ {
		e.i(p.bad.Count[r])
		if p.bad.Count[r] == 0 {
			continue
		}
		f, row, _ := p.bad.Example(r)
		e.i(int64(f))
		e.i(row)
		e.s(p.bad.First[r].File)
	}
	keys := slices.SortedFunc(maps.Keys(p.edges), func(a, b edgeKey) int {
		return cmp.Or(cmp.Compare(a.caller, b.caller), cmp.Compare(a.callee, b.callee))
	})
	e.u(uint64(len(keys)))
	for _, k := range keys {
		e.edge(p.edges[k])
	}
	stash := slices.Clone(p.stash)
	slices.SortFunc(stash, compareStash)
	e.u(uint64(len(stash)))
	stashWins := map[int64]bool{}
	for i := range stash {
		s := &stash[i]
		e.i(int64(s.file))
		e.i(int64(s.rg))
		e.bool(s.head)
		e.bool(s.tail)
		e.u64(s.trace)
		e.u(uint64(len(s.rows)))
		for j, r := range s.rows {
			e.u64(r.span)
			e.u64(r.parent)
			e.i(r.start)
			e.i(r.dur)
			e.s(s.callers[j])
			e.s(s.callees[j])
			e.s(s.roots[j])
			e.s(s.profs[j])
			e.bool(r.err)
			e.bool(r.inj)
			stashWins[floorDiv(r.start, p.window)] = true
		}
	}
	skeys := slices.SortedFunc(maps.Keys(p.svcs), func(a, b sk) int { return cmp.Or(cmp.Compare(a.svc, b.svc), cmp.Compare(a.win, b.win)) })
	e.u(uint64(len(skeys)))
	for _, k := range skeys {
		a := p.svcs[k]
		e.s(k.svc)
		e.i(k.win)
		e.i(a.calls)
		e.i(a.ownErrors)
		e.selfSum(&a.self)
		e.sketchIn(&a.self, stashWins[k.win] || e.inline(k.win))
	}
	ekeys := slices.SortedFunc(maps.Keys(p.ends), func(a, b ek) int {
		return cmp.Or(cmp.Compare(a.root, b.root), cmp.Compare(a.win, b.win), cmp.Compare(a.svc, b.svc))
	})
	e.u(uint64(len(ekeys)))
	for _, k := range ekeys {
		e.s(k.root)
		e.i(k.win)
		e.s(k.svc)
		e.i(p.ends[k])
	}
	e.i(p.runs.Runs)
	e.i(p.runs.Orphans)
	okeys := slices.SortedFunc(maps.Keys(p.outcomes), func(a, b outName) int {
		return cmp.Or(cmp.Compare(a.caller, b.caller), cmp.Compare(a.callee, b.callee), cmp.Compare(a.prof, b.prof), cmp.Compare(a.win, b.win))
	})
	e.u(uint64(len(okeys)))
	for _, k := range okeys {
		a := p.outcomes[k]
		e.s(k.caller)
		e.s(k.callee)
		e.s(k.prof)
		e.i(k.win)
		e.i(a.traces)
		e.i(a.judged)
		e.i(a.failed)
		e.i(a.calls)
	}
	return e.b, e.ib, nil
}

// sizeHint is about the size of p's binary form, so that the buffer is
// allocated once instead of copied a dozen times over as it grows.
func (p *Partial) sizeHint() int {
	n := 64 * (len(p.ends) + len(p.outcomes))
	for _, e := range p.edges {
		for _, w := range e.wins {
			if w != nil {
				n += 96 + w.sk.sizeHint() // counts, summary, sketch
			}
		}
	}
	for _, a := range p.svcs {
		n += 32 + a.self.sizeHint()
	}
	for _, s := range p.stash {
		n += 16 + 96*len(s.rows)
	}
	return n
}

// sizeHint is about the bytes of s's buckets in the binary form: a byte a
// bucket of its memory, but two (a count, or a run of empty buckets) a value
// at most.
func (s *Sketch) sizeHint() int {
	return int(min(uint64(len(s.counts)), 2*(s.n-s.zero)))
}

// compareStash orders stashed runs by file and row group, a row group's
// head before its tail (a run that is both comes once).
func compareStash(a, b stashRun) int {
	return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.rg, b.rg), cmp.Compare(boolInt(b.head), boolInt(a.head)))
}

func (e *enc) edge(a *edgeAcc) {
	e.s(a.caller)
	e.s(a.callee)
	e.i(int64(a.minDepth))
	e.i(a.depthSum)
	e.i(a.calls)
	e.i(a.grpc)
	e.i(a.http)
	e.i(a.grpcCodes)
	codes := slices.Sorted(maps.Keys(a.codes))
	e.u(uint64(len(codes)))
	for _, c := range codes {
		e.i(int64(c))
		e.i(a.codes[c])
	}
	inj := slices.SortedFunc(maps.Keys(a.inj), func(x, y injKey) int {
		return cmp.Or(cmp.Compare(x.win, y.win), cmp.Compare(x.profile, y.profile), cmp.Compare(x.fault, y.fault))
	})
	e.u(uint64(len(inj)))
	for _, k := range inj {
		e.i(k.win)
		e.s(k.profile)
		e.i(int64(k.fault))
		e.i(a.inj[k])
	}
	e.distinct(&a.traces)
	e.u(uint64(countSet(a.wins)))
	for j, w := range a.wins {
		if w == nil {
			continue
		}
		e.i(a.base + int64(j))
		for _, v := range [...]int64{w.calls, w.errors, w.timeouts, w.retries, w.fallbacks, w.circuitOpen, w.durSum, w.maxDur} {
			e.i(v)
		}
		for _, v := range w.injected {
			e.i(v)
		}
		for _, v := range [...]int64{w.injResp.Retries, w.injResp.Timeouts, w.injResp.CircuitOpen, w.injResp.Fallbacks} {
			e.i(v)
		}
		e.windowSum(w)
		e.sketchIn(&w.sk, e.inline(a.base+int64(j)))
	}
	var total Sketch
	for _, w := range a.wins {
		if w != nil {
			total.Merge(&w.sk)
		}
	}
	e.sketchIn(&total, true)
}

// windowSum writes what the window's Stats take from its sketch (winSum),
// when it holds calls: each quantile's bucket (0 for the value 0, else 1
// + its index from minBucket) and the log moments' bits. A merge reads it
// in place of the sketch of a window that no other partial holds.
func (e *enc) windowSum(w *acc) {
	if w.calls > 0 {
		e.summary(&w.sk, statQuantiles[:])
	}
}

// selfQuantile is the quantile of a service window's self times that its
// row holds (SelfP50Ms).
var selfQuantile = [1]float64{0.5}

// selfSum writes what a service window's row takes from its self-time
// sketch (svcSum): its median and its log moments, as summary writes them.
func (e *enc) selfSum(s *Sketch) { e.summary(s, selfQuantile[:]) }

// summary writes the buckets of s's quantiles qs (ascending) and the bits
// of its log moments.
func (e *enc) summary(s *Sketch, qs []float64) {
	var b [maxQuantiles]int32
	s.quantileBuckets(qs, b[:len(qs)])
	for _, i := range b[:len(qs)] {
		e.bucket(i)
	}
	m, v := s.LogMoments(1e6)
	e.u64(math.Float64bits(m))
	e.u64(math.Float64bits(v))
}

// bucket writes a quantile's bucket: 0 for the value 0, else 1 + its
// index from minBucket.
func (e *enc) bucket(i int32) {
	if i == zeroBucket {
		e.u(0)
	} else {
		e.u(uint64(int64(i)-int64(minBucket)) + 1)
	}
}

// inline reports whether the sketch of window wi goes in the main part:
// a window within edgeZone windows of either end of the time range.
func inline(wi, lo, hi int64) bool { return wi-lo < edgeZone || hi-wi < edgeZone }

func (e *enc) inline(wi int64) bool { return inline(wi, e.winLo, e.winHi) }

// windowRange returns the first and the last window of a time range
// (calls from start to end), as many as an analysis holds at most.
func windowRange(start, end, window int64) (lo, hi int64) {
	lo, hi = floorDiv(start, max(window, 1)), floorDiv(end, max(window, 1))
	return lo, min(hi, lo+MaxWindows-1)
}

// sketchIn writes s after the length of its form, in the main part when
// main is set, else in the interior part.
func (e *enc) sketchIn(s *Sketch, main bool) {
	if main {
		e.sketchLen(s)
		return
	}
	e.b, e.ib = e.ib, e.b
	e.sketchLen(s)
	e.b, e.ib = e.ib, e.b
}

// sketchLen writes s after the length of its form, so that a reader can
// skip it.
func (e *enc) sketchLen(s *Sketch) {
	at := len(e.b)
	e.sketch(s)
	n := len(e.b) - at
	var l [binary.MaxVarintLen64]byte
	k := binary.PutUvarint(l[:], uint64(n))
	e.b = append(e.b, l[:k]...)
	copy(e.b[at+k:], e.b[at:at+n])
	copy(e.b[at:], l[:k])
}

// sketch writes the range of non-zero buckets only: sketches of the same
// values write the same bytes however their memory was sized. Within the
// range, a count is its uvarint and a run of r zero buckets (about half
// the buckets of a latency sketch are empty, in runs of four or five) is a
// 0 byte and the uvarint of r-1.
func (e *enc) sketch(s *Sketch) {
	e.u(s.n)
	e.u(s.zero)
	lo, hi := s.occupied()
	e.u(uint64(hi - lo))
	if hi == lo {
		return
	}
	e.i(int64(s.lo) + int64(lo))
	// at most one byte per bucket unless a count takes more
	e.b = slices.Grow(e.b, hi-lo)
	for k := lo; k < hi; {
		c := s.counts[k]
		if s.empty(k) {
			r := k + 1
			for s.empty(r) { // the range ends on a non-empty bucket
				r++
			}
			e.b = append(e.b, 0)
			e.u(uint64(r - k - 1))
			k = r
			continue
		}
		if c < 0x80 && s.carry == nil {
			e.b = append(e.b, byte(c))
		} else {
			e.u(s.count(k))
		}
		k++
	}
}

func (e *enc) distinct(d *distinct) {
	if d.regs != nil {
		e.u(1)
		e.b = append(e.b, d.regs...)
		return
	}
	e.u(0)
	hs := make([]uint64, 0, d.n)
	d.exact(func(h uint64) { hs = append(hs, h) })
	slices.Sort(hs)
	e.u(uint64(len(hs)))
	for _, h := range hs {
		e.u64(h)
	}
}

// enc writes the binary form's main part to b and its interior part to
// ib; winLo and winHi are the partial's first and last windows.
type enc struct {
	b, ib        []byte
	winLo, winHi int64
}

func (e *enc) u(v uint64)   { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) i(v int64)    { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *enc) s(v string) {
	e.u(uint64(len(v)))
	e.b = append(e.b, v...)
}
func (e *enc) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// minBucket and maxBucket are the buckets of the shortest duration (1 ns)
// and of the longest (2^63-1 ns): every sketch of a partial holds
// durations (a call's, a self time), whose buckets lie between them, and
// the encoder writes the occupied buckets only. Decoded ranges are held to
// them, so that neither a damaged count nor a merge of damaged sketches
// (the union of their ranges) can allocate much: a run of empty buckets
// takes two bytes, so a sketch's range costs its input little, and with
// the float64 range (75k buckets) every window of a few bytes could make
// the decoder allocate 150 KB: a partial of tens of kilobytes, hundreds of
// megabytes.
var (
	minBucket      = bucketOf(1)
	maxBucket      = bucketOf(math.MaxInt64)
	maxSketchRange = int(maxBucket) - int(minBucket) + 1
)

// errSummarised is AppendBinary's and Merge's error for a partial whose
// windows were summarised as decoded (DecodeOptions.Summarise).
var errSummarised = errors.New("a partial decoded with summarised windows is for its table only")

// errNoTraces is AppendBinary's and Merge's error for a partial
// accumulated without the trace pass (Options.EdgesOnly): merged with
// others, its traces would be missing from the services' windows.
var errNoTraces = errors.New("a partial accumulated without the trace pass (Options.EdgesOnly) is for its table only")

// errShort is the error of a binary form that ends too early.
var errShort = errors.New("truncated")

// dec reads the binary form; the first error sticks and later reads return
// zero values.
type dec struct {
	b   []byte
	off int
	err error
	slabs
	names map[string]string // the service, operation and profile names read
	// summarise: an edge window outside every range of shared (window
	// indexes) keeps its summary, its sketch skipped (DecodeOptions)
	summarise bool
	shared    [][2]int64
	// the interior part (AppendBinaryParts) and where in it the next
	// sketch is, once read (interior): nil when the decoding needs none
	ib           []byte
	ioff         int
	interior     func() ([]byte, error)
	winLo, winHi int64 // the partial's first and last windows
}

// slabs are the memory that a decoder carves new accumulators and sketch
// counts from. A Partial keeps its decoder's slabs, so that what one
// partial's decoding leaves of them serves the next (MergeBinary).
type slabs struct {
	slab    []uint16 // for sketch counts
	accs    []acc    // for edge windows
	sums    []winSum // for the summaries of edge windows
	svcSums []svcSum // for the summaries of service windows
	scratch []uint16 // zero counts for a sketch read to be merged
}

// refill replaces *slab, which holds fewer than n values, with a new slab
// of 256 KiB (n values at least). Decoding writes nearly every byte of it
// at once, so its pages are faulted in with one system call
// (prefault.Make), not one fault each: on the VM of docs/scale.md
// decoding the four partials of a 40M-span day took 16% less CPU time this
// way, system time 42% less. (Slabs of 2 MiB took no less time, and the
// merge's peak memory grew by their unused ends.)
func refill[T any](slab *[]T, n int) {
	*slab = prefault.Make[T](max(n, (256<<10)/int(unsafe.Sizeof(*new(T)))))
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("byte %d: %s", d.off, fmt.Sprintf(format, args...))
	}
}

// u and i read an unsigned and a zig-zag varint; most take one byte (a
// window's counters are mostly small), read inline.
func (d *dec) u() uint64 {
	if d.off < len(d.b) && d.b[d.off] < 0x80 && d.err == nil {
		d.off++
		return uint64(d.b[d.off-1])
	}
	return varint(d, binary.Uvarint)
}

func (d *dec) i() int64 {
	if d.off < len(d.b) && d.b[d.off] < 0x80 && d.err == nil {
		c := d.b[d.off]
		d.off++
		return int64(c>>1) ^ -int64(c&1) // zig-zag
	}
	return varint(d, binary.Varint)
}

// varint reads one varint with read (binary.Uvarint or binary.Varint).
func varint[T uint64 | int64](d *dec, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b[d.off:])
	if n <= 0 {
		d.fail("%v", errShort)
		return 0
	}
	d.off += n
	return v
}

// count reads a count of elements that take at least min bytes each,
// bounded by the bytes left (so a corrupt count cannot allocate much).
func (d *dec) count(min int) int {
	n := d.u()
	if d.err == nil && n > uint64((len(d.b)-d.off)/min) {
		d.fail("count %d exceeds the %d bytes left", n, len(d.b)-d.off)
		return 0
	}
	return int(n)
}

func (d *dec) u64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b)-d.off < 8 {
		d.fail("%v", errShort)
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *dec) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b)-d.off < n {
		d.fail("%v", errShort)
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *dec) s() string { return string(d.bytes(d.count(1))) }

// name reads a string that recurs (a service, a root operation, a
// profile): each distinct one is allocated once, not once per service
// window, trace end and outcome that names it (hundreds of thousands).
func (d *dec) name() string { return d.nameOf(d.bytes(d.count(1))) }

// nameOf is name for the bytes b.
func (d *dec) nameOf(b []byte) string {
	if v, ok := d.names[string(b)]; ok {
		return v
	}
	v := string(b)
	if d.names == nil {
		d.names = map[string]string{}
	}
	d.names[v] = v
	return v
}

// outRow reads one trace outcome row: its caller, callee and profile as
// stored, its window, and its counts.
func (d *dec) outRow() (caller, callee, prof []byte, win int64, a outAcc) {
	caller, callee, prof = d.bytes(d.count(1)), d.bytes(d.count(1)), d.bytes(d.count(1))
	win = d.i()
	a = outAcc{traces: d.i(), judged: d.i(), failed: d.i(), calls: d.i()}
	return caller, callee, prof, win, a
}

func (d *dec) bool() bool {
	b := d.bytes(1)
	if d.err == nil && b[0] > 1 {
		d.fail("boolean %d", b[0])
	}
	return len(b) == 1 && b[0] == 1
}

// int32 reads a value that must fit an int32.
func (d *dec) int32() int32 {
	v := d.i()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("value %d out of range", v)
		return 0
	}
	return int32(v)
}

// DecodePartial reads the binary form written by AppendBinary.
func DecodePartial(b []byte) (*Partial, error) {
	main, interior, err := splitBinary(b)
	if err != nil {
		return nil, err
	}
	return DecodePartialParts(main, interior, DecodeOptions{})
}

// splitBinary splits AppendBinary's form into its parts.
func splitBinary(b []byte) (main []byte, interior func() ([]byte, error), err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, fmt.Errorf("main part of %d bytes in %d", n, len(b))
	}
	main, rest := b[k:k+int(n)], b[k+int(n):]
	return main, func() ([]byte, error) { return rest, nil }, nil
}

// TimeRange is the time a partial's calls cover, in Unix nanoseconds:
// from the first start to the last end (Start > End: no calls).
type TimeRange struct{ Start, End int64 }

// TimeRange returns the time p's calls cover.
func (p *Partial) TimeRange() TimeRange { return TimeRange{p.minStart, p.maxEnd} }

// DecodeOptions control DecodePartialParts and MergeParts.
type DecodeOptions struct {
	// Summarise keeps of each edge window that lies outside the windows
	// of every range in Others (the other partials of a merge, none of
	// which can then hold it) its counts and the summary of its sketch
	// that the form carries beside it, and skips the sketch; each edge's
	// total sketch is then the sum of the partials' totals. A merge so
	// neither decodes most sketches nor summarises them again. A partial
	// decoded so is for Table only: AppendBinary and Merge refuse it, and
	// it merges only what is decoded so (MergeParts).
	Summarise bool
	Others    []TimeRange
	// Want, with Summarise, is the time range the body must hold (its
	// file's header's, from which the other partials' Others came).
	Want TimeRange
}

// DecodePartialParts is DecodePartial of the two parts of the binary form
// (AppendBinaryParts), with options; interior returns the interior part,
// called only when the decoding needs it.
func DecodePartialParts(main []byte, interior func() ([]byte, error), opt DecodeOptions) (*Partial, error) {
	d := &dec{b: main, interior: interior}
	window := d.i()
	if d.err == nil {
		if err := checkWindow(time.Duration(window)); err != nil {
			return nil, err
		}
	}
	p := newPartial(time.Duration(window))
	p.summarised = opt.Summarise
	d.options(opt, p.window)
	if err := p.decode(d, nil, true, opt); err != nil {
		return nil, err
	}
	p.slabs = d.slabs
	return p, nil
}

// options sets the decoder's summarising from opt, for windows of w.
// The others' window ranges are sorted and the overlapping ones joined,
// so that sharedWindow searches them instead of trying each (a merge of
// many shards).
func (d *dec) options(opt DecodeOptions, w int64) {
	d.summarise = opt.Summarise
	var rs [][2]int64
	for _, r := range opt.Others {
		if r.Start <= r.End {
			rs = append(rs, [2]int64{floorDiv(r.Start, max(w, 1)), floorDiv(r.End, max(w, 1))})
		}
	}
	slices.SortFunc(rs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	for _, r := range rs {
		if n := len(d.shared); n > 0 && r[0] <= d.shared[n-1][1] {
			d.shared[n-1][1] = max(d.shared[n-1][1], r[1])
			continue
		}
		d.shared = append(d.shared, r)
	}
}

// MergeBinary merges the partial whose binary form is b into p, as
// p.Merge(q) would after q = DecodePartial(b) and q.RemapFiles(to) (to nil:
// the same file list), but without building q's maps first: each edge,
// service window, trace end and outcome goes straight into p's. On an
// error p holds part of b: discard it.
func (p *Partial) MergeBinary(b []byte, to []int) error {
	main, interior, err := splitBinary(b)
	if err != nil {
		return err
	}
	return p.MergeParts(main, interior, to, DecodeOptions{})
}

// MergeParts is MergeBinary of the two parts of the binary form, as
// DecodePartialParts; opt must summarise if and only if p's decoding did.
func (p *Partial) MergeParts(main []byte, interior func() ([]byte, error), to []int, opt DecodeOptions) error {
	if p.summarised != opt.Summarise {
		return errors.New("partials decoded with and without summaries do not merge")
	}
	d := &dec{b: main, interior: interior, slabs: p.slabs}
	if w := d.i(); d.err == nil && w != p.window {
		return fmt.Errorf("window %s differs from %s", time.Duration(w), time.Duration(p.window))
	}
	d.options(opt, p.window)
	err := p.decode(d, to, false, opt)
	p.slabs = d.slabs
	return err
}

// decode reads the binary form after the window into p: into a partial
// that holds nothing yet when fresh (newPartial's), else merging into what
// p holds. File indexes are renumbered by to when not nil. Every list must
// be in the encoder's order, each key once.
func (p *Partial) decode(d *dec, to []int, fresh bool, opt DecodeOptions) (err error) {
	file := func(f int64) int {
		if f < 0 || to == nil && f > math.MaxInt32 || to != nil && f >= int64(len(to)) {
			d.fail("file %d", f)
			return 0
		}
		if to != nil {
			return to[f]
		}
		return int(f)
	}
	rows, minStart, maxEnd := d.i(), d.i(), d.i()
	if opt.Summarise && d.err == nil && (TimeRange{minStart, maxEnd}) != opt.Want {
		return fmt.Errorf("its calls span %d to %d ns, its header says %d to %d", minStart, maxEnd, opt.Want.Start, opt.Want.End)
	}
	var all distinct
	d.distinct(&all)
	if fresh {
		p.rows, p.minStart, p.maxEnd, p.all = rows, minStart, maxEnd, all
	} else {
		p.rows += rows
		p.minStart, p.maxEnd = min(p.minStart, minStart), max(p.maxEnd, maxEnd)
		p.all.merge(&all)
	}
	for r := ingest.ReasonOK + 1; r < ingest.NumReasons; r++ {
		n := d.i()
		if n == 0 || d.err != nil {
			continue
		}
		f, row, path := d.i(), d.i(), d.s()
		if n < 0 {
			d.fail("bad rows %d in file %d", n, f)
			break
		}
		if f := file(f); d.err == nil {
			p.bad.AddCount(r, n, f, path, row)
		}
	}
	// every window of an edge holds calls, which lie within the time range,
	// whose starts span fewer than MaxWindows windows (Accumulate)
	window := p.window
	winLo, winHi := windowRange(minStart, maxEnd, window)
	d.winLo, d.winHi = winLo, winHi
	// the interior part, unless every window there is summarised: when
	// another partial's time range reaches into this one's interior
	if d.err == nil && (!d.summarise || d.sharedInterior()) {
		if d.interior == nil {
			return errors.New("no interior part, which the decoding needs")
		}
		if d.ib, err = d.interior(); err != nil {
			return err
		}
	}
	var prevEdge edgeKey
	for i := range d.count(8) {
		k := edgeKey{d.name(), d.name()}
		if d.err != nil {
			break
		}
		if i > 0 && cmp.Or(cmp.Compare(k.caller, prevEdge.caller), cmp.Compare(k.callee, prevEdge.callee)) <= 0 {
			d.fail("edge %s→%s out of order or twice", k.caller, k.callee)
			break
		}
		prevEdge = k
		e, seen := p.edges[k], true
		if e == nil {
			e, seen = &edgeAcc{caller: k.caller, callee: k.callee, codes: map[int32]int64{}}, false
			p.edges[k] = e
		}
		if d.edge(e, seen, window, winLo, winHi); d.err != nil {
			break
		}
	}
	// the runs at row-group edges, which the merge resolves: their rows'
	// windows (stashWins) keep their services' sketches
	stashWins := map[int64]bool{}
	n := d.count(13)
	p.stash = slices.Grow(p.stash, n)
	for range n {
		s := stashRun{file: int(d.int32()), rg: int(d.int32()), head: d.bool(), tail: d.bool(), trace: d.u64()}
		m := d.count(24)
		s.rows, s.callers, s.callees, s.roots, s.profs = make([]runRow, m), make([]string, m), make([]string, m), make([]string, m), make([]string, m)
		for j := range m {
			s.rows[j] = runRow{span: d.u64(), parent: d.u64(), start: d.i(), dur: d.i()}
			s.callers[j], s.callees[j], s.roots[j], s.profs[j] = d.name(), d.name(), d.name(), d.name()
			s.rows[j].err, s.rows[j].inj = d.bool(), d.bool()
		}
		if d.err != nil {
			break
		}
		if s.file < 0 || s.rg < 0 {
			d.fail("trace run at file %d, row group %d", s.file, s.rg)
			break
		}
		s.file = file(int64(s.file))
		for _, r := range s.rows {
			// the merge adds the rows' self times to their services'
			// windows, whose sketches are in the main part
			if d.summarise && (r.start < minStart || r.start > maxEnd) {
				d.fail("trace run row at %d ns, outside the calls' time", r.start)
				break
			}
			stashWins[floorDiv(r.start, window)] = true
		}
		p.stash = append(p.stash, s)
	}
	// service windows and trace ends go to lists, sorted as read: the
	// table sorts them all and merges the few that recur (a window at the
	// edge of two partials' times), without a map insert for each
	n = d.count(5)
	svcs := prefault.Make[svcEntry](n)
	for i := range svcs {
		e := &svcs[i]
		e.k = sk{d.name(), d.i()}
		if d.err == nil && i > 0 && cmp.Or(cmp.Compare(e.k.svc, svcs[i-1].k.svc), cmp.Compare(e.k.win, svcs[i-1].k.win)) <= 0 {
			d.fail("service window %s %d out of order or twice", e.k.svc, e.k.win)
		}
		if d.summarise && (e.k.win < winLo || e.k.win > winHi) {
			d.fail("service window %s %d outside the time range (windows %d to %d)", e.k.svc, e.k.win, winLo, winHi)
		}
		if d.err != nil {
			break
		}
		e.a.calls, e.a.ownErrors = d.i(), d.i()
		main := stashWins[e.k.win] || d.inline(e.k.win)
		if d.summarise && !d.sharedWindow(e.k.win) && !stashWins[e.k.win] {
			e.a.sum = fromSlab(&d.svcSums)
			d.selfSum(e.a.sum)
			d.skipSketchIn(main)
			continue
		}
		d.selfSum(nil)
		d.sketchIn(&e.a.self, &d.slab, main)
	}
	if n > 0 {
		p.svcLists = append(p.svcLists, svcs)
	}
	n = d.count(4)
	ends := prefault.Make[endEntry](n)
	for i := range ends {
		e := &ends[i]
		e.k = ek{d.name(), d.i(), d.name()}
		e.n = d.i()
		if d.err != nil {
			break
		}
		if i > 0 {
			if o := &ends[i-1].k; cmp.Or(cmp.Compare(e.k.root, o.root), cmp.Compare(e.k.win, o.win), cmp.Compare(e.k.svc, o.svc)) <= 0 {
				d.fail("trace end %s %d %s out of order or twice", e.k.root, e.k.win, e.k.svc)
				break
			}
		}
	}
	if n > 0 {
		p.endLists = append(p.endLists, ends)
	}
	runs, orphans := d.i(), d.i()
	p.runs.Runs += runs
	p.runs.Orphans += orphans
	// the trace outcomes are checked here and kept as their bytes, edge by
	// edge (foldOutcomes decodes those it needs)
	n = d.count(8)
	var sec outSection
	start := d.off
	var prevCaller, prevCallee, prevProf []byte
	var prevWin int64
	for i := range n {
		at := d.off
		caller, callee, prof, win, a := d.outRow()
		if d.err != nil {
			break
		}
		if a.traces < 0 || a.judged < 0 || a.failed < 0 || a.calls < 0 || a.judged > a.traces || a.failed > a.judged {
			d.fail("trace outcome %s→%s %q %d: counts %d/%d/%d/%d", caller, callee, prof, win, a.traces, a.judged, a.failed, a.calls)
			break
		}
		edge := cmp.Or(bytes.Compare(caller, prevCaller), bytes.Compare(callee, prevCallee))
		if i > 0 && cmp.Or(edge, bytes.Compare(prof, prevProf), cmp.Compare(win, prevWin)) <= 0 {
			d.fail("trace outcome %s→%s %q %d out of order or twice", caller, callee, prof, win)
			break
		}
		if i == 0 || edge != 0 {
			sec.runs = append(sec.runs, outRun{caller: d.nameOf(caller), callee: d.nameOf(callee), lo: at - start})
		}
		r := &sec.runs[len(sec.runs)-1]
		r.hi = d.off - start
		r.injected = r.injected || len(prof) > 0
		prevCaller, prevCallee, prevProf, prevWin = caller, callee, prof, win
	}
	if d.err == nil && len(sec.runs) > 0 {
		sec.b = slices.Clone(d.b[start:d.off])
		p.outPending = append(p.outPending, sec)
	}
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d bytes left over", len(d.b)-d.off)
	}
	if d.err == nil && d.ib != nil && d.ioff != len(d.ib) {
		d.fail("%d bytes of the interior part left over", len(d.ib)-d.ioff)
	}
	if d.err == nil {
		if lo, hi := p.windowRange(); lo <= hi && hi-lo >= MaxWindows {
			w := time.Duration(p.window)
			return fmt.Errorf("the partials' windows of %s span %s to %s, more than the %d windows an analysis holds: write them with --window %s or longer",
				w, stamp(lo*p.window), stamp(hi*p.window), MaxWindows, windowFor(lo*p.window, hi*p.window))
		}
	}
	return d.err
}

// windowRange returns the first and the last window index of p's edges.
func (p *Partial) windowRange() (lo, hi int64) {
	lo, hi = math.MaxInt64, math.MinInt64
	for _, e := range p.edges {
		if len(e.wins) > 0 {
			lo, hi = min(lo, e.base), max(hi, e.base+int64(len(e.wins))-1)
		}
	}
	return lo, hi
}

// edge reads one edge's body (after its names) into e: a new edge when
// not seen, else one that p already holds, to which it adds. A window that
// e lacks is decoded into a new accumulator that e keeps; one that e has
// is decoded into scratch space and merged, so a merge allocates only for
// what it adds.
func (d *dec) edge(e *edgeAcc, seen bool, win, winLo, winHi int64) {
	minDepth := d.int32()
	if seen {
		e.minDepth = min(e.minDepth, minDepth)
	} else {
		e.minDepth = minDepth
	}
	e.depthSum += d.i()
	e.calls += d.i()
	e.grpc += d.i()
	e.http += d.i()
	e.grpcCodes += d.i()
	for range d.count(2) {
		c := d.int32()
		e.codes[c] += d.i()
	}
	if n := d.count(4); n > 0 {
		if e.inj == nil {
			e.inj = make(map[injKey]int64, n)
		}
		for range n {
			k := injKey{win: d.i(), profile: d.name()}
			f := d.i()
			if f < 0 || f >= NumFaultTypes {
				d.fail("fault type %d", f)
				return
			}
			k.fault = int8(f)
			e.inj[k] += d.i()
		}
	}
	if seen {
		var t distinct
		d.distinct(&t)
		e.traces.merge(&t)
	} else {
		d.distinct(&e.traces)
	}
	var w acc // the window being read, when e has it already
	prev := int64(math.MinInt64)
	for range d.count(19) {
		wi := d.i()
		if d.err != nil {
			return
		}
		if wi <= prev {
			d.fail("edge %s→%s: windows out of order", e.caller, e.callee)
			return
		}
		prev = wi
		if wi < winLo || wi > winHi {
			d.fail("edge %s→%s: window %d outside the time range (windows %d to %d)", e.caller, e.callee, wi, winLo, winHi)
			return
		}
		if len(e.wins) > 0 && max(wi, e.base+int64(len(e.wins))-1)-min(wi, e.base) >= MaxWindows {
			d.fail("edge %s→%s: the window at %s lies more than %d windows from the edge's windows of other partials (%s to %s): write them with a longer --window",
				e.caller, e.callee, stamp(wi*win), MaxWindows, stamp(e.base*win), stamp((e.base+int64(len(e.wins))-1)*win))
			return
		}
		t := e.slot(wi)
		if *t == nil {
			a := fromSlab(&d.accs)
			if d.summarise && !d.sharedWindow(wi) {
				// no other partial holds it: its summary, not its sketch
				d.counts(a)
				a.sum = fromSlab(&d.sums)
				d.windowSum(a, a.sum)
				d.skipSketchIn(d.inline(wi))
			} else {
				d.counts(a)
				d.windowSum(a, nil)
				d.sketchIn(&a.sk, &d.slab, d.inline(wi))
			}
			if d.err != nil {
				return
			}
			*t = a
			continue
		}
		if (*t).sum != nil {
			d.fail("edge %s→%s: window %d is in two partials, one of which said no other could hold it", e.caller, e.callee, wi)
			return
		}
		w = acc{}
		slab := d.zeros()
		d.counts(&w)
		d.windowSum(&w, nil)
		if d.sketchIn(&w.sk, &slab, d.inline(wi)); d.err == nil {
			(*t).merge(&w)
		}
		clear(w.sk.counts)
		if d.err != nil {
			return
		}
	}
	// the edge's total: the sum of the partials' totals when summarising
	if !d.summarise {
		d.skipSketch()
		return
	}
	e.summed = true
	w = acc{}
	slab := d.zeros()
	if d.sketchLen(&w.sk, &slab); d.err == nil {
		e.pre.Merge(&w.sk)
	}
	clear(w.sk.counts)
}

// fromSlab returns a new accumulator carved from *slab, refilled when
// empty.
func fromSlab[T any](slab *[]T) *T {
	if len(*slab) == 0 {
		refill(slab, 1)
	}
	return carve(slab, 1)
}

// zeros returns the scratch counts into which a sketch to be merged is
// read: zero, and room for the largest; the caller clears what it used.
func (d *dec) zeros() []uint16 {
	if d.scratch == nil {
		d.scratch = zeroed[uint16](maxSketchRange, maxSketchRange)
	}
	return d.scratch
}

// counts reads one window's counts into a.
func (d *dec) counts(a *acc) {
	a.calls, a.errors, a.timeouts, a.retries = d.i(), d.i(), d.i(), d.i()
	a.fallbacks, a.circuitOpen, a.durSum, a.maxDur = d.i(), d.i(), d.i(), d.i()
	for k := range a.injected {
		a.injected[k] = d.i()
	}
	r := &a.injResp
	r.Retries, r.Timeouts, r.CircuitOpen, r.Fallbacks = d.i(), d.i(), d.i(), d.i()
}

// windowSum reads the summary of a window's sketch (enc.windowSum) into
// s, or past it when s is nil.
func (d *dec) windowSum(a *acc, s *winSum) {
	if a.calls <= 0 {
		return
	}
	var q [len(statQuantiles)]float64
	m, v := d.summary(q[:])
	if s != nil {
		*s = winSum{q: q, logMean: m, logVar: v}
	}
}

// selfSum reads the summary of a service window's self-time sketch
// (enc.selfSum) into s, or past it when s is nil.
func (d *dec) selfSum(s *svcSum) {
	var q [len(selfQuantile)]float64
	m, v := d.summary(q[:])
	if s != nil {
		*s = svcSum{p50: q[0], logMean: m, logVar: v}
	}
}

// summary reads what enc.summary wrote for len(q) quantiles: their values
// into q, and the log moments, which it returns.
func (d *dec) summary(q []float64) (mean, variance float64) {
	for j := range q {
		q[j] = d.bucket()
	}
	return math.Float64frombits(d.u64()), math.Float64frombits(d.u64())
}

// bucket reads a quantile's bucket (enc.bucket) and returns its value.
func (d *dec) bucket() float64 {
	c := d.u()
	if c > uint64(maxBucket-minBucket)+1 {
		d.fail("quantile bucket %d out of range", c)
		return 0
	}
	if c == 0 {
		return 0
	}
	return bucketValue(minBucket + int32(c-1))
}

// sketchLen reads a sketch written by enc.sketchLen into s (as sketch).
func (d *dec) sketchLen(s *Sketch, slab *[]uint16) {
	n := d.count(1)
	end := d.off + n
	d.sketch(s, slab)
	if d.err == nil && d.off != end {
		d.fail("sketch of %d bytes took %d", n, d.off-end+n)
	}
}

// skipSketch reads past a sketch written by enc.sketchLen.
func (d *dec) skipSketch() { d.bytes(d.count(1)) }

// inline reports whether window wi's sketch is in the main part.
func (d *dec) inline(wi int64) bool { return inline(wi, d.winLo, d.winHi) }

// sharedInterior reports whether another partial's time range (d.shared)
// reaches a window whose sketch is in the interior part.
func (d *dec) sharedInterior() bool {
	lo, hi := d.winLo+edgeZone, d.winHi-edgeZone
	for _, r := range d.shared {
		if r[0] <= hi && r[1] >= lo {
			return true
		}
	}
	return false
}

// sketchIn reads a sketch written by enc.sketchIn into s (as sketchLen),
// from the main part when main is set, else from the interior part.
func (d *dec) sketchIn(s *Sketch, slab *[]uint16, main bool) {
	if main {
		d.sketchLen(s, slab)
		return
	}
	if d.ib == nil {
		// a window that, by the time ranges, only this partial holds
		d.fail("the interior part needed for a window another partial holds, whose time range does not reach it")
		return
	}
	d.swapParts()
	d.sketchLen(s, slab)
	d.swapParts()
}

// skipSketchIn reads past a sketch written by enc.sketchIn: in the
// interior part only when it was read.
func (d *dec) skipSketchIn(main bool) {
	switch {
	case main:
		d.skipSketch()
	case d.ib != nil:
		d.swapParts()
		d.skipSketch()
		d.swapParts()
	}
}

// swapParts makes the decoder read the other part.
func (d *dec) swapParts() { d.b, d.ib, d.off, d.ioff = d.ib, d.b, d.ioff, d.off }

// sharedWindow reports whether window wi lies in the time range of
// another partial of the merge (d.shared), which may hold it too.
func (d *dec) sharedWindow(wi int64) bool {
	// the first range that does not end before wi, which holds it or
	// starts after it
	lo, hi := 0, len(d.shared)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if d.shared[m][1] < wi {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo < len(d.shared) && d.shared[lo][0] <= wi
}

// sketch reads a sketch into s, which is empty; its counts are carved from
// slab, whose buckets must be zero.
func (d *dec) sketch(s *Sketch, slab *[]uint16) {
	s.n, s.zero = d.u(), d.u()
	n := int(min(d.u(), uint64(maxSketchRange)+1))
	if n > maxSketchRange {
		d.fail("sketch of %d buckets (at most %d)", n, maxSketchRange)
		return
	}
	if n == 0 {
		if d.err == nil && s.n != s.zero {
			d.fail("sketch of %d values has no buckets", s.n)
		}
		return
	}
	lo := d.i()
	if lo < int64(minBucket) || lo > int64(maxBucket)-int64(n)+1 {
		d.fail("sketch buckets %d to %d out of range (%d to %d)", lo, lo+int64(n)-1, minBucket, maxBucket)
		return
	}
	// s is new: its counts carved from one large slab (most sketches are
	// small), capped so that a later growth copies instead of overwriting
	// the next
	if len(*slab) < n {
		refill(slab, n)
	}
	s.presize(int32(lo), n, slab)
	sum := s.zero
	b := d.b[d.off:]
	run := true // a run of empty buckets neither starts the range nor follows a run
	for i := 0; i < n; i++ {
		// most counts take one byte: read those inline
		if len(b) > 0 && b[0] < 0x80 && b[0] != 0 {
			s.counts[i] = uint16(b[0])
			sum += uint64(b[0])
			b = b[1:]
			run = false
			continue
		}
		if len(b) > 0 && b[0] == 0 {
			// r+1 empty buckets, zero in the slab already; the range
			// ends on a non-empty one
			r, k := binary.Uvarint(b[1:])
			if k <= 0 || run || r >= uint64(n-i-1) {
				d.off = len(d.b) - len(b)
				d.fail("sketch: bad run of empty buckets")
				return
			}
			i += int(r)
			b = b[1+k:]
			run = true
			continue
		}
		run = false
		v, k := binary.Uvarint(b)
		if k <= 0 {
			d.off = len(d.b) - len(b)
			d.fail("%v", errShort)
			return
		}
		s.counts[i] = uint16(v)
		if v >= countWrap {
			s.addCarry(s.lo+int32(i), v&^(countWrap-1))
		}
		sum += v
		b = b[k:]
	}
	d.off = len(d.b) - len(b)
	if sum != s.n {
		d.fail("sketch counts add up to %d, not %d", sum, s.n)
	}
}

func (d *dec) distinct(x *distinct) {
	switch d.u() {
	case 0:
		n := d.count(8)
		if n > exactLimit {
			d.fail("%d exact distinct values (at most %d)", n, exactLimit)
			return
		}
		for range n {
			x.addExact(d.u64())
		}
	case 1:
		x.regs = slices.Clone(d.bytes(hllM))
		for _, r := range x.regs {
			if r > 64-hllP+1 {
				d.fail("HyperLogLog register %d out of range", r)
				return
			}
		}
	default:
		d.fail("distinct counter of unknown kind")
	}
}
