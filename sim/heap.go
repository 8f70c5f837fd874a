package sim

// Event kinds.
const (
	evArrive      uint8 = iota // a trace's root calls are due
	evCallStart                // a child or root call starts (after its offset)
	evSend                     // an attempt reaches the callee (after an injected delay)
	evStep                     // an attempt's own time before its next group of calls is over
	evTryTimeout               // an attempt's per-try (or recorded) timeout
	evReset                    // an unanswered attempt's connection is reset
	evCallTimeout              // a call's route timeout
	evRetry                    // a call's backoff is over
	evFallback                 // a call's fallback answer is ready
	evGuardTick                // the injectors evaluate abortIf (every virtual second)
)

// event is one entry of the virtual clock's queue, ordered by time, then by
// sequence number (the order in which events were scheduled). It is a
// 24-byte value: the sequence number and the kind share a word.
type event struct {
	t      int64
	seqk   uint64 // sequence number << 8 | kind
	id     int32  // call, exec or trace slot
	serial uint32 // the object's serial when scheduled: stale events are skipped
}

func (ev *event) kind() uint8 { return uint8(ev.seqk) }

func (a *event) before(b *event) bool {
	return a.t < b.t || a.t == b.t && a.seqk < b.seqk
}

// eventHeap is a 4-ary min-heap of events: shallower than a binary heap,
// and a node's children share a cache line or two.
type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) >> 2
		if !e.before(&q[p]) {
			break
		}
		q[i] = q[p]
		i = p
	}
	q[i] = e
}

func (h *eventHeap) pop() event {
	q := *h
	top := q[0]
	n := len(q) - 1
	last := q[n]
	q = q[:n]
	*h = q
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		end := min(c+4, n)
		for k := c + 1; k < end; k++ {
			if q[k].before(&q[m]) {
				m = k
			}
		}
		if !q[m].before(&last) {
			break
		}
		q[i] = q[m]
		i = m
	}
	q[i] = last
	return top
}

// maxFIFOs bounds the queues of fixed-delay events.
const maxFIFOs = 8

// fifo holds events scheduled a fixed delay after the time they were
// scheduled at. The clock never goes back, so they are in (time, sequence)
// order already: a timeout costs an append and a head move instead of two
// heap operations, and the heap stays small.
type fifo struct {
	delay int64
	q     []event
	head  int
}

// queue is the virtual clock's queue: a heap and a few fifos, merged.
type queue struct {
	h eventHeap
	f []fifo
}

// fifoOf returns the fifo of events delay after now, or nil when there are
// too many distinct delays already.
func (q *queue) fifoOf(delay int64) *fifo {
	for i := range q.f {
		if q.f[i].delay == delay {
			return &q.f[i]
		}
	}
	if len(q.f) == maxFIFOs {
		return nil
	}
	q.f = append(q.f, fifo{delay: delay})
	return &q.f[len(q.f)-1]
}

// next returns the earliest event's source (-1: the heap, else a fifo) if
// it is due at or before t.
func (q *queue) next(t int64) (int, bool) {
	src := -2
	var best *event
	if len(q.h) > 0 {
		best, src = &q.h[0], -1
	}
	for i := range q.f {
		f := &q.f[i]
		if f.head < len(f.q) {
			if ev := &f.q[f.head]; best == nil || ev.before(best) {
				best, src = ev, i
			}
		}
	}
	return src, best != nil && best.t <= t
}

func (q *queue) pop(src int) event {
	if src < 0 {
		return q.h.pop()
	}
	f := &q.f[src]
	ev := f.q[f.head]
	f.head++
	if f.head == len(f.q) {
		f.q, f.head = f.q[:0], 0
	} else if f.head >= 1024 && f.head*2 >= len(f.q) {
		n := copy(f.q, f.q[f.head:])
		f.q, f.head = f.q[:n], 0
	}
	return ev
}
