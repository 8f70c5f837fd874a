package synth

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/ingest"
)

func gen(t *testing.T, dir string, opt Options) *Truth {
	t.Helper()
	truth, err := Generate(context.Background(), filepath.Join(dir, "spans.parquet"), opt)
	if err != nil {
		t.Fatal(err)
	}
	return truth
}

func TestDeterministic(t *testing.T) {
	opt := Options{Days: 0.05, RPS: 3, Services: 12, Seed: 42}
	a, b := t.TempDir(), t.TempDir()
	gen(t, a, opt)
	opt.Workers = 1
	gen(t, b, opt)
	for _, f := range []string{"spans.parquet", "truth.json"} {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if len(x) == 0 || !bytes.Equal(x, y) {
			t.Errorf("%s differs between runs with the same seed (%d vs %d bytes)", f, len(x), len(y))
		}
	}
	c := t.TempDir()
	opt.Seed = 43
	gen(t, c, opt)
	x, _ := os.ReadFile(filepath.Join(a, "spans.parquet"))
	y, _ := os.ReadFile(filepath.Join(c, "spans.parquet"))
	if bytes.Equal(x, y) {
		t.Error("different seeds gave identical spans")
	}
}

func TestBadOptions(t *testing.T) {
	for _, opt := range []Options{
		{Days: 0, RPS: 1, Services: 5},
		{Days: 1, RPS: 0, Services: 5},
		{Days: 1, RPS: 1, Services: 2},
	} {
		if _, err := Generate(context.Background(), filepath.Join(t.TempDir(), "s.parquet"), opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
}

// TestSpansAreConsistent checks the structure of the generated traces:
// parents cover their children, depths and stacks follow the parent links,
// the root has no caller.
func TestSpansAreConsistent(t *testing.T) {
	dir := t.TempDir()
	truth := gen(t, dir, Options{Days: 0.02, RPS: 2, Services: 15, Seed: 7})
	spans, err := ingest.ReadFile(filepath.Join(dir, "spans.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(spans)) != truth.Spans || truth.Traces == 0 {
		t.Fatalf("%d spans read, truth says %d (%d traces)", len(spans), truth.Spans, truth.Traces)
	}
	byID := map[string]*ingest.Span{}
	for i := range spans {
		byID[spans[i].SpanID] = &spans[i]
	}
	roots, retries, errs := 0, 0, 0
	for i := range spans {
		s := &spans[i]
		if s.DurationNano <= 0 || s.StartUnixNano < truth.Start.UnixNano() {
			t.Fatalf("span %s: bad time %d+%d", s.SpanID, s.StartUnixNano, s.DurationNano)
		}
		if s.RetryCount > 0 {
			retries++
		}
		if s.Error {
			errs++
		}
		if s.ParentSpanID == "" {
			roots++
			if s.Caller != "" || s.Depth != 0 || len(s.Stack) != 1 {
				t.Fatalf("root %s: caller %q depth %d stack %v", s.SpanID, s.Caller, s.Depth, s.Stack)
			}
			continue
		}
		p := byID[s.ParentSpanID]
		if p == nil {
			t.Fatalf("span %s: parent %s missing", s.SpanID, s.ParentSpanID)
		}
		if p.Callee != s.Caller || p.Depth+1 != s.Depth || len(s.Stack) != int(s.Depth)+1 || s.Stack[s.Depth] != s.Callee {
			t.Fatalf("span %s: caller %q depth %d stack %v; parent callee %q depth %d", s.SpanID, s.Caller, s.Depth, s.Stack, p.Callee, p.Depth)
		}
		if s.StartUnixNano < p.StartUnixNano {
			t.Fatalf("span %s starts before its parent", s.SpanID)
		}
		if !p.TimedOut && s.StartUnixNano+s.DurationNano > p.StartUnixNano+p.DurationNano {
			t.Fatalf("span %s ends after its parent", s.SpanID)
		}
	}
	if int64(roots) != truth.Traces || retries == 0 || errs == 0 {
		t.Errorf("roots %d (traces %d), retries %d, errors %d", roots, truth.Traces, retries, errs)
	}
}

// TestPlantedIncidentsAreVisible generates a day and a half and checks each
// planted incident in the per-window features.
func TestPlantedIncidentsAreVisible(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1.5 days of traffic")
	}
	dir := t.TempDir()
	truth := gen(t, dir, Options{Days: 1.5, RPS: 1, Services: 16, Seed: 3})
	of, err := ingest.Open([]string{filepath.Join(dir, "spans.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	tab, err := features.Build(context.Background(), of, features.Options{Window: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	edge := func(caller, callee string) int {
		for i, e := range tab.Edges {
			if e.Caller == caller && e.Callee == callee {
				return i
			}
		}
		t.Fatalf("edge %s->%s not in the table", caller, callee)
		return -1
	}
	kinds := map[string]int{}
	for _, inc := range truth.Incidents {
		kinds[inc.Kind]++
		ws := tab.EdgeWindows(edge(inc.Caller, inc.Callee))
		var in, out features.Stats
		var inP99, outP99 []float64
		for _, w := range ws {
			inside := w.StartUnixNano >= inc.StartUnixNano && w.StartUnixNano+int64(10*time.Minute) <= inc.EndUnixNano
			before := w.StartUnixNano+int64(10*time.Minute) <= inc.StartUnixNano
			s := &out
			switch {
			case inside:
				s = &in
				inP99 = append(inP99, w.P99Ms)
			case before || inc.Kind != KindLatency:
				outP99 = append(outP99, w.P99Ms)
			default:
				continue
			}
			s.Calls += w.Calls
			s.Errors += w.Errors
			s.Retries += w.Retries
		}
		if in.Calls == 0 || out.Calls == 0 {
			t.Fatalf("%s %s->%s: %d calls inside, %d outside", inc.Kind, inc.Caller, inc.Callee, in.Calls, out.Calls)
		}
		errIn, errOut := float64(in.Errors)/float64(in.Calls), float64(out.Errors)/float64(out.Calls)
		retIn, retOut := float64(in.Retries)/float64(in.Calls), float64(out.Retries)/float64(out.Calls)
		p99In, p99Out := median(inP99), median(outP99)
		t.Logf("%-11s %s->%s: error rate %.3f vs %.3f, retries/call %.3f vs %.3f, median window p99 %.1f vs %.1f ms",
			inc.Kind, inc.Caller, inc.Callee, errIn, errOut, retIn, retOut, p99In, p99Out)
		switch inc.Kind {
		case KindLatency:
			if p99In < 1.8*p99Out {
				t.Errorf("latency regression %s->%s: window p99 %.1f ms inside vs %.1f before, want ≥1.8x", inc.Caller, inc.Callee, p99In, p99Out)
			}
		case KindErrors:
			if errIn < 0.25 || errIn < 5*errOut {
				t.Errorf("error burst %s->%s: error rate %.3f inside vs %.3f outside", inc.Caller, inc.Callee, errIn, errOut)
			}
		case KindRetryStorm:
			if retIn < 3*retOut || retIn < 0.3 {
				t.Errorf("retry storm %s->%s: retries per call %.3f inside vs %.3f outside", inc.Caller, inc.Callee, retIn, retOut)
			}
		case KindCapacity:
			if p99In < 1.5*p99Out {
				t.Errorf("capacity %s->%s: window p99 %.1f ms at the peak vs %.1f outside", inc.Caller, inc.Callee, p99In, p99Out)
			}
		}
	}
	for _, k := range []string{KindLatency, KindErrors, KindRetryStorm, KindCapacity} {
		if kinds[k] == 0 {
			t.Errorf("no %s incident planted", k)
		}
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}
