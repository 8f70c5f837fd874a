package ingest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

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
