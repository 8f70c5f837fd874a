package features

import (
	stdcmp "cmp"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
)

// TestOutcomes checks the trace outcomes against a brute-force count over
// each trace's spans, on traces with and without their root in the data.
func TestOutcomes(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var spans []ingest.Span
	for _, s := range genSpans(r, 3000) {
		// a quarter of the traces lose their root calls: their outcome is
		// judged from the callers' spans
		if s.Depth == 0 && s.TraceID[31]%4 == 0 {
			continue
		}
		spans = append(spans, s)
	}
	win := time.Minute
	tab := build(t, []string{writeSpans(t, t.TempDir(), "s.parquet", spans, 700)}, Options{Window: win, Workers: 3})

	type key struct {
		caller, callee, prof string
		start                int64
	}
	want := map[key]*TraceOutcome{}
	byTrace := map[string][]ingest.Span{}
	for _, s := range spans {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	injectedEdge := map[[2]string]bool{}
	for _, tr := range byTrace {
		var root *ingest.Span
		start := tr[0].StartUnixNano
		injected := false
		byID := map[string]*ingest.Span{}
		for i := range tr {
			s := &tr[i]
			byID[s.SpanID] = s
			start = min(start, s.StartUnixNano)
			injected = injected || s.Injected
			if s.ParentSpanID == "" && s.Depth == 0 && (root == nil || s.StartUnixNano < root.StartUnixNano) { // the earliest, as the trace pass picks
				root = s
			}
		}
		if root != nil {
			start = root.StartUnixNano
		}
		type edgeOut struct {
			calls         int64
			known, failed bool
			profs         map[string]bool
		}
		edges := map[[2]string]*edgeOut{}
		for i := range tr {
			s := &tr[i]
			k := [2]string{s.Caller, s.Callee}
			e := edges[k]
			if e == nil {
				e = &edgeOut{profs: map[string]bool{}}
				edges[k] = e
			}
			e.calls++
			if p := byID[s.ParentSpanID]; s.ParentSpanID != "" && p != nil && p != s {
				e.known = true
				e.failed = e.failed || p.Error
			}
			if s.Injected && s.FaultProfileID != "" {
				e.profs[s.FaultProfileID] = true
				injectedEdge[k] = true
			}
		}
		for k, e := range edges {
			judged, failed := e.known, e.failed
			if root != nil {
				judged, failed = true, root.Error
			}
			var profs []string
			if !injected {
				profs = append(profs, "")
			}
			for p := range e.profs {
				profs = append(profs, p)
			}
			for _, p := range profs {
				wk := key{k[0], k[1], p, floorDiv(start, int64(win)) * int64(win)}
				o := want[wk]
				if o == nil {
					o = &TraceOutcome{Caller: k[0], Callee: k[1], Profile: p, StartUnixNano: wk.start}
					want[wk] = o
				}
				o.Traces++
				o.Calls += e.calls
				if judged {
					o.Judged++
					if failed {
						o.Failed++
					}
				}
			}
		}
	}
	got := map[key]*TraceOutcome{}
	for i := range tab.Outcomes {
		o := &tab.Outcomes[i]
		if i > 0 {
			p := &tab.Outcomes[i-1]
			if cmpOutcome(p, o) >= 0 {
				t.Fatalf("outcomes not sorted at %d", i)
			}
		}
		got[key{o.Caller, o.Callee, o.Profile, o.StartUnixNano}] = o
	}
	for k := range want {
		if !injectedEdge[[2]string{k.caller, k.callee}] {
			delete(want, k) // baseline rows only for edges with injections
		}
	}
	var failedInjected int64
	for _, o := range want {
		if o.Profile != "" {
			failedInjected += o.Failed
		}
	}
	if len(want) < 50 || failedInjected == 0 {
		t.Fatalf("the random traces exercise too little: %d rows, %d failed injected traces", len(want), failedInjected)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

func cmpOutcome(a, b *TraceOutcome) int {
	return stdcmp.Or(stdcmp.Compare(a.Caller, b.Caller), stdcmp.Compare(a.Callee, b.Callee), stdcmp.Compare(a.Profile, b.Profile),
		stdcmp.Compare(a.StartUnixNano, b.StartUnixNano))
}

// injectionCase is a set of spans, with or without injected calls.
type injectionCase struct {
	name     string
	spans    []ingest.Span
	injected bool
}

// injectionCases returns 1500 traces of genSpans, as they are (with
// injected calls) and without their injections.
func injectionCases(r *rand.Rand) []injectionCase {
	spans := genSpans(r, 1500)
	clean := slices.Clone(spans)
	for i := range clean {
		clean[i].Injected, clean[i].FaultType, clean[i].FaultProfileID, clean[i].InjectedAtUnixNano = false, "", "", 0
	}
	return []injectionCase{{"without injections", clean, false}, {"with injections", spans, true}}
}

// TestWholeSkipsOutcomes: a whole accumulation (Options.Whole) skips the
// trace outcomes when no row group read can hold an injected call, and
// only then; its table is the same as a partial's either way.
func TestWholeSkipsOutcomes(t *testing.T) {
	dir := t.TempDir()
	for _, c := range injectionCases(rand.New(rand.NewPCG(9, 10))) {
		path := writeSpans(t, dir, c.name+".parquet", c.spans, 400)
		of, err := ingest.Open([]string{path})
		if err != nil {
			t.Fatal(err)
		}
		var tabs [2]*Table
		for i, whole := range []bool{false, true} {
			p, err := Accumulate(context.Background(), of, Options{Window: time.Minute, Workers: 2, Whole: whole})
			if err != nil {
				t.Fatal(err)
			}
			// a partial keeps every edge's baseline rows; a whole
			// accumulation without injections none
			if kept, want := len(p.outcomes) > 0, !whole || c.injected; kept != want {
				t.Errorf("%s, whole %v: outcomes kept %v, want %v", c.name, whole, kept, want)
			}
			tabs[i] = p.Table()
		}
		of.Close()
		if got := len(tabs[1].Outcomes) > 0; got != c.injected {
			t.Errorf("%s: table has outcomes %v, want %v", c.name, got, c.injected)
		}
		compareTables(t, c.name+": a whole accumulation", tabs[0], tabs[1])
	}
}

// TestEdgesOnlySkipsTraces: a whole accumulation for the edges only
// (Options.EdgesOnly) skips the trace pass and its columns when no row
// group read can hold an injected call, and only then; everything but what
// the trace pass finds is the same as a full accumulation's, and such a
// partial can be neither encoded nor merged.
func TestEdgesOnlySkipsTraces(t *testing.T) {
	dir := t.TempDir()
	for _, c := range injectionCases(rand.New(rand.NewPCG(11, 12))) {
		// one row group: its trace columns' chunks lie together, more
		// bytes than the gap an object store's reader fetches across
		// (ingest's coalesceGap), so skipping them shows in the bytes read
		path := writeSpans(t, dir, c.name+".parquet", c.spans, 0)
		var read atomic.Int64
		of, err := ingest.OpenWith([]string{path}, func(name string) (ingest.Input, error) {
			f, err := os.Open(name)
			if err != nil {
				return nil, err
			}
			st, err := f.Stat()
			if err != nil {
				return nil, err
			}
			return &countingInput{f, st.Size(), &read}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		accumulate := func(opt Options) *Partial {
			opt.Window, opt.Workers = time.Minute, 2
			p, err := Accumulate(context.Background(), of, opt)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		read.Store(0)
		full := accumulate(Options{Whole: true}).Table()
		fullRead := read.Load()
		if len(full.Services) == 0 || len(full.TraceEnds) == 0 || full.TraceRuns.Runs == 0 || full.NoTraces {
			t.Fatalf("%s: the full table has %d service windows, %d trace ends and %d runs (no traces %v): too little to compare",
				c.name, len(full.Services), len(full.TraceEnds), full.TraceRuns.Runs, full.NoTraces)
		}
		// a partial for a merge runs the trace pass whatever it is for
		if p := accumulate(Options{EdgesOnly: true}); p.noTraces || len(p.Columns()) != len(Columns) {
			t.Errorf("%s: a partial for a merge skipped the trace pass", c.name)
		}
		read.Store(0)
		p := accumulate(Options{Whole: true, EdgesOnly: true})
		skipped := !c.injected
		// the trace columns' chunks are not even read (but for those an
		// object store's reader fetches as gaps between wanted chunks)
		if saved := fullRead - read.Load(); saved < 0 || (saved > 0) != skipped || saved > traceChunkBytes(t, path) {
			t.Errorf("%s: %d bytes read for the edges only against %d for all (trace columns' chunks: %d bytes); want fewer only when the trace pass is skipped",
				c.name, read.Load(), fullRead, traceChunkBytes(t, path))
		}
		if p.noTraces != skipped || slices.Equal(p.Columns(), EdgeColumns) != skipped || slices.Equal(p.Columns(), Columns) == skipped {
			t.Errorf("%s: trace pass skipped %v, columns %v; want skipped %v", c.name, p.noTraces, p.Columns(), skipped)
		}
		if skipped {
			if _, _, err := p.AppendBinaryParts(nil, nil); !errors.Is(err, errNoTraces) {
				t.Errorf("%s: encoding a partial without the trace pass: %v, want %v", c.name, err, errNoTraces)
			}
			if err := accumulate(Options{}).Merge(p); !errors.Is(err, errNoTraces) {
				t.Errorf("%s: merging a partial without the trace pass: %v, want %v", c.name, err, errNoTraces)
			}
		}
		eo := p.Table()
		of.Close()
		if eo.NoTraces != skipped {
			t.Errorf("%s: table says no traces %v, want %v", c.name, eo.NoTraces, skipped)
		}
		if skipped {
			if len(eo.Services) != 0 || len(eo.TraceEnds) != 0 || len(eo.Outcomes) != 0 || eo.TraceRuns != (TraceRuns{}) {
				t.Errorf("%s: the trace pass was skipped, yet the table has %d service windows, %d trace ends, %d outcomes and runs %+v",
					c.name, len(eo.Services), len(eo.TraceEnds), len(eo.Outcomes), eo.TraceRuns)
			}
			with := *eo
			with.Services, with.TraceEnds, with.TraceRuns, with.Outcomes, with.NoTraces = full.Services, full.TraceEnds, full.TraceRuns, full.Outcomes, false
			eo = &with
		}
		compareTables(t, c.name+": an accumulation for the edges only", full, eo)
	}
}

// countingInput is a file that counts the bytes read from it.
type countingInput struct {
	*os.File
	size int64
	n    *atomic.Int64
}

func (c *countingInput) Size() int64 { return c.size }

func (c *countingInput) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.File.ReadAt(b, off)
	c.n.Add(int64(n))
	return n, err
}

// traceChunkBytes returns the bytes of the column chunks of TraceColumns
// in the span file at path.
func traceChunkBytes(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range TraceColumns {
		names[c.Name()] = true
	}
	var n int64
	for _, rg := range pf.Metadata().RowGroups {
		for _, ch := range rg.Columns {
			if names[strings.Join(ch.MetaData.PathInSchema, ".")] {
				n += ch.MetaData.TotalCompressedSize
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s holds no chunk of the trace columns", path)
	}
	return n
}
