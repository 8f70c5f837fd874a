package sim

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"slices"

	"github.com/chaosgen/chaosgen/inject"
)

// rspan is one recorded attempt of a call. Its span id and parent span id
// are byte ranges of its trace's buf.
type rspan struct {
	idLo, idHi  int32 // span id: buf[idLo:idHi]
	paLo, paHi  int32 // parent span id: buf[paLo:paHi]
	route       int32 // index into the simulator's route table
	depth       int32
	retry       int32
	status      int32
	start, dur  int64
	stepLo      int32
	stepHi      int32
	detLo       int32 // kids[detLo:detHi] are detached calls, started kidOff
	detHi       int32 // after the span starts; the span does not wait for them
	execs       int32 // times replayed so far, for unique span ids
	err         bool
	timedOut    bool // as replayed: recorded, or a failed span that gave up on a child
	recTimedOut bool // as recorded
	fallback    bool
	ownFail     bool // failed by itself, not because a child call failed
}

// rcall is one logical call: its first attempt and the recorded retries.
type rcall struct {
	attLo, attHi int32 // attempts[attLo:attHi] index spans
	start, end   int64 // first attempt start, last attempt end
	// absorbed: the call failed for good and its caller still succeeded
	// (a fallback or an ignored error that the spans do not name)
	absorbed bool
}

// step is a stretch of the callee's own time followed by a group of child
// calls that run in parallel (kids[kidLo:kidHi], each started kidOff after
// the group starts).
type step struct {
	gap          int64
	kidLo, kidHi int32
}

// rtrace is one recorded trace, arranged for replay. While its rows are
// read it is the pending trace of the driver; once built it belongs to the
// engine until its last call ends, and is then reused for another trace
// (its slices are kept), so memory follows the traces in flight.
type rtrace struct {
	buf      []byte // trace id, then the span and parent ids of the rows
	idLen    int32  // buf[:idLen] is the trace id
	id       string // the trace id as a string, when needed (output, faults)
	str      string // string(buf), with output spans: span ids are slices of it
	spans    []rspan
	calls    []rcall
	attempts []int32
	steps    []step
	kids     []int32
	kidOff   []int64
	roots    []int32 // root logical calls
	arrival  int64   // earliest root start (recorded)
	sole     int32   // the one profile inject.Decide fires on in this trace; -1 none or several
	// fires caches inject.Fires per profile for this trace: 0 unknown,
	// 1 no, 2 yes (a profile's decision depends only on the trace id once
	// its target matched the route).
	fires []uint8
	// built says calls, attempts, steps, kids, kidOff, roots and the
	// spans' replay fields are up to date with the spans; orphans is the
	// number of spans that hang from no root.
	built   bool
	orphans int32

	// driver state while the rows are read
	hash  uint64
	hnext *rtrace // next open trace with the same hash
}

func (t *rtrace) idBytes() []byte { return t.buf[:t.idLen] }

// spanID returns span i's id (output only: needs t.str).
func (t *rtrace) spanID(i int32) string {
	sp := &t.spans[i]
	return t.str[sp.idLo:sp.idHi]
}

// reset empties a trace for reuse, keeping its slices unless they are
// larger than most traces need: otherwise the reused traces would ratchet up
// to the largest traces of the input and memory would grow with it.
func (t *rtrace) reset() {
	const keep = 64 // spans
	if cap(t.spans) > keep || cap(t.buf) > 64*keep || cap(t.steps) > 2*keep || cap(t.kids) > 2*keep {
		*t = rtrace{fires: t.fires}
	}
	t.buf = t.buf[:0]
	t.idLen = 0
	t.id, t.str = "", ""
	t.spans = t.spans[:0]
	t.calls = t.calls[:0]
	t.attempts = t.attempts[:0]
	t.steps = t.steps[:0]
	t.kids = t.kids[:0]
	t.kidOff = t.kidOff[:0]
	t.roots = t.roots[:0]
	t.arrival = 0
	t.sole = -1
	clear(t.fires)
	t.hash, t.hnext = 0, nil
	t.built, t.orphans = false, 0
}

// decide is inject.Decide for profile pi of engine e on a route of this
// trace that the profile's target matches: the decision depends only on
// the trace id, so it is computed once per trace and profile.
func (t *rtrace) decide(e *engine, pi int32) bool {
	if int(pi) >= len(t.fires) {
		t.fires = append(t.fires, make([]uint8, len(e.profiles)-len(t.fires))...)
	}
	switch t.fires[pi] {
	case 1:
		return false
	case 2:
		return true
	}
	p := e.profiles[pi].p
	ok := inject.Fires(p.ID, p.Rate, e.seed, t.id)
	t.fires[pi] = 1
	if ok {
		t.fires[pi] = 2
	}
	return ok
}

var idSeed = maphash.MakeSeed()

// hashID hashes a span or trace id for the builder's and the driver's
// tables: ids are random bytes or hex, so their first and last eight
// bytes (and the length) mix well enough; shorter ids go to maphash.
func hashID(b []byte) uint64 {
	if len(b) < 8 {
		return maphash.Bytes(idSeed, b)
	}
	x := binary.LittleEndian.Uint64(b) ^ uint64(len(b))*0x9e3779b97f4a7c15
	y := binary.LittleEndian.Uint64(b[len(b)-8:])
	h := (x ^ y*0xbf58476d1ce4e5b9) * 0x94d049bb133111eb
	return h ^ h>>31
}

// builder holds the scratch space of rtrace.build, reused from trace to
// trace.
type builder struct {
	t          *rtrace
	tab        []int32 // open-addressing table of span ids: span index or -1
	childStart []int32
	parent     []int32
	child      []int32
	fill       []int32
	rootSpans  []int32
	visited    []bool
	reached    int
	stack      []int32 // call lists of the spans being visited
	grp        []int32 // group of each sibling
	gfirst     []int32 // first span of each group
	gcount     []int32
}

func (b *builder) lessSpan(x, y int32) int {
	t := b.t
	sa, sb := &t.spans[x], &t.spans[y]
	switch {
	case sa.start != sb.start:
		return cmp.Compare(sa.start, sb.start)
	case sa.retry != sb.retry:
		return cmp.Compare(sa.retry, sb.retry)
	}
	return bytes.Compare(t.buf[sa.idLo:sa.idHi], t.buf[sb.idLo:sb.idHi])
}

// index fills the span id table (the last span with an id wins).
func (b *builder) index() {
	t := b.t
	n := len(t.spans)
	size := 8
	for size < 2*n {
		size <<= 1
	}
	if cap(b.tab) < size {
		b.tab = make([]int32, size)
	}
	b.tab = b.tab[:size]
	for i := range b.tab {
		b.tab[i] = -1
	}
	mask := uint64(size - 1)
	for i := range t.spans {
		sp := &t.spans[i]
		sp.timedOut = sp.recTimedOut
		id := t.buf[sp.idLo:sp.idHi]
		h := hashID(id) & mask
		for {
			k := b.tab[h]
			if k < 0 {
				b.tab[h] = int32(i)
				break
			}
			o := &t.spans[k]
			if bytes.Equal(t.buf[o.idLo:o.idHi], id) {
				b.tab[h] = int32(i)
				break
			}
			h = (h + 1) & mask
		}
	}
}

// lookup returns the span with id key, or -1.
func (b *builder) lookup(key []byte) int32 {
	t := b.t
	mask := uint64(len(b.tab) - 1)
	h := hashID(key) & mask
	for {
		k := b.tab[h]
		if k < 0 {
			return -1
		}
		o := &t.spans[k]
		if bytes.Equal(t.buf[o.idLo:o.idHi], key) {
			return k
		}
		h = (h + 1) & mask
	}
}

func grow32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n, n+n/4)
	}
	return s[:n]
}

// build arranges the spans of one trace for replay, and counts the spans
// left out because they do not hang from a root (orphans and cycles). It
// depends on the spans only, so a trace can be built again after more rows
// came.
func (b *builder) build(t *rtrace) {
	b.t = t
	n := len(t.spans)
	t.calls = t.calls[:0]
	t.attempts = t.attempts[:0]
	t.steps = t.steps[:0]
	t.kids = t.kids[:0]
	t.kidOff = t.kidOff[:0]
	t.roots = t.roots[:0]
	t.calls = slices.Grow(t.calls, n)
	t.attempts = slices.Grow(t.attempts, n)
	t.kids = slices.Grow(t.kids, n)
	t.kidOff = slices.Grow(t.kidOff, n)
	t.steps = slices.Grow(t.steps, 2*n)
	b.index()
	// children per span, in (start, span id) order
	b.childStart = grow32(b.childStart, n+1)
	clear(b.childStart)
	b.parent = grow32(b.parent, n)
	childStart, parent := b.childStart, b.parent
	for i := range t.spans {
		parent[i] = -1
		sp := &t.spans[i]
		if sp.paHi == sp.paLo {
			continue
		}
		if p := b.lookup(t.buf[sp.paLo:sp.paHi]); p >= 0 && p != int32(i) {
			parent[i] = p
			childStart[p+1]++
		}
	}
	for i := 1; i <= n; i++ {
		childStart[i] += childStart[i-1]
	}
	b.child = grow32(b.child, n)
	b.fill = grow32(b.fill, n)
	child, fill := b.child, b.fill
	copy(fill, childStart[:n])
	b.rootSpans = b.rootSpans[:0]
	for i := range t.spans {
		if p := parent[i]; p >= 0 {
			child[fill[p]] = int32(i)
			fill[p]++
		} else if sp := &t.spans[i]; sp.paHi == sp.paLo {
			b.rootSpans = append(b.rootSpans, int32(i))
		}
	}
	for p := 0; p < n; p++ {
		if childStart[p+1]-childStart[p] > 1 {
			slices.SortFunc(child[childStart[p]:childStart[p+1]], b.lessSpan)
		}
	}
	slices.SortFunc(b.rootSpans, b.lessSpan)

	if cap(b.visited) < n {
		b.visited = make([]bool, n, n+n/4)
	}
	b.visited = b.visited[:n]
	clear(b.visited)
	b.reached = 0
	b.stack = b.stack[:0]

	lo, hi := b.groupCalls(b.rootSpans)
	for c := lo; c < hi; c++ {
		t.roots = append(t.roots, c)
	}
	for _, c := range t.roots {
		rc := t.calls[c]
		for _, a := range t.attempts[rc.attLo:rc.attHi] {
			b.visit(a)
		}
	}
	t.arrival = 0
	for i, c := range t.roots {
		if i == 0 || t.calls[c].start < t.arrival {
			t.arrival = t.calls[c].start
		}
	}
	b.t = nil
	t.built = true
	t.orphans = int32(n - b.reached)
}

// groupCalls turns sibling spans into logical calls (a retry joins the
// latest call of the same route); the calls are t.calls[lo:hi].
func (b *builder) groupCalls(sibs []int32) (lo, hi int32) {
	t := b.t
	b.gfirst = b.gfirst[:0]
	b.grp = grow32(b.grp, len(sibs))
	for i, s := range sibs {
		sp := &t.spans[s]
		g := int32(-1)
		if sp.retry > 0 {
			for k := len(b.gfirst) - 1; k >= 0; k-- {
				if t.spans[b.gfirst[k]].route == sp.route {
					g = int32(k)
					break
				}
			}
		}
		if g < 0 {
			g = int32(len(b.gfirst))
			b.gfirst = append(b.gfirst, s)
		}
		b.grp[i] = g
	}
	ng := len(b.gfirst)
	lo = int32(len(t.calls))
	if ng == len(sibs) {
		// no retries joined: one attempt per call
		for _, s := range sibs {
			sp := &t.spans[s]
			a := int32(len(t.attempts))
			t.attempts = append(t.attempts, s)
			t.calls = append(t.calls, rcall{attLo: a, attHi: a + 1, start: sp.start, end: max(0, sp.start+sp.dur)})
		}
		return lo, int32(len(t.calls))
	}
	// attempts in group order, siblings in order within a group
	b.gcount = grow32(b.gcount, ng+1)
	clear(b.gcount)
	for i := range sibs {
		b.gcount[b.grp[i]+1]++
	}
	for g := 1; g <= ng; g++ {
		b.gcount[g] += b.gcount[g-1]
	}
	base := int32(len(t.attempts))
	t.attempts = slices.Grow(t.attempts, len(sibs))[:int(base)+len(sibs)]
	for i, s := range sibs {
		g := b.grp[i]
		t.attempts[base+b.gcount[g]] = s
		b.gcount[g]++
	}
	start := base
	for g := 0; g < ng; g++ {
		end := base + b.gcount[g]
		c := rcall{attLo: start, attHi: end, start: t.spans[t.attempts[start]].start}
		for _, s := range t.attempts[start:end] {
			c.end = max(c.end, t.spans[s].start+t.spans[s].dur)
		}
		t.calls = append(t.calls, c)
		start = end
	}
	return lo, int32(len(t.calls))
}

func (b *builder) visit(s int32) {
	t := b.t
	b.visited[s] = true
	b.reached++
	sp := &t.spans[s]
	cs := b.childStart
	clo, chi := b.groupCalls(b.child[cs[s]:cs[s+1]])
	// all the calls, by start: stack[aLo:aHi]
	aLo := int32(len(b.stack))
	for c := clo; c < chi; c++ {
		b.stack = append(b.stack, c)
	}
	aHi := int32(len(b.stack))
	if aHi-aLo > 1 {
		slices.SortStableFunc(b.stack[aLo:aHi], func(x, y int32) int { return cmp.Compare(t.calls[x].start, t.calls[y].start) })
	}
	end := sp.start + sp.dur
	// Calls that end after the span did: a failed span gave up waiting
	// for them (a timeout the recording did not mark); a successful one
	// answered without waiting (they are detached, as are calls made
	// after it answered). The calls waited for: stack[aHi:wHi].
	for k := aLo; k < aHi; k++ {
		c := b.stack[k]
		if t.calls[c].end <= end {
			b.stack = append(b.stack, c)
			continue
		}
		if sp.err {
			sp.timedOut = true
			b.stack = append(b.stack, c)
		}
	}
	wHi := int32(len(b.stack))
	sp.detLo = int32(len(t.kids))
	for k := aLo; k < aHi; k++ {
		c := b.stack[k]
		if t.calls[c].end > end && !sp.err {
			t.kids = append(t.kids, c)
			t.kidOff = append(t.kidOff, max(0, t.calls[c].start-sp.start))
		}
	}
	sp.detHi = int32(len(t.kids))
	// groups of overlapping calls run in parallel
	sp.stepLo = int32(len(t.steps))
	cursor := sp.start
	calls := b.stack[aHi:wHi]
	for i := 0; i < len(calls); {
		gStart := max(t.calls[calls[i]].start, cursor)
		gEnd := t.calls[calls[i]].end
		j := i + 1
		for ; j < len(calls) && t.calls[calls[j]].start < gEnd; j++ {
			gEnd = max(gEnd, t.calls[calls[j]].end)
		}
		st := step{gap: max(0, gStart-cursor), kidLo: int32(len(t.kids))}
		for _, c := range calls[i:j] {
			t.kids = append(t.kids, c)
			t.kidOff = append(t.kidOff, max(0, t.calls[c].start-gStart))
		}
		st.kidHi = int32(len(t.kids))
		t.steps = append(t.steps, st)
		cursor = max(cursor, gEnd)
		i = j
	}
	t.steps = append(t.steps, step{gap: max(0, end-cursor), kidLo: int32(len(t.kids)), kidHi: int32(len(t.kids))})
	sp.stepHi = int32(len(t.steps))
	childFailed := false
	for _, c := range calls {
		rc := &t.calls[c]
		if t.spans[t.attempts[rc.attHi-1]].err {
			childFailed = true
			rc.absorbed = !sp.err
		}
	}
	sp.ownFail = sp.err && !sp.timedOut && !childFailed
	b.stack = b.stack[:aHi]
	for k := aLo; k < aHi; k++ {
		rc := t.calls[b.stack[k]]
		for i := rc.attLo; i < rc.attHi; i++ {
			if a := t.attempts[i]; !b.visited[a] {
				b.visit(a)
			}
		}
	}
	b.stack = b.stack[:aLo]
}
