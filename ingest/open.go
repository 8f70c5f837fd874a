package ingest

// Opening inputs: local files or any Input, their footers and schemas
// checked before any data is read.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/chaosgen/chaosgen/internal/ordered"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

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
// and Batch.File use the names as given. Up to OpenConcurrency files are
// opened at once; of several that fail, the error is the first one's in
// the order of names.
func OpenWith(names []string, open OpenFunc) (*OpenedFiles, error) {
	return openAll(names, open, OpenConcurrency)
}

// OpenConcurrency is how many files OpenWith opens at once. Opening an
// object in a bucket takes a metadata request and a ranged read of its
// footer, two round trips of tens of milliseconds each on a cloud store,
// and a day is often many objects (one per collector and hour): opened
// one after the other, a thousand of them would take a minute before the
// first span is read (BenchmarkOpenObjects).
const OpenConcurrency = 16

// openAll opens names with up to n at once.
func openAll(names []string, open OpenFunc, n int) (*OpenedFiles, error) {
	opened, err := ordered.Do(len(names), n, func(i int) (*openFile, error) { return openOne(names[i], open) })
	if err != nil {
		for _, o := range opened {
			if o != nil {
				o.in.Close()
			}
		}
		return nil, err
	}
	of := &OpenedFiles{}
	for i, o := range opened {
		n := o.pf.NumRows()
		of.opened = append(of.opened, o)
		of.Files = append(of.Files, FileInfo{Path: names[i], Rows: n, RowGroups: len(o.pf.RowGroups()), Size: o.in.Size()})
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
	pf, err := openParquet(in, size, readBufferSize(in))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
	}
	o = &openFile{path: path, in: in, pf: pf}
	if err := o.checkSchema(); err != nil {
		return nil, err
	}
	return o, nil
}

// readBufferSize is how much the decoder reads from in at a time, for
// each column chunk it decodes: 256 KiB from a local file (a buffer is
// memory the process touches for every column of every worker, and a read
// costs only a system call); 1 MiB from an object (each read is a ranged
// request with its own latency).
func readBufferSize(in Input) int {
	if isLocal(in) {
		return 256 << 10
	}
	return 1 << 20
}

// isLocal reports whether in is a local file, whose reads cost a system
// call, rather than an object in a bucket, whose reads each cost a
// request's round trip.
func isLocal(in Input) bool {
	_, ok := in.(localFile)
	return ok
}

// openParquet guards against the panics a hostile footer can cause in the
// decoder and turns them into errors.
func openParquet(r io.ReaderAt, size int64, bufSize int) (pf *parquet.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoding footer: %v", p)
		}
	}()
	return parquet.OpenFile(r, size, parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true), parquet.ReadBufferSize(bufSize))
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
