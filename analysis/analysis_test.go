package analysis

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/synth"
)

func synthSpans(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "spans.parquet")
	if _, err := synth.Generate(context.Background(), p, synth.Options{Days: 0.05, RPS: 4, Services: 12, Seed: 5, RowGroupRows: 5000}); err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRunIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	spans := synthSpans(t, dir)
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if _, err := Run(context.Background(), []string{spans}, a, Options{Workers: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), []string{spans}, b, Options{Workers: 3}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{EdgesFile, WindowsFile, ServicesFile} {
		if !bytes.Equal(read(t, filepath.Join(a, f)), read(t, filepath.Join(b, f))) {
			t.Errorf("%s differs between two runs", f)
		}
	}
	// summary.json names the output-independent inputs: identical too
	if !bytes.Equal(read(t, filepath.Join(a, SummaryFile)), read(t, filepath.Join(b, SummaryFile))) {
		t.Errorf("summary.json differs between two runs")
	}

	// The same traces, shuffled (and the spans within each), split across
	// three files. The trace pass reads a trace from adjacent rows (as every
	// writer of span files we know writes them), so traces stay whole.
	all, err := ingest.ReadFile(spans)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	byTrace := map[string][]ingest.Span{}
	var ids []string
	for _, s := range all {
		if byTrace[s.TraceID] == nil {
			ids = append(ids, s.TraceID)
		}
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	all = all[:0]
	for _, id := range ids {
		all = append(all, byTrace[id]...)
	}
	split := filepath.Join(dir, "split")
	n := len(all) / 3
	for len(all) > n && all[n].TraceID == all[n-1].TraceID {
		n++
	}
	m := 2 * n
	for len(all) > m && all[m].TraceID == all[m-1].TraceID {
		m++
	}
	for i, part := range [][]ingest.Span{all[:n], all[n:m], all[m:]} {
		if err := ingest.WriteFile(filepath.Join(split, "part"+string(rune('0'+i))+".parquet"), part); err != nil {
			t.Fatal(err)
		}
	}
	c := filepath.Join(dir, "c")
	sum, err := Run(context.Background(), []string{split}, c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Inputs) != 3 {
		t.Fatalf("%d inputs, want 3", len(sum.Inputs))
	}
	for _, f := range []string{EdgesFile, WindowsFile, ServicesFile} {
		if !bytes.Equal(read(t, filepath.Join(a, f)), read(t, filepath.Join(c, f))) {
			t.Errorf("%s differs for shuffled, split input", f)
		}
	}
	var sa, sc Summary
	json.Unmarshal(read(t, filepath.Join(a, SummaryFile)), &sa)
	json.Unmarshal(read(t, filepath.Join(c, SummaryFile)), &sc)
	sa.Inputs, sc.Inputs = nil, nil
	ja, _ := json.Marshal(sa)
	jc, _ := json.Marshal(sc)
	if !bytes.Equal(ja, jc) {
		t.Errorf("summary differs (beyond its inputs) for shuffled, split input:\n%s\n%s", ja, jc)
	}
}

func TestOutputContract(t *testing.T) {
	dir := t.TempDir()
	spans := synthSpans(t, dir)
	out := filepath.Join(dir, "out")
	sum, err := Run(context.Background(), []string{spans}, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	edges, err := ReadParquet[EdgeRow](filepath.Join(out, EdgesFile))
	if err != nil {
		t.Fatal(err)
	}
	wins, err := ReadParquet[WindowRow](filepath.Join(out, WindowsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(edges) != sum.Edges || len(wins) != sum.Windows || len(edges) == 0 {
		t.Fatalf("%d edges, %d windows; summary says %d, %d", len(edges), len(wins), sum.Edges, sum.Windows)
	}
	var calls, wcalls int64
	for _, e := range edges {
		calls += e.Calls
		if e.P50Ms > e.P90Ms || e.P90Ms > e.P99Ms || e.P99Ms > e.MaxMs*1.01 || e.Criticality < 0 || e.Criticality > 1 {
			t.Errorf("edge %s->%s: inconsistent %+v", e.Caller, e.Callee, e)
		}
	}
	for _, w := range wins {
		wcalls += w.Calls
	}
	if calls != sum.RowsUsed || wcalls != calls {
		t.Errorf("calls: edges %d, windows %d, rows used %d", calls, wcalls, sum.RowsUsed)
	}
	if sum.Inputs[0].SHA256 == "" || sum.Inputs[0].Rows != sum.Rows || len(sum.Ranking.Edges) == 0 {
		t.Errorf("summary inputs/ranking incomplete: %+v", sum.Inputs)
	}
	// the column names are a contract
	for file, cols := range map[string][]string{
		EdgesFile:   {"caller", "callee", "calls", "errors", "error_rate", "p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms", "criticality"},
		WindowsFile: {"caller", "callee", "window_start_unix_nano", "calls", "errors", "error_rate", "p50_ms", "p99_ms", "concurrency"},
	} {
		b := read(t, filepath.Join(out, file))
		for _, c := range cols {
			if !bytes.Contains(b, []byte(c)) {
				t.Errorf("%s: no column %s", file, c)
			}
		}
	}
}

func TestBadRowsReported(t *testing.T) {
	dir := t.TempDir()
	spans := []ingest.Span{
		{TraceID: "t1", SpanID: "a", Callee: "api", StartUnixNano: 1e18, DurationNano: 5e6},
		{TraceID: "t1", SpanID: "b", Caller: "api", Callee: "db", Depth: 1, StartUnixNano: 1e18, DurationNano: -1},
		{TraceID: "t1", SpanID: "c", Caller: "api", Callee: "", Depth: 1, StartUnixNano: 1e18, DurationNano: 1},
		{TraceID: "t1", SpanID: "d", Caller: "api", Callee: "db", Depth: -2, StartUnixNano: 1e18, DurationNano: 1},
		{TraceID: "t1", SpanID: "e", Caller: "api", Callee: "db", Depth: 1, StartUnixNano: 0, DurationNano: 1},
		{TraceID: "t1", SpanID: "f", Caller: "api", Callee: "db", Depth: 1, StartUnixNano: 1e18, DurationNano: 2e6},
	}
	p := filepath.Join(dir, "s.parquet")
	if err := ingest.WriteFile(p, spans); err != nil {
		t.Fatal(err)
	}
	sum, err := Run(context.Background(), []string{p}, filepath.Join(dir, "out"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"negative_duration": 1, "empty_callee": 1, "negative_depth": 1, "zero_start_time": 1}
	if sum.BadRows.Total != 4 || sum.RowsUsed != 2 || len(sum.BadRows.ByReason) != len(want) {
		t.Fatalf("bad rows %+v, used %d", sum.BadRows, sum.RowsUsed)
	}
	for k, n := range want {
		if sum.BadRows.ByReason[k].Count != n {
			t.Errorf("%s: %d, want %d", k, sum.BadRows.ByReason[k].Count, n)
		}
	}
	if got := sum.BadRows.ByReason["negative_duration"].First; got != p+": row 1: negative_duration" {
		t.Errorf("first negative duration: %q", got)
	}
}

// TestFailedRunKeepsOldOutput: an analysis that fails leaves the previous
// directory untouched and no temporary directories behind.
func TestFailedRunKeepsOldOutput(t *testing.T) {
	dir := t.TempDir()
	spans := synthSpans(t, dir)
	out := filepath.Join(dir, "out")
	if _, err := Run(context.Background(), []string{spans}, out, Options{}); err != nil {
		t.Fatal(err)
	}
	before := read(t, filepath.Join(out, EdgesFile))
	bad := filepath.Join(dir, "bad.parquet")
	os.WriteFile(bad, []byte("PAR1 not really"), 0o644)
	_, err := Run(context.Background(), []string{spans, bad}, out, Options{})
	if err == nil || !strings.Contains(err.Error(), "bad.parquet") {
		t.Fatalf("error %v, want one naming bad.parquet", err)
	}
	if !bytes.Equal(before, read(t, filepath.Join(out, EdgesFile))) {
		t.Error("failed run changed the previous output")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind %s", e.Name())
		}
	}
	// an empty input is an error too, never an empty analysis
	empty := filepath.Join(dir, "empty.parquet")
	if err := ingest.WriteFile(empty, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), []string{empty}, filepath.Join(dir, "out2"), Options{}); err == nil || !strings.Contains(err.Error(), "no usable span rows") {
		t.Errorf("empty input: %v", err)
	}
}

// TestForeignWriterDuckDB reads and analyzes the same spans as chaosgen
// wrote them and as DuckDB rewrote them (testdata/README.md): every column
// optional, dictionary-encoded integers, another row order. Both must read
// to the same spans and give byte-identical features.
func TestForeignWriterDuckDB(t *testing.T) {
	own, duck := filepath.Join("testdata", "synth-seed7.parquet"), filepath.Join("testdata", "synth-seed7-duckdb.parquet")
	a, err := ingest.ReadFile(own)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ingest.ReadFile(duck)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != len(b) || len(a) == 0 {
		t.Fatalf("%d spans from chaosgen's file, %d from DuckDB's", len(a), len(b))
	}
	bySpan := func(x, y ingest.Span) int { return strings.Compare(x.SpanID, y.SpanID) }
	slices.SortFunc(a, bySpan)
	slices.SortFunc(b, bySpan)
	for i := range a {
		if diff := cmp.Diff(a[i], b[i], cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("span %s differs (-chaosgen +duckdb):\n%s", a[i].SpanID, diff)
		}
	}

	dir := t.TempDir()
	outA, outB := filepath.Join(dir, "own"), filepath.Join(dir, "duck")
	if _, err := Run(context.Background(), []string{own}, outA, Options{NoModels: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), []string{duck}, outB, Options{NoModels: true}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{EdgesFile, WindowsFile} {
		if !bytes.Equal(read(t, filepath.Join(outA, f)), read(t, filepath.Join(outB, f))) {
			t.Errorf("%s differs between chaosgen's and DuckDB's file", f)
		}
	}
}

// TestNoModelsSkipsTraces: analyze --no-models over spans without injected
// calls skips the trace pass and the columns only it reads. Its summary has
// no trace_runs and its input digest names the columns it read (computed
// afresh here, not the full analysis's); its windows are the full
// analysis's but for the anomaly scores. Over spans with an injected call
// the trace pass runs, for the trace outcomes, and the digest is the full
// analysis's.
func TestNoModelsSkipsTraces(t *testing.T) {
	dir := t.TempDir()
	clean := synthSpans(t, dir)
	spans, err := ingest.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	spans[len(spans)/2].Injected, spans[len(spans)/2].FaultType = true, ingest.FaultAbort
	injected := filepath.Join(dir, "injected.parquet")
	if err := ingest.WriteFile(injected, spans); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path    string
		skipped bool
	}{{clean, true}, {injected, false}} {
		name := filepath.Base(c.path)
		full, err := Run(context.Background(), []string{c.path}, filepath.Join(dir, name+".full"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".no-models")
		nm, err := Run(context.Background(), []string{c.path}, out, Options{NoModels: true})
		if err != nil {
			t.Fatal(err)
		}
		if full.TraceRuns == nil || full.TraceRuns.Runs == 0 {
			t.Fatalf("%s: the full analysis resolved no traces: %+v", name, full.TraceRuns)
		}
		if (nm.TraceRuns == nil) != c.skipped || bytes.Contains(read(t, filepath.Join(out, SummaryFile)), []byte(`"trace_runs"`)) != !c.skipped {
			t.Errorf("%s: --no-models trace runs %+v; want the trace pass skipped %v", name, nm.TraceRuns, c.skipped)
		}
		cols := features.Columns
		if c.skipped {
			cols = features.EdgeColumns
		}
		if got, want := nm.Inputs[0].SHA256, freshDigest(t, c.path, cols); got != want {
			t.Errorf("%s: --no-models digest %s, want %s (over %d columns)", name, got, want, len(cols))
		}
		if (nm.Inputs[0].SHA256 == full.Inputs[0].SHA256) == c.skipped {
			t.Errorf("%s: --no-models digest %s, full analysis's %s: want them to differ only when the trace pass is skipped", name, nm.Inputs[0].SHA256, full.Inputs[0].SHA256)
		}
		want, err := ReadParquet[WindowRow](filepath.Join(dir, name+".full", WindowsFile))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadParquet[WindowRow](filepath.Join(out, WindowsFile))
		if err != nil {
			t.Fatal(err)
		}
		for i := range want {
			want[i].AnomalyScore = 0
		}
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: --no-models gives %d windows, unlike the full analysis's %d (anomaly scores aside)", name, len(got), len(want))
		}
	}
}

// freshDigest computes the input digest of the span file at path over cols
// with a new reader: no scan's digests reused.
func freshDigest(t *testing.T, path string, cols []ingest.Column) string {
	t.Helper()
	files, err := ingest.Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer files.Close()
	rgs, err := files.RowGroupDigests(context.Background(), files.RowGroups(), cols, 1)
	if err != nil {
		t.Fatal(err)
	}
	footer, err := files.FooterDigest(0)
	if err != nil {
		t.Fatal(err)
	}
	d := ingest.FileDigest(cols, footer, rgs)
	return hex.EncodeToString(d[:])
}

// TestWriteTextNamesTheFiles: the text report names exactly the files the
// analysis wrote, with the models and without them (--no-models, whose
// ranking is by the interim score, and which has no findings to list).
func TestWriteTextNamesTheFiles(t *testing.T) {
	dir := t.TempDir()
	spans := synthSpans(t, dir)
	for _, noModels := range []bool{false, true} {
		out := filepath.Join(dir, fmt.Sprintf("no-models-%v", noModels))
		sum, err := Run(context.Background(), []string{spans}, out, Options{NoModels: noModels})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := WriteText(&b, out, sum, 5); err != nil {
			t.Fatal(err)
		}
		text := b.String()
		m := regexp.MustCompile(`wrote .*/\{([^}]*)\}`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no-models %v: the report names no files:\n%s", noModels, text)
		}
		entries, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		var written []string
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), ".") {
				written = append(written, e.Name())
			}
		}
		if named := slices.Sorted(slices.Values(strings.Split(m[1], ","))); !slices.Equal(named, written) {
			t.Errorf("no-models %v: the report names %v, the analysis wrote %v", noModels, named, written)
		}
		if got := strings.Contains(text, "findings") || strings.Contains(text, "anomaly"); got == noModels {
			t.Errorf("no-models %v: findings and anomaly scores reported %v:\n%s", noModels, got, text)
		}
		if got := strings.Contains(text, "interim"); got != noModels {
			t.Errorf("no-models %v: the interim score reported %v:\n%s", noModels, got, text)
		}
	}
}
