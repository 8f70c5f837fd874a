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
)

// event is one entry of the virtual clock's queue, ordered by time, then by
// sequence number (the order in which events were scheduled).
type event struct {
	t      int64
	seq    uint64
	id     int32  // call, exec or trace slot
	serial uint32 // the object's serial when scheduled: stale events are skipped
	kind   uint8
}

// eventHeap is a binary min-heap of events.
type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	return h[i].t < h[j].t || h[i].t == h[j].t && h[i].seq < h[j].seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}
