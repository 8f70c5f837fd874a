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
