package ingest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
)

// The scan reads each column chunk it decodes whole, in one read, hashes
// it for the row group's digest (RowGroupDigest) and holds it while the
// row group is decoded: the decoder's reads of the chunk are then served
// from memory. So a scan reads every byte it needs once, the digest comes
// without a second pass, and an object store is asked for each chunk once
// (docs/storage.md).

// heldReader serves reads that fall inside a held chunk from memory and
// passes the others to the input. Workers hold the chunks of different row
// groups at once.
type heldReader struct {
	in   io.ReaderAt
	mu   sync.RWMutex
	held []heldChunk
}

type heldChunk struct {
	off  int64
	data []byte
}

func (h *heldReader) ReadAt(p []byte, off int64) (int, error) {
	h.mu.RLock()
	for _, c := range h.held {
		if off >= c.off && off+int64(len(p)) <= c.off+int64(len(c.data)) {
			n := copy(p, c.data[off-c.off:])
			h.mu.RUnlock()
			return n, nil
		}
	}
	h.mu.RUnlock()
	return h.in.ReadAt(p, off)
}

func (h *heldReader) hold(cs []heldChunk) {
	h.mu.Lock()
	h.held = append(h.held, cs...)
	h.mu.Unlock()
}

// release drops the chunks that start at the offsets of cs.
func (h *heldReader) release(cs []heldChunk) {
	h.mu.Lock()
	kept := h.held[:0]
	for _, c := range h.held {
		drop := false
		for _, r := range cs {
			drop = drop || r.off == c.off && len(r.data) == len(c.data)
		}
		if !drop {
			kept = append(kept, c)
		}
	}
	clear(h.held[len(kept):])
	h.held = kept
	h.mu.Unlock()
}

// chunkRange is the byte range of the column chunk of column c in row
// group rg: from its dictionary page (or first data page) over its
// compressed size, checked against the file's size.
func (o *openFile) chunkRange(rg int, c Column, size int64) (off, n int64, err error) {
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

// readChunks reads the chunks of the wanted columns of row group rg whole
// into buf (grown as needed), in column order, and returns them with the
// SHA-256 of their bytes in that order: the row group's digest.
func (o *openFile) readChunks(rg int, want *[numColumns]bool, buf []byte) ([]heldChunk, [32]byte, []byte, error) {
	var d [32]byte
	if rg >= len(o.pf.Metadata().RowGroups) {
		return nil, d, buf, fmt.Errorf("%s: no row group %d", o.path, rg)
	}
	size := o.in.Size()
	type span struct{ off, n int64 }
	var spans []span
	total := int64(0)
	for c := Column(0); c < numColumns; c++ {
		if !want[c] || o.leaf[c] < 0 {
			continue
		}
		off, n, err := o.chunkRange(rg, c, size)
		if err != nil {
			return nil, d, buf, err
		}
		spans = append(spans, span{off, n})
		total += n
	}
	if int64(cap(buf)) < total {
		buf = make([]byte, total)
	}
	buf = buf[:total]
	h := sha256.New()
	chunks := make([]heldChunk, 0, len(spans))
	at := int64(0)
	for _, s := range spans {
		data := buf[at : at+s.n : at+s.n]
		if _, err := o.in.ReadAt(data, s.off); err != nil {
			return nil, d, buf, fmt.Errorf("%s: row group %d: reading a column chunk [%d, +%d): %w", o.path, rg, s.off, s.n, err)
		}
		h.Write(data)
		chunks = append(chunks, heldChunk{s.off, data})
		at += s.n
	}
	h.Sum(d[:0])
	return chunks, d, buf, nil
}
