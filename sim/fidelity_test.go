package sim

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/ingest/importer"
	"github.com/chaosgen/chaosgen/internal/shared"
	"github.com/chaosgen/chaosgen/synth"
)

// synthFile generates a small synthetic mesh in a temporary directory.
func synthFile(tb testing.TB, opt synth.Options) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "spans.parquet")
	if opt.Workers == 0 {
		opt.Workers = 1
	}
	if _, err := synth.Generate(context.Background(), path, opt); err != nil {
		tb.Fatal(err)
	}
	return path
}

func within(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Abs(want)
}

// checkFidelity runs a baseline replay and compares root latency quantiles
// with the recording's.
func checkFidelity(t *testing.T, name string, files []string) *Result {
	t.Helper()
	res, err := Run(context.Background(), files, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	rec, sim := res.Recorded, res.Root
	t.Logf("%s: %d traces, %d roots: recorded p50 %.3f ms p99 %.3f ms success %.4f; replay p50 %.3f ms p99 %.3f ms success %.4f; orphans %d",
		name, res.Traces, rec.Calls, rec.P50Ms, rec.P99Ms, rec.SuccessRate, sim.P50Ms, sim.P99Ms, sim.SuccessRate, res.Orphans)
	if rec.Calls == 0 || rec.Calls != sim.Calls {
		t.Fatalf("%s: %d recorded roots, %d replayed", name, rec.Calls, sim.Calls)
	}
	// A baseline replay re-enacts the recorded calls: its quantiles agree
	// within the 1% of the quantile buckets (docs/replay.md), its success
	// rate exactly (a latency or outcome off by a few percent fails here).
	if !within(sim.P50Ms, rec.P50Ms, 0.01) || !within(sim.P99Ms, rec.P99Ms, 0.01) {
		t.Errorf("%s: replay p50/p99 %.3f/%.3f ms, recorded %.3f/%.3f ms: more than 1%% apart", name, sim.P50Ms, sim.P99Ms, rec.P50Ms, rec.P99Ms)
	}
	if sim.SuccessRate != rec.SuccessRate {
		t.Errorf("%s: replay success rate %.6f, recorded %.6f", name, sim.SuccessRate, rec.SuccessRate)
	}
	return res
}

func TestFidelitySynth(t *testing.T) {
	path := synthFile(t, synth.Options{Days: 0.05, RPS: 5, Services: 20, Seed: 3})
	checkFidelity(t, "synth", []string{path})
}

// TestFidelityUnmarked replays spans as a tracer that knows nothing of the
// mesh records them: without retry counts, fallback marks or breaker
// flags (OpenTelemetry has no such attributes). A call that failed for good
// under a caller that still succeeded was absorbed (a fallback or an
// ignored error), so the baseline replay must not fail the caller for it:
// the success rate stays the recorded one. Without that rule this mesh
// replays at 0.868 against its recorded 0.980.
func TestFidelityUnmarked(t *testing.T) {
	path := synthFile(t, synth.Options{Days: 0.05, RPS: 5, Services: 20, Seed: 3})
	spans, err := ingest.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	for i := range spans {
		s := &spans[i]
		if s.RetryCount > 0 || s.Fallback || s.CircuitOpen {
			marked++
		}
		s.RetryCount, s.Fallback, s.FallbackLatencyNano, s.CircuitOpen = 0, false, 0, false
	}
	if marked == 0 {
		t.Fatal("the synth file has no retries, fallbacks or breaker flags: the test proves nothing")
	}
	out := filepath.Join(t.TempDir(), "unmarked.parquet")
	if err := ingest.WriteFile(out, spans); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d spans had mesh marks", marked, len(spans))
	checkFidelity(t, "synth without mesh marks", []string{out})
}

func importShared(t *testing.T, rel string) string {
	t.Helper()
	src := shared.Path(t, rel)
	files, err := filepath.Glob(filepath.Join(src, "*.csv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("%s: no CSV files (%v)", src, err)
	}
	out := filepath.Join(t.TempDir(), "spans.parquet")
	if _, err := importer.Import(out, files, importer.Options{}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFidelityDeepTraLog(t *testing.T) {
	checkFidelity(t, "deeptralog", []string{importShared(t, "data/traces/deeptralog")})
}

func TestFidelityNezha(t *testing.T) {
	checkFidelity(t, "nezha_onlineboutique", []string{importShared(t, "data/traces/nezha_onlineboutique")})
}
