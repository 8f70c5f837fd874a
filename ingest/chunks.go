package ingest

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
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
// row group rg, indexed by column (nil for the others).
func (o *openFile) chunkHashers(rg int, want *[numColumns]bool) ([numColumns]*chunkHasher, error) {
	var hs [numColumns]*chunkHasher
	if rg >= len(o.pf.Metadata().RowGroups) {
		return hs, fmt.Errorf("%s: no row group %d", o.path, rg)
	}
	for c := Column(0); c < numColumns; c++ {
		if !want[c] || o.leaf[c] < 0 {
			continue
		}
		off, n, err := o.chunkRange(rg, c)
		if err != nil {
			return hs, err
		}
		hs[c] = newChunkHasher(o.in, off, n)
	}
	return hs, nil
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
