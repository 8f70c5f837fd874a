package features

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/testseed"
	"github.com/google/go-cmp/cmp"
)

// exactQuantile is the nearest-rank quantile the sketch promises to
// approximate: the element of 1-based rank ceil(q*n).
func exactQuantile(sorted []float64, q float64) float64 {
	r := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(r, 1)-1]
}

func TestSketchAccuracy(t *testing.T) {
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	for trial := 0; trial < 50; trial++ {
		n := 1 + r.IntN(5000)
		xs := make([]float64, n)
		var parts [3]Sketch
		var whole Sketch
		for i := range xs {
			// lognormal around 1 ms to 1 s with a heavy tail
			x := math.Exp(13 + 2*r.NormFloat64())
			if r.IntN(100) == 0 {
				x *= 100
			}
			if r.IntN(200) == 0 {
				x = 0
			}
			xs[i] = math.Round(x)
			whole.Add(xs[i])
			parts[r.IntN(3)].Add(xs[i])
		}
		var merged Sketch
		merged.Merge(&parts[2])
		merged.Merge(&parts[0])
		merged.Merge(&parts[1])
		slices.Sort(xs)
		for _, q := range []float64{0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1} {
			want := exactQuantile(xs, q)
			for name, s := range map[string]*Sketch{"whole": &whole, "merged": &merged} {
				got := s.Quantile(q)
				if math.Abs(got-want) > RelativeAccuracy*want+1e-9 {
					t.Fatalf("trial %d n=%d %s q=%g: got %g, exact %g (rel err %.4f)", trial, n, name, q, got, want, math.Abs(got-want)/want)
				}
			}
		}
		mlo, mc := trimmed(&merged)
		wlo, wc := trimmed(&whole)
		if merged.Count() != uint64(n) || mlo != wlo || !slices.Equal(mc, wc) {
			t.Fatalf("trial %d: merged sketch differs from the whole one", trial)
		}
	}
}

// trimmed returns a sketch's counts without zero buckets at either end,
// and the index of the first: sketches with the same content compare equal
// whatever spare range they allocated.
func trimmed(s *Sketch) (int32, []uint64) {
	c := make([]uint64, len(s.counts))
	for i := range c {
		c[i] = s.count(i)
	}
	k := firstNonZero(c)
	c = c[k:]
	for len(c) > 0 && c[len(c)-1] == 0 {
		c = c[:len(c)-1]
	}
	return s.lo + int32(k), c
}

func firstNonZero(c []uint64) int {
	for i, v := range c {
		if v != 0 {
			return i
		}
	}
	return len(c)
}

// TestDistinctUnbiased checks the estimator's bias where the classic
// HyperLogLog estimator over-counts (2.5 to 5 times the registers) and
// beyond: the mean relative error over many sets stays near zero.
func TestDistinctUnbiased(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{5000, 12_000, 24_000, 60_000, 300_000} {
		var sum float64
		const sets = 40
		for s := 0; s < sets; s++ {
			var d distinct
			for i := 0; i < n; i++ {
				d.add(r.Uint64())
			}
			sum += float64(d.count())/float64(n) - 1
		}
		if bias := sum / sets; math.Abs(bias) > 0.006 {
			t.Errorf("n=%d: mean relative error %.4f", n, bias)
		}
	}
}

func TestDistinct(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{0, 1, 100, exactLimit, exactLimit + 1, 50_000, 400_000} {
		var a, b, all distinct
		for i := 0; i < n; i++ {
			h := r.Uint64()
			all.add(h)
			if i%2 == 0 {
				a.add(h)
			} else {
				b.add(h)
			}
			if i%5 == 0 { // duplicates count once
				a.add(h)
			}
		}
		a.merge(&b)
		got := a.count()
		if n <= exactLimit && got != int64(n) {
			t.Errorf("n=%d: count %d, want exact", n, got)
		}
		if n > exactLimit && math.Abs(float64(got)-float64(n)) > 0.04*float64(n) {
			t.Errorf("n=%d: count %d, more than 4%% off", n, got)
		}
		if got != all.count() {
			t.Errorf("n=%d: merged count %d != single count %d: merge depends on order", n, got, all.count())
		}
	}
}

// TestDistinctExactTable: the exact values' table with the value 0 (kept
// aside) and values that all collide in the table's low bits: counts stay
// exact up to exactLimit whatever the duplicates, the turn to registers
// keeps every value, and neither depends on the order of adds and merges.
func TestDistinctExactTable(t *testing.T) {
	vals := []uint64{0}
	for i := uint64(1); i <= exactLimit; i++ {
		vals = append(vals, i<<40) // the same low bits: one long probe run
	}
	fill := func(vs []uint64, dups bool) *distinct {
		var d distinct
		for _, h := range vs {
			d.add(h)
			if dups {
				d.add(h)
				d.add(0)
			}
		}
		return &d
	}
	exact := vals[:exactLimit]
	if got := fill(exact, true).count(); got != exactLimit {
		t.Fatalf("%d values with duplicates and 0: count %d", exactLimit, got)
	}
	// split in two halves (0 in one), merged either way
	a, b := fill(exact[:1000], false), fill(exact[1000:], true)
	a.merge(b)
	if got := a.count(); got != exactLimit {
		t.Errorf("merged halves: count %d, want %d", got, exactLimit)
	}
	// one more value turns it into registers, holding all of them
	rev := slices.Clone(vals)
	slices.Reverse(rev)
	fwd, back := fill(vals, false), fill(rev, true)
	if fwd.regs == nil || back.regs == nil {
		t.Fatalf("%d values: still exact", len(vals))
	}
	if !slices.Equal(fwd.regs, back.regs) {
		t.Error("the registers depend on the order of the adds")
	}
	var regs distinct
	regs.regs = make([]uint8, hllM)
	for _, h := range vals {
		regs.addHLL(h)
	}
	if !slices.Equal(fwd.regs, regs.regs) {
		t.Error("turning to registers lost values")
	}
}

// genSpans makes random spans over a few hours: services, errors, timeouts,
// retries, injections, and traces that visit several edges.
func genSpans(r *rand.Rand, traces int) []ingest.Span {
	svcs := []string{"frontend", "cart", "checkout", "payment", "db", "cache"}
	var out []ingest.Span
	t0 := int64(1_767_571_200_000_000_000)
	for tr := 0; tr < traces; tr++ {
		id := fmt.Sprintf("%032x", r.Uint64())
		start := t0 + r.Int64N(int64(3*time.Hour))
		caller := ""
		callee := svcs[r.IntN(2)]
		hops := 1 + r.IntN(4)
		parent := "" // each hop's calls are children of the previous hop's first call
		for d := 0; d < hops; d++ {
			calls := 1 + r.IntN(3)
			first := ""
			for c := 0; c < calls; c++ {
				s := ingest.Span{
					TraceID: id, SpanID: fmt.Sprintf("%016x", r.Uint64()), ParentSpanID: parent,
					Caller: caller, Callee: callee, Operation: "op",
					Depth: int32(d), StartUnixNano: start + int64(c)*1000,
					DurationNano: int64(math.Exp(14 + r.NormFloat64())),
					StatusCode:   200, RetryCount: int32(c),
				}
				if r.IntN(20) == 0 {
					s.Error, s.StatusCode = true, []int32{500, 503, 14}[r.IntN(3)]
				}
				if r.IntN(50) == 0 {
					s.TimedOut = true
				}
				s.Fallback = r.IntN(40) == 0
				s.CircuitOpen = r.IntN(45) == 0
				if r.IntN(30) == 0 {
					s.Injected, s.FaultType = true, []string{"latency", "abort", "drop", "corrupt", "weird"}[r.IntN(5)]
					s.FaultProfileID = []string{"p1", "p2", ""}[r.IntN(3)]
				}
				if c == 0 {
					first = s.SpanID
				}
				out = append(out, s)
			}
			parent = first
			caller, callee = callee, svcs[2+r.IntN(len(svcs)-2)]
			if caller == callee {
				break
			}
		}
	}
	return out
}

// brute computes the features the slow, obvious way.
type bruteEdge struct {
	calls, errors, timeouts, retries, durSum, maxDur int64
	fallbacks, circuitOpen                           int64
	durs                                             []float64
	traces                                           map[string]bool
	minDepth                                         int32
	injected                                         map[string]int64 // by FaultTypes name
	injResp                                          Responses
	codes                                            map[int32]int64
}

// faults returns b.injected as FaultCounts, field by field.
func (b *bruteEdge) faults() FaultCounts {
	return FaultCounts{Latency: b.injected["latency"], Abort: b.injected["abort"], Drop: b.injected["drop"],
		Corrupt: b.injected["corrupt"], Other: b.injected["other"]}
}

func brute(spans []ingest.Span, win time.Duration) (map[[2]string]*bruteEdge, map[[2]string]map[int64]*bruteEdge, int) {
	edges := map[[2]string]*bruteEdge{}
	wins := map[[2]string]map[int64]*bruteEdge{}
	traces := map[string]bool{}
	add := func(m *bruteEdge, s ingest.Span) {
		m.traces[s.TraceID] = true
		m.minDepth = min(m.minDepth, s.Depth)
		if s.Injected {
			f := s.FaultType
			if !slices.Contains(FaultTypes[:NumFaultTypes-1], f) {
				f = "other"
			}
			m.injected[f]++
			if s.RetryCount > 0 {
				m.injResp.Retries++
			}
			if s.TimedOut {
				m.injResp.Timeouts++
			}
			if s.CircuitOpen {
				m.injResp.CircuitOpen++
			}
			if s.Fallback {
				m.injResp.Fallbacks++
			}
			return
		}
		m.calls++
		if s.Error {
			m.errors++
			m.codes[s.StatusCode]++
		}
		if s.TimedOut {
			m.timeouts++
		}
		if s.RetryCount > 0 {
			m.retries++
		}
		if s.Fallback {
			m.fallbacks++
		}
		if s.CircuitOpen {
			m.circuitOpen++
		}
		m.durSum += s.DurationNano
		m.maxDur = max(m.maxDur, s.DurationNano)
		m.durs = append(m.durs, float64(s.DurationNano))
	}
	for _, s := range spans {
		k := [2]string{s.Caller, s.Callee}
		if edges[k] == nil {
			edges[k] = &bruteEdge{traces: map[string]bool{}, minDepth: math.MaxInt32, codes: map[int32]int64{}, injected: map[string]int64{}}
			wins[k] = map[int64]*bruteEdge{}
		}
		w := s.StartUnixNano / int64(win) * int64(win)
		if wins[k][w] == nil {
			wins[k][w] = &bruteEdge{traces: map[string]bool{}, minDepth: math.MaxInt32, codes: map[int32]int64{}, injected: map[string]int64{}}
		}
		add(edges[k], s)
		add(wins[k][w], s)
		traces[s.TraceID] = true
	}
	return edges, wins, len(traces)
}

func checkQuantiles(t *testing.T, what string, durs []float64, st Stats) {
	t.Helper()
	if len(durs) == 0 { // only injected calls: no organic latency
		if st.P50Ms != 0 || st.P99Ms != 0 {
			t.Errorf("%s: quantiles %g %g without organic calls", what, st.P50Ms, st.P99Ms)
		}
		return
	}
	slices.Sort(durs)
	for _, c := range []struct {
		q   float64
		got float64
	}{{0.5, st.P50Ms}, {0.9, st.P90Ms}, {0.99, st.P99Ms}} {
		want := exactQuantile(durs, c.q) / 1e6
		if math.Abs(c.got-want) > RelativeAccuracy*want+1e-12 {
			t.Errorf("%s p%g: %g ms, exact %g ms", what, 100*c.q, c.got, want)
		}
	}
}

func writeSpans(t testing.TB, dir string, name string, spans []ingest.Span, rg int64) string {
	p := filepath.Join(dir, name)
	w, err := ingest.Create(p, ingest.WriterOptions{RowGroupRows: rg})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(spans); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func build(t testing.TB, paths []string, opt Options) *Table {
	of, err := ingest.Open(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	tab, err := Build(context.Background(), of, opt)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestBuildAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	spans := genSpans(r, 2000)
	path := writeSpans(t, t.TempDir(), "s.parquet", spans, 1500)
	win := 5 * time.Minute
	tab := build(t, []string{path}, Options{Window: win, Workers: 3})
	edges, wins, ntraces := brute(spans, win)
	if tab.Rows != int64(len(spans)) || tab.Traces != int64(ntraces) {
		t.Fatalf("rows %d traces %d, want %d %d", tab.Rows, tab.Traces, len(spans), ntraces)
	}
	if len(tab.Edges) != len(edges) {
		t.Fatalf("%d edges, want %d", len(tab.Edges), len(edges))
	}
	callees := map[string]int{}
	for k := range edges {
		callees[k[0]]++
	}
	nwin := 0
	for i, e := range tab.Edges {
		if i > 0 && (tab.Edges[i-1].Caller > e.Caller || tab.Edges[i-1].Caller == e.Caller && tab.Edges[i-1].Callee >= e.Callee) {
			t.Fatalf("edges not sorted at %d", i)
		}
		k := [2]string{e.Caller, e.Callee}
		b := edges[k]
		name := fmt.Sprintf("%s->%s", e.Caller, e.Callee)
		if e.Calls != b.calls || e.Errors != b.errors || e.Timeouts != b.timeouts || e.Retries != b.retries ||
			e.Fallbacks != b.fallbacks || e.CircuitOpen != b.circuitOpen ||
			e.DurationSumNano != b.durSum || e.MaxMs != float64(b.maxDur)/1e6 ||
			e.Injected != b.faults() || e.InjectedResponses != b.injResp {
			t.Errorf("%s: got %+v, brute %+v", name, e.Stats, b)
		}
		if e.Traces != int64(len(b.traces)) || e.Criticality != float64(len(b.traces))/float64(ntraces) {
			t.Errorf("%s: traces %d criticality %g, want %d %g", name, e.Traces, e.Criticality, len(b.traces), float64(len(b.traces))/float64(ntraces))
		}
		if e.Depth != b.minDepth || e.FanOut != callees[e.Callee] {
			t.Errorf("%s: depth %d fan-out %d, want %d %d", name, e.Depth, e.FanOut, b.minDepth, callees[e.Callee])
		}
		var codes []CodeCount
		for c, n := range b.codes {
			codes = append(codes, CodeCount{c, n})
		}
		slices.SortFunc(codes, func(a, b CodeCount) int {
			if a.Count != b.Count {
				return int(b.Count - a.Count)
			}
			return int(a.Code - b.Code)
		})
		if diff := cmp.Diff(codes, e.ErrorCodes); diff != "" && len(codes) > 0 {
			t.Errorf("%s codes (-want +got):\n%s", name, diff)
		}
		checkQuantiles(t, name, b.durs, e.Stats)
		ws := tab.EdgeWindows(i)
		if len(ws) != len(wins[k]) {
			t.Fatalf("%s: %d windows, want %d", name, len(ws), len(wins[k]))
		}
		for j, w := range ws {
			if j > 0 && ws[j-1].StartUnixNano >= w.StartUnixNano {
				t.Fatalf("%s: windows not sorted", name)
			}
			bw := wins[k][w.StartUnixNano]
			if bw == nil || w.Calls != bw.calls || w.Errors != bw.errors || w.DurationSumNano != bw.durSum || w.Edge != i ||
				w.Timeouts != bw.timeouts || w.Retries != bw.retries || w.Fallbacks != bw.fallbacks || w.CircuitOpen != bw.circuitOpen ||
				w.Injected != bw.faults() || w.InjectedResponses != bw.injResp {
				t.Fatalf("%s window %d: got %+v want %+v", name, w.StartUnixNano, w.Stats, bw)
			}
			if want := float64(bw.durSum) / float64(win); w.Concurrency != want {
				t.Errorf("%s window %d: concurrency %g, want %g", name, w.StartUnixNano, w.Concurrency, want)
			}
			checkQuantiles(t, fmt.Sprintf("%s window %d", name, w.StartUnixNano), bw.durs, w.Stats)
			nwin++
		}
	}
	if nwin != len(tab.Windows) {
		t.Errorf("%d windows listed per edge, %d in the table", nwin, len(tab.Windows))
	}
	// injections by edge, profile, window and fault type
	type ik struct {
		caller, callee, profile, fault string
		win                            int64
	}
	want := map[ik]int64{}
	for _, s := range spans {
		if s.Injected {
			f := s.FaultType
			if !slices.Contains(FaultTypes[:NumFaultTypes-1], f) {
				f = "other"
			}
			want[ik{s.Caller, s.Callee, s.FaultProfileID, f, s.StartUnixNano / int64(win) * int64(win)}]++
		}
	}
	got := map[ik]int64{}
	for i, in := range tab.Injections {
		if i > 0 {
			p := tab.Injections[i-1]
			if p.Edge > in.Edge || p.Edge == in.Edge && (p.Profile > in.Profile || p.Profile == in.Profile && p.StartUnixNano > in.StartUnixNano) {
				t.Fatalf("injections not sorted at %d", i)
			}
		}
		e := tab.Edges[in.Edge]
		got[ik{e.Caller, e.Callee, in.Profile, in.FaultType, in.StartUnixNano}] += in.Calls
	}
	if len(want) == 0 {
		t.Fatal("the random spans have no injections")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("injections (-want +got):\n%s", diff)
	}
}

// TestFaultCounts: the counts kept by index into FaultTypes read back by
// name, each in its own field; a name not in FaultTypes reads as "other".
func TestFaultCounts(t *testing.T) {
	if len(FaultTypes) != NumFaultTypes || FaultTypes[NumFaultTypes-1] != "other" || !slices.Equal(FaultTypes[:NumFaultTypes-1], bundle.FaultTypes) {
		t.Fatalf("FaultTypes %v: want bundle.FaultTypes %v, then other", FaultTypes, bundle.FaultTypes)
	}
	for i, name := range FaultTypes {
		var c [NumFaultTypes]int64
		c[i] = int64(10 + i)
		fc := faultCounts(&c)
		total := fc.Latency + fc.Abort + fc.Drop + fc.Corrupt + fc.Other
		if fc.Of(name) != int64(10+i) || total != int64(10+i) {
			t.Errorf("%s: %+v, Of %d", name, fc, fc.Of(name))
		}
	}
	if got := (FaultCounts{Other: 3, Abort: 1}).Of("weird"); got != 3 {
		t.Errorf("unknown type reads %d, want other's 3", got)
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	spans := genSpans(r, 3000)
	dir := t.TempDir()
	a := build(t, []string{writeSpans(t, dir, "a.parquet", spans, 4000)}, Options{Workers: 1})
	r.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })
	third := len(spans) / 3
	paths := []string{
		writeSpans(t, dir, "b1.parquet", spans[:third], 333),
		writeSpans(t, dir, "b2.parquet", spans[third:2*third], 1000),
		writeSpans(t, dir, "b3.parquet", spans[2*third:], 77),
	}
	b := build(t, paths, Options{Workers: 4})
	// Rows shuffled one by one scatter the traces, so the trace pass sees
	// other runs: compare it on whole traces shuffled, below.
	traced := *a
	a.Services, a.TraceEnds, a.TraceRuns, a.Outcomes = nil, nil, TraceRuns{}, nil
	b.Services, b.TraceEnds, b.TraceRuns, b.Outcomes = nil, nil, TraceRuns{}, nil
	compareTables(t, "shuffled, split input", a, b)

	// Whole traces shuffled and split over files and row groups of other
	// sizes (which cut traces in two, to be joined again): the same table,
	// the trace pass included.
	byTrace := map[string][]ingest.Span{}
	var ids []string
	for _, s := range spans {
		if byTrace[s.TraceID] == nil {
			ids = append(ids, s.TraceID)
		}
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	slices.Sort(ids)
	r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	var files [3][]ingest.Span
	for i, id := range ids {
		files[i*3/len(ids)] = append(files[i*3/len(ids)], byTrace[id]...)
	}
	paths = []string{
		writeSpans(t, dir, "c1.parquet", files[0], 333),
		writeSpans(t, dir, "c2.parquet", files[1], 1000),
		writeSpans(t, dir, "c3.parquet", files[2], 77),
	}
	c := build(t, paths, Options{Workers: 3})
	if c.TraceRuns.Orphans != 0 || c.TraceRuns.Runs != int64(len(ids)) {
		t.Errorf("trace runs %+v, want %d runs and no orphans", c.TraceRuns, len(ids))
	}
	compareTables(t, "traces shuffled and split", &traced, c)
}

// compareTables fails when a and b differ (sketches may differ in spare
// range, not in content).
func compareTables(t *testing.T, what string, a, b *Table) {
	t.Helper()
	opt := cmp.Options{cmp.AllowUnexported(Edge{}, Sketch{}), cmp.Comparer(func(x, y *ingest.BadRows) bool { return x.Total() == y.Total() })}
	// the sketches as their trimmed counts (their spare range and where
	// the carry of a count past 2^16 sits may differ)
	var counts [2][][]uint64
	a, b = clearSketches(a, &counts[0]), clearSketches(b, &counts[1])
	if diff := cmp.Diff(a, b, opt); diff != "" {
		t.Fatalf("%s gives a different table (-one file +three):\n%s", what, diff)
	}
	if diff := cmp.Diff(counts[0], counts[1]); diff != "" {
		t.Fatalf("%s gives different edge sketches (-one file +three):\n%s", what, diff)
	}
}

// clearSketches returns a copy of t without its edges' sketches, which it
// appends to counts as their first bucket followed by their trimmed counts.
func clearSketches(t *Table, counts *[][]uint64) *Table {
	c := *t
	c.Edges = slices.Clone(t.Edges)
	for i := range c.Edges {
		s := &c.Edges[i].sketch
		lo, n := trimmed(s)
		*counts = append(*counts, append([]uint64{uint64(lo)}, n...))
		*s = Sketch{}
	}
	return &c
}

func TestBuildOptions(t *testing.T) {
	path := writeSpans(t, t.TempDir(), "s.parquet", genSpans(rand.New(rand.NewPCG(1, 1)), 10), 0)
	of, err := ingest.Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	for _, w := range []time.Duration{time.Millisecond, 7 * time.Minute} {
		if _, err := Build(context.Background(), of, Options{Window: w}); err == nil {
			t.Errorf("window %s: no error", w)
		}
	}
}

func TestBucketOfDurationMatchesBucketOf(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	check := func(d int64) {
		if d <= 0 {
			return
		}
		if got, want := bucketOfDuration(d), bucketOf(float64(d)); got != want {
			t.Fatalf("bucketOfDuration(%d) = %d, bucketOf = %d", d, got, want)
		}
	}
	for d := int64(1); d < 1<<16; d++ {
		check(d)
	}
	for range 1_000_000 {
		check(int64(math.Exp(r.Float64() * 43))) // up to ~5e18
		check(1 + r.Int64N(1e12))
		check(r.Int64())
	}
	// around every bucket bound within int64 range, and the slice edges
	for i := int32(0); i < boundsLo+int32(len(bucketBounds)); i++ {
		b := bucketBounds[i-boundsLo]
		if b >= math.MaxInt64/2 {
			break
		}
		for _, d := range []int64{int64(b) - 1, int64(b), int64(b) + 1, int64(math.Ceil(b))} {
			check(d)
		}
	}
	for e := range 63 {
		for _, d := range []int64{1 << e, 1<<e - 1, 1<<e + 1, 1<<e | 1<<max(e-8, 0)} {
			check(d)
		}
	}
	check(math.MaxInt64)
}

func TestBucketOfMatchesLog(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	check := func(x float64) {
		want := int32(math.Ceil(math.Log(x) / logGamma))
		if got := bucketOf(x); got != want {
			// the definition itself rounds at exact bounds; accept the
			// bound check as the arbiter there
			if !(x <= bucketBounds[got-boundsLo] && x > bucketBounds[got-1-boundsLo]) {
				t.Fatalf("bucketOf(%v) = %d, want %d", x, got, want)
			}
		}
	}
	for i := 0; i < 1_000_000; i++ {
		check(math.Exp(r.Float64()*60 - 10))
		check(float64(1 + r.Int64N(1e10)))
	}
	for i := boundsLo + 10; i < boundsLo+int32(len(bucketBounds))-10; i++ {
		b := bucketBounds[i-boundsLo]
		for _, x := range []float64{b, math.Nextafter(b, 0), math.Nextafter(b, math.Inf(1))} {
			got := bucketOf(x)
			if !(x <= bucketBounds[got-boundsLo] && x > bucketBounds[got-1-boundsLo]) {
				t.Fatalf("bucketOf(%v) = %d outside its bounds", x, got)
			}
		}
	}
	for _, x := range []float64{1e-300, 1e300, 5e-7, 1} {
		want := int32(math.Ceil(math.Log(x) / logGamma))
		if got := bucketOf(x); got != want && math.Abs(float64(got-want)) > 1 {
			t.Errorf("bucketOf(%g) = %d, want %d", x, got, want)
		}
	}
}

// TestSketchBump checks that the per-row loops' inlined path
// (d <= 0 || !s.bump(bucketOfDuration(d)) then addDuration) keeps the same
// sketch as addDuration alone, on the boundaries of its fast path: values
// at and just past either end of the dense range, zero and negative
// durations, and a count that wraps 16 bits.
func TestSketchBump(t *testing.T) {
	const d = 5_000_000
	var inline, plain Sketch
	for _, s := range []*Sketch{&inline, &plain} {
		s.addDuration(d)
		s.counts[bucketOfDuration(d)-s.lo] = countWrap - 3
	}
	lo, hi := bucketBounds[inline.lo-boundsLo], bucketBounds[inline.lo+int32(len(inline.counts))-1-boundsLo]
	ds := []int64{d, d, d, d, 0, -7, 1, int64(lo), int64(lo) + 1, int64(hi), int64(hi) + 1, d, math.MaxInt64, 2 * d}
	for _, x := range ds {
		if x <= 0 || !inline.bump(bucketOfDuration(x)) {
			inline.addDuration(x)
		}
		plain.addDuration(x)
		if diff := cmp.Diff(plain, inline, cmp.AllowUnexported(Sketch{})); diff != "" {
			t.Fatalf("after adding %d (-addDuration +inlined):\n%s", x, diff)
		}
	}
	if inline.carry == nil || inline.count(int(bucketOfDuration(d)-inline.lo)) != countWrap+2 {
		t.Fatalf("the 16-bit count did not wrap into carry: %d", inline.count(int(bucketOfDuration(d)-inline.lo)))
	}
}

// TestSketchCarry checks that 16-bit bucket counts stay exact past 2^16:
// by increments (the accumulators' inline path and addDuration), by
// merges, and through the partial file's encoding.
func TestSketchCarry(t *testing.T) {
	const d = 5_000_000 // 5 ms
	var s Sketch
	s.addDuration(d)
	k := bucketOfDuration(d) - s.lo
	// pretend the bucket already holds countWrap-2 values besides the first
	s.counts[k] = countWrap - 1
	s.n = countWrap - 1
	s.addDuration(d) // wraps
	s.addDuration(d)
	s.addDuration(2 * d) // another bucket
	if got, want := s.count(int(k)), uint64(countWrap+1); got != want {
		t.Fatalf("bucket count after wrapping: %d, want %d", got, want)
	}
	if s.carry == nil {
		t.Fatal("no carry after the count wrapped")
	}
	if got := s.Quantile(1); got < 1.9*d || got > 2.1*d {
		t.Fatalf("max quantile %v, want about %v: the wrapped bucket lost its values", got, 2*d)
	}
	if got := s.Quantile(0.999); got > 1.1*d {
		t.Fatalf("quantile 0.999 %v, want about %v", got, d)
	}

	var m Sketch
	m.Merge(&s)
	m.Merge(&s)
	if got, want := m.count(int(bucketOfDuration(d)-m.lo)), uint64(2*(countWrap+1)); got != want {
		t.Fatalf("merged bucket count %d, want %d", got, want)
	}
	if m.Count() != 2*s.Count() {
		t.Fatalf("merged count %d, want %d", m.Count(), 2*s.Count())
	}
	// a merge whose 16-bit sum wraps without either side having a carry
	var a, b Sketch
	for _, x := range []*Sketch{&a, &b} {
		x.addDuration(d)
		x.counts[bucketOfDuration(d)-x.lo] = 3 * countWrap / 4
		x.n = 3 * countWrap / 4
	}
	a.Merge(&b)
	if got, want := a.count(int(bucketOfDuration(d)-a.lo)), uint64(6*countWrap/4); got != want {
		t.Fatalf("merge that wraps 16 bits: %d, want %d", got, want)
	}
	mean, _ := a.LogMoments(1e6)
	if math.Abs(mean-math.Log(5)) > 0.02 {
		t.Fatalf("log mean %v of a wrapped sketch, want about ln 5 = %v", mean, math.Log(5))
	}

	var e enc
	e.sketch(&m)
	dc := dec{b: e.b}
	var back Sketch
	dc.sketch(&back, &dc.slab)
	if dc.err != nil {
		t.Fatal(dc.err)
	}
	blo, bc := trimmed(&back)
	mlo, mc := trimmed(&m)
	if blo != mlo || !slices.Equal(bc, mc) || back.Count() != m.Count() {
		t.Fatalf("decoded sketch differs: lo %d %v, want %d %v", blo, bc, mlo, mc)
	}
}

// TestSketchQuantilesExactRank checks quantiles against their definition:
// the midpoint of the bucket of the value of nearest rank ⌈q·n⌉, for
// several quantiles asked at once (as Stats does), zeros included.
func TestSketchQuantilesExactRank(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 11))
	qs := []float64{0, 0.01, 0.5, 0.9, 0.99, 1}
	for trial := range 300 {
		n := 1 + r.IntN(400)
		var s Sketch
		vals := make([]float64, n)
		for i := range vals {
			if r.IntN(10) != 0 {
				vals[i] = float64(1 + r.Int64N(int64(1)<<(10+r.IntN(30))))
			}
			if vals[i] > 0 && r.IntN(2) == 0 {
				s.addDuration(int64(vals[i]))
			} else {
				s.Add(vals[i])
			}
		}
		slices.Sort(vals)
		got := make([]float64, len(qs))
		s.quantiles(qs, got)
		for j, q := range qs {
			rank := max(int(math.Ceil(q*float64(n))), 1)
			want := 0.0
			if v := vals[rank-1]; v > 0 {
				want = bucketValue(bucketOf(v))
			}
			if got[j] != want {
				t.Fatalf("trial %d (n=%d): quantile %v = %v, want %v", trial, n, q, got[j], want)
			}
			if one := s.Quantile(q); one != want {
				t.Fatalf("trial %d: Quantile(%v) = %v, want %v", trial, q, one, want)
			}
		}
	}
}

// TestSketchSummariesFastPath checks that LogMoments and quantiles give the
// same bits whether a sketch has a carry map or not: without one they take
// a path of their own (no branch per bucket in LogMoments), with an empty
// one the general path, which sums the non-empty buckets one by one.
func TestSketchSummariesFastPath(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 12))
	qs := []float64{0, 0.01, 0.5, 0.9, 0.99, 1}
	for trial := range 500 {
		var s Sketch
		n := 1 + r.IntN(2000)
		scale := int64(1) << (4 + r.IntN(36))
		for range n {
			switch r.IntN(20) {
			case 0:
				s.addDuration(0)
			case 1:
				s.addDuration(1 + r.Int64N(scale*1000)) // outliers: empty runs
			default:
				s.addDuration(1 + r.Int64N(scale))
			}
		}
		unit := []float64{1, 1e3, 1e6}[r.IntN(3)]
		mean, v := s.LogMoments(unit)
		fast := make([]float64, len(qs))
		s.quantiles(qs, fast)
		s.carry = map[int32]uint64{}
		gmean, gv := s.LogMoments(unit)
		general := make([]float64, len(qs))
		s.quantiles(qs, general)
		if math.Float64bits(mean) != math.Float64bits(gmean) || math.Float64bits(v) != math.Float64bits(gv) {
			t.Fatalf("trial %d: LogMoments %v, %v without a carry map, %v, %v with one", trial, mean, v, gmean, gv)
		}
		for j := range qs {
			if math.Float64bits(fast[j]) != math.Float64bits(general[j]) {
				t.Fatalf("trial %d: quantile %v = %v without a carry map, %v with one", trial, qs[j], fast[j], general[j])
			}
		}
	}
}

// TestLogMoments2 checks that logMoments2 gives the bits of LogMoments(1e6)
// for both sketches, of any lengths (either the longer), with a carry,
// without positive values, and with buckets outside logMillis (values
// added as floats below 1 ns).
func TestLogMoments2(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 15))
	random := func() *Sketch {
		s := &Sketch{}
		n := r.IntN(400)
		scale := int64(1) << (4 + r.IntN(36))
		tiny := r.IntN(10) == 0
		for range n {
			switch r.IntN(20) {
			case 0:
				s.addDuration(0)
			case 1:
				s.addDuration(1 + r.Int64N(scale*1000))
			case 2:
				if tiny {
					s.Add(1e-12 * r.Float64())
				}
			default:
				s.addDuration(1 + r.Int64N(scale))
			}
		}
		if r.IntN(10) == 0 && len(s.counts) > 0 {
			s.carry = map[int32]uint64{}
		}
		return s
	}
	same := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	for trial := range 2000 {
		a, b := random(), random()
		ma, va := a.LogMoments(1e6)
		mb, vb := b.LogMoments(1e6)
		gma, gva, gmb, gvb := logMoments2(a, b)
		if !same(ma, gma) || !same(va, gva) || !same(mb, gmb) || !same(vb, gvb) {
			t.Fatalf("trial %d: logMoments2 %v, %v, %v, %v; LogMoments %v, %v and %v, %v", trial, gma, gva, gmb, gvb, ma, va, mb, vb)
		}
	}
}

// BenchmarkSketchSummaries times what the table computes from every
// window's latency sketch (the p50, p90 and p99 and the log moments) over
// sketches shaped like the 40M-span benchmark day's: about 600 calls a
// window spread over a factor of about 16 (some 140 buckets, half of them
// empty).
func BenchmarkSketchSummaries(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 13))
	sks := make([]Sketch, 1000)
	for i := range sks {
		for range 600 {
			sks[i].addDuration(int64(2e6 * math.Exp(r.NormFloat64()*0.6)))
		}
	}
	var q [3]float64
	var sink float64
	for b.Loop() {
		for i := range sks {
			sks[i].quantiles(statQuantiles[:], q[:])
			m, v := sks[i].LogMoments(1e6)
			sink += q[0] + q[2] + m + v
		}
	}
	b.ReportMetric(float64(len(sks))*float64(b.N)/b.Elapsed().Seconds(), "sketches/s")
	if math.IsNaN(sink) {
		b.Fatal("NaN")
	}
}

// TestBucketValue checks that bucketValue, which takes γ^i from
// bucketBounds within its range, gives the bits of its definition
// 2γ^i/(γ+1) for every bucket of that range and beyond it.
func TestBucketValue(t *testing.T) {
	for i := boundsLo - 50; i < boundsLo+int32(len(bucketBounds))+50; i++ {
		want := 2 * math.Pow(gamma, float64(i)) / (gamma + 1)
		if got := bucketValue(i); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("bucketValue(%d) = %v, want %v", i, got, want)
		}
	}
	if math.Float64bits(logMid) != math.Float64bits(math.Log(2/(gamma+1))) || math.Float64bits(logUnit(1e6)) != math.Float64bits(math.Log(1e6)) {
		t.Fatal("precomputed logarithms differ from math.Log")
	}
}

// TestSketchOccupied checks occupied's four-at-a-time scan against a
// bucket-by-bucket one, on every length up to 40 with the occupied buckets
// anywhere, none, and with a carry (an empty 16-bit count whose bucket
// holds 2^16 values).
func TestSketchOccupied(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for n := range 41 {
		for range 200 {
			s := Sketch{lo: 100, counts: make([]uint16, n)}
			for k := range s.counts {
				if r.IntN(6) == 0 {
					s.counts[k] = uint16(1 + r.IntN(3))
				}
			}
			if n > 0 && r.IntN(4) == 0 {
				s.addCarry(s.lo+int32(r.IntN(n)), countWrap)
			}
			lo, hi := 0, n
			for lo < hi && s.empty(lo) {
				lo++
			}
			for hi > lo && s.empty(hi-1) {
				hi--
			}
			if glo, ghi := s.occupied(); glo != lo || ghi != hi {
				t.Fatalf("counts %v carry %v: occupied [%d, %d), want [%d, %d)", s.counts, s.carry, glo, ghi, lo, hi)
			}
		}
	}
}
