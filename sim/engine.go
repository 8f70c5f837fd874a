package sim

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/guard"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/inject"
)

// call is a logical call in flight: the first try and its retries.
type call struct {
	tr        int32 // trace slot
	rc        int32 // recorded call
	parent    int32 // exec that made it; -1 at the root
	route     int32
	depth     int32
	serial    uint32
	start     int64
	attempts  int32 // tries started
	cur       int32 // exec of the try in flight; -1 between tries
	retrying  bool  // counted in the edge's retries in flight
	done      bool
	detached  bool   // its caller does not wait for it
	faulted   int32  // profile + 1 of the first fault injected into a try; 0 none
	parentID  string // span id of the try that made it (output only)
	noTimeout bool   // Istio: a fault on the route disables its timeout and retries
}

// exec is one try: the request on the wire and the callee's work on it.
type exec struct {
	tr       int32
	call     int32
	serial   uint32
	rs       int32 // recorded attempt it replays
	attempt  int32
	sent     int64 // when the caller sent it
	enqueued int64
	factor   float64
	step     int32
	pending  int32
	spanID   string
	profile  int32 // fault profile; -1 none
	fault    uint8
	answered bool // the caller has seen the try end
	finished bool // the callee is done with it (or never got it)
	hang     bool // never answers: dropped, or recorded as timed out
	childErr bool
	running  bool  // holds a slot of the callee's capacity
	timer    bool  // a timeout will end the try
	held     bool  // its fault holds a slot of its injector's maxActiveFaults
	depth    int32 // its call's (the call may end and its slot be reused first)
	arrived  bool  // counted at its callee's injector, not yet observed
	arrival  guard.Arrival
}

// Fault kinds on an exec.
const (
	faultNone uint8 = iota
	faultLatency
	faultAbort
	faultDrop
	faultCorrupt
)

var faultNames = [...]string{"", ingest.FaultLatency, ingest.FaultAbort, ingest.FaultDrop, ingest.FaultCorrupt}

type routeInfo struct {
	caller, callee, op int32
	edge               int32
	profiles           []int32
	istioOff           bool
	rootOp             int32 // root operation stats, -1 until used
}

type edgeState struct {
	caller, callee int32
	pol            route
	br             breaker
	active         int64
	retrying       int64
	st             counters
}

type svcState struct {
	cap      *Capacity
	inFlight int
	queue    []int32
	qhead    int
}

type profileState struct {
	p       *bundle.Profile
	bucket  *guard.Bucket // perSecond cap; nil: none
	matched int64         // tries at an injector its target matched (until one profile fired)
	fired   int64         // tries inject.Decide fired it on
	injects int64
	// fired tries a guard held back, by reason (sup*)
	suppressed [nSup]int64
	// logical calls with a fault from this profile in some try
	faultedCalls int64
	// stats of the roots of traces the profile is decided to fire on
	// (inject.Decide on any recorded call of the trace)
	exposed counters
}

// engine is one simulation run.
type engine struct {
	opt    *Options
	mesh   *Mesh
	rng    *rand.Rand
	now    int64
	seq    uint64
	ev     queue
	calls  []call
	execs  []exec
	freeC  []int32
	freeE  []int32
	serial uint32

	traces    []*rtrace
	freeT     []int32
	freeTr    []*rtrace
	traceRefs []int32

	names      []string
	nameID     map[string]int32
	routes     []routeInfo
	routeID    map[[3]int32]int32
	routeCache [1 << routeCacheBits]routeCacheEntry
	edges      []edgeState
	edgeID     map[[2]int32]int32
	svcs       []*svcState // by callee name id
	rootOps    []counters
	rootOpID   []int32 // route of each root op
	roots      counters
	recorded   counters
	recOps     []*counters // by route; nil until used

	profiles []profileState
	seed     uint64
	injected int64
	suppress [nSup]int64

	injectors []*injector // by callee name id; nil: no profile targets it
	injList   []*injector
	trips     []GuardTrip // in the order they tripped
	ticking   bool        // a guard tick is scheduled

	out     []ingest.Span
	outErr  error
	tries   int64
	spans   int64
	nTraces int64
	orphans int64
	late    int64
	badRows int64
}

// Guard suppression reasons.
const (
	supPerSecond = iota
	supGlobalRate
	supActive
	supBreaker
	nSup
)

// supReason maps a guard's suppression reason to its counter.
var supReason = map[string]int{guard.PerSecond: supPerSecond, guard.MaxGlobalRate: supGlobalRate,
	guard.MaxActiveFaults: supActive, guard.Breaker: supBreaker}

func newEngine(opt *Options) *engine {
	m := opt.Mesh
	if m == nil {
		m = &Mesh{}
	}
	e := &engine{
		opt: opt, mesh: m,
		rng:     rand.New(rand.NewPCG(opt.Seed, 0x9e3779b97f4a7c15)),
		nameID:  map[string]int32{},
		routeID: map[[3]int32]int32{},
		edgeID:  map[[2]int32]int32{},
	}
	e.intern("")
	if b := opt.Bundle; b != nil {
		e.seed = b.Metadata.Seed
		for i := range b.Profiles {
			p := &b.Profiles[i]
			e.profiles = append(e.profiles, profileState{p: p, bucket: guard.NewBucket(p.PerSecond)})
		}
	}
	return e
}

func (e *engine) intern(s string) int32 {
	if id, ok := e.nameID[s]; ok {
		return id
	}
	id := int32(len(e.names))
	e.names = append(e.names, s)
	e.nameID[s] = id
	return id
}

// routeOf returns the route of (caller, callee, operation) name ids.
func (e *engine) routeOf(caller, callee, op int32) int32 {
	k := [3]int32{caller, callee, op}
	h := (uint32(caller)*0x9e3779b1 ^ uint32(callee)*0x85ebca77 ^ uint32(op)*0xc2b2ae3d) >> (32 - routeCacheBits)
	if ce := &e.routeCache[h]; ce.k == k && ce.r > 0 {
		return ce.r - 1
	}
	r := e.routeOfSlow(k)
	e.routeCache[h] = routeCacheEntry{k, r + 1}
	return r
}

const routeCacheBits = 10

// routeCacheEntry is an entry of the engine's direct-mapped cache of
// routeID (r is the route + 1; 0: empty).
type routeCacheEntry struct {
	k [3]int32
	r int32
}

func (e *engine) routeOfSlow(k [3]int32) int32 {
	if r, ok := e.routeID[k]; ok {
		return r
	}
	caller, callee, op := k[0], k[1], k[2]
	ek := [2]int32{caller, callee}
	ed, ok := e.edgeID[ek]
	if !ok {
		ed = int32(len(e.edges))
		e.edges = append(e.edges, edgeState{caller: caller, callee: callee, pol: e.mesh.resolve(e.names[caller], e.names[callee])})
		e.edgeID[ek] = ed
	}
	ri := routeInfo{caller: caller, callee: callee, op: op, edge: ed, rootOp: -1}
	req := inject.Request{Caller: e.names[caller], Callee: e.names[callee], Path: e.names[op]}
	for i := range e.profiles {
		if inject.Matches(&e.profiles[i].p.Target, req) {
			ri.profiles = append(ri.profiles, int32(i))
		}
	}
	ri.istioOff = e.mesh.IstioFaultDisablesRetries && len(ri.profiles) > 0
	e.setupInjector(callee, caller == 0)
	r := int32(len(e.routes))
	e.routes = append(e.routes, ri)
	e.routeID[k] = r
	if int(callee) >= len(e.svcs) {
		e.svcs = append(e.svcs, make([]*svcState, int(callee)+1-len(e.svcs))...)
	}
	if e.svcs[callee] == nil {
		e.svcs[callee] = &svcState{cap: e.mesh.capacity(e.names[callee])}
	}
	return r
}

func (e *engine) schedule(t int64, kind uint8, id int32, serial uint32) {
	e.seq++
	e.ev.h.push(event{t: t, seqk: e.seq<<8 | uint64(kind), id: id, serial: serial})
}

// scheduleAfter schedules an event a fixed delay d (a timeout) from now.
func (e *engine) scheduleAfter(d int64, kind uint8, id int32, serial uint32) {
	f := e.ev.fifoOf(d)
	if f == nil {
		e.schedule(e.now+d, kind, id, serial)
		return
	}
	e.seq++
	f.q = append(f.q, event{t: e.now + d, seqk: e.seq<<8 | uint64(kind), id: id, serial: serial})
}

func (e *engine) nextSerial() uint32 {
	e.serial++
	return e.serial
}

// addTrace takes a built trace and schedules its arrival at virtual time t.
func (e *engine) addTrace(tr *rtrace, t int64) {
	if t < e.now {
		e.late++
		t = e.now
	}
	var slot int32
	if n := len(e.freeT); n > 0 {
		slot = e.freeT[n-1]
		e.freeT = e.freeT[:n-1]
		e.traces[slot] = tr
		e.traceRefs[slot] = 1
	} else {
		slot = int32(len(e.traces))
		e.traces = append(e.traces, tr)
		e.traceRefs = append(e.traceRefs, 1)
	}
	e.nTraces++
	e.schedule(t, evArrive, slot, 0)
	// recorded root outcome, for fidelity
	for _, c := range tr.roots {
		rc := &tr.calls[c]
		last := &tr.spans[tr.attempts[rc.attHi-1]]
		first := &tr.spans[tr.attempts[rc.attLo]]
		lat := rc.end - rc.start
		ok := !last.err
		b := histBucket(lat)
		for _, st := range [...]*counters{&e.recorded, e.recOp(first.route)} {
			st.calls++
			if ok {
				st.ok++
			}
			st.attempts += int64(rc.attHi - rc.attLo)
			st.lat.addBucket(b)
		}
	}
}

func (e *engine) recOp(route int32) *counters {
	if int(route) >= len(e.recOps) {
		e.recOps = append(e.recOps, make([]*counters, int(route)+1-len(e.recOps))...)
	}
	c := e.recOps[route]
	if c == nil {
		c = &counters{}
		e.recOps[route] = c
	}
	return c
}

func (e *engine) unref(slot int32) {
	e.traceRefs[slot]--
	if e.traceRefs[slot] == 0 {
		e.recycle(e.traces[slot])
		e.traces[slot] = nil
		e.freeT = append(e.freeT, slot)
	}
}

// newTrace returns an empty trace, reusing a finished one.
func (e *engine) newTrace() *rtrace {
	if n := len(e.freeTr); n > 0 {
		tr := e.freeTr[n-1]
		e.freeTr[n-1] = nil
		e.freeTr = e.freeTr[:n-1]
		return tr
	}
	tr := &rtrace{}
	tr.reset()
	return tr
}

// recycle takes back a trace nothing refers to any more.
func (e *engine) recycle(tr *rtrace) {
	tr.reset()
	e.freeTr = append(e.freeTr, tr)
}

// runUntil processes the events due at or before t.
func (e *engine) runUntil(t int64) {
	for {
		src, ok := e.ev.next(t)
		if !ok {
			return
		}
		ev := e.ev.pop(src)
		e.now = ev.t
		e.dispatch(ev)
	}
}

func (e *engine) drain() {
	e.runUntil(math.MaxInt64)
}

func (e *engine) dispatch(ev event) {
	switch ev.kind() {
	case evArrive:
		tr := e.traces[ev.id]
		for _, rc := range tr.roots {
			off := tr.calls[rc].start - tr.arrival
			c := e.newCall(ev.id, rc, -1, 0)
			if off > 0 {
				e.schedule(e.now+off, evCallStart, c, e.calls[c].serial)
			} else {
				e.startCall(c)
			}
		}
		e.unref(ev.id)
	case evCallStart:
		if e.calls[ev.id].serial == ev.serial {
			e.startCall(ev.id)
		}
	case evSend:
		if x := &e.execs[ev.id]; x.serial == ev.serial {
			e.send(ev.id)
		}
	case evStep:
		if x := &e.execs[ev.id]; x.serial == ev.serial {
			e.launch(ev.id)
		}
	case evTryTimeout:
		if x := &e.execs[ev.id]; x.serial == ev.serial && !x.answered {
			e.endTry(ev.id, false, timeoutStatus(e.grpcOf(x)), classTimeout, true, false)
		}
	case evReset:
		if x := &e.execs[ev.id]; x.serial == ev.serial && !x.answered {
			e.endTry(ev.id, false, 0, classReset, false, false)
		}
	case evCallTimeout:
		if c := &e.calls[ev.id]; c.serial == ev.serial && !c.done {
			e.callTimeout(ev.id)
		}
	case evRetry:
		if c := &e.calls[ev.id]; c.serial == ev.serial && !c.done {
			e.startTry(ev.id)
		}
	case evFallback:
		if c := &e.calls[ev.id]; c.serial == ev.serial && !c.done {
			e.finishCall(ev.id, e.edgeOf(ev.id).pol.fallback.Success, true)
		}
	case evGuardTick:
		e.guardTick()
	}
}

func (e *engine) edgeOf(c int32) *edgeState {
	return &e.edges[e.routes[e.calls[c].route].edge]
}

func (e *engine) grpcOf(x *exec) bool {
	tr := e.traces[x.tr]
	return isGRPC(tr.spans[x.rs].status)
}

func (e *engine) newCall(slot, rc, parent, depth int32) int32 {
	var id int32
	if n := len(e.freeC); n > 0 {
		id = e.freeC[n-1]
		e.freeC = e.freeC[:n-1]
	} else {
		id = int32(len(e.calls))
		e.calls = append(e.calls, call{})
	}
	tr := e.traces[slot]
	first := &tr.spans[tr.attempts[tr.calls[rc].attLo]]
	e.calls[id] = call{tr: slot, rc: rc, parent: parent, route: first.route, depth: depth, serial: e.nextSerial(), cur: -1}
	if parent >= 0 && e.opt.Spans != nil {
		e.calls[id].parentID = e.execs[parent].spanID
	}
	e.traceRefs[slot]++
	return id
}

func (e *engine) freeCall(id int32) {
	c := &e.calls[id]
	e.unref(c.tr)
	c.serial = 0
	c.parentID = ""
	e.freeC = append(e.freeC, id)
}

func (e *engine) newExec(c int32, rs int32) int32 {
	var id int32
	if n := len(e.freeE); n > 0 {
		id = e.freeE[n-1]
		e.freeE = e.freeE[:n-1]
	} else {
		id = int32(len(e.execs))
		e.execs = append(e.execs, exec{})
	}
	cl := &e.calls[c]
	e.execs[id] = exec{tr: cl.tr, call: c, serial: e.nextSerial(), rs: rs, attempt: cl.attempts, sent: e.now, factor: 1, profile: -1, depth: cl.depth}
	e.traceRefs[cl.tr]++
	if e.opt.Spans != nil {
		tr := e.traces[cl.tr]
		sp := &tr.spans[rs]
		if sp.execs == 0 {
			e.execs[id].spanID = tr.spanID(rs)
		} else {
			e.execs[id].spanID = tr.spanID(rs) + "~" + strconv.Itoa(int(sp.execs))
		}
		sp.execs++
	}
	return id
}

func (e *engine) maybeFreeExec(id int32) {
	x := &e.execs[id]
	if x.answered && x.finished {
		e.unref(x.tr)
		x.serial = 0
		x.spanID = ""
		e.freeE = append(e.freeE, id)
	}
}

// startCall starts a logical call: its route timeout, then its first try.
func (e *engine) startCall(id int32) {
	c := &e.calls[id]
	c.start = e.now
	ri := &e.routes[c.route]
	ed := &e.edges[ri.edge]
	c.noTimeout = ri.istioOff
	ed.active++
	if p := ed.pol; p.timeoutSet && p.timeout > 0 && !c.noTimeout {
		e.scheduleAfter(p.timeout, evCallTimeout, id, c.serial)
	}
	e.startTry(id)
}

// startTry sends the next try of call id.
func (e *engine) startTry(id int32) {
	c := &e.calls[id]
	tr := e.traces[c.tr]
	rc := &tr.calls[c.rc]
	n := rc.attHi - rc.attLo
	rs := tr.attempts[rc.attLo+min(c.attempts, n-1)]
	x := e.newExec(id, rs)
	c = &e.calls[id]
	c.cur = x
	c.attempts++
	ri := &e.routes[c.route]
	ed := &e.edges[ri.edge]
	ed.st.attempts++
	e.tries++
	sp := &tr.spans[rs]
	grpc := isGRPC(sp.status)

	// the caller's outlier detection
	if ed.pol.breaker != nil && !ed.br.allow(e.now, ed.pol.breaker) {
		ed.st.circuitOpen++
		e.execs[x].finished = true
		e.endTry(x, false, unavailableStatus(grpc), classConnect, false, true)
		return
	}
	// timers that end the try from the caller's side
	xe := &e.execs[x]
	if ed.pol.retries != nil && !c.noTimeout {
		if pt := int64(ed.pol.retries.PerTryTimeout); pt > 0 {
			e.scheduleAfter(pt, evTryTimeout, x, xe.serial)
			xe.timer = true
		}
	}
	if !ed.pol.timeoutSet && sp.timedOut {
		// a recorded timeout is replayed as the timeout it was
		e.schedule(e.now+sp.dur, evTryTimeout, x, xe.serial)
		xe.timer = true
	}
	if ed.pol.timeoutSet && ed.pol.timeout > 0 && !c.noTimeout {
		xe.timer = true
	}
	if sp.timedOut {
		xe.hang = true
	}

	// the injector in front of the callee: the first profile that fires is
	// the fault, if the guards admit it
	in := e.injectorOf(ri.callee)
	if in != nil {
		e.arrive(in, x, ri.caller == 0)
	}
	fired := int32(-1)
	if e.opt.Inject {
		for _, pi := range ri.profiles {
			e.profiles[pi].matched++
			if tr.decide(e, pi) {
				fired = pi
				break
			}
		}
	}
	if fired >= 0 && e.admitFault(in, &e.profiles[fired], x) {
		pi := fired
		ps := &e.profiles[pi]
		xe.profile = pi
		if c.faulted == 0 {
			c.faulted = pi + 1
		}
		ed.st.injected++
		ps.injects++
		e.injected++
		switch ps.p.Fault.Type {
		case bundle.FaultAbort:
			xe.fault = faultAbort
			status := int32(ps.p.Fault.HTTPStatus)
			if (grpc || status == 0) && ps.p.Fault.GRPCStatus != 0 {
				status = int32(ps.p.Fault.GRPCStatus)
			}
			xe.finished = true
			e.endTry(x, false, status, classOfStatus(status), false, false)
			return
		case bundle.FaultDrop:
			xe.fault = faultDrop
			xe.hang = true
			xe.finished = true
			e.served(x, 0, true) // the injector resets the connection at once
			if !xe.timer {
				e.scheduleAfter(e.mesh.dropReset(), evReset, x, xe.serial)
			}
			return
		case bundle.FaultCorrupt:
			xe.fault = faultCorrupt
		case bundle.FaultLatency:
			xe.fault = faultLatency
			f := ps.p.Fault
			if f.Factor > 1 {
				xe.factor = f.Factor
			}
			d := f.DelayMs
			if f.JitterMs > 0 {
				d += f.JitterMs * e.rng.Float64()
			}
			if delay := int64(d * 1e6); delay > 0 {
				e.schedule(e.now+delay, evSend, x, xe.serial)
				return
			}
		}
	}
	if xe.hang && !xe.timer {
		e.scheduleAfter(e.mesh.dropReset(), evReset, x, xe.serial)
	}
	e.send(x)
}

// send delivers a try to the callee, through its capacity queue.
func (e *engine) send(x int32) {
	xe := &e.execs[x]
	if xe.hang && xe.fault == faultDrop {
		return
	}
	// the caller may have given up on the try (and its call slot been
	// reused) while an injected delay held it: the route comes from the
	// recorded span
	ri := &e.routes[e.traces[xe.tr].spans[xe.rs].route]
	sv := e.svcs[ri.callee]
	if sv.cap != nil {
		switch {
		case sv.inFlight < sv.cap.Concurrency:
			sv.inFlight++
			xe.running = true
		case len(sv.queue)-sv.qhead < sv.cap.QueueLength:
			xe.enqueued = e.now
			sv.queue = append(sv.queue, x)
			return
		default:
			e.edges[ri.edge].st.overflows++
			xe.finished = true
			if xe.answered {
				e.maybeFreeExec(x) // nobody waits for the 503
				return
			}
			e.endTry(x, false, unavailableStatus(e.grpcOf(xe)), class5xx|classGateway, false, false)
			return
		}
	}
	e.run(x)
}

func (e *engine) run(x int32) {
	xe := &e.execs[x]
	tr := e.traces[xe.tr]
	sp := &tr.spans[xe.rs]
	xe.step = sp.stepLo
	if sp.detLo < sp.detHi {
		slot, depth := xe.tr, xe.depth+1
		for k := sp.detLo; k < sp.detHi; k++ {
			c := e.newCall(slot, tr.kids[k], x, depth)
			e.calls[c].detached = true
			e.calls[c].parent = -1
			e.schedule(e.now+tr.kidOff[k], evCallStart, c, e.calls[c].serial)
		}
	}
	e.gap(x)
}

// gap waits out the own time before the current step's calls.
func (e *engine) gap(x int32) {
	xe := &e.execs[x]
	tr := e.traces[xe.tr]
	if xe.step >= tr.spans[xe.rs].stepHi {
		e.finish(x)
		return
	}
	g := tr.steps[xe.step].gap
	if xe.factor != 1 {
		g = int64(float64(g) * xe.factor)
	}
	if g > 0 {
		e.schedule(e.now+g, evStep, x, xe.serial)
		return
	}
	e.launch(x)
}

// launch starts the current step's group of parallel calls.
func (e *engine) launch(x int32) {
	xe := &e.execs[x]
	tr := e.traces[xe.tr]
	st := tr.steps[xe.step]
	if st.kidLo == st.kidHi {
		xe.step++
		e.gap(x)
		return
	}
	xe.pending = st.kidHi - st.kidLo
	depth := xe.depth + 1
	slot := xe.tr
	for k := st.kidLo; k < st.kidHi; k++ {
		c := e.newCall(slot, tr.kids[k], x, depth)
		if off := tr.kidOff[k]; off > 0 {
			e.schedule(e.now+off, evCallStart, c, e.calls[c].serial)
		} else {
			e.startCall(c)
		}
	}
}

// childDone is called when a call made by exec x ends.
func (e *engine) childDone(x int32, failed bool) {
	xe := &e.execs[x]
	xe.pending--
	xe.childErr = xe.childErr || failed
	if xe.pending == 0 {
		xe.step++
		e.gap(x)
	}
}

// finish is the end of the callee's work on a try: it answers.
func (e *engine) finish(x int32) {
	xe := &e.execs[x]
	xe.finished = true
	if xe.running {
		xe.running = false
		// the call may have been freed and reused: the callee comes from the
		// recorded span's route
		sv := e.svcs[e.routes[e.traces[xe.tr].spans[xe.rs].route].callee]
		sv.inFlight--
		for sv.qhead < len(sv.queue) && sv.inFlight < sv.cap.Concurrency {
			next := sv.queue[sv.qhead]
			sv.qhead++
			if sv.qhead > 1024 && sv.qhead*2 > len(sv.queue) {
				sv.queue = append(sv.queue[:0], sv.queue[sv.qhead:]...)
				sv.qhead = 0
			}
			sv.inFlight++
			e.execs[next].running = true
			e.run(next)
		}
		xe = &e.execs[x]
	}
	if xe.answered {
		e.maybeFreeExec(x)
		return
	}
	if xe.hang {
		return // the caller's timer ends it
	}
	sp := &e.traces[xe.tr].spans[xe.rs]
	grpc := isGRPC(sp.status)
	ok, status := true, sp.status
	switch {
	case sp.ownFail:
		ok = false
	case xe.childErr && !sp.fallback:
		ok = false
		if !sp.err {
			status = internalStatus(grpc)
		}
	case sp.err:
		status = okStatus(grpc)
	}
	if ok && xe.fault == faultCorrupt && e.edgeOf(xe.call).pol.validate {
		e.endTry(x, false, status, classCorrupt, false, false)
		return
	}
	cls := uint8(0)
	if !ok {
		cls = classOfStatus(status)
	}
	e.endTry(x, ok, status, cls, false, false)
}

// Outcome classes of a failed try, for retry-on and the breaker.
const (
	class5xx     = on5xx
	classGateway = onGateway
	classReset   = on5xx | onReset
	classTimeout = on5xx | onGateway | onReset
	classConnect = onConnect
	classCorrupt = uint8(1 << 7) // the caller rejected the body; the mesh saw a success
)

// endTry ends try x as the caller sees it, then retries, falls back or ends
// the call.
func (e *engine) endTry(x int32, ok bool, status int32, cls uint8, timedOut, circuitOpen bool) {
	xe := &e.execs[x]
	xe.answered = true
	// the caller cancels a try it stops waiting for
	e.served(x, status, timedOut || cls == classReset)
	xe = &e.execs[x]
	cid := xe.call
	c := &e.calls[cid]
	ri := &e.routes[c.route]
	ed := &e.edges[ri.edge]
	if timedOut {
		ed.st.timeouts++
	}
	if c.cur == x {
		c.cur = -1
	}
	if c.retrying {
		c.retrying = false
		ed.retrying--
	}
	if !circuitOpen && ed.pol.breaker != nil && cls != classCorrupt {
		failed := !ok && cls&(on5xx|onReset) != 0
		if ed.br.record(e.now, ed.pol.breaker, failed) {
			ed.st.breakerOpens++
		}
	}
	fallback, fbLat := false, int64(0)
	retry := false
	var backoff int64
	if !ok {
		retry, backoff = e.retryDecision(cid, cls)
		if !retry && ed.pol.fallback != nil {
			fallback, fbLat = true, int64(ed.pol.fallback.Latency)
		}
	}
	e.emit(x, ok, status, timedOut, circuitOpen, fallback, fbLat)
	e.maybeFreeExec(x)
	switch {
	case ok:
		e.finishCall(cid, true, false)
	case retry:
		c.retrying = true
		ed.retrying++
		e.schedule(e.now+backoff, evRetry, cid, c.serial)
	case fallback && fbLat > 0:
		e.schedule(e.now+fbLat, evFallback, cid, c.serial)
	case fallback:
		e.finishCall(cid, ed.pol.fallback.Success, true)
	default:
		e.finishCall(cid, false, false)
	}
}

// retryDecision says whether call cid tries again after a failure of class
// cls, and after how long.
func (e *engine) retryDecision(cid int32, cls uint8) (bool, int64) {
	c := &e.calls[cid]
	ri := &e.routes[c.route]
	ed := &e.edges[ri.edge]
	if c.noTimeout {
		return false, 0
	}
	tr := e.traces[c.tr]
	rc := &tr.calls[c.rc]
	rp := ed.pol.retries
	if rp == nil {
		// replay the recording's retries with their recorded backoff
		if c.attempts >= rc.attHi-rc.attLo || cls == classCorrupt {
			return false, 0
		}
		prev := &tr.spans[tr.attempts[rc.attLo+c.attempts-1]]
		next := &tr.spans[tr.attempts[rc.attLo+c.attempts]]
		return true, max(0, next.start-(prev.start+prev.dur))
	}
	if int(c.attempts) > rp.Attempts || cls&ed.pol.retryOn == 0 {
		return false, 0
	}
	if b := rp.Budget; b != nil {
		limit := max(float64(b.MinConcurrency), b.Percent/100*float64(ed.active))
		if float64(ed.retrying+1) > limit {
			return false, 0
		}
	}
	base := int64(rp.Backoff.Base)
	if base <= 0 {
		base = 25e6
	}
	mx := int64(rp.Backoff.Max)
	if mx <= 0 {
		mx = 10 * base
	}
	b := base << min(c.attempts-1, 30)
	if b > mx || b <= 0 {
		b = mx
	}
	j := 1.0
	if rp.Backoff.Jitter != nil {
		j = *rp.Backoff.Jitter
	}
	if j > 0 {
		b = int64(float64(b) * (1 - j + j*e.rng.Float64()))
	}
	return true, b
}

// callTimeout ends call id at its route timeout.
func (e *engine) callTimeout(id int32) {
	c := &e.calls[id]
	ed := e.edgeOf(id)
	if c.retrying {
		c.retrying = false
		ed.retrying--
	}
	fallback, fbLat := ed.pol.fallback != nil, int64(0)
	if fallback {
		fbLat = int64(ed.pol.fallback.Latency)
	}
	if x := c.cur; x >= 0 {
		xe := &e.execs[x]
		xe.answered = true
		e.served(x, 0, true) // cancelled
		ed.st.timeouts++
		if ed.pol.breaker != nil && ed.br.record(e.now, ed.pol.breaker, true) {
			ed.st.breakerOpens++
		}
		c.cur = -1
		e.emit(x, false, timeoutStatus(e.grpcOf(xe)), true, false, fallback, fbLat)
		e.maybeFreeExec(x)
	}
	switch {
	case fallback && fbLat > 0:
		c.serial = e.nextSerial() // cancels a pending retry
		e.schedule(e.now+fbLat, evFallback, id, c.serial)
	case fallback:
		e.finishCall(id, ed.pol.fallback.Success, true)
	default:
		e.finishCall(id, false, false)
	}
}

// finishCall ends a logical call and tells its caller.
func (e *engine) finishCall(id int32, ok, fallback bool) {
	c := &e.calls[id]
	c.done = true
	ri := &e.routes[c.route]
	ed := &e.edges[ri.edge]
	ed.active--
	lat := e.now - c.start
	st := &ed.st
	st.calls++
	if ok {
		st.ok++
	}
	if fallback {
		st.fallbacks++
	}
	st.lat.add(lat)
	if c.faulted > 0 {
		e.profiles[c.faulted-1].faultedCalls++
	}
	if c.detached {
		e.freeCall(id)
		return
	}
	if c.parent >= 0 {
		p := c.parent
		// a failure its caller absorbed in the recording does not fail it
		failed := !ok && !e.traces[c.tr].calls[c.rc].absorbed
		e.freeCall(id)
		e.childDone(p, failed)
		return
	}
	// a root request
	if ri.rootOp < 0 {
		ri.rootOp = int32(len(e.rootOps))
		e.rootOps = append(e.rootOps, counters{})
		e.rootOpID = append(e.rootOpID, c.route)
	}
	tr := e.traces[c.tr]
	for _, s := range [...]*counters{&e.roots, &e.rootOps[ri.rootOp]} {
		s.calls++
		if ok {
			s.ok++
		}
		if fallback {
			s.fallbacks++
		}
		s.attempts += int64(c.attempts)
		s.lat.add(lat)
	}
	if tr.sole >= 0 {
		ps := &e.profiles[tr.sole]
		ps.exposed.calls++
		if ok {
			ps.exposed.ok++
		}
		ps.exposed.lat.add(lat)
	}
	e.freeCall(id)
}

// emit writes try x's span.
func (e *engine) emit(x int32, ok bool, status int32, timedOut, circuitOpen, fallback bool, fbLat int64) {
	e.spans++
	if e.opt.Spans == nil {
		return
	}
	xe := &e.execs[x]
	c := &e.calls[xe.call]
	tr := e.traces[xe.tr]
	ri := &e.routes[c.route]
	s := ingest.Span{
		TraceID:       tr.id,
		SpanID:        xe.spanID,
		Caller:        e.names[ri.caller],
		Callee:        e.names[ri.callee],
		Operation:     e.names[ri.op],
		Depth:         c.depth,
		StartUnixNano: xe.sent,
		DurationNano:  e.now - xe.sent,
		StatusCode:    status,
		Error:         !ok,
		RetryCount:    xe.attempt,
		TimedOut:      timedOut,
		CircuitOpen:   circuitOpen,
		Fallback:      fallback,
	}
	if fallback {
		s.FallbackLatencyNano = fbLat
	}
	s.ParentSpanID = c.parentID
	if xe.fault != faultNone {
		s.Injected = true
		s.FaultType = faultNames[xe.fault]
		s.FaultProfileID = e.profiles[xe.profile].p.ID
		s.InjectedAtUnixNano = xe.sent
	}
	e.out = append(e.out, s)
	if len(e.out) >= 8192 {
		e.flush()
	}
}

func (e *engine) flush() {
	if len(e.out) == 0 || e.outErr != nil {
		e.out = e.out[:0]
		return
	}
	e.outErr = e.opt.Spans(e.out)
	clear(e.out)
	e.out = e.out[:0]
}

func isGRPC(status int32) bool { return status < 100 }

func okStatus(grpc bool) int32 {
	if grpc {
		return 0
	}
	return 200
}

func internalStatus(grpc bool) int32 {
	if grpc {
		return 13
	}
	return 500
}

func unavailableStatus(grpc bool) int32 {
	if grpc {
		return 14
	}
	return 503
}

func timeoutStatus(grpc bool) int32 {
	if grpc {
		return 4
	}
	return 504
}

// classOfStatus maps an error status (HTTP, or a gRPC code below 100) to
// the retry-on classes it falls in.
func classOfStatus(s int32) uint8 {
	if s < 100 {
		switch s {
		case 14, 4: // UNAVAILABLE, DEADLINE_EXCEEDED: like 503, 504
			return class5xx | classGateway
		case 2, 13, 15: // UNKNOWN, INTERNAL, DATA_LOSS: like 500
			return class5xx
		case 0:
			return class5xx // an error without a status
		}
		return 0
	}
	switch {
	case s == 502 || s == 503 || s == 504:
		return class5xx | classGateway
	case s >= 500:
		return class5xx
	case s < 400:
		return class5xx // an error flagged on a success status
	}
	return 0
}
