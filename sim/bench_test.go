package sim

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/synth"
)

var benchFile = flag.String("sim.bench", "", "span file for BenchmarkReplay (\"10M\": the lead's cached 10M-span synth file, generated when missing)")

// benchSpans returns the benchmark's input: a small synth file by default.
func benchSpans(b *testing.B) string {
	b.Helper()
	switch *benchFile {
	case "":
		return synthFile(b, synth.Options{Days: 0.05, RPS: 10.5, Services: 30, Seed: 1})
	case "10M":
		home, _ := os.UserHomeDir()
		p := filepath.Join(home, ".cache", "chaosgen-bench", "spans-10M-seed1.parquet")
		if _, err := os.Stat(p); err != nil {
			if _, err := synth.Generate(context.Background(), p, synth.Options{Days: 1, RPS: 10.5, Services: 30, Seed: 1}); err != nil {
				b.Fatal(err)
			}
		}
		return p
	}
	return *benchFile
}

// BenchmarkReplay replays a synth file through a mesh with every policy on
// (no output spans kept) and reports simulated calls per second and the
// peak live heap.
func BenchmarkReplay(b *testing.B) {
	path := benchSpans(b)
	mesh, err := ParseMesh([]byte(`
defaults:
  timeout: 2s
  retries: {attempts: 2, perTryTimeout: 500ms, budget: {percent: 20, minConcurrency: 3}}
  circuitBreaker: {consecutiveErrors: 5, openTime: 10s}
  fallback: {latency: 1ms, success: true}
  capacity: {concurrency: 64, queueLength: 256}
`))
	if err != nil {
		b.Fatal(err)
	}
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	runtime.GC()
	var calls int64
	b.ReportAllocs()
	for b.Loop() {
		res, err := Run(context.Background(), []string{path}, Options{Mesh: mesh, Seed: 1})
		if err != nil {
			b.Fatal(err)
		}
		calls += res.Tries
	}
	close(stop)
	wg.Wait()
	b.ReportMetric(float64(calls)/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
}
