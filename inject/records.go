package inject

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
)

// RecorderOptions configure a Recorder.
type RecorderOptions struct {
	// Dir receives the files, named inject-<UTC start time>-<sequence>.parquet.
	Dir string
	// MaxFileBytes rotates a file when its records reach about this many
	// bytes before compression (the writer's estimate); default 64 MiB.
	MaxFileBytes int64
	// MaxFileAge rotates a file this long after its first record; default 1m.
	MaxFileAge time.Duration
	// Buffer is how many records may wait for the writer; a record that
	// finds it full is dropped and counted. Default 16384.
	Buffer int
	// FlushInterval is how often the writer takes the waiting records
	// (sooner when a quarter of Buffer waits); default 100ms. Requests never
	// wake the writer one by one: on a proxy serving one request at a time
	// that wake-up, on another thread, cost more than the request.
	FlushInterval time.Duration
	// Now is the clock for file names and ages. Required.
	Now func() time.Time
	// Logger receives write errors; nil: discard.
	Logger *slog.Logger
}

// Recorder writes span records (schema v1) to rotating Parquet files in a
// directory. Each file appears complete or not at all: it is written to a
// hidden temporary file and renamed on rotation or Close, so a killed
// process leaves no torn file (the next Recorder on the directory removes
// the leftovers). Record never blocks: when the writer falls behind, records
// are dropped and counted.
type Recorder struct {
	o       RecorderOptions
	kickAt  int           // waiting records that wake the writer before its tick
	kick    chan struct{} // capacity 1: wakes the writer
	done    chan struct{}
	closing chan struct{}
	once    sync.Once
	dropped atomic.Int64
	written atomic.Int64
	taken   atomic.Int64 // records the writer took from the queue

	qmu     sync.Mutex
	queue   []ingest.Span // waiting for the writer, at most o.Buffer
	stopped bool          // Close was called: Record drops

	mu    sync.Mutex
	files []string
	err   error
	seq   int
}

// NewRecorder starts a Recorder on o.Dir, removing temporary files that a
// killed process left behind.
func NewRecorder(o RecorderOptions) (*Recorder, error) {
	if o.Now == nil {
		return nil, ErrNoClock
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 64 << 20
	}
	if o.MaxFileAge <= 0 {
		o.MaxFileAge = time.Minute
	}
	if o.Buffer <= 0 {
		o.Buffer = 16384
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	stale, _ := filepath.Glob(filepath.Join(o.Dir, ".inject-*.parquet.tmp-*"))
	for _, f := range stale {
		os.Remove(f)
	}
	r := &Recorder{o: o, kickAt: max(1, o.Buffer/4), kick: make(chan struct{}, 1), done: make(chan struct{}), closing: make(chan struct{}),
		queue: make([]ingest.Span, 0, min(o.Buffer, 1024))}
	go r.run()
	return r, nil
}

// Record queues a span without blocking; it reports false, and counts a
// drop, when the buffer is full or the recorder is closed.
func (r *Recorder) Record(s *ingest.Span) bool {
	r.qmu.Lock()
	if r.stopped || len(r.queue) >= r.o.Buffer {
		r.qmu.Unlock()
		r.dropped.Add(1)
		return false
	}
	r.queue = append(r.queue, *s)
	kick := len(r.queue) == r.kickAt
	r.qmu.Unlock()
	if kick {
		select {
		case r.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// take swaps the waiting records for spare (emptied) and returns them.
func (r *Recorder) take(spare []ingest.Span) []ingest.Span {
	clear(spare)
	r.qmu.Lock()
	q := r.queue
	r.queue = spare[:0]
	r.qmu.Unlock()
	return q
}

// Dropped returns the number of records dropped so far: those that found
// the queue full, and those lost to a failed write (a full disk, a
// removed directory), counted when the failure shows.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Written returns the number of records in files completed so far (renamed
// into place); the records of the file being written are counted when it
// completes.
func (r *Recorder) Written() int64 { return r.written.Load() }

// Files returns the files completed so far, in order.
func (r *Recorder) Files() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.files...)
}

// Close writes the queued records, completes the current file and stops.
func (r *Recorder) Close() error {
	r.once.Do(func() {
		r.qmu.Lock()
		r.stopped = true
		r.qmu.Unlock()
		close(r.closing)
	})
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

type openFile struct {
	w       *ingest.Writer
	path    string
	started time.Time
	bytes   int64
	rows    int64 // records given to w: written once the file is complete, dropped if it fails
}

func (r *Recorder) run() {
	defer close(r.done)
	var cur *openFile
	var batch []ingest.Span // the records taken from the queue; swapped with it
	flushTick := time.NewTicker(r.o.FlushInterval)
	defer flushTick.Stop()
	ageTick := time.NewTicker(time.Second)
	defer ageTick.Stop()
	flush := func() {
		batch = r.take(batch)
		r.taken.Add(int64(len(batch)))
		// A batch is split where the file reaches MaxFileBytes, so files
		// rotate at the same records however the batches fell.
		for rest := batch; len(rest) > 0; {
			if cur == nil {
				cur = r.open()
			}
			n, size := 0, int64(0)
			if cur != nil {
				size = cur.bytes
			}
			for n < len(rest) && size < r.o.MaxFileBytes {
				size += spanBytes(&rest[n])
				n++
			}
			part := rest[:n]
			rest = rest[n:]
			if cur == nil {
				r.dropped.Add(int64(len(part))) // the records are lost; the error is kept
				continue
			}
			if err := cur.w.Write(part); err != nil {
				r.fail(err)
				cur.w.Abort()
				r.dropped.Add(cur.rows + int64(len(part)))
				cur = nil
				continue
			}
			cur.rows += int64(len(part))
			cur.bytes = size
			if cur.bytes >= r.o.MaxFileBytes {
				r.finish(cur)
				cur = nil
			}
		}
	}
	for {
		select {
		case <-r.kick:
			flush()
		case <-flushTick.C:
			flush()
		case <-ageTick.C:
			if cur != nil && r.o.Now().Sub(cur.started) >= r.o.MaxFileAge {
				r.finish(cur)
				cur = nil
			}
		case <-r.closing:
			flush() // Record takes no more: this is the last of them
			if cur != nil {
				r.finish(cur)
			}
			return
		}
	}
}

// spanBytes estimates a record's size before compression.
func spanBytes(s *ingest.Span) int64 {
	n := 96 + len(s.TraceID) + len(s.SpanID) + len(s.ParentSpanID) + len(s.Caller) + len(s.Callee) +
		len(s.Operation) + len(s.FaultType) + len(s.FaultProfileID)
	for _, x := range s.Stack {
		n += len(x) + 4
	}
	return int64(n)
}

func (r *Recorder) open() *openFile {
	now := r.o.Now().UTC()
	r.seq++
	name := fmt.Sprintf("inject-%s-%06d.parquet", now.Format("20060102T150405.000000000Z"), r.seq)
	path := filepath.Join(r.o.Dir, name)
	w, err := ingest.Create(path, ingest.WriterOptions{RowGroupRows: 64 << 10})
	if err != nil {
		r.fail(err)
		return nil
	}
	return &openFile{w: w, path: path, started: now}
}

func (r *Recorder) finish(f *openFile) {
	if err := f.w.Close(); err != nil {
		r.fail(err)
		r.dropped.Add(f.rows)
		return
	}
	r.written.Add(f.rows)
	r.mu.Lock()
	r.files = append(r.files, f.path)
	r.mu.Unlock()
}

func (r *Recorder) fail(err error) {
	r.o.Logger.Error("records: write failed", "err", err)
	r.mu.Lock()
	r.err = errors.Join(r.err, err)
	r.mu.Unlock()
}

// retryTable remembers when each (trace, operation) pair was last seen, to
// count retries: a request for a pair seen within the window is a retry.
type retryTable struct {
	window time.Duration
	seed   maphash.Seed
	shards [16]retryShard
}

// Entries are keyed by a 64-bit hash of the pair, so the table holds no
// request data (a long path would otherwise stay in memory for the window).
type retryShard struct {
	mu    sync.Mutex
	seen  map[uint64]retryEntry
	sweep int64 // unix nano of the last sweep
}

type retryEntry struct {
	last  int64 // unix nano
	count int32
}

// maxRetryEntries bounds the memory of one shard.
const maxRetryEntries = 1 << 16

func newRetryTable(window time.Duration) *retryTable {
	t := &retryTable{window: window, seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].seen = map[uint64]retryEntry{}
	}
	return t
}

// seen records a request and returns how many earlier requests of the same
// trace and operation fell within the window before it.
func (t *retryTable) seen(traceID, op string, at time.Time) int32 {
	var h maphash.Hash
	h.SetSeed(t.seed)
	for i := 0; i < len(traceID); i++ {
		c := traceID[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h.WriteByte(c)
	}
	h.WriteByte(' ')
	h.WriteString(op)
	key := h.Sum64()
	sh := &t.shards[key%uint64(len(t.shards))]
	now := at.UnixNano()
	w := int64(t.window)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now-sh.sweep > w || len(sh.seen) >= maxRetryEntries {
		for k, e := range sh.seen {
			if now-e.last > w {
				delete(sh.seen, k)
			}
		}
		sh.sweep = now
	}
	e, ok := sh.seen[key]
	if ok && now-e.last <= w {
		e.count++
	} else {
		e.count = 0
	}
	e.last = now
	if ok || len(sh.seen) < maxRetryEntries {
		sh.seen[key] = e
	}
	return e.count
}
