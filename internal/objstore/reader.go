package objstore

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Request sizes of a Reader. A Parquet reader asks for the footer's length
// (8 bytes at the end), the footer, then each column chunk it decodes in
// buffered reads (1 MiB in ingest) that never cross the chunk's end. Small
// reads would each cost a request's latency (tens of milliseconds on a
// cloud store), so they fetch a block and keep it; large reads fetch
// exactly what was asked, so columns that are never decoded are never
// fetched.
const (
	// ReadAhead is the least a request fetches for a read smaller than
	// it: a page header, the file's magic, a small column chunk and its
	// neighbours.
	ReadAhead = 64 << 10
	// TailBytes is fetched from the end of the object by the first read
	// that reaches into it: the footer length and, for files of up to a
	// few hundred row groups, the whole footer, in one request.
	TailBytes = 64 << 10
	// cacheBlocks is the number of kept blocks, the oldest dropped
	// first.
	cacheBlocks = 8
)

// Reader reads one object with ranged requests. It is an io.ReaderAt that
// is safe for concurrent use (each read is its own request, or a copy out
// of a kept block; a read whose first or last bytes a kept block holds
// fetches only the rest) and counts the bytes and requests it fetched.
type Reader struct {
	ctx  context.Context
	b    *blob.Bucket
	l    location
	name string
	key  string
	size int64
	pin  pin

	fetched  atomic.Int64
	requests atomic.Int64

	mu     sync.Mutex
	blocks []block // oldest first
}

type block struct {
	off  int64
	data []byte
}

// Open opens the object name (a URL, or a name that List returned) for
// ranged reads; its size and version (the ETag, and on GCS the
// generation, to which every read is pinned: pin.go) come from one
// metadata request.
func (s *Store) Open(name string) (*Reader, error) {
	b, l, key, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if key == "" || key[len(key)-1] == '/' {
		return nil, fmt.Errorf("%s: names a prefix, not an object", name)
	}
	attrs, err := b.Attributes(s.ctx, key)
	if err != nil {
		return nil, storeError(s.ctx, b, l, l.name(key), err)
	}
	r := &Reader{ctx: s.ctx, b: b, l: l, name: l.name(key), key: key, size: attrs.Size, pin: pinOf(l.scheme(), attrs)}
	s.mu.Lock()
	s.readers = append(s.readers, r)
	s.mu.Unlock()
	return r, nil
}

// Name returns the object's name: scheme://bucket/key.
func (r *Reader) Name() string { return r.name }

// Size returns the object's size in bytes.
func (r *Reader) Size() int64 { return r.size }

// ETag returns the store's entity tag of the object ("" when it has none).
func (r *Reader) ETag() string { return r.pin.etag }

// Close drops the kept blocks; the bucket stays open until Store.Close.
func (r *Reader) Close() error {
	r.mu.Lock()
	r.blocks = nil
	r.mu.Unlock()
	return nil
}

// ReadAt reads len(p) bytes at off, returning io.EOF with the bytes that
// remain when the object ends first.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: read at negative offset %d", r.name, off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > r.size-off {
		p, eof = p[:r.size-off], io.EOF
	}
	n := len(p)
	// the parts at either end that a kept block holds cost no request
	p, off = r.trimByBlocks(p, off)
	if len(p) == 0 {
		return n, eof
	}
	if len(p) >= ReadAhead {
		if err := r.fetch(p, off); err != nil {
			return 0, err
		}
		return n, eof
	}
	start := off
	if off+int64(len(p)) > r.size-TailBytes {
		start = min(off, max(0, r.size-TailBytes))
	}
	end := min(r.size, max(start+ReadAhead, off+int64(len(p))))
	buf := make([]byte, end-start)
	if err := r.fetch(buf, start); err != nil {
		return 0, err
	}
	copy(p, buf[off-start:])
	r.mu.Lock()
	if len(r.blocks) == cacheBlocks {
		r.blocks = slices.Delete(r.blocks, 0, 1)
	}
	r.blocks = append(r.blocks, block{off: start, data: buf})
	r.mu.Unlock()
	return n, eof
}

// trimByBlocks copies into p what kept blocks hold of its first and last
// bytes, and returns the part in the middle that remains to be fetched.
func (r *Reader) trimByBlocks(p []byte, off int64) ([]byte, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for trimmed := true; trimmed && len(p) > 0; {
		trimmed = false
		for _, b := range r.blocks {
			bend := b.off + int64(len(b.data))
			end := off + int64(len(p))
			switch {
			case off >= b.off && off < bend: // b holds p's start
				k := copy(p, b.data[off-b.off:])
				p, off = p[k:], off+int64(k)
				trimmed = true
			case end > b.off && end <= bend: // b holds p's end
				k := end - max(off, b.off)
				copy(p[int64(len(p))-k:], b.data[end-k-b.off:end-b.off])
				p = p[:int64(len(p))-k]
				trimmed = true
			}
			if len(p) == 0 {
				break
			}
		}
	}
	return p, off
}

// fetch fills p with one ranged request at off.
func (r *Reader) fetch(p []byte, off int64) error {
	r.requests.Add(1)
	rr, err := r.b.NewRangeReader(r.ctx, r.key, off, int64(len(p)), r.readerOptions())
	if err != nil {
		return r.rangeError(off, len(p), err)
	}
	defer rr.Close()
	n, err := io.ReadFull(rr, p)
	r.fetched.Add(int64(n))
	if err != nil {
		return r.rangeError(off, len(p), err)
	}
	return nil
}

func (r *Reader) rangeError(off int64, n int, err error) error {
	what := fmt.Sprintf("%s: reading bytes %d-%d", r.name, off, off+int64(n)-1)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return fmt.Errorf("%s: the object ended early: it changed while it was read", what)
	}
	// the pinned version is no longer there (pin.go); Open found the
	// object, so a missing one was deleted or replaced since
	switch gcerrors.Code(err) {
	case gcerrors.FailedPrecondition:
		return fmt.Errorf("%s: the object changed while it was read (it no longer has the %s it had when opened): run again", what, r.pin)
	case gcerrors.NotFound:
		return fmt.Errorf("%s: the object changed while it was read (the version it had when opened, %s, is gone: replaced or deleted): run again", what, r.pin)
	}
	return storeError(r.ctx, r.b, r.l, what, err)
}

// Stat is what was fetched of one object.
type Stat struct {
	Name string
	Size int64
	// Fetched counts the bytes of all its reads; Requests the ranged
	// reads (Open), Whole the reads of all of it in one request
	// (OpenFile).
	Fetched, Requests, Whole int64
}

// Stats returns the fetch counts of every object opened, sorted by name
// (an object opened more than once is one row).
func (s *Store) Stats() []Stat {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string]*Stat{}
	stat := func(name string, size int64) *Stat {
		st := by[name]
		if st == nil {
			st = &Stat{Name: name, Size: size}
			by[name] = st
		}
		return st
	}
	for _, r := range s.readers {
		st := stat(r.name, r.size)
		st.Fetched += r.fetched.Load()
		st.Requests += r.requests.Load()
	}
	for _, r := range s.streams {
		st := stat(r.name, r.size)
		st.Fetched += r.fetched.Load()
		st.Whole++
	}
	out := make([]Stat, 0, len(by))
	for _, st := range by {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b Stat) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Upload is what was written to one object: its bytes, all uploaded
// whole (a temporary file of WriteFile or WriteDir, read to its end).
type Upload struct {
	Name  string
	Bytes int64
}

// Uploads returns the objects uploaded, in the order they were written.
func (s *Store) Uploads() []Upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploads)
}

// WriteReport prints what the store moved: one line per object read, the
// bytes fetched against the object's size and in how many requests (in
// name order), then one line per object uploaded, with its bytes (in the
// order they were written). Local files are not reported.
func (s *Store) WriteReport(w io.Writer) error {
	for _, st := range s.Stats() {
		var reqs []string
		if st.Requests > 0 || st.Whole == 0 {
			reqs = append(reqs, fmt.Sprintf("%d ranged requests", st.Requests))
		}
		if st.Whole == 1 {
			reqs = append(reqs, "1 request for the whole object")
		} else if st.Whole > 1 {
			reqs = append(reqs, fmt.Sprintf("%d requests for the whole object", st.Whole))
		}
		if _, err := fmt.Fprintf(w, "fetched %s: %d of %d bytes (%.1f%%) in %s\n",
			st.Name, st.Fetched, st.Size, 100*float64(st.Fetched)/float64(max(1, st.Size)), strings.Join(reqs, " and ")); err != nil {
			return err
		}
	}
	for _, u := range s.Uploads() {
		if _, err := fmt.Fprintf(w, "uploaded %s: %d bytes\n", u.Name, u.Bytes); err != nil {
			return err
		}
	}
	return nil
}
