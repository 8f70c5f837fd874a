package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// DefaultBatchRows is the number of rows in one Batch.
const DefaultBatchRows = 1 << 16

// ScanOptions choose what Scan reads and how.
type ScanOptions struct {
	// Columns are the columns the caller needs. The validation columns
	// (callee, depth, start_unix_nano, duration_nano) are always read.
	// The stack column cannot be scanned column-wise; use ReadFile.
	Columns []Column
	// Workers is the number of goroutines; 0 means GOMAXPROCS.
	Workers int
	// BatchRows is the batch size; 0 means DefaultBatchRows.
	BatchRows int
	// Progress, when set, is advanced by the rows read.
	Progress *atomic.Int64
	// RowGroups, when not nil, are the row groups to read (see Shard);
	// nil reads them all.
	RowGroups []RowGroup
}

// StringColumn holds a batch of strings as indexes into a dictionary. The
// first DictLen entries of Dict are the column chunk's own dictionary and stay
// the same while DictID does (0: no shared dictionary), so callers can cache
// per-entry work across batches; entries after DictLen belong to this batch
// alone. The byte slices are valid only during the callback.
type StringColumn struct {
	Dict    [][]byte
	DictLen int
	DictID  uint64
	Idx     []int32
}

// Value returns row i's string bytes.
func (s *StringColumn) Value(i int) []byte { return s.Dict[s.Idx[i]] }

// Batch is a run of consecutive rows of one row group, decoded column-wise.
// Only the requested columns are filled; a requested optional column that
// the file lacks reads as zero values. A Batch is reused: callers must not
// keep its slices after the callback returns.
type Batch struct {
	File      string // the file's path
	FileIndex int    // position in the Scan's file list
	RowGroup  int
	FirstRow  int64 // 0-based row index in the file of the batch's row 0
	N         int

	Str  [numColumns]StringColumn
	I32  [numColumns][]int32
	I64  [numColumns][]int64
	Bool [numColumns][]bool

	// Bad holds each row's validation result (ReasonOK for good rows).
	Bad []Reason

	hashBuf []byte // the worker's buffer for hashing what the decoder skipped (chunks.go)
}

// Reason says why a row was rejected.
type Reason uint8

// Row rejection reasons.
const (
	ReasonOK Reason = iota
	ReasonNegativeDuration
	ReasonNegativeDepth
	ReasonEmptyCallee
	ReasonZeroStart
	NumReasons
)

var reasonNames = [NumReasons]string{"ok", "negative_duration", "negative_depth", "empty_callee", "zero_start_time"}

func (r Reason) String() string { return reasonNames[r] }

// Validate fills b.Bad from the validation columns.
func (b *Batch) validate() {
	b.Bad = grow(b.Bad, b.N)
	dur := b.I64[ColDurationNano]
	depth := b.I32[ColDepth]
	start := b.I64[ColStartUnixNano]
	callee := &b.Str[ColCallee]
	for i := 0; i < b.N; i++ {
		switch {
		case dur[i] < 0:
			b.Bad[i] = ReasonNegativeDuration
		case depth[i] < 0:
			b.Bad[i] = ReasonNegativeDepth
		case len(callee.Dict[callee.Idx[i]]) == 0:
			b.Bad[i] = ReasonEmptyCallee
		case start[i] == 0:
			b.Bad[i] = ReasonZeroStart
		default:
			b.Bad[i] = ReasonOK
		}
	}
}

// BadRows counts rejected rows per reason and keeps the first of each
// (lowest file index, then row) as an example.
type BadRows struct {
	Count [NumReasons]int64
	First [NumReasons]*RowError
	first [NumReasons]struct{ file, row int64 }
}

// Total returns the number of rejected rows.
func (br *BadRows) Total() int64 {
	var n int64
	for r := ReasonOK + 1; r < NumReasons; r++ {
		n += br.Count[r]
	}
	return n
}

func (br *BadRows) add(b *Batch, i int) {
	r := b.Bad[i]
	br.Count[r]++
	f, row := int64(b.FileIndex), b.FirstRow+int64(i)
	if br.First[r] == nil || f < br.first[r].file || f == br.first[r].file && row < br.first[r].row {
		br.first[r].file, br.first[r].row = f, row
		br.First[r] = &RowError{File: b.File, Row: row, Msg: r.String()}
	}
}

// Merge adds o's counts and examples to br.
func (br *BadRows) Merge(o *BadRows) {
	for r := ReasonOK + 1; r < NumReasons; r++ {
		br.Count[r] += o.Count[r]
		if o.First[r] == nil {
			continue
		}
		f := o.first[r]
		if br.First[r] == nil || f.file < br.first[r].file || f.file == br.first[r].file && f.row < br.first[r].row {
			br.first[r] = f
			br.First[r] = o.First[r]
		}
	}
}

// FileInfo describes one scanned input file.
type FileInfo struct {
	Path      string
	Rows      int64
	RowGroups int
	Size      int64
}

// OpenedFiles is the result of checking inputs before a scan.
type OpenedFiles struct {
	Files []FileInfo
	Rows  int64

	opened []*openFile
}

type openFile struct {
	path string
	in   Input
	pf   *parquet.File
	leaf [numColumns]int // leaf column index, -1 when absent
	opt  [numColumns]bool

	dmu     sync.Mutex
	digWant [numColumns]bool // the columns of the digests in dig
	dig     map[int][32]byte // row group digests computed by Scan
}

// setDigest keeps the digest of row group rg over the columns want.
func (o *openFile) setDigest(rg int, want *[numColumns]bool, d [32]byte) {
	o.dmu.Lock()
	defer o.dmu.Unlock()
	if o.dig == nil || o.digWant != *want {
		o.dig, o.digWant = map[int][32]byte{}, *want
	}
	o.dig[rg] = d
}

// digest returns the kept digest of row group rg over the columns want.
func (o *openFile) digest(rg int, want *[numColumns]bool) ([32]byte, bool) {
	o.dmu.Lock()
	defer o.dmu.Unlock()
	d, ok := o.dig[rg]
	return d, ok && o.digWant == *want
}

// Open opens and checks local files (their footers and schemas) without
// reading any data. Close the result when done.
func Open(paths []string) (*OpenedFiles, error) {
	return OpenWith(paths, OpenLocal)
}

// Input is an opened span file: its bytes by offset, safe for concurrent
// reads, and its size. A local file (OpenLocal) is one; a ranged reader
// over an object in a bucket (internal/objstore) is another.
type Input interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// OpenFunc opens the input that name names.
type OpenFunc func(name string) (Input, error)

// OpenWith is Open with each name opened by open. Messages, FileInfo.Path
// and Batch.File use the names as given.
func OpenWith(names []string, open OpenFunc) (*OpenedFiles, error) {
	of := &OpenedFiles{}
	for _, p := range names {
		o, err := openOne(p, open)
		if err != nil {
			of.Close()
			return nil, err
		}
		n := o.pf.NumRows()
		of.opened = append(of.opened, o)
		of.Files = append(of.Files, FileInfo{Path: p, Rows: n, RowGroups: len(o.pf.RowGroups()), Size: o.in.Size()})
		of.Rows += n
	}
	return of, nil
}

// Close closes the files.
func (of *OpenedFiles) Close() error {
	for _, o := range of.opened {
		o.in.Close()
	}
	of.opened = nil
	return nil
}

// localFile is an Input over an open file.
type localFile struct {
	*os.File
	size int64
}

func (f localFile) Size() int64 { return f.size }

// OpenLocal opens a local file as an Input.
func OpenLocal(path string) (Input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s: is a directory", path)
	}
	return localFile{f, fi.Size()}, nil
}

func openOne(path string, open OpenFunc) (o *openFile, err error) {
	in, err := open(path)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			in.Close()
		}
	}()
	size := in.Size()
	if err := checkFooter(in, size); err != nil {
		if errors.As(err, new(notParquetError)) {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	pf, err := openParquet(in, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	o = &openFile{path: path, in: in, pf: pf}
	if err := o.checkSchema(); err != nil {
		return nil, err
	}
	return o, nil
}

// openParquet guards against the panics a hostile footer can cause in the
// decoder and turns them into errors.
func openParquet(r io.ReaderAt, size int64) (pf *parquet.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoding footer: %v", p)
		}
	}()
	return parquet.OpenFile(r, size, parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true), parquet.ReadBufferSize(1<<20))
}

func (o *openFile) checkSchema() error {
	root := o.pf.Root()
	byName := map[string]*parquet.Column{}
	for _, c := range root.Columns() {
		byName[c.Name()] = c
	}
	for c := Column(0); c < numColumns; c++ {
		o.leaf[c] = -1
		col, ok := byName[c.Name()]
		if !ok {
			if c.Required() {
				return &SchemaError{File: o.path, Column: c.Name(), Msg: "required column is missing"}
			}
			continue
		}
		if c.Kind() == KindStringList {
			if err := checkList(o.path, col); err != nil {
				return err
			}
			continue
		}
		if !col.Leaf() {
			return &SchemaError{File: o.path, Column: c.Name(), Msg: fmt.Sprintf("is a group, want %s", c.Kind())}
		}
		if col.Repeated() {
			return &SchemaError{File: o.path, Column: c.Name(), Msg: fmt.Sprintf("is repeated, want a single %s", c.Kind())}
		}
		if got := physical(col.Type().Kind()); got != c.Kind() {
			return &SchemaError{File: o.path, Column: c.Name(), Msg: fmt.Sprintf("has type %s, want %s", col.Type().Kind(), c.Kind())}
		}
		if unit := coarseTimeUnit(col.Type()); unit != "" {
			// read as nanoseconds, they would be off by a factor of 1000 or
			// more, silently
			return &SchemaError{File: o.path, Column: c.Name(), Msg: fmt.Sprintf("holds %s, want nanoseconds (INT64, or TIMESTAMP/TIME in NANOS)", unit)}
		}
		o.leaf[c] = col.Index()
		o.opt[c] = col.Optional()
	}
	return nil
}

// coarseTimeUnit describes t when it is a timestamp or time type in a unit
// coarser than nanoseconds (logical or legacy converted type), else "".
func coarseTimeUnit(t parquet.Type) string {
	if lt := t.LogicalType(); lt != nil {
		var unit *format.TimeUnit
		switch v := lt.Value.(type) {
		case *format.TimestampType:
			unit = &v.Unit
		case *format.TimeType:
			unit = &v.Unit
		}
		if unit != nil && unit.Value != nil && unit.Value.Duration() > time.Nanosecond {
			return lt.String()
		}
	}
	if ct := t.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.TimestampMillis:
			return "TIMESTAMP_MILLIS"
		case deprecated.TimestampMicros:
			return "TIMESTAMP_MICROS"
		case deprecated.TimeMillis:
			return "TIME_MILLIS"
		case deprecated.TimeMicros:
			return "TIME_MICROS"
		}
	}
	return ""
}

func checkList(path string, col *parquet.Column) error {
	// Accept the standard 3-level list (stack.list.element) and the legacy
	// 2-level form (repeated stack.element or repeated stack).
	leaf := col
	for !leaf.Leaf() {
		cs := leaf.Columns()
		if len(cs) != 1 {
			return &SchemaError{File: path, Column: col.Name(), Msg: "want list<string>"}
		}
		leaf = cs[0]
	}
	if leaf.MaxRepetitionLevel() != 1 || leaf.Type().Kind() != parquet.ByteArray {
		return &SchemaError{File: path, Column: col.Name(), Msg: fmt.Sprintf("has type %s, want list<string>", leaf.Type().Kind())}
	}
	return nil
}

func physical(k parquet.Kind) Kind {
	switch k {
	case parquet.ByteArray:
		return KindString
	case parquet.Int32:
		return KindInt32
	case parquet.Int64:
		return KindInt64
	case parquet.Boolean:
		return KindBool
	}
	return Kind(-1)
}

// Scan reads the files' row groups in parallel and calls fn with each batch.
// fn runs concurrently on different workers; worker is in [0, Workers) and
// lets callers keep one accumulator per worker. The first error stops the
// scan. Bad rows are counted into the returned BadRows and marked in
// Batch.Bad; callers skip rows whose reason is not ReasonOK.
func (of *OpenedFiles) Scan(ctx context.Context, opt ScanOptions, fn func(worker int, b *Batch) error) (*BadRows, error) {
	for _, c := range opt.Columns {
		if c.Kind() == KindStringList {
			return nil, fmt.Errorf("column %s cannot be scanned column-wise", c.Name())
		}
	}
	want := scanColumns(opt.Columns)
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	batchRows := opt.BatchRows
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}
	units := opt.RowGroups
	if units == nil {
		units = of.RowGroups()
	}
	for _, u := range units {
		if u.File < 0 || u.File >= len(of.opened) || u.Index < 0 || u.Index >= len(of.opened[u.File].pf.RowGroups()) {
			return nil, fmt.Errorf("no row group %d in file %d", u.Index, u.File)
		}
	}
	workers = max(1, min(workers, len(units)))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	bad := make([]BadRows, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := &Batch{}
			for ctx.Err() == nil {
				u := int(next.Add(1) - 1)
				if u >= len(units) {
					return
				}
				o := of.opened[units[u].File]
				err := o.scanRowGroup(ctx, units[u].File, units[u].Index, &want, batchRows, b, func(b *Batch) error {
					b.validate()
					for i := 0; i < b.N; i++ {
						if b.Bad[i] != ReasonOK {
							bad[w].add(b, i)
						}
					}
					if err := fn(w, b); err != nil {
						return err
					}
					if opt.Progress != nil {
						opt.Progress.Add(int64(b.N))
					}
					return nil
				})
				if err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	total := &BadRows{}
	for w := range bad {
		total.Merge(&bad[w])
	}
	return total, nil
}

var dictCounter atomic.Uint64

func (o *openFile) scanRowGroup(ctx context.Context, fileIndex, rg int, want *[numColumns]bool, batchRows int, b *Batch, emit func(*Batch) error) (err error) {
	// A panic while decoding is a corrupt file (parquet-go panics on some);
	// one in the caller's function is a bug, not the file's fault.
	inEmit := false
	defer func() {
		if p := recover(); p != nil {
			if inEmit {
				err = fmt.Errorf("%s: row group %d: %w: %v\n%s", o.path, rg, ErrInternal, p, debug.Stack())
				return
			}
			err = fmt.Errorf("%s: %w: row group %d: %v", o.path, ErrCorrupt, rg, p)
		}
	}()
	hashers, err := o.chunkHashers(rg, want)
	if err != nil {
		return err
	}
	group := o.pf.RowGroups()[rg]
	chunks := group.ColumnChunks()
	var cursors []*cursor
	defer func() {
		for _, c := range cursors {
			c.close()
		}
	}()
	for c := Column(0); c < numColumns; c++ {
		if !want[c] {
			continue
		}
		cur := &cursor{col: c, path: o.path}
		if o.leaf[c] >= 0 {
			fc, ok := chunks[o.leaf[c]].(*parquet.FileColumnChunk)
			if !ok {
				return fmt.Errorf("%s: row group %d: column %s: %w: not a file column chunk", o.path, rg, c.Name(), ErrInternal)
			}
			cur.pages = fc.PagesFrom(hashers[c])
			if o.opt[c] {
				cur.maxDef = 1
			}
		}
		cursors = append(cursors, cur)
	}
	rows := group.NumRows()
	var firstRow int64
	for _, g := range o.pf.RowGroups()[:rg] {
		firstRow += g.NumRows()
	}
	b.File, b.FileIndex, b.RowGroup = o.path, fileIndex, rg
	for done := int64(0); done < rows; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int(min(int64(batchRows), rows-done))
		b.N = n
		b.FirstRow = firstRow + done
		for _, cur := range cursors {
			if err := cur.fill(b, n); err != nil {
				return fmt.Errorf("%s: row group %d: column %s: %w", o.path, rg, cur.col.Name(), err)
			}
		}
		inEmit = true
		err := emit(b)
		inEmit = false
		if err != nil {
			return err
		}
		for _, cur := range cursors {
			cur.releaseHeld()
		}
		done += int64(n)
	}
	digest, buf, err := o.rowGroupDigest(rg, &hashers, b.hashBuf)
	b.hashBuf = buf
	if err != nil {
		return err
	}
	o.setDigest(rg, want, digest)
	return nil
}

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
	// a numeric or boolean column's dictionary (other tools, e.g. Arrow and
	// Spark, dictionary-encode every column by default)
	dictI32  []int32
	dictI64  []int64
	dictBool []bool
	held     []parquet.Page
}

// releaseHeld returns the pages that the last batch no longer needs to
// parquet-go's buffer pool. Pages a batch read from stay alive until the
// batch has been emitted, because its string columns point into them.
func (c *cursor) releaseHeld() {
	for _, p := range c.held {
		parquet.Release(p)
	}
	c.held = c.held[:0]
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

// copyIdx copies k dictionary indexes of a string column, adding base; def
// is the range's definition levels, nil when it has no nulls.
func (c *cursor) copyIdx(s *StringColumn, out, k int, base int32, def []byte, nullIdx *int32) error {
	dl := int32(len(c.dictV))
	if def == nil && c.vpos+k <= len(c.idx) {
		src, dst := c.idx[c.vpos:c.vpos+k], s.Idx[out:out+k]
		if err := checkIndexes(src, len(c.dictV)); err != nil {
			return err
		}
		for i, x := range src {
			dst[i] = base + x
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
		if c.vpos >= len(c.idx) {
			return fmt.Errorf("%w: page has fewer values than levels", ErrCorrupt)
		}
		x := c.idx[c.vpos]
		if x < 0 || x >= dl {
			return indexError(x, len(c.dictV))
		}
		s.Idx[out+i] = base + x
		c.vpos++
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
		if err := checkIndexes(src, dl); err != nil {
			return err
		}
		switch c.col.Kind() {
		case KindInt32:
			gather(b.I32[c.col][out:out+k], c.dictI32, src)
		case KindInt64:
			gather(b.I64[c.col][out:out+k], c.dictI64, src)
		case KindBool:
			gather(b.Bool[c.col][out:out+k], c.dictBool, src)
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
		if c.vpos >= len(c.idx) {
			return fmt.Errorf("%w: page has fewer values than levels", ErrCorrupt)
		}
		x := int(c.idx[c.vpos])
		if x < 0 || x >= dl {
			return indexError(int32(x), dl)
		}
		switch c.col.Kind() {
		case KindInt32:
			b.I32[c.col][out+i] = c.dictI32[x]
		case KindInt64:
			b.I64[c.col][out+i] = c.dictI64[x]
		case KindBool:
			b.Bool[c.col][out+i] = c.dictBool[x]
		}
		c.vpos++
	}
	c.pos += k
	return nil
}

// checkIndexes returns indexError for an index of src outside [0, n), nil
// when all are inside (one branch-free pass: a negative index compares as
// a huge unsigned one).
func checkIndexes(src []int32, n int) error {
	var hi uint32
	for _, x := range src {
		hi = max(hi, uint32(x))
	}
	if uint64(hi) >= uint64(n) {
		return indexError(int32(hi), n)
	}
	return nil
}

// indexError is the error for dictionary index x of a dictionary of n values.
func indexError(x int32, n int) error {
	return fmt.Errorf("%w: dictionary index %d out of range [0, %d)", ErrCorrupt, x, n)
}

// gather sets dst[i] = dict[idx[i]]; the indexes are in range.
func gather[T any](dst, dict []T, idx []int32) {
	for i, x := range idx {
		dst[i] = dict[x]
	}
}

// copyDense copies k non-null numeric values in bulk; false when the column
// kind has no bulk path or the page is short (setValue then reports it).
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
