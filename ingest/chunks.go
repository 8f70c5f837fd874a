package ingest

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"sync"
)

// The scan hashes each column chunk it decodes as the decoder reads it:
// parquet-go reads a chunk front to back through a buffered section reader
// (ReadBufferSize at a time), so a reader that hashes the bytes it returns
// in order computes the chunk's SHA-256 on the way. Whatever the decoder
// did not read in order (a chunk it left before its end, a skip) is read
// afterwards. So a scan reads every byte it needs once, holds no chunk in
// memory, the digest takes no second pass, and an object store is asked
// for each byte once (docs/storage.md). A row group's digest is SHA-256
// over its chunks' digests in column order (RowGroupDigest).

// hashBlock is the size of the reads that hash what the decoder did not
// read: as large as the decoder's own.
const hashBlock = 1 << 20

// chunkHasher reads one column chunk, [off, end) of in, for the decoder
// and hashes the bytes it returns while they come in order. One decoder
// (one goroutine) uses it.
type chunkHasher struct {
	in       io.ReaderAt
	off, end int64
	next     int64 // the first byte not hashed yet
	h        hash.Hash
}

func newChunkHasher(in io.ReaderAt, off, n int64) *chunkHasher {
	return &chunkHasher{in: in, off: off, end: off + n, next: off, h: sha256.New()}
}

func (c *chunkHasher) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.in.ReadAt(p, off)
	if off <= c.next && c.next < off+int64(n) {
		c.h.Write(p[c.next-off : min(int64(n), c.end-off)])
		c.next = min(off+int64(n), c.end)
	}
	return n, err
}

// sum reads and hashes what the decoder did not read in order and returns
// the chunk's SHA-256. buf is a scratch buffer, grown as needed.
func (c *chunkHasher) sum(buf []byte) ([32]byte, []byte, error) {
	var d [32]byte
	if c.next < c.end && cap(buf) < hashBlock {
		buf = make([]byte, hashBlock)
	}
	for c.next < c.end {
		p := buf[:min(int64(hashBlock), c.end-c.next)]
		if _, err := c.in.ReadAt(p, c.next); err != nil {
			return d, buf, fmt.Errorf("reading a column chunk [%d, +%d): %w", c.off, c.end-c.off, err)
		}
		c.h.Write(p)
		c.next += int64(len(p))
	}
	c.h.Sum(d[:0])
	return d, buf, nil
}

// chunkRange is the byte range of the column chunk of column c in row
// group rg: from its dictionary page (or first data page) over its
// compressed size (the bytes parquet-go reads), checked against the file's
// size.
func (o *openFile) chunkRange(rg int, c Column) (off, n int64, err error) {
	size := o.in.Size()
	md := &o.pf.Metadata().RowGroups[rg].Columns[o.leaf[c]].MetaData
	off, n = md.DataPageOffset, md.TotalCompressedSize
	if md.DictionaryPageOffset != 0 {
		off = md.DictionaryPageOffset
	}
	if off < 0 || n < 0 || off > size || n > size-off {
		return 0, 0, fmt.Errorf("%s: %w: row group %d: column %s: chunk [%d, +%d) outside the file (%d bytes)",
			o.path, ErrCorrupt, rg, c.Name(), off, n, size)
	}
	return off, n, nil
}

// chunkHashers returns a chunkHasher for each present column of want in
// row group rg, indexed by column (nil for the others), each reading the
// input as the decoder asks.
func (o *openFile) chunkHashers(rg int, want *[numColumns]bool) ([numColumns]*chunkHasher, error) {
	f := o.fetchChunks(rg, want, nil)
	return f.hs, f.wait()
}

// chunkFetch is a row group's chunk hashers, whose chunks may still be
// arriving (fetchChunks): wait before reading them.
type chunkFetch struct {
	hs   [numColumns]*chunkHasher
	err  error
	wg   sync.WaitGroup
	errs []error // of the requests
}

// wait waits for the chunks and returns the first error met.
func (f *chunkFetch) wait() error {
	f.wg.Wait()
	return errors.Join(f.err, errors.Join(f.errs...))
}

// fetchChunks returns the chunk hashers of row group rg (chunkHashers).
// With a buffer and an input that is not a local file (an object in a
// bucket) it starts fetching the chunks into *buf (grown as needed) and
// returns without waiting for them, so that a worker can fetch the next
// row group while it decodes this one (Scan).
//
// The decoder reads a chunk front to back in buffered reads; from a
// bucket each would be a request with the store's latency (tens of
// milliseconds), made one after another by the worker, for every column
// of every row group, and a scan of a bucket spent most of its time
// waiting (BenchmarkScanObjects). Fetched ahead, all at once, each byte is
// still fetched once, and the digests are computed as before (from
// memory). Chunks less than coalesceGap apart are fetched in one request
// (a row group's chunks lie one after another, and small ones would each
// cost a request), so at most that many bytes between two chunks are
// fetched without being read.
func (o *openFile) fetchChunks(rg int, want *[numColumns]bool, buf *[]byte) *chunkFetch {
	f := &chunkFetch{}
	if rg >= len(o.pf.Metadata().RowGroups) {
		f.err = fmt.Errorf("%s: no row group %d", o.path, rg)
		return f
	}
	var ranges [numColumns][2]int64
	var order []Column
	for c := Column(0); c < numColumns; c++ {
		if !want[c] || o.leaf[c] < 0 {
			continue
		}
		off, n, err := o.chunkRange(rg, c)
		if err != nil {
			f.err = err
			return f
		}
		ranges[c] = [2]int64{off, n}
		f.hs[c] = newChunkHasher(o.in, off, n)
		if n > 0 {
			order = append(order, c)
		}
	}
	if isLocal(o.in) || buf == nil || noPrefetch {
		return f
	}
	// the requests: runs of chunks less than coalesceGap apart
	type run struct {
		off, end int64
		cols     []Column
	}
	slices.SortFunc(order, func(a, b Column) int { return cmp.Compare(ranges[a][0], ranges[b][0]) })
	var runs []run
	size := int64(0)
	for _, c := range order {
		off, end := ranges[c][0], ranges[c][0]+ranges[c][1]
		if k := len(runs) - 1; k >= 0 && off >= runs[k].off && off <= runs[k].end+coalesceGap {
			size += max(end, runs[k].end) - runs[k].end
			runs[k].end = max(end, runs[k].end)
			runs[k].cols = append(runs[k].cols, c)
			continue
		}
		runs = append(runs, run{off, end, []Column{c}})
		size += end - off
	}
	if size > maxPrefetch {
		return f // read the chunks as they come
	}
	if int64(cap(*buf)) < size {
		*buf = make([]byte, size)
	}
	data := (*buf)[:size]
	f.errs = make([]error, len(runs))
	at := int64(0)
	for i, r := range runs {
		part := data[at : at+r.end-r.off : at+r.end-r.off]
		at += r.end - r.off
		for _, c := range r.cols {
			off, n := ranges[c][0], ranges[c][1]
			f.hs[c].in = memChunk{data: part[off-r.off : off-r.off+n], off: off, in: o.in}
		}
		f.wg.Go(func() {
			if _, err := o.in.ReadAt(part, r.off); err != nil && !(errors.Is(err, io.EOF) && r.end == o.in.Size()) {
				f.errs[i] = fmt.Errorf("%s: row group %d: reading its column chunks [%d, %d): %w", o.path, rg, r.off, r.end, err)
			}
		})
	}
	return f
}

// noPrefetch turns fetching ahead off (BenchmarkScanObjects' peer).
var noPrefetch = false

// maxPrefetch bounds the bytes of one row group's chunks that a worker
// fetches ahead; a row group whose chunks are larger is read as a local
// file is.
const maxPrefetch = 256 << 20

// coalesceGap is the largest gap between two column chunks that
// fetchChunks fetches in one request with them.
const coalesceGap = 64 << 10

// memChunk is a column chunk's bytes, [off, off+len(data)) of in, held in
// memory; reads beyond them go to in.
type memChunk struct {
	data []byte
	off  int64
	in   io.ReaderAt
}

func (m memChunk) ReadAt(p []byte, off int64) (int, error) {
	if off >= m.off && off+int64(len(p)) <= m.off+int64(len(m.data)) {
		return copy(p, m.data[off-m.off:]), nil
	}
	return m.in.ReadAt(p, off)
}

// rowGroupDigest finishes the chunk hashers of a row group and combines
// their digests, in column order, into the row group's digest.
func (o *openFile) rowGroupDigest(rg int, hs *[numColumns]*chunkHasher, buf []byte) ([32]byte, []byte, error) {
	var d [32]byte
	h := sha256.New()
	for _, c := range hs {
		if c == nil {
			continue
		}
		cd, b, err := c.sum(buf)
		buf = b
		if err != nil {
			return d, buf, fmt.Errorf("%s: row group %d: %w", o.path, rg, err)
		}
		h.Write(cd[:])
	}
	h.Sum(d[:0])
	return d, buf, nil
}
