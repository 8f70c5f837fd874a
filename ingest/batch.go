package ingest

// Batches: the rows a scan hands to its caller, column by column, and
// their validation (the rows rejected, counted by reason).

import (
	"encoding/binary"

	"github.com/parquet-go/parquet-go"
)

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

// HashID hashes an id for equality tests (span and parent ids in a
// trace): eight bytes at a time (ids are 8 to 32 bytes), each word
// multiplied in and the result finalised as splitmix64 does, with the low
// bit set so that only the empty id hashes to 0. Equal ids hash equal;
// distinct ids collide with probability about 2^-63.
func HashID(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	h := uint64(len(b)) * 0x9e3779b97f4a7c15
	for len(b) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * 0xff51afd7ed558ccd
		h ^= h >> 32
		b = b[8:]
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	return Mix64((h^tail)*0xc4ceb9fe1a85ec53) | 1
}

// Mix64 is the splitmix64 finaliser: every input bit reaches every output
// bit.
func Mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

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
	// Hash holds the columns of ScanOptions.Hashed: HashID of each value,
	// 0 for an empty or null one.
	Hash [numColumns][]uint64

	// Bad holds each row's validation result (ReasonOK for good rows).
	Bad []Reason

	hashBuf []byte // the worker's buffer for hashing what the decoder skipped (chunks.go)
	// pages the batch points into, released after a helper ran the
	// caller's function on it (tail.go)
	held []parquet.Page
	// the worker's column cursors, reset for each row group: their
	// dictionary buffers are reused (a batch never spans two row groups)
	cursors [numColumns]cursor
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
