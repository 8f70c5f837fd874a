package ingest

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// The tail of a scan. Row groups are the unit of parallel work, and the
// last ones leave workers idle: with 11 row groups of a million spans and
// two workers, one reads the last row group alone, a quarter of a second
// of one core. A worker with no row group left therefore attaches itself
// to one still reading (a handoff) and runs the caller's function on that
// worker's batches while it decodes the next ones: decoding and the
// caller's work, about half each for analyze, overlap on two cores. The
// batches still reach fn in row order and never two at once for one
// worker index, so callers keep their per-worker state as before; a file
// of one row group is read by two goroutines this way too.

// tail coordinates the workers of one scan.
type tail struct {
	// help[w] is the helper attached to worker w; nil while w reads a row
	// group without one; closedHelp while w takes none.
	help    []atomic.Pointer[handoff]
	opened  chan struct{} // a worker began a row group (and takes a helper)
	active  atomic.Int64  // workers still reading
	allDone chan struct{} // closed when no worker is reading
}

// closedHelp marks a worker that takes no helper: between row groups, or
// done.
var closedHelp = &handoff{}

func newTail(workers int) *tail {
	t := &tail{help: make([]atomic.Pointer[handoff], workers), opened: make(chan struct{}, workers), allDone: make(chan struct{})}
	for w := range t.help {
		t.help[w].Store(closedHelp)
	}
	t.active.Store(int64(workers))
	return t
}

// open marks worker w as reading a row group, open to a helper.
func (t *tail) open(w int) {
	t.help[w].Store(nil)
	select {
	case t.opened <- struct{}{}:
	default: // helpers have been told already
	}
}

// finished marks the calling worker as done reading.
func (t *tail) finished() {
	if t.active.Add(-1) == 0 {
		close(t.allDone)
	}
}

// helpOthers attaches worker w, which has nothing left to read, to
// workers still reading, one after another, until none is.
func (t *tail) helpOthers(ctx context.Context, cancel context.CancelCauseFunc, w int, call func(int, *Batch) error) {
	for ctx.Err() == nil {
		attached := false
		for k := 1; k < len(t.help); k++ {
			o := (w + k) % len(t.help)
			h := newHandoff()
			if t.help[o].CompareAndSwap(nil, h) {
				if testAttached != nil {
					testAttached(o)
				}
				h.consume(ctx, cancel, o, call)
				attached = true
				break
			}
		}
		if attached {
			continue
		}
		select {
		case <-t.opened:
		case <-t.allDone:
			return
		case <-ctx.Done():
			return
		}
	}
}

// handoff carries one worker's batches to its helper.
type handoff struct {
	batches chan *Batch   // filled, in row order
	free    chan *Batch   // back from the helper, to be filled again
	done    chan struct{} // closed when the helper has handed every batch back
}

func newHandoff() *handoff {
	return &handoff{batches: make(chan *Batch, 1), free: make(chan *Batch, 2), done: make(chan struct{})}
}

// consume runs call for worker o on each batch handed over, releases the
// pages each batch pointed into and hands it back, until the worker ends
// its row group. After a failure it stops the scan and only hands the
// batches back.
func (h *handoff) consume(ctx context.Context, cancel context.CancelCauseFunc, o int, call func(int, *Batch) error) {
	defer close(h.done)
	failed := false
	for b := range h.batches {
		if !failed && ctx.Err() == nil {
			if err := callSafely(call, o, b); err != nil {
				cancel(err)
				failed = true
			}
		}
		b.held = releasePages(b.held)
		h.free <- b
	}
}

// callSafely runs call, turning a panic in it into an error (a bug in the
// caller's function, not the file's fault).
func callSafely(call func(int, *Batch) error, w int, b *Batch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: row group %d: %w: %v\n%s", b.File, b.RowGroup, ErrInternal, p, debug.Stack())
		}
	}()
	return call(w, b)
}

// For tests: handedOff counts the batches handed to helpers;
// testAttached, when set, is called when a helper attaches to a worker.
var (
	handedOff    atomic.Int64
	testAttached func(worker int)
)

// emitter hands one worker's batches to the caller's function, itself or
// through an attached helper.
type emitter struct {
	w     int
	tl    *tail
	call  func(int, *Batch) error
	bad   *BadRows
	h     *handoff // the helper of the current row group, once seen
	spare *Batch   // the second batch filled while the helper has the first
}

// emit validates b, counts its bad rows and runs the caller's function on
// it, or hands it to the helper; it returns the batch to fill next.
func (e *emitter) emit(b *Batch, cursors []*cursor) (*Batch, error) {
	b.validate()
	for i := 0; i < b.N; i++ {
		if b.Bad[i] != ReasonOK {
			e.bad.add(b, i)
		}
	}
	if e.h == nil {
		if h := e.tl.help[e.w].Load(); h != nil && h != closedHelp {
			e.h = h
			if e.spare == nil {
				e.spare = &Batch{}
			}
			h.free <- e.spare
		}
	}
	if e.h == nil {
		err := e.call(e.w, b)
		for _, c := range cursors {
			c.releaseHeld()
		}
		return b, err
	}
	// the pages left behind while b was filled: b, and batches before it,
	// point into them; the helper releases them after b
	for _, c := range cursors {
		b.held = append(b.held, c.held...)
		clear(c.held)
		c.held = c.held[:0]
	}
	handedOff.Add(1)
	e.h.batches <- b
	return <-e.h.free, nil
}

// begin opens the worker's row group to a helper; end must follow.
func (e *emitter) begin() { e.tl.open(e.w) }

// end ends the worker's row group: no helper attaches any more, and an
// attached one has handed every batch back when it returns.
func (e *emitter) end() {
	if h := e.tl.help[e.w].Swap(closedHelp); h != nil && h != closedHelp {
		close(h.batches)
		<-h.done
	}
	e.h = nil
}
