package analysis

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/synth"
)

var benchSpans = flag.String("spans", "", "span file for BenchmarkAnalyze (default: a cached 10M-span synth file)")

// loadBenchSpans returns the benchmark's span file, generating about 10M
// synthetic spans once into the user's cache directory when none is given.
func loadBenchSpans(tb testing.TB) string {
	tb.Helper()
	if *benchSpans != "" {
		return *benchSpans
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	p := filepath.Join(dir, "chaosgen-bench", "spans-10M-seed1.parquet")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	tb.Logf("generating %s (once)", p)
	if _, err := synth.Generate(context.Background(), p, synth.Options{Days: 1, RPS: 10.5, Services: 30, Seed: 1}); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkAnalyze runs the analyze stage end to end from Parquet: reading,
// features, sha256 of the input, writing the outputs, and (sub-benchmark
// "models") the forecasts, the isolation forest and the findings. The
// sub-benchmarks "scan" (reading the columns features need, page by page,
// into batches, nothing else), "build" (features.Build: scan and
// aggregation) and "sha256" (the input digest) time the parts, for the
// breakdown in docs/analysis.md.
func BenchmarkAnalyze(b *testing.B) {
	spans := loadBenchSpans(b)
	b.Run("scan", func(b *testing.B) {
		var rows atomic.Int64
		for b.Loop() {
			files, err := ingest.Open([]string{spans})
			if err != nil {
				b.Fatal(err)
			}
			rows.Store(0)
			_, err = files.Scan(context.Background(), ingest.ScanOptions{Columns: features.Columns, Hashed: features.HashedColumns},
				func(_ int, batch *ingest.Batch) error { rows.Add(int64(batch.N)); return nil })
			files.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rows.Load())*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
	})
	b.Run("build", func(b *testing.B) {
		var rows int64
		for b.Loop() {
			files, err := ingest.Open([]string{spans})
			if err != nil {
				b.Fatal(err)
			}
			t, err := features.Build(context.Background(), files, features.Options{})
			files.Close()
			if err != nil {
				b.Fatal(err)
			}
			rows = t.Rows
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
	})
	b.Run("digest", func(b *testing.B) {
		files, err := ingest.Open([]string{spans})
		if err != nil {
			b.Fatal(err)
		}
		defer files.Close()
		for b.Loop() {
			if _, err := files.RowGroupDigests(context.Background(), files.RowGroups(), features.Columns, 1); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(files.Rows)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
	})
	for _, c := range []struct {
		name     string
		noModels bool
	}{{"features", true}, {"models", false}} {
		b.Run(c.name, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "analysis")
			var rows int64
			b.ReportAllocs()
			for b.Loop() {
				sum, err := Run(context.Background(), []string{spans}, out, Options{NoModels: c.noModels})
				if err != nil {
					b.Fatal(err)
				}
				rows = sum.Rows
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}
