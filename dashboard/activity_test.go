package dashboard

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/edge"
	"github.com/chaosgen/chaosgen/sim"
)

// TestReplayActivity: the injection and response charts' numbers, taken
// from features' table of the replay, are what a plain count over the
// replay's spans gives: per edge and window, every call's retries,
// timeouts, breaker opens and fallbacks (injected or not), and the injected
// calls by fault type. The replay runs the fixture's bundle through a mesh
// with circuit breakers and fallbacks, so that every response occurs.
func TestReplayActivity(t *testing.T) {
	fx := testFixture(t)
	b, err := bundle.Open(fx.Bundle, bundle.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mesh, err := sim.ParseMesh([]byte("defaults:\n  circuitBreaker: {consecutiveErrors: 2, openTime: 2s}\n  fallback: {latency: 5ms, success: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "replay")
	_, err = sim.Replay(context.Background(), sim.ReplayOptions{Files: []string{fx.Spans}, Bundle: b.Bundle, Mesh: mesh, Seed: 1, Dir: dir})
	if err != nil && !errors.Is(err, sim.ErrGuardBreached) {
		t.Fatal(err)
	}
	d, err := Load(context.Background(), Options{Analysis: fx.Analysis, Replay: dir})
	if err != nil {
		t.Fatal(err)
	}
	spans, err := ingest.ReadFile(filepath.Join(dir, "spans.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		e edge.Edge
		t int64
	}
	type counts struct {
		resp     [4]int64 // retries, timeouts, breaker open, fallbacks
		injected map[string]int64
	}
	want := map[key]*counts{}
	w := int64(d.Window)
	var totals [4]int64
	var injected int64
	for _, s := range spans {
		k := key{edge.Edge{Caller: s.Caller, Callee: s.Callee}, s.StartUnixNano - mod(s.StartUnixNano, w)}
		c := want[k]
		if c == nil {
			c = &counts{injected: map[string]int64{}}
			want[k] = c
		}
		for i, b := range []bool{s.RetryCount > 0, s.TimedOut, s.CircuitOpen, s.Fallback} {
			if b {
				c.resp[i]++
				totals[i]++
			}
		}
		if s.Injected {
			f := s.FaultType
			if !slices.Contains([]string{"latency", "abort", "drop", "corrupt"}, f) {
				f = "other"
			}
			c.injected[f]++
			injected++
		}
	}
	// the fixture's replay must exercise what the charts show
	if injected == 0 || slices.Contains(totals[:], 0) {
		t.Fatalf("the replay has %d injected calls and responses %v: nothing to compare", injected, totals)
	}
	t.Logf("%d spans, %d edge windows, %d injected calls, responses %v", len(spans), len(want), injected, totals)
	seen := 0
	for _, e := range d.Edges {
		for i := range e.replay {
			rw := &e.replay[i]
			k := key{e.Key, rw.StartUnixNano}
			c := want[k]
			if c == nil {
				t.Errorf("%s window %d: no spans in it", e.Key, rw.StartUnixNano)
				continue
			}
			seen++
			if got := replayResponses(rw); got != c.resp {
				t.Errorf("%s window %d: responses %v, the spans say %v", e.Key, rw.StartUnixNano, got, c.resp)
			}
			for _, f := range features.FaultTypes {
				if got := rw.Injected.Of(f); got != c.injected[f] {
					t.Errorf("%s window %d: %d injected %s, the spans say %d", e.Key, rw.StartUnixNano, got, f, c.injected[f])
				}
			}
		}
	}
	// every window of the replay's spans is charted: the analysed edges are
	// the replayed ones
	if seen != len(want) {
		t.Errorf("%d edge windows charted, the replay's spans have %d", seen, len(want))
	}
}
