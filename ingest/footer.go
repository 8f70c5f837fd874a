package ingest

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Limits on a Parquet footer, checked before the footer is decoded. The
// decoder (parquet-go) makes every list its declared length before reading
// a single element, so a 22-byte file declaring 2^31-1 schema elements would
// otherwise exhaust memory, which Go cannot recover from.
const (
	// MaxFooterBytes bounds the thrift-encoded footer. A span file's footer
	// holds a few hundred bytes per row group and column; 64 MiB is tens of
	// thousands of row groups.
	MaxFooterBytes = 64 << 20
	// MaxSchemaElements bounds the schema (span schema v1 has about 30).
	MaxSchemaElements = 1 << 16
	// MaxRowGroups bounds the row groups of one file (the writer puts 2^20
	// rows in each, so this is a trillion rows).
	MaxRowGroups = 1 << 20
	// MaxFooterMemory bounds the estimated memory the decoded footer takes.
	MaxFooterMemory = 512 << 20
	// maxThriftDepth bounds struct and container nesting (the Parquet
	// format nests six deep).
	maxThriftDepth = 32
)

// elementCost is the memory a decoded list element of each footer list
// takes, by the field ids that lead to the list; twice the size of the
// parquet-go struct, for the reader's own per-element structures. Lists of
// structs not named here cost structCost per element.
var elementCost = map[[4]int16]int64{
	{2}:           2 * 96,  // FileMetaData.schema: SchemaElement
	{4}:           2 * 88,  // FileMetaData.row_groups: RowGroup
	{5}:           2 * 32,  // FileMetaData.key_value_metadata: KeyValue
	{7}:           2 * 16,  // FileMetaData.column_orders: ColumnOrder
	{4, 1}:        2 * 560, // RowGroup.columns: ColumnChunk
	{4, 4}:        2 * 8,   // RowGroup.sorting_columns: SortingColumn
	{4, 1, 3, 13}: 2 * 16,  // ColumnMetaData.encoding_stats: PageEncodingStats
}

const (
	structCost = 1024 // a list element of a struct not in elementCost
	scalarCost = 16   // a list element of a number, or a string's header
)

// fileMetaDataFields names the fields of the footer's top struct in errors.
var fileMetaDataFields = map[int16]string{1: "version", 2: "schema", 3: "num_rows", 4: "row_groups", 5: "key_value_metadata", 6: "created_by", 7: "column_orders"}

// Thrift compact protocol types.
const (
	tStop = iota
	tTrue
	tFalse
	tByte
	tI16
	tI32
	tI64
	tDouble
	tBinary
	tList
	tSet
	tMap
	tStruct
	tUUID
)

// checkFooter reads the footer of the Parquet file r of the given size and
// checks it can be decoded in bounded memory: the magic bytes, a footer
// length within the file, and a thrift structure whose every declared list
// length and string length fits in the bytes that remain, with the schema
// and row-group counts and the estimated decoded size within the limits
// above. It allocates at most the footer's length.
func checkFooter(r io.ReaderAt, size int64) error {
	if size < 12 {
		return fmt.Errorf("%d bytes is too short for a Parquet file (at least 12)", size)
	}
	var head, tail [8]byte
	if _, err := r.ReadAt(head[:4], 0); err != nil {
		return fmt.Errorf("reading the header: %w", err)
	}
	if string(head[:4]) != "PAR1" {
		return notParquet(head[:4])
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return fmt.Errorf("reading the footer length: %w", err)
	}
	switch string(tail[4:]) {
	case "PAR1":
	case "PARE":
		return fmt.Errorf("encrypted footers are not supported")
	default:
		return fmt.Errorf("no Parquet magic at the end (%q): a truncated or partly written file", tail[4:])
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	if n > size-12 {
		return fmt.Errorf("footer length %d exceeds the file (%d bytes)", n, size)
	}
	if n > MaxFooterBytes {
		return fmt.Errorf("footer length %d exceeds the limit of %d bytes", n, MaxFooterBytes)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-8-n); err != nil {
		return fmt.Errorf("reading the footer: %w", err)
	}
	w := footerWalker{b: buf}
	if err := w.structure(nil, 0); err != nil {
		return fmt.Errorf("footer at byte %d: %w", size-8-n+int64(w.off), err)
	}
	if w.cost > MaxFooterMemory {
		return fmt.Errorf("footer would take about %d MiB to decode (limit %d MiB)", w.cost>>20, MaxFooterMemory>>20)
	}
	return nil
}

// notParquet explains a file that does not start with Parquet's magic.
func notParquet(head []byte) error { return notParquetError{string(head)} }

// notParquetError is a file that is not Parquet at all: most often a trace
// file (CSV, JSON) given where span records are expected.
type notParquetError struct{ head string }

func (e notParquetError) Error() string {
	return fmt.Sprintf("not a Parquet file (it starts with %q); span files are Parquet (schema v1): convert trace files with 'chaosgen import' first", e.head)
}

func (e notParquetError) Unwrap() error { return ErrCorrupt }

// footerWalker walks thrift compact-protocol bytes without decoding them,
// checking every length against what remains and adding up what a decoder
// would allocate.
type footerWalker struct {
	b    []byte
	off  int
	cost int64
}

func (w *footerWalker) remaining() int { return len(w.b) - w.off }

func (w *footerWalker) byte() (byte, error) {
	if w.off >= len(w.b) {
		return 0, io.ErrUnexpectedEOF
	}
	c := w.b[w.off]
	w.off++
	return c, nil
}

func (w *footerWalker) uvarint() (uint64, error) {
	v, k := binary.Uvarint(w.b[w.off:])
	if k <= 0 {
		return 0, fmt.Errorf("bad varint")
	}
	w.off += k
	return v, nil
}

func (w *footerWalker) skip(n int) error {
	if n > w.remaining() {
		return io.ErrUnexpectedEOF
	}
	w.off += n
	return nil
}

// structure walks a struct's fields up to its stop byte; path holds the
// field ids from the top of the footer (FileMetaData) to this struct.
func (w *footerWalker) structure(path []int16, depth int) error {
	if depth > maxThriftDepth {
		return fmt.Errorf("nested deeper than %d", maxThriftDepth)
	}
	var id int16
	for {
		h, err := w.byte()
		if err != nil {
			return err
		}
		t := h & 0x0f
		if t == tStop {
			return nil
		}
		if d := h >> 4; d != 0 {
			id += int16(d)
		} else {
			v, err := w.uvarint()
			if err != nil {
				return err
			}
			id = int16(int64(v>>1) ^ -int64(v&1))
		}
		if err := w.value(t, append(path, id), depth+1, false); err != nil {
			if name, ok := fileMetaDataFields[id]; ok && len(path) == 0 {
				return fmt.Errorf("%s: %w", name, err)
			}
			return fmt.Errorf("field %d: %w", id, err)
		}
	}
}

// value walks one value of type t. Booleans are in the field header, except
// as container elements, where they take a byte.
func (w *footerWalker) value(t byte, path []int16, depth int, elem bool) error {
	switch t {
	case tTrue, tFalse:
		if elem {
			return w.skip(1)
		}
		return nil
	case tByte:
		return w.skip(1)
	case tI16, tI32, tI64:
		_, err := w.uvarint()
		return err
	case tDouble:
		return w.skip(8)
	case tUUID:
		return w.skip(16)
	case tBinary:
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		if n > uint64(w.remaining()) {
			return fmt.Errorf("string of %d bytes in %d remaining", n, w.remaining())
		}
		w.cost += int64(n)
		return w.skip(int(n))
	case tList, tSet:
		h, err := w.byte()
		if err != nil {
			return err
		}
		n, et := uint64(h>>4), h&0x0f
		if n == 15 {
			if n, err = w.uvarint(); err != nil {
				return err
			}
		}
		return w.elements(n, []byte{et}, path, depth)
	case tMap:
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		h, err := w.byte()
		if err != nil {
			return err
		}
		return w.elements(n, []byte{h >> 4, h & 0x0f}, path, depth)
	case tStruct:
		return w.structure(path, depth)
	}
	return fmt.Errorf("unknown thrift type %d", t)
}

// elements walks n container elements, each a value of every type in ts (a
// map's key and value). Every element takes at least a byte, so n cannot
// exceed the bytes that remain.
func (w *footerWalker) elements(n uint64, ts []byte, path []int16, depth int) error {
	if depth > maxThriftDepth {
		return fmt.Errorf("nested deeper than %d", maxThriftDepth)
	}
	if n > uint64(w.remaining()) {
		return fmt.Errorf("list of %d elements in %d remaining bytes", n, w.remaining())
	}
	if len(path) == 1 {
		switch {
		case path[0] == 2 && n > MaxSchemaElements:
			return fmt.Errorf("%d schema elements (limit %d)", n, MaxSchemaElements)
		case path[0] == 4 && n > MaxRowGroups:
			return fmt.Errorf("%d row groups (limit %d)", n, MaxRowGroups)
		}
	}
	var key [4]int16
	copy(key[:], path)
	per, ok := elementCost[key]
	if !ok || len(path) > len(key) {
		per = scalarCost
		for _, t := range ts {
			if t == tStruct || t == tList || t == tSet || t == tMap {
				per = structCost
			}
		}
	}
	w.cost += int64(n) * per
	for range n {
		for _, t := range ts {
			if err := w.value(t, path, depth+1, true); err != nil {
				return err
			}
		}
	}
	return nil
}
