package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go/format"
)

// RowGroup names one row group of the opened files: File is the index in
// OpenedFiles.Files, Index the row group's position in that file.
type RowGroup struct {
	File, Index int
}

// RowGroups lists every row group of the opened files, in file order.
func (of *OpenedFiles) RowGroups() []RowGroup {
	var out []RowGroup
	for fi, o := range of.opened {
		for rg := range o.pf.RowGroups() {
			out = append(out, RowGroup{fi, rg})
		}
	}
	return out
}

// NumRows returns the rows in groups.
func (of *OpenedFiles) NumRows(groups []RowGroup) int64 {
	var n int64
	for _, g := range groups {
		n += of.opened[g.File].pf.RowGroups()[g.Index].NumRows()
	}
	return n
}

// MayBeTrue reports whether the boolean column c can hold a true value in
// any of groups, judged by the column chunks' statistics: false only when
// in every group the column is absent or its chunk's statistics give false
// as the largest value. A chunk without that statistic (or not boolean)
// may hold anything.
func (of *OpenedFiles) MayBeTrue(c Column, groups []RowGroup) bool {
	for _, g := range groups {
		o := of.opened[g.File]
		leaf := o.leaf[c]
		if leaf < 0 {
			continue
		}
		// the footer's own fields: parquet-go's Bounds panics on a
		// malformed statistic
		cols := o.pf.Metadata().RowGroups[g.Index].Columns
		if leaf >= len(cols) {
			return true
		}
		md := &cols[leaf].MetaData
		if md.Type != format.Boolean || len(md.Statistics.MaxValue) != 1 || md.Statistics.MaxValue[0] != 0 {
			return true
		}
	}
	return false
}

// Shard returns shard i of n (0 ≤ i < n): a contiguous run of the row
// groups in file order, the runs balanced by rows. A row group belongs to
// shard ⌊n·m/rows⌋, where m is the row index of its middle among all the
// files' rows; so n processes given the same files and shards 0 … n-1 read
// every row group exactly once, and each about rows/n rows.
func (of *OpenedFiles) Shard(i, n int) []RowGroup {
	out := []RowGroup{} // not nil: an empty shard reads nothing
	var before int64
	total := of.Rows
	for fi, o := range of.opened {
		for rg, g := range o.pf.RowGroups() {
			rows := g.NumRows()
			s := 0
			if total > 0 {
				// the middle row, doubled to stay in integers
				mid := 2*before + rows
				s = int(min(int64(n-1), mulDiv(int64(n), mid, 2*total)))
			}
			if s == i {
				out = append(out, RowGroup{fi, rg})
			}
			before += rows
		}
	}
	return out
}

// mulDiv returns ⌊a·b/c⌋ for a small a, without overflowing for b near 2^63.
func mulDiv(a, b, c int64) int64 {
	q, r := b/c, b%c
	return a*q + a*r/c
}

// The input digest. A whole-file SHA-256 needs every byte of a file, which
// a process reading some row groups (a shard) does not have, and it covers
// columns the analysis never reads. The digest of a file is instead built
// from parts any reader of the file computes as it goes:
//
//   - the footer digest: SHA-256 of the file's last 8+n bytes (the
//     thrift footer of n bytes, its length and the closing magic), which
//     fix the schema, the row groups and every column chunk's offset, size
//     and statistics;
//   - per row group, SHA-256 over the SHA-256s of the column chunks read,
//     in column order (each chunk's bytes are those the Parquet reader
//     reads: from its dictionary page, or its first data page, on for
//     total_compressed_size bytes).
//
// FileDigest combines them in row-group order; a merge of shards can
// combine the parts that the shards computed.

// DigestVersion names the input digest scheme; it is hashed into every
// file digest.
const DigestVersion = "chaosgen.input-digest/v2"

// FooterDigest returns the footer digest of file fi.
func (of *OpenedFiles) FooterDigest(fi int) ([32]byte, error) {
	o := of.opened[fi]
	size := of.Files[fi].Size
	var tail [8]byte
	if _, err := o.in.ReadAt(tail[:], size-8); err != nil {
		return [32]byte{}, fmt.Errorf("%s: reading the footer: %w", o.path, err)
	}
	n := int64(binary.LittleEndian.Uint32(tail[:4])) + 8 // checked by Open
	buf := make([]byte, n)
	if _, err := o.in.ReadAt(buf, size-n); err != nil {
		return [32]byte{}, fmt.Errorf("%s: reading the footer: %w", o.path, err)
	}
	return sha256.Sum256(buf), nil
}

// RowGroupDigest returns the digest of the column chunks of row group g
// that a Scan with the columns cols reads (the validation columns
// included; absent optional columns contribute nothing): SHA-256 over
// the chunks' SHA-256s in column order. A Scan computes it as it reads the
// chunks (chunks.go); a row group it has not read is read here.
func (of *OpenedFiles) RowGroupDigest(g RowGroup, cols []Column, buf []byte) ([32]byte, []byte, error) {
	o := of.opened[g.File]
	want := scanColumns(cols)
	if d, ok := o.digest(g.Index, &want); ok {
		return d, buf, nil
	}
	hs, err := o.chunkHashers(g.Index, &want)
	if err != nil {
		return [32]byte{}, buf, err
	}
	return o.rowGroupDigest(g.Index, &hs, buf)
}

// RowGroupDigests returns RowGroupDigest of each of groups, in order,
// hashing up to workers row groups at once (0: GOMAXPROCS).
func (of *OpenedFiles) RowGroupDigests(ctx context.Context, groups []RowGroup, cols []Column, workers int) ([][32]byte, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	out := make([][32]byte, len(groups))
	errs := make([]error, len(groups))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(groups)) {
		wg.Go(func() {
			var buf []byte
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(groups) {
					return
				}
				out[i], buf, errs[i] = of.RowGroupDigest(groups[i], cols, buf)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// FileDigest combines a file's footer digest and the digests of all its row
// groups, in order, into the file's input digest: SHA-256 of DigestVersion,
// a newline, the names of the columns read (comma-separated), a newline,
// then the 32-byte footer digest and each row group's 32-byte digest.
func FileDigest(cols []Column, footer [32]byte, rowGroups [][32]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(DigestVersion + "\n"))
	want := scanColumns(cols)
	sep := ""
	for c := Column(0); c < numColumns; c++ {
		if want[c] {
			h.Write([]byte(sep + c.Name()))
			sep = ","
		}
	}
	h.Write([]byte("\n"))
	h.Write(footer[:])
	for _, d := range rowGroups {
		h.Write(d[:])
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// scanColumns is the set of columns a Scan with cols reads: cols and the
// validation columns.
func scanColumns(cols []Column) [numColumns]bool {
	want := [numColumns]bool{ColCallee: true, ColDepth: true, ColStartUnixNano: true, ColDurationNano: true}
	for _, c := range cols {
		want[c] = true
	}
	return want
}

// Example returns the first bad row of reason r (the lowest file index,
// then row): its file index and row, false when r has no bad rows.
func (br *BadRows) Example(r Reason) (file int, row int64, ok bool) {
	if br.First[r] == nil {
		return 0, 0, false
	}
	return int(br.first[r].file), br.first[r].row, true
}

// AddCount adds n bad rows of reason r whose first is row of the file at
// index file (named path), as a Scan of those rows would have counted them.
func (br *BadRows) AddCount(r Reason, n int64, file int, path string, row int64) {
	o := BadRows{}
	o.Count[r] = n
	o.first[r].file, o.first[r].row = int64(file), row
	o.First[r] = &RowError{File: path, Row: row, Msg: r.String()}
	br.Merge(&o)
}
