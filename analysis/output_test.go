package analysis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/parquet-go/parquet-go"
)

// TestColumnsBruteForce checks every counted column of edges.parquet and
// windows.parquet, and injections.parquet, against a brute-force count of
// the spans: a column written from the wrong field (timeouts for retries,
// say) fails here even when the totals agree.
func TestColumnsBruteForce(t *testing.T) {
	dir := t.TempDir()
	all, err := ingest.ReadFile(synthSpans(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	// every marker column set on some rows, each on different ones
	faults := []string{ingest.FaultLatency, ingest.FaultAbort, ingest.FaultDrop, ingest.FaultCorrupt, "weird"}
	for i := range all {
		s := &all[i]
		s.TimedOut = s.TimedOut || i%7 == 0
		s.CircuitOpen = s.CircuitOpen || i%11 == 0
		s.Fallback = s.Fallback || i%13 == 0
		if i%17 == 0 {
			s.Injected, s.FaultType, s.FaultProfileID = true, faults[i%5], fmt.Sprintf("p%d", i%3)
		}
	}
	spans := filepath.Join(dir, "marked.parquet")
	if err := ingest.WriteFile(spans, all); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "an")
	if _, err := Run(context.Background(), []string{spans}, out, Options{NoModels: true}); err != nil {
		t.Fatal(err)
	}
	type counts struct {
		calls, errors, timeouts, retries, fallbacks, circuitOpen, durSum, maxDur int64
		injected                                                                 [5]int64
	}
	faultIdx := map[string]int{ingest.FaultLatency: 0, ingest.FaultAbort: 1, ingest.FaultDrop: 2, ingest.FaultCorrupt: 3}
	add := func(c *counts, s *ingest.Span) {
		if s.Injected {
			k, ok := faultIdx[s.FaultType]
			if !ok {
				k = 4
			}
			c.injected[k]++
			return
		}
		c.calls++
		c.durSum += s.DurationNano
		c.maxDur = max(c.maxDur, s.DurationNano)
		if s.Error {
			c.errors++
		}
		if s.TimedOut {
			c.timeouts++
		}
		if s.RetryCount > 0 {
			c.retries++
		}
		if s.Fallback {
			c.fallbacks++
		}
		if s.CircuitOpen {
			c.circuitOpen++
		}
	}
	edges := map[string]*counts{}
	wins := map[string]*counts{}
	injections := map[string]int64{}
	win := int64(60e9)
	for i := range all {
		s := &all[i]
		ek := s.Caller + "→" + s.Callee
		wk := fmt.Sprintf("%s@%d", ek, s.StartUnixNano/win*win)
		for _, mk := range []struct {
			m map[string]*counts
			k string
		}{{edges, ek}, {wins, wk}} {
			if mk.m[mk.k] == nil {
				mk.m[mk.k] = &counts{}
			}
			add(mk.m[mk.k], s)
		}
		if s.Injected {
			ft := s.FaultType
			if _, ok := faultIdx[ft]; !ok {
				ft = "other" // as docs/analysis.md says of unknown types
			}
			injections[fmt.Sprintf("%s|%s|%s@%d", ek, s.FaultProfileID, ft, s.StartUnixNano/win*win)]++
		}
	}
	var nonzero counts
	check := func(what string, got, want counts, rate, meanMs, maxMs float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s: got %+v, want %+v", what, got, want)
		}
		if want.calls > 0 {
			if math.Abs(rate-float64(want.errors)/float64(want.calls)) > 1e-9 {
				t.Errorf("%s: error_rate %v, want %v", what, rate, float64(want.errors)/float64(want.calls))
			}
			if math.Abs(meanMs-float64(want.durSum)/float64(want.calls)/1e6) > 1e-6 || math.Abs(maxMs-float64(want.maxDur)/1e6) > 1e-6 {
				t.Errorf("%s: mean/max %v/%v ms, want %v/%v", what, meanMs, maxMs, float64(want.durSum)/float64(want.calls)/1e6, float64(want.maxDur)/1e6)
			}
		}
		nonzero.timeouts += want.timeouts
		nonzero.retries += want.retries
		nonzero.fallbacks += want.fallbacks
		nonzero.circuitOpen += want.circuitOpen
		nonzero.errors += want.errors
	}
	// an output row's counted columns (sums and maxima are checked through
	// mean_ms and max_ms)
	type outRow struct {
		key                 string
		got                 counts
		rate, meanMs, maxMs float64
	}
	compare := func(what string, rows []outRow, want map[string]*counts) {
		t.Helper()
		if len(rows) != len(want) {
			t.Fatalf("%d %ss, want %d", len(rows), what, len(want))
		}
		for _, r := range rows {
			w := want[r.key]
			if w == nil {
				t.Fatalf("%s %s is not in the spans", what, r.key)
			}
			r.got.durSum, r.got.maxDur = w.durSum, w.maxDur
			check(what+" "+r.key, r.got, *w, r.rate, r.meanMs, r.maxMs)
		}
	}
	er, err := ReadParquet[EdgeRow](filepath.Join(out, EdgesFile))
	if err != nil {
		t.Fatal(err)
	}
	var rows []outRow
	for _, r := range er {
		rows = append(rows, outRow{r.Caller + "→" + r.Callee, counts{calls: r.Calls, errors: r.Errors, timeouts: r.Timeouts,
			retries: r.Retries, fallbacks: r.Fallbacks, circuitOpen: r.CircuitOpen,
			injected: [5]int64{r.InjectedLatency, r.InjectedAbort, r.InjectedDrop, r.InjectedCorrupt, r.InjectedOther}},
			r.ErrorRate, r.MeanMs, r.MaxMs})
	}
	compare("edge", rows, edges)
	wr, err := ReadParquet[WindowRow](filepath.Join(out, WindowsFile))
	if err != nil {
		t.Fatal(err)
	}
	rows = rows[:0]
	for _, r := range wr {
		rows = append(rows, outRow{fmt.Sprintf("%s→%s@%d", r.Caller, r.Callee, r.WindowStartUnixNano), counts{calls: r.Calls,
			errors: r.Errors, timeouts: r.Timeouts, retries: r.Retries, fallbacks: r.Fallbacks, circuitOpen: r.CircuitOpen,
			injected: [5]int64{r.InjectedLatency, r.InjectedAbort, r.InjectedDrop, r.InjectedCorrupt, r.InjectedOther}},
			r.ErrorRate, r.MeanMs, r.MaxMs})
	}
	compare("window", rows, wins)
	ir, err := ReadParquet[InjectionRow](filepath.Join(out, InjectionsFile))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range ir {
		got[fmt.Sprintf("%s→%s|%s|%s@%d", r.Caller, r.Callee, r.FaultProfileID, r.FaultType, r.WindowStartUnixNano)] += r.Injected
	}
	if len(got) != len(injections) {
		t.Errorf("%d injection rows, want %d", len(got), len(injections))
	}
	for k, n := range injections {
		if got[k] != n {
			t.Errorf("injections %s: %d, want %d", k, got[k], n)
		}
	}
	// the synthetic spans must exercise every column, or a swap could hide
	if nonzero.timeouts == 0 || nonzero.retries == 0 || nonzero.errors == 0 || nonzero.fallbacks == 0 || nonzero.circuitOpen == 0 || len(injections) == 0 {
		t.Errorf("the spans exercise too little: %+v", nonzero)
	}
}

// TestWriteParquetChunks checks that writeParquet, which hands the writer
// writeChunk rows at a time, writes the bytes of one call with every row:
// many pages per column, a count that is not a multiple of the chunk, and
// a column of strings of any length (error_codes), whose pages fill at any
// row, not only at a power of two.
func TestWriteParquetChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	t.Logf("seed 1, 2")
	rows := make([]EdgeRow, 40*writeChunk+77) // error_codes: several 256 KB pages
	for i := range rows {
		rows[i] = EdgeRow{Caller: fmt.Sprintf("svc%d", rng.IntN(30)), Callee: fmt.Sprintf("svc%d", rng.IntN(30)),
			CallStats:  CallStats{Calls: rng.Int64N(5000), P50Ms: rng.Float64() * 10, P99Ms: rng.ExpFloat64() * 100},
			ErrorCodes: strings.Repeat("503:1,", rng.IntN(12)), MeanDepth: rng.NormFloat64(), AnomalyScore: rng.Float64()}
	}
	dir := t.TempDir()
	one, chunked := filepath.Join(dir, "one.parquet"), filepath.Join(dir, "chunked.parquet")
	if err := writeParquetChunks(one, slices.Values(rows), len(rows)); err != nil {
		t.Fatal(err)
	}
	if err := writeParquet(chunked, slices.Values(rows)); err != nil {
		t.Fatal(err)
	}
	a, err := os.ReadFile(one)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(chunked)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("chunks of %d rows give %d bytes, one call %d bytes, and different ones", writeChunk, len(b), len(a))
	}
	f, err := parquet.OpenFile(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	pages := 0
	for _, c := range f.RowGroups()[0].ColumnChunks() {
		idx, err := c.OffsetIndex()
		if err != nil {
			t.Fatal(err)
		}
		pages = max(pages, idx.NumPages())
	}
	if pages < 3 {
		t.Errorf("the test's file has at most %d pages a column: too few to check page boundaries", pages)
	}
	got, err := ReadParquet[EdgeRow](chunked)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, rows) {
		t.Error("the chunked file does not read back as its rows")
	}
}

// TestWriteFiles checks that the analysis files written at once land in
// the directory whole, and that a failure is the first in the files'
// order whatever finishes first.
func TestWriteFiles(t *testing.T) {
	dir := t.TempDir()
	files := make([]outputFile, 6)
	for i := range files {
		name := fmt.Sprintf("f%d", i)
		files[i] = outputFile{name, func(p string) error { return os.WriteFile(p, []byte(name), 0o644) }}
	}
	if err := writeFiles(dir, files, 3); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		b, err := os.ReadFile(filepath.Join(dir, files[i].name))
		if err != nil || string(b) != files[i].name {
			t.Errorf("%s: %q, %v", files[i].name, b, err)
		}
	}
	// f1 fails late, f3 at once: the error is f1's
	files[1].write = func(string) error { time.Sleep(20 * time.Millisecond); return errors.New("f1 failed") }
	files[3].write = func(string) error { return errors.New("f3 failed") }
	if err := writeFiles(dir, files, 2); err == nil || err.Error() != "f1 failed" {
		t.Fatalf("error %v, want f1's", err)
	}
}

// TestOutputEncodings checks that every integer column of the analysis
// files is written DELTA_BINARY_PACKED (counters and window starts: most
// deltas are small, and the pages zstd has to compress shrink by half),
// in the schema and in a file written by writeParquet, and that the file
// keeps each column's bounds in its chunk statistics and column index
// (the data pages' own headers go without: the same bounds, computed
// twice).
func TestOutputEncodings(t *testing.T) {
	schemas := map[string]*parquet.Schema{
		"windows":    parquet.SchemaOf(WindowRow{}),
		"edges":      parquet.SchemaOf(EdgeRow{}),
		"forecast":   parquet.SchemaOf(ForecastRow{}),
		"services":   parquet.SchemaOf(ServiceRow{}),
		"outcomes":   parquet.SchemaOf(OutcomeRow{}),
		"injections": parquet.SchemaOf(InjectionRow{}),
	}
	for name, s := range schemas {
		ints := 0
		for _, path := range s.Columns() {
			leaf, _ := s.Lookup(path...)
			switch leaf.Node.Type().Kind() {
			case parquet.Int32, parquet.Int64:
				ints++
				if e := leaf.Node.Encoding(); e == nil || e.Encoding() != parquet.DeltaBinaryPacked.Encoding() {
					t.Errorf("%s.%s: encoding %v, want DELTA_BINARY_PACKED", name, strings.Join(path, "."), e)
				}
			}
		}
		if ints == 0 {
			t.Errorf("%s: no integer column", name)
		}
	}
	// the writer uses the schema's encodings
	path := filepath.Join(t.TempDir(), "windows.parquet")
	rows := []WindowRow{{Caller: "a", Callee: "b", WindowStartUnixNano: 60e9, CallStats: CallStats{Calls: 10}},
		{Caller: "a", Callee: "b", WindowStartUnixNano: 120e9, CallStats: CallStats{Calls: 12}}}
	if err := writeParquet(path, slices.Values(rows)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range f.Metadata().RowGroups[0].Columns {
		name := strings.Join(c.MetaData.PathInSchema, ".")
		if c.MetaData.Type == *parquet.Int64Type.PhysicalType() && !slices.Contains(c.MetaData.Encoding, parquet.DeltaBinaryPacked.Encoding()) {
			t.Errorf("%s: written as %v", name, c.MetaData.Encoding)
		}
		if c.MetaData.Statistics.MinValue == nil || c.MetaData.Statistics.MaxValue == nil {
			t.Errorf("%s: no bounds in the chunk's statistics", name)
		}
		ci, err := f.RowGroups()[0].ColumnChunks()[i].ColumnIndex()
		if err != nil || ci.NumPages() == 0 {
			t.Errorf("%s: column index %v, %v", name, ci, err)
		} else if ci.MinValue(0).IsNull() || ci.MaxValue(0).IsNull() {
			t.Errorf("%s: no bounds in the column index", name)
		}
	}
	if got, err := ReadParquet[WindowRow](path); err != nil || !slices.Equal(got, rows) {
		t.Errorf("read back %v, %v", got, err)
	}
}
