package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/internal/testseed"
	"github.com/parquet-go/parquet-go"
)

// writeGroups writes n random spans to path in row groups of rg rows.
func writeGroups(t *testing.T, r *rand.Rand, path string, n int, rg int64) {
	t.Helper()
	writeSpans(t, path, randomSpans(r, n), rg)
}

// writeSpans writes spans to path in row groups of rg rows.
func writeSpans(t *testing.T, path string, spans []Span, rg int64) {
	t.Helper()
	w, err := Create(path, WriterOptions{RowGroupRows: rg})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Write(spans); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestShard: for any number of shards, the shards read every row group
// exactly once, each a contiguous run in file order holding about its
// share of the rows.
func TestShard(t *testing.T) {
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 2))
	dir := t.TempDir()
	var paths []string
	for i := range 4 {
		p := filepath.Join(dir, fmt.Sprintf("f%d.parquet", i))
		writeGroups(t, r, p, 50+r.IntN(900), int64(20+r.IntN(200)))
		paths = append(paths, p)
	}
	of, err := Open(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	all := of.RowGroups()
	var largest int64
	for _, g := range all {
		largest = max(largest, of.NumRows([]RowGroup{g}))
	}
	for n := 1; n <= 2*len(all)+1; n++ {
		var got []RowGroup
		for i := range n {
			s := of.Shard(i, n)
			if s == nil {
				t.Fatalf("shard %d/%d is nil (a nil selection reads every row group)", i, n)
			}
			got = append(got, s...)
			// balanced: a shard holds its share, give or take a row group
			if rows, share := of.NumRows(s), of.Rows/int64(n); rows > share+largest || rows < share-largest {
				t.Errorf("shard %d/%d: %d rows, want %d ± %d", i, n, rows, share, largest)
			}
		}
		// in shard order the row groups come in file order once each:
		// every shard is a contiguous run
		if !slices.Equal(got, all) {
			t.Fatalf("%d shards: row groups %v, want %v", n, got, all)
		}
	}
}

// TestRowGroupDigest: a row group's digest covers exactly the column chunks
// a scan reads: a changed byte in one of them changes it, a changed byte in
// a column the scan does not read does not; the footer digest is the
// SHA-256 of the footer, its length and the magic.
func TestRowGroupDigest(t *testing.T) {
	seed := testseed.Seed(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "spans.parquet")
	writeGroups(t, rand.New(rand.NewPCG(seed, 3)), path, 600, 200)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cols := []Column{ColTraceID, ColError}
	digests := func(data []byte) ([32]byte, [][32]byte) {
		t.Helper()
		p := filepath.Join(dir, "copy.parquet")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		of, err := Open([]string{p})
		if err != nil {
			t.Fatal(err)
		}
		defer of.Close()
		f, err := of.FooterDigest(0)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := of.RowGroupDigests(context.Background(), of.RowGroups(), cols, 2)
		if err != nil {
			t.Fatal(err)
		}
		return f, ds
	}
	footer, base := digests(orig)
	n := int64(binary.LittleEndian.Uint32(orig[len(orig)-8:])) + 8
	if footer != sha256.Sum256(orig[int64(len(orig))-n:]) {
		t.Errorf("footer digest is not the SHA-256 of the last %d bytes", n)
	}
	if len(base) != 3 || base[0] == base[1] {
		t.Fatalf("digests %x: want 3 different ones", base)
	}
	of, err := Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	md, leaf := of.opened[0].pf.Metadata(), of.opened[0].leaf
	chunk := func(rg int, c Column) int64 {
		m := md.RowGroups[rg].Columns[leaf[c]].MetaData
		if m.DictionaryPageOffset != 0 {
			return m.DictionaryPageOffset
		}
		return m.DataPageOffset
	}
	// the definition, from the file's bytes: SHA-256 over each read chunk's
	// SHA-256, in column order; a scan computes the same as it decodes
	want := scanColumns(cols)
	for rg := range base {
		h := sha256.New()
		for c := Column(0); c < numColumns; c++ {
			if want[c] && leaf[c] >= 0 {
				m := md.RowGroups[rg].Columns[leaf[c]].MetaData
				d := sha256.Sum256(orig[chunk(rg, c) : chunk(rg, c)+m.TotalCompressedSize])
				h.Write(d[:])
			}
		}
		if [32]byte(h.Sum(nil)) != base[rg] {
			t.Errorf("row group %d: digest is not SHA-256 over the chunks' SHA-256s", rg)
		}
	}
	if _, err := of.Scan(context.Background(), ScanOptions{Columns: cols, BatchRows: 50, Workers: 2}, func(int, *Batch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for rg := range base {
		if d, ok := of.opened[0].digest(rg, &want); !ok || d != base[rg] {
			t.Errorf("row group %d: the scan's digest %x (kept %v), want %x", rg, d, ok, base[rg])
		}
	}
	of.Close()
	for _, c := range []struct {
		col     Column
		changed bool
	}{{ColTraceID, true}, {ColError, true}, {ColCallee, true}, {ColSpanID, false}, {ColOperation, false}, {ColFallbackLatencyNano, false}} {
		b := slices.Clone(orig)
		b[chunk(1, c.col)+3] ^= 0x55
		f, got := digests(b)
		if f != footer || got[0] != base[0] || got[2] != base[2] {
			t.Errorf("%s: a byte of row group 1 changed the footer digest or another row group's", c.col.Name())
		}
		if (got[1] != base[1]) != c.changed {
			t.Errorf("%s: row group 1's digest changed: %v, want %v", c.col.Name(), got[1] != base[1], c.changed)
		}
	}
	// FileDigest depends on the order of the row groups and on the columns
	ds := FileDigest(cols, footer, base)
	if ds == FileDigest(cols, footer, [][32]byte{base[1], base[0], base[2]}) || ds == FileDigest([]Column{ColTraceID}, footer, base) {
		t.Error("FileDigest ignores the order of the row groups or the columns")
	}
}

// TestChunkHasher: a chunk's digest is the SHA-256 of its bytes whatever
// the reads the decoder made: in order, out of order, overlapping, short
// of the end, none.
func TestChunkHasher(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 4))
	data := make([]byte, 3*hashBlock+1234)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	off, n := int64(777), int64(2*hashBlock+99)
	want := sha256.Sum256(data[off : off+n])
	for name, reads := range map[string][][2]int64{
		"in order":     {{off, 4096}, {off + 4096, hashBlock}, {off + 4096 + hashBlock, n - 4096 - hashBlock}},
		"past the end": {{off, n + 500}},
		"skip":         {{off, 100}, {off + 5000, 100}, {off + 200, 300}},
		"overlapping":  {{off, 1000}, {off + 500, 1000}, {off + 10, 20}},
		"before":       {{0, off + 50}, {off + 50, 10}},
		"none":         nil,
	} {
		c := newChunkHasher(bytes.NewReader(data), off, n)
		for _, rd := range reads {
			p := make([]byte, rd[1])
			if _, err := c.ReadAt(p, rd[0]); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
		got, _, err := c.sum(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: digest %x, want %x", name, got, want)
		}
	}
}

// TestMayBeTrue: a boolean column's statistics rule out true values only
// in the row groups whose largest value is false; an absent column holds
// none; a chunk without the statistic (or with a malformed one) may hold
// anything.
func TestMayBeTrue(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 5))
	spans := randomSpans(r, 400)
	for i := range spans {
		spans[i].Injected = i == 250 // in the third row group of 100 rows
		spans[i].TimedOut = false
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "spans.parquet")
	writeSpans(t, path, spans, 100)
	// a file without the injected column, whose timed_out is all null
	foreign := filepath.Join(dir, "foreign.parquet")
	if err := parquet.WriteFile(foreign, []foreignSpan{{TraceID: "t", SpanID: "s", Callee: "c"}}); err != nil {
		t.Fatal(err)
	}
	of, err := Open([]string{path, foreign})
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	g := func(file int, idx ...int) []RowGroup {
		var out []RowGroup
		for _, i := range idx {
			out = append(out, RowGroup{file, i})
		}
		return out
	}
	for _, c := range []struct {
		what   string
		col    Column
		groups []RowGroup
		want   bool
	}{
		{"every row group", ColInjected, of.RowGroups(), true},
		{"the row group with the injected row", ColInjected, g(0, 2), true},
		{"the other row groups and the foreign file", ColInjected, append(g(0, 0, 1, 3), g(1, 0)...), false},
		{"a column false everywhere", ColTimedOut, g(0, 0, 1, 2, 3), false},
		{"a column all null (no statistics)", ColTimedOut, g(1, 0), true},
		{"the foreign file's error column", ColError, g(1, 0), false},
		{"no row groups", ColInjected, nil, false},
	} {
		if got := of.MayBeTrue(c.col, c.groups); got != c.want {
			t.Errorf("%s: MayBeTrue(%s) = %v, want %v", c.what, c.col.Name(), got, c.want)
		}
	}
	// without the statistic, or with a malformed one, a chunk may hold
	// anything
	leaf := of.opened[0].leaf[ColInjected]
	stats := &of.opened[0].pf.Metadata().RowGroups[1].Columns[leaf].MetaData.Statistics
	for _, max := range [][]byte{nil, {}, {0, 0}, {1}} {
		stats.MaxValue = max
		if !of.MayBeTrue(ColInjected, g(0, 1)) {
			t.Errorf("statistic max %v: MayBeTrue = false, want true", max)
		}
	}
}

// TestOpenMany: files opened several at a time keep the order of their
// names; of several bad ones the error is the first's in that order,
// whichever failed first in time; and every file opened is closed again
// when one fails.
func TestOpenMany(t *testing.T) {
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 11))
	dir := t.TempDir()
	var names []string
	var rows int64
	for i := range 40 {
		p := filepath.Join(dir, fmt.Sprintf("f%02d.parquet", i))
		n := 1 + r.IntN(60)
		writeGroups(t, r, p, n, 16)
		names = append(names, p)
		rows += int64(n)
	}
	slices.Reverse(names) // not the order of the directory
	var mu sync.Mutex
	open := 0
	counting := func(delay func(string) time.Duration) OpenFunc {
		return func(name string) (Input, error) {
			time.Sleep(delay(name))
			in, err := OpenLocal(name)
			if err == nil {
				mu.Lock()
				open++
				mu.Unlock()
				return closeCounter{in, &mu, &open}, nil
			}
			return nil, err
		}
	}
	none := func(string) time.Duration { return 0 }
	for _, n := range []int{1, 3, OpenConcurrency} {
		of, err := openAll(names, counting(none), n)
		if err != nil {
			t.Fatal(err)
		}
		if of.Rows != rows || len(of.Files) != len(names) {
			t.Fatalf("%d at once: %d rows in %d files, want %d in %d", n, of.Rows, len(of.Files), rows, len(names))
		}
		for i, f := range of.Files {
			if f.Path != names[i] || of.opened[i].path != names[i] {
				t.Fatalf("%d at once: file %d is %s, want %s", n, i, f.Path, names[i])
			}
		}
		of.Close()
	}
	// two bad files; the later one in the list fails first
	bad := slices.Clone(names)
	bad[9] = filepath.Join(dir, "missing-9.parquet")
	bad[30] = filepath.Join(dir, "missing-30.parquet")
	slow := func(name string) time.Duration {
		if name == bad[9] {
			return 50 * time.Millisecond
		}
		return 0
	}
	for _, n := range []int{1, 4, OpenConcurrency} {
		open = 0
		_, err := openAll(bad, counting(slow), n)
		if err == nil || !strings.Contains(err.Error(), "missing-9.parquet") {
			t.Errorf("%d at once: %v, want the error of missing-9.parquet", n, err)
		}
		if open != 0 {
			t.Errorf("%d at once: %d files left open", n, open)
		}
	}
}

// closeCounter is an Input that counts itself closed.
type closeCounter struct {
	Input
	mu   *sync.Mutex
	open *int
}

func (c closeCounter) Close() error {
	c.mu.Lock()
	*c.open--
	c.mu.Unlock()
	return c.Input.Close()
}

// objectFile is a local file read as an Input that is not a local file,
// as an object in a bucket is: Scan prefetches its column chunks. It
// counts its reads and fails those that fail says.
type objectFile struct {
	f     *os.File
	size  int64
	reads *atomic.Int64
	fail  func(off, n int64) bool
}

func (o objectFile) ReadAt(p []byte, off int64) (int, error) {
	o.reads.Add(1)
	if o.fail != nil && o.fail(off, int64(len(p))) {
		return 0, errors.New("the store refused the request")
	}
	return o.f.ReadAt(p, off)
}
func (o objectFile) Size() int64  { return o.size }
func (o objectFile) Close() error { return o.f.Close() }

// TestPrefetchedScan: a scan of an input that is not a local file fetches
// each row group's column chunks at once, in one read here (the chunks lie
// next to each other), and gives the batches and row-group digests of a
// scan of the local file; a failed fetch is an error naming the file and
// the row group.
func TestPrefetchedScan(t *testing.T) {
	seed := testseed.Seed(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "spans.parquet")
	writeGroups(t, rand.New(rand.NewPCG(seed, 12)), path, 900, 200)
	var cols []Column
	for c := range numColumns {
		if c.Kind() != KindStringList {
			cols = append(cols, c)
		}
	}
	want := scanColumns(cols)
	scan := func(of *OpenedFiles) ([]string, [][32]byte, error) {
		var mu sync.Mutex
		var rows []string
		_, err := of.Scan(context.Background(), ScanOptions{Columns: cols, BatchRows: 64, Workers: 2}, func(_ int, b *Batch) error {
			for i := range b.N {
				var sb strings.Builder
				fmt.Fprintf(&sb, "%d/%d/%09d", b.FileIndex, b.RowGroup, b.FirstRow+int64(i))
				for _, c := range cols {
					switch c.Kind() {
					case KindString:
						fmt.Fprintf(&sb, " %q", b.Str[c].Value(i))
					case KindInt32:
						fmt.Fprintf(&sb, " %d", b.I32[c][i])
					case KindInt64:
						fmt.Fprintf(&sb, " %d", b.I64[c][i])
					case KindBool:
						fmt.Fprintf(&sb, " %v", b.Bool[c][i])
					}
				}
				mu.Lock()
				rows = append(rows, sb.String())
				mu.Unlock()
			}
			return nil
		})
		slices.Sort(rows)
		var ds [][32]byte
		for rg := range of.Files[0].RowGroups {
			d, _ := of.opened[0].digest(rg, &want)
			ds = append(ds, d)
		}
		return rows, ds, err
	}
	local, err := Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	wantRows, wantDigests, err := scan(local)
	local.Close()
	if err != nil || len(wantRows) != 900 {
		t.Fatalf("local scan: %d rows, %v", len(wantRows), err)
	}
	var reads atomic.Int64
	var fail func(off, n int64) bool
	open := func(name string) (Input, error) {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		fi, _ := f.Stat()
		return objectFile{f: f, size: fi.Size(), reads: &reads, fail: fail}, nil
	}
	of, err := OpenWith([]string{path}, open)
	if err != nil {
		t.Fatal(err)
	}
	reads.Store(0)
	rows, digests, err := scan(of)
	of.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, wantRows) || !slices.Equal(digests, wantDigests) {
		t.Fatal("the prefetched scan's rows or digests differ from the local file's")
	}
	if n := reads.Load(); n != 5 {
		t.Errorf("%d reads for 5 row groups, want one each", n)
	}
	// a failed fetch of row group 2's chunks
	of, err = OpenWith([]string{path}, open)
	if err != nil {
		t.Fatal(err)
	}
	lo, n, _ := of.opened[0].chunkRange(2, ColTraceID)
	fail = func(off, m int64) bool { return off <= lo+n && lo < off+m }
	of.Close()
	of, err = OpenWith([]string{path}, open)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = scan(of)
	of.Close()
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "row group 2") || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a failed fetch: %v", err)
	}
}
