package ingest

// The column cursor: walks one column chunk page by page and copies its
// values into batches.

import (
	"bytes"
	"fmt"
	"io"
	"slices"

	"github.com/parquet-go/parquet-go"
)

// cursor walks one column chunk page by page.
type cursor struct {
	col    Column
	path   string
	pages  parquet.Pages // nil: the column is absent
	maxDef byte

	page   parquet.Page
	rows   int // rows in the current page
	pos    int // next row of the page
	vpos   int // next non-null value of the page
	def    []byte
	i32    []int32
	i64    []int64
	bits   []byte
	ba     []byte
	offs   []uint32
	idx    []int32
	dict   parquet.Dictionary
	dictID uint64
	dictV  [][]byte // a string column's dictionary
	// hash: the column goes to Batch.Hash (ScanOptions.Hashed); dictH is
	// then its dictionary's hashes instead of dictV
	hash  bool
	dictH []uint64
	// a numeric or boolean column's dictionary (other tools, e.g. Arrow and
	// Spark, dictionary-encode every column by default)
	dictI32  []int32
	dictI64  []int64
	dictBool []bool
	held     []parquet.Page
}

// reset readies c for column col of a new column chunk, keeping the
// buffers of its dictionaries.
func (c *cursor) reset(col Column, path string, hash bool) {
	*c = cursor{col: col, path: path, hash: hash,
		dictV: c.dictV[:0], dictH: c.dictH[:0], dictBool: c.dictBool[:0], held: c.held[:0]}
}

// releaseHeld returns the pages that the last batch no longer needs to
// parquet-go's buffer pool. Pages a batch read from stay alive until the
// batch has been emitted, because its string columns point into them.
func (c *cursor) releaseHeld() { c.held = releasePages(c.held) }

// releasePages returns pages to parquet-go's buffer pool and ps emptied.
func releasePages(ps []parquet.Page) []parquet.Page {
	for _, p := range ps {
		parquet.Release(p)
	}
	clear(ps)
	return ps[:0]
}

func (c *cursor) close() {
	c.releaseHeld()
	if c.page != nil {
		parquet.Release(c.page)
		c.page = nil
	}
	if c.pages != nil {
		c.pages.Close()
	}
}

func (c *cursor) nextPage() error {
	if c.page != nil {
		c.held = append(c.held, c.page)
		c.page = nil
	}
	for {
		p, err := c.pages.ReadPage()
		if err == io.EOF {
			return fmt.Errorf("%w: fewer values than rows", ErrCorrupt)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if p.NumRows() == 0 {
			parquet.Release(p)
			continue
		}
		c.page = p
		break
	}
	p := c.page
	c.rows, c.pos, c.vpos = int(p.NumRows()), 0, 0
	c.def = nil
	if c.maxDef > 0 {
		c.def = p.DefinitionLevels()
	}
	data := p.Data()
	c.idx, c.i32, c.i64, c.bits, c.ba, c.offs = nil, nil, nil, nil, nil, nil
	if d := p.Dictionary(); d != nil {
		c.idx = data.Int32()
		if d != c.dict {
			if c.dict != nil {
				// A second dictionary in one chunk (the format allows one):
				// the current batch may point into the first one's entries,
				// so they are not overwritten.
				c.dictV, c.dictH, c.dictBool = nil, nil, nil
			}
			c.dict = d
			c.dictID = dictCounter.Add(1)
			dv := d.Page().Data()
			switch c.col.Kind() {
			case KindInt32:
				c.dictI32 = dv.Int32()
				return nil
			case KindInt64:
				c.dictI64 = dv.Int64()
				return nil
			case KindBool:
				bits, n := dv.Boolean(), d.Len()
				c.dictBool = slices.Grow(c.dictBool[:0], n)[:n]
				for i := range c.dictBool {
					c.dictBool[i] = bits[i>>3]>>(i&7)&1 != 0
				}
				return nil
			}
			vals, offs := dv.ByteArray()
			if c.hash {
				c.dictH = slices.Grow(c.dictH[:0], max(len(offs)-1, 0))
				for i := 0; i+1 < len(offs); i++ {
					c.dictH = append(c.dictH, HashID(vals[offs[i]:offs[i+1]]))
				}
				return nil
			}
			c.dictV = slices.Grow(c.dictV[:0], max(len(offs)-1, 0))
			for i := 0; i+1 < len(offs); i++ {
				c.dictV = append(c.dictV, vals[offs[i]:offs[i+1]:offs[i+1]])
			}
		}
		return nil
	}
	switch c.col.Kind() {
	case KindInt32:
		c.i32 = data.Int32()
	case KindInt64:
		c.i64 = data.Int64()
	case KindBool:
		c.bits = data.Boolean()
	case KindString:
		c.ba, c.offs = data.ByteArray()
	}
	return nil
}

func (c *cursor) fill(b *Batch, n int) error {
	col := c.col
	switch col.Kind() {
	case KindInt32:
		b.I32[col] = grow(b.I32[col], n)
	case KindInt64:
		b.I64[col] = grow(b.I64[col], n)
	case KindBool:
		b.Bool[col] = grow(b.Bool[col], n)
	case KindString:
		if c.hash {
			b.Hash[col] = grow(b.Hash[col], n)
			if c.pages == nil {
				clear(b.Hash[col])
				return nil
			}
			break
		}
		s := &b.Str[col]
		s.Idx = grow(s.Idx, n)
		if s.DictID != 0 {
			// the last batch shared a chunk dictionary: never write into it
			s.Dict = nil
		}
		s.Dict, s.DictLen, s.DictID = s.Dict[:0], 0, 0
		if c.pages == nil {
			s.Dict = append(s.Dict, nil)
			clear(s.Idx)
			return nil
		}
	}
	if c.pages == nil {
		switch col.Kind() {
		case KindInt32:
			clear(b.I32[col])
		case KindInt64:
			clear(b.I64[col])
		case KindBool:
			clear(b.Bool[col])
		}
		return nil
	}
	nullIdx := int32(-1)
	for out := 0; out < n; {
		if c.page == nil || c.pos == c.rows {
			if err := c.nextPage(); err != nil {
				return err
			}
		}
		k := min(n-out, c.rows-c.pos)
		// the range's definition levels, nil when it has no nulls (as in
		// most files whose columns are merely declared optional: Arrow,
		// DuckDB): then values are copied in bulk
		var def []byte
		if c.def != nil {
			def = c.def[c.pos : c.pos+k]
			if bytes.IndexByte(def, 0) < 0 { // maxDef is 1: 0 is null
				def = nil
			}
		}
		if c.hash {
			if err := c.copyHashes(b.Hash[col][out:out+k], def); err != nil {
				return err
			}
			out += k
			continue
		}
		if col.Kind() == KindString && c.idx != nil {
			s := &b.Str[col]
			if s.DictID != c.dictID {
				if s.DictID != 0 || len(s.Dict) > 0 {
					// A new dictionary within one batch: fall back to
					// batch-local entries for this batch.
					s.Dict = append(s.Dict, c.dictV...)
					base := int32(len(s.Dict) - len(c.dictV))
					if err := c.copyIdx(s, out, k, base, def, &nullIdx); err != nil {
						return err
					}
					out += k
					continue
				}
				// Share the chunk's dictionary; the full slice expression
				// makes any later append copy instead of writing into it.
				s.Dict = c.dictV[:len(c.dictV):len(c.dictV)]
				s.DictLen, s.DictID = len(c.dictV), c.dictID
			}
			if err := c.copyIdx(s, out, k, 0, def, &nullIdx); err != nil {
				return err
			}
			out += k
			continue
		}
		if c.idx != nil { // a dictionary-encoded numeric or boolean column
			if err := c.copyDict(b, out, k, def, &nullIdx); err != nil {
				return err
			}
			out += k
			continue
		}
		if def == nil && c.copyDense(b, out, k) {
			c.pos += k
			c.vpos += k
			out += k
			continue
		}
		for i := 0; i < k; i++ {
			if def != nil && def[i] < c.maxDef {
				c.setNull(b, out+i, &nullIdx)
				continue
			}
			if err := c.setValue(b, out+i); err != nil {
				return err
			}
			c.vpos++
		}
		c.pos += k
		out += k
	}
	return nil
}

// copyHashes writes the hashes of the next len(dst) rows of a hashed
// column (0 for a null); def is the range's definition levels, nil when it
// has no nulls.
func (c *cursor) copyHashes(dst []uint64, def []byte) error {
	k := len(dst)
	if def == nil && c.idx != nil && c.vpos+k <= len(c.idx) {
		// dictionary-encoded: the entries' hashes, gathered
		if err := gather(dst, c.dictH, c.idx[c.vpos:c.vpos+k]); err != nil {
			return err
		}
	} else if def == nil && c.idx == nil && c.vpos+k < len(c.offs) {
		// plain or delta-encoded: hashed in place
		offs, ba := c.offs[c.vpos:c.vpos+k+1], c.ba
		for i := range dst {
			dst[i] = HashID(ba[offs[i]:offs[i+1]])
		}
	} else {
		return c.copyHashesSlow(dst, def)
	}
	c.vpos += k
	c.pos += k
	return nil
}

// copyHashesSlow is copyHashes one value at a time, for ranges with nulls
// and short pages.
func (c *cursor) copyHashesSlow(dst []uint64, def []byte) error {
	for i := range dst {
		if def != nil && def[i] < c.maxDef {
			dst[i] = 0
			continue
		}
		if c.idx != nil {
			x, err := c.nextIndex(len(c.dictH))
			if err != nil {
				return err
			}
			dst[i] = c.dictH[x]
			continue
		}
		if c.vpos+1 >= len(c.offs) {
			return fmt.Errorf("%w: page has fewer values than rows", ErrCorrupt)
		}
		dst[i] = HashID(c.ba[c.offs[c.vpos]:c.offs[c.vpos+1]])
		c.vpos++
	}
	c.pos += len(dst)
	return nil
}

// copyIdx copies k dictionary indexes of a string column, adding base; def
// is the range's definition levels, nil when it has no nulls.
func (c *cursor) copyIdx(s *StringColumn, out, k int, base int32, def []byte, nullIdx *int32) error {
	if def == nil && c.vpos+k <= len(c.idx) {
		src, dst := c.idx[c.vpos:c.vpos+k], s.Idx[out:out+k]
		// checked in the same pass: a negative index compares as a huge
		// unsigned one
		var hi uint32
		for i, x := range src {
			hi = max(hi, uint32(x))
			dst[i] = base + x
		}
		if uint64(hi) >= uint64(len(c.dictV)) {
			return indexError(int32(hi), len(c.dictV))
		}
		c.vpos += k
		c.pos += k
		return nil
	}
	for i := 0; i < k; i++ {
		if def != nil && def[i] < c.maxDef {
			if *nullIdx < 0 {
				s.Dict = append(s.Dict, nil)
				*nullIdx = int32(len(s.Dict) - 1)
			}
			s.Idx[out+i] = *nullIdx
			continue
		}
		x, err := c.nextIndex(len(c.dictV))
		if err != nil {
			return err
		}
		s.Idx[out+i] = base + x
	}
	c.pos += k
	return nil
}

// copyDict copies k values of a dictionary-encoded numeric or boolean
// column, looking up their indexes; def is the range's definition levels,
// nil when it has no nulls.
func (c *cursor) copyDict(b *Batch, out, k int, def []byte, nullIdx *int32) error {
	var dl int
	switch c.col.Kind() {
	case KindInt32:
		dl = len(c.dictI32)
	case KindInt64:
		dl = len(c.dictI64)
	case KindBool:
		dl = len(c.dictBool)
	}
	if def == nil && c.vpos+k <= len(c.idx) {
		src := c.idx[c.vpos : c.vpos+k]
		var err error
		switch c.col.Kind() {
		case KindInt32:
			err = gather(b.I32[c.col][out:out+k], c.dictI32, src)
		case KindInt64:
			err = gather(b.I64[c.col][out:out+k], c.dictI64, src)
		case KindBool:
			err = gather(b.Bool[c.col][out:out+k], c.dictBool, src)
		}
		if err != nil {
			return err
		}
		c.vpos += k
		c.pos += k
		return nil
	}
	for i := 0; i < k; i++ {
		if def != nil && def[i] < c.maxDef {
			c.setNull(b, out+i, nullIdx)
			continue
		}
		x, err := c.nextIndex(dl)
		if err != nil {
			return err
		}
		switch c.col.Kind() {
		case KindInt32:
			b.I32[c.col][out+i] = c.dictI32[x]
		case KindInt64:
			b.I64[c.col][out+i] = c.dictI64[x]
		case KindBool:
			b.Bool[c.col][out+i] = c.dictBool[x]
		}
	}
	c.pos += k
	return nil
}

// nextIndex returns the page's next dictionary index and moves past it,
// or an error when the page has no more or the index is outside a
// dictionary of n values.
func (c *cursor) nextIndex(n int) (int32, error) {
	if c.vpos >= len(c.idx) {
		return 0, fmt.Errorf("%w: page has fewer values than levels", ErrCorrupt)
	}
	x := c.idx[c.vpos]
	if x < 0 || int(x) >= n {
		return 0, indexError(x, n)
	}
	c.vpos++
	return x, nil
}

// indexError is the error for dictionary index x of a dictionary of n values.
func indexError(x int32, n int) error {
	return fmt.Errorf("%w: dictionary index %d out of range [0, %d)", ErrCorrupt, x, n)
}

// gather sets dst[i] = dict[idx[i]], or returns indexError for the first
// index outside dict (a negative one compares as a huge unsigned one).
func gather[T any](dst, dict []T, idx []int32) error {
	dst = dst[:len(idx)]
	for i, x := range idx {
		j := int(uint32(x))
		if j >= len(dict) {
			return indexError(x, len(dict))
		}
		dst[i] = dict[j]
	}
	return nil
}

// copyDense copies k non-null values in bulk; false when the column kind
// has no bulk path or the page is short (setValue then reports it).
func (c *cursor) copyDense(b *Batch, out, k int) bool {
	v := c.vpos
	switch c.col.Kind() {
	case KindInt32:
		if v+k > len(c.i32) {
			return false
		}
		copy(b.I32[c.col][out:out+k], c.i32[v:v+k])
		return true
	case KindInt64:
		if v+k > len(c.i64) {
			return false
		}
		copy(b.I64[c.col][out:out+k], c.i64[v:v+k])
		return true
	case KindBool:
		if (v+k+7)/8 > len(c.bits) {
			return false
		}
		dst := b.Bool[c.col][out : out+k]
		for i := range dst {
			j := v + i
			dst[i] = c.bits[j>>3]>>(j&7)&1 != 0
		}
		return true
	case KindString:
		// a plain-encoded page (ids: too many distinct values for a
		// dictionary): the values become batch-local entries, as setValue
		// makes them one by one
		if c.idx != nil || v+k >= len(c.offs) {
			return false
		}
		s := &b.Str[c.col]
		base := int32(len(s.Dict))
		s.Dict = slices.Grow(s.Dict, k)
		offs, ba, idx := c.offs[v:v+k+1], c.ba, s.Idx[out:out+k]
		for i := range idx {
			lo, hi := offs[i], offs[i+1]
			s.Dict = append(s.Dict, ba[lo:hi:hi])
			idx[i] = base + int32(i)
		}
		return true
	}
	return false
}

func (c *cursor) setNull(b *Batch, i int, nullIdx *int32) {
	switch c.col.Kind() {
	case KindInt32:
		b.I32[c.col][i] = 0
	case KindInt64:
		b.I64[c.col][i] = 0
	case KindBool:
		b.Bool[c.col][i] = false
	case KindString:
		s := &b.Str[c.col]
		if *nullIdx < 0 {
			s.Dict = append(s.Dict, nil)
			*nullIdx = int32(len(s.Dict) - 1)
		}
		s.Idx[i] = *nullIdx
	}
}

func (c *cursor) setValue(b *Batch, i int) error {
	v := c.vpos
	switch c.col.Kind() {
	case KindInt32:
		if v >= len(c.i32) {
			return fmt.Errorf("%w: page has fewer values than rows", ErrCorrupt)
		}
		b.I32[c.col][i] = c.i32[v]
	case KindInt64:
		if v >= len(c.i64) {
			return fmt.Errorf("%w: page has fewer values than rows", ErrCorrupt)
		}
		b.I64[c.col][i] = c.i64[v]
	case KindBool:
		if v/8 >= len(c.bits) {
			return fmt.Errorf("%w: page has fewer values than rows", ErrCorrupt)
		}
		b.Bool[c.col][i] = c.bits[v/8]>>(v%8)&1 != 0
	case KindString:
		if v+1 >= len(c.offs) {
			return fmt.Errorf("%w: page has fewer values than rows", ErrCorrupt)
		}
		s := &b.Str[c.col]
		lo, hi := c.offs[v], c.offs[v+1]
		s.Dict = append(s.Dict, c.ba[lo:hi:hi])
		s.Idx[i] = int32(len(s.Dict) - 1)
	}
	return nil
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
