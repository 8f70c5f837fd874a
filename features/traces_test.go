package features

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/google/go-cmp/cmp"
)

// TestTracePass checks the trace pass against a brute-force computation:
// every call's children found by scanning the whole trace, the time they
// cover measured by sweeping their sorted endpoints, the root and last
// call picked by comparing every span.
func TestTracePass(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	spans := genSpans(r, 2000)
	// children that overlap, nest and reach past their parents
	for i := range spans {
		spans[i].StartUnixNano += r.Int64N(int64(20 * time.Millisecond))
	}
	win := time.Minute
	tab := build(t, []string{writeSpans(t, t.TempDir(), "s.parquet", spans, 500)}, Options{Window: win, Workers: 2})

	type sk struct {
		svc string
		win int64
	}
	type want struct {
		calls, ownErrors int64
		logs             []float64
	}
	wants := map[sk]*want{}
	type ek struct {
		root string
		win  int64
		svc  string
	}
	ends := map[ek]int64{}
	byTrace := map[string][]ingest.Span{}
	for _, s := range spans {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	for _, tr := range byTrace {
		var root, last *ingest.Span
		for i := range tr {
			s := &tr[i]
			if s.ParentSpanID == "" && (root == nil || s.StartUnixNano < root.StartUnixNano) {
				root = s
			}
			if last == nil || s.StartUnixNano > last.StartUnixNano ||
				s.StartUnixNano == last.StartUnixNano && s.StartUnixNano+s.DurationNano > last.StartUnixNano+last.DurationNano {
				last = s
			}
			if s.Injected {
				continue
			}
			// the parent's interval, minus the union of its children's
			lo, hi := s.StartUnixNano, s.StartUnixNano+s.DurationNano
			type iv struct{ a, b int64 }
			var ivs []iv
			kidErr := false
			for _, c := range tr {
				if c.ParentSpanID != s.SpanID {
					continue
				}
				kidErr = kidErr || c.Error
				a, b := max(c.StartUnixNano, lo), min(c.StartUnixNano+c.DurationNano, hi)
				if b > a {
					ivs = append(ivs, iv{a, b})
				}
			}
			covered := int64(0)
			// sweep: every nanosecond boundary between sorted endpoints
			var pts []int64
			for _, v := range ivs {
				pts = append(pts, v.a, v.b)
			}
			slices.Sort(pts)
			for k := 0; k+1 < len(pts); k++ {
				mid := pts[k] // [pts[k], pts[k+1]) is covered when any interval holds it
				for _, v := range ivs {
					if v.a <= mid && mid < v.b {
						covered += pts[k+1] - pts[k]
						break
					}
				}
			}
			key := sk{s.Callee, s.StartUnixNano / int64(win) * int64(win)}
			w := wants[key]
			if w == nil {
				w = &want{}
				wants[key] = w
			}
			w.calls++
			if s.Error && !kidErr {
				w.ownErrors++
			}
			w.logs = append(w.logs, math.Log(float64(s.DurationNano-covered+selfOffsetNano)/1e6))
		}
		if root != nil {
			ends[ek{root.Callee + " " + root.Operation, root.StartUnixNano / int64(win) * int64(win), last.Callee}]++
		}
	}
	if len(tab.Services) != len(wants) {
		t.Fatalf("%d service windows, want %d", len(tab.Services), len(wants))
	}
	ownErrors := 0
	for i, sw := range tab.Services {
		if i > 0 && (tab.Services[i-1].Service > sw.Service || tab.Services[i-1].Service == sw.Service && tab.Services[i-1].StartUnixNano >= sw.StartUnixNano) {
			t.Fatalf("services not sorted at %d", i)
		}
		w := wants[sk{sw.Service, sw.StartUnixNano}]
		if w == nil {
			t.Fatalf("unexpected service window %s %d", sw.Service, sw.StartUnixNano)
		}
		var mean float64
		for _, l := range w.logs {
			mean += l
		}
		mean /= float64(len(w.logs))
		var v float64
		for _, l := range w.logs {
			v += (l - mean) * (l - mean)
		}
		v /= float64(len(w.logs))
		// bucket midpoints are within 1% of each value: 0.01 in logs
		if sw.Calls != w.calls || sw.OwnErrors != w.ownErrors || math.Abs(sw.SelfLogMean-mean) > 0.0101 || math.Abs(math.Sqrt(sw.SelfLogVar)-math.Sqrt(v)) > 0.0201 {
			t.Errorf("%s at %d: calls %d own errors %d log mean %.4f var %.4f; want %d %d %.4f %.4f",
				sw.Service, sw.StartUnixNano, sw.Calls, sw.OwnErrors, sw.SelfLogMean, sw.SelfLogVar, w.calls, w.ownErrors, mean, v)
		}
		ownErrors += int(sw.OwnErrors)
	}
	if ownErrors == 0 {
		t.Error("the random spans have no failures that start in their service")
	}
	got := map[ek]int64{}
	for _, e := range tab.TraceEnds {
		got[ek{e.Root, e.StartUnixNano, e.Service}] += e.Traces
	}
	if diff := cmp.Diff(ends, got); diff != "" {
		t.Errorf("trace ends (-want +got):\n%s", diff)
	}
	if tab.TraceRuns.Orphans != 0 || tab.TraceRuns.Runs != int64(len(byTrace)) {
		t.Errorf("trace runs %+v, want %d runs, no orphans", tab.TraceRuns, len(byTrace))
	}
}

// TestTracePassScattered: rows of a trace that are not adjacent are
// counted as orphans, not joined by guesswork.
func TestTracePassScattered(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	spans := genSpans(r, 300)
	r.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })
	tab := build(t, []string{writeSpans(t, t.TempDir(), "s.parquet", spans, 0)}, Options{})
	children := 0
	for _, s := range spans {
		if s.ParentSpanID != "" {
			children++
		}
	}
	if tab.TraceRuns.Orphans == 0 || tab.TraceRuns.Orphans > int64(children) {
		t.Errorf("orphans %d of %d children", tab.TraceRuns.Orphans, children)
	}
}

// TestTracePassRowOrder: the trace pass resolves a trace the same way
// whatever the order of its rows. Parents written before their children in
// start order take resolve's one-pass path; children before their parents
// (reversed), and siblings out of start order (shuffled, and the jittered
// starts), take its second lookup and the sorted recomputation of the
// covered time. Self times, own errors, trace ends, outcomes and runs must
// come out identical, to the bit.
func TestTracePassRowOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	spans := genSpans(r, 1500)
	for i := range spans {
		if r.IntN(3) == 0 { // children that overlap, nest and reach past their parents
			spans[i].StartUnixNano += r.Int64N(int64(20 * time.Millisecond))
		}
	}
	var traces [][]ingest.Span // genSpans writes parents first
	for i, s := range spans {
		if i == 0 || s.TraceID != spans[i-1].TraceID {
			traces = append(traces, nil)
		}
		traces[len(traces)-1] = append(traces[len(traces)-1], s)
	}
	orders := []struct {
		name  string
		order func(tr []ingest.Span)
	}{
		{"parents first, children by start", func(tr []ingest.Span) {
			slices.SortStableFunc(tr, func(a, b ingest.Span) int {
				if a.Depth != b.Depth {
					return int(a.Depth - b.Depth)
				}
				return int(a.StartUnixNano - b.StartUnixNano)
			})
		}},
		{"as generated", func([]ingest.Span) {}},
		{"reversed", slices.Reverse[[]ingest.Span]},
		{"shuffled", func(tr []ingest.Span) { r.Shuffle(len(tr), func(i, j int) { tr[i], tr[j] = tr[j], tr[i] }) }},
	}
	var want *Table
	for _, o := range orders {
		var rows []ingest.Span
		for _, tr := range traces {
			tr = slices.Clone(tr)
			o.order(tr)
			rows = append(rows, tr...)
		}
		tab := build(t, []string{writeSpans(t, t.TempDir(), "s.parquet", rows, 700)}, Options{Workers: 2})
		if want == nil {
			want = tab
			if len(tab.Services) == 0 || len(tab.Outcomes) == 0 || tab.TraceRuns.Orphans != 0 {
				t.Fatalf("%s: %d service windows, %d outcomes, runs %+v", o.name, len(tab.Services), len(tab.Outcomes), tab.TraceRuns)
			}
			continue
		}
		if diff := cmp.Diff(want.Services, tab.Services); diff != "" {
			t.Errorf("%s: services (-first +this):\n%s", o.name, diff)
		}
		if diff := cmp.Diff(want.TraceEnds, tab.TraceEnds); diff != "" {
			t.Errorf("%s: trace ends (-first +this):\n%s", o.name, diff)
		}
		if diff := cmp.Diff(want.Outcomes, tab.Outcomes); diff != "" {
			t.Errorf("%s: outcomes (-first +this):\n%s", o.name, diff)
		}
		if want.TraceRuns != tab.TraceRuns {
			t.Errorf("%s: runs %+v, first %+v", o.name, tab.TraceRuns, want.TraceRuns)
		}
	}
}

// TestTracePassOddIDs: a repeated span id belongs to its first row, a span
// that names itself as parent has none (and is no orphan), a parent written
// after its child is still found, and a parent missing from the run makes
// an orphan.
func TestTracePassOddIDs(t *testing.T) {
	const ms = int64(time.Millisecond)
	t0 := int64(1_767_571_200_000_000_000)
	row := func(callee, span, parent string, depth int32, start, dur int64, failed bool) ingest.Span {
		caller := "x"
		if parent == "" {
			caller = ""
		}
		return ingest.Span{TraceID: "t1", SpanID: span, ParentSpanID: parent, Caller: caller, Callee: callee, Operation: "op",
			Depth: depth, StartUnixNano: t0 + start*ms, DurationNano: dur * ms, Error: failed, StatusCode: 200}
	}
	spans := []ingest.Span{
		row("a", "a", "", 0, 0, 100, true),
		row("e", "e", "b", 2, 15, 10, true), // before its parent
		row("b", "b", "a", 1, 10, 30, false),
		row("c", "b", "a", 1, 50, 20, false), // span id b again
		row("d", "d", "d", 1, 60, 10, true),  // its own parent
		row("f", "f", "zz", 1, 80, 5, false), // parent not in the data
	}
	tab := build(t, []string{writeSpans(t, t.TempDir(), "s.parquet", spans, 0)}, Options{})
	want := map[string]struct {
		selfMs    float64
		ownErrors int64
	}{
		"a": {50, 1}, // b and c cover 30 + 20 ms; neither failed
		"b": {20, 0}, // e covers 10 ms
		"c": {20, 0}, // e's parent is b's first row
		"d": {10, 1},
		"e": {10, 1},
		"f": {5, 0},
	}
	if len(tab.Services) != len(want) {
		t.Fatalf("%d service windows, want %d", len(tab.Services), len(want))
	}
	for _, s := range tab.Services {
		w := want[s.Service]
		// the sketch's 1% on self time + selfOffsetNano
		if s.Calls != 1 || s.OwnErrors != w.ownErrors || math.Abs(s.SelfP50Ms-w.selfMs) > 0.0101*(w.selfMs+0.1) {
			t.Errorf("%s: calls %d own errors %d self %.3f ms, want 1 %d %.3f", s.Service, s.Calls, s.OwnErrors, s.SelfP50Ms, w.ownErrors, w.selfMs)
		}
	}
	if want := (TraceRuns{Runs: 1, Orphans: 1}); tab.TraceRuns != want {
		t.Errorf("runs %+v, want %+v", tab.TraceRuns, want)
	}
	if want := []TraceEnd{{Root: "a op", StartUnixNano: t0 / int64(DefaultWindow) * int64(DefaultWindow), Service: "f", Traces: 1}}; !slices.Equal(tab.TraceEnds, want) {
		t.Errorf("trace ends %+v, want %+v", tab.TraceEnds, want)
	}
}

// TestCoverAdd checks resolve's one-pass union of children's intervals
// against a count of covered instants, on small random intervals (so that
// they touch, nest and overlap) in random order: whenever add accepts all
// of them the covered time must be exact, and in order of their starts it
// must accept all of them.
func TestCoverAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	accepted := 0
	for range 20000 {
		from, to := int64(r.IntN(10)), int64(10+r.IntN(30))
		type iv struct{ start, end int64 }
		ivs := make([]iv, 1+r.IntN(6))
		for i := range ivs {
			s := int64(r.IntN(45))
			ivs[i] = iv{s, s + int64(r.IntN(12))}
		}
		want := int64(0)
		for x := from; x < to; x++ {
			for _, v := range ivs {
				if v.start <= x && x < v.end {
					want++
					break
				}
			}
		}
		cov := func(c *cover) int64 { return c.covered + c.hi - c.lo }
		var c cover
		ok := true
		for _, v := range ivs {
			ok = c.add(v.start, v.end, from, to) && ok
		}
		if ok {
			accepted++
			if cov(&c) != want {
				t.Fatalf("intervals %v in [%d, %d): covered %d, want %d", ivs, from, to, cov(&c), want)
			}
		}
		slices.SortFunc(ivs, func(a, b iv) int { return int(a.start - b.start) })
		c = cover{}
		for _, v := range ivs {
			if !c.add(v.start, v.end, from, to) {
				t.Fatalf("sorted intervals %v in [%d, %d) refused", ivs, from, to)
			}
		}
		if cov(&c) != want {
			t.Fatalf("sorted intervals %v in [%d, %d): covered %d, want %d", ivs, from, to, cov(&c), want)
		}
	}
	if accepted < 15000 {
		t.Errorf("only %d of 20000 random orders accepted", accepted)
	}
	t.Logf("%d of 20000 random orders accepted", accepted)
}
