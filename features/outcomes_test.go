package features

import (
	stdcmp "cmp"
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/google/go-cmp/cmp"
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

// TestWholeSkipsOutcomes: a whole accumulation (Options.Whole) skips the
// trace outcomes when no row group read can hold an injected call, and
// only then; its table is the same as a partial's either way.
func TestWholeSkipsOutcomes(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	spans := genSpans(r, 1500)
	clean := slices.Clone(spans)
	for i := range clean {
		clean[i].Injected, clean[i].FaultType, clean[i].FaultProfileID, clean[i].InjectedAtUnixNano = false, "", "", 0
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name     string
		spans    []ingest.Span
		injected bool
	}{
		{"without injections", clean, false},
		{"with injections", spans, true},
	} {
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
