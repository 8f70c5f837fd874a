package analysis

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/klauspost/compress/zstd"
)

var (
	benchShards = flag.Int("shards", 2, "partials BenchmarkMerge merges")
	benchParts  = flag.String("parts", "", "directory of BenchmarkMerge's partials, reused when they are there (default: written to a temporary directory)")
	benchWhole  = flag.Bool("overlap", false, "BenchmarkMerge's partials each read the whole span file, through links of their own, instead of a shard of it: every partial holds every window, as when a day is written as several files that each span it")
)

// cpuTime is the user and system CPU time of the process so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loopCPU runs f in b.Loop and reports the CPU time per iteration
// (cpu-ns/op): on a machine shared with other work, wall time says little.
func loopCPU(b *testing.B, f func()) {
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkMerge writes -shards partials of the benchmark's span file once
// (-spans, as BenchmarkAnalyze) and times what the merge job does with
// them (-parts: reuse them across runs; -overlap: partials that each hold
// every window, which the decode merges window by window): "decode" reads, checks and merges the partials' accumulators;
// "table" adds the feature table (windows/s: its edge- and service-windows,
// decoding included); "models" the model stage on that table
// (runModelStage); "outputs" writes the files from its results; "merge" and "merge-no-models" are the whole of
// `chaosgen merge`, outputs written.
func BenchmarkMerge(b *testing.B) {
	spans := loadBenchSpans(b)
	dir := *benchParts
	if dir == "" {
		dir = b.TempDir()
	}
	var names []string
	var size int64
	for i := range *benchShards {
		name := filepath.Join(dir, fmt.Sprintf("%d-of-%d.part", i, *benchShards))
		in, opt := spans, PartialOptions{Shard: i, Shards: *benchShards}
		if *benchWhole {
			name = filepath.Join(dir, fmt.Sprintf("%d-of-%d-whole.part", i, *benchShards))
			in, opt = filepath.Join(dir, fmt.Sprintf("spans-%d.parquet", i)), PartialOptions{}
			abs, err := filepath.Abs(spans)
			if err != nil {
				b.Fatal(err)
			}
			if err := os.Symlink(abs, in); err != nil && !os.IsExist(err) {
				b.Fatal(err)
			}
		}
		if _, err := os.Stat(name); err != nil {
			if _, err := RunPartial(context.Background(), []string{in}, name, opt); err != nil {
				b.Fatal(err)
			}
		}
		fi, err := os.Stat(name)
		if err != nil {
			b.Fatal(err)
		}
		names = append(names, name)
		size += fi.Size()
	}
	b.Logf("%d partials, %d bytes", len(names), size)
	store := objstore.New(context.Background())
	defer store.Close()
	decode := func(b *testing.B) *partial {
		parts := make([]*partial, len(names))
		for i, n := range names {
			p, err := readPartial(store, n)
			if err != nil {
				b.Fatal(err)
			}
			parts[i] = p
		}
		m, err := mergePartials(parts)
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	b.Run("bodies", func(b *testing.B) {
		// the accumulators' decoding and merging alone, as the merge
		// decodes them: the partials read and decompressed once, outside
		// the loop
		zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			b.Fatal(err)
		}
		defer zr.Close()
		var parts []*partial
		var mains, interiors [][]byte
		for _, n := range names {
			p, err := readPartial(store, n)
			if err != nil {
				b.Fatal(err)
			}
			main, err := zr.DecodeAll(p.body[:p.head.MainBytes], nil)
			if err != nil {
				b.Fatal(err)
			}
			interior, err := zr.DecodeAll(p.body[p.head.MainBytes:], nil)
			if err != nil {
				b.Fatal(err)
			}
			parts, mains, interiors = append(parts, p), append(mains, main), append(interiors, interior)
		}
		loopCPU(b, func() {
			var acc *features.Partial
			for i, main := range mains {
				in := func() ([]byte, error) { return interiors[i], nil }
				var err error
				if acc == nil {
					acc, err = features.DecodePartialParts(main, in, summarise(parts, i))
				} else {
					err = acc.MergeParts(main, in, nil, summarise(parts, i))
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("decode", func(b *testing.B) {
		loopCPU(b, func() { decode(b) })
	})
	b.Run("table", func(b *testing.B) {
		var rows int
		loopCPU(b, func() {
			t := decode(b).acc.Table()
			rows = len(t.Windows) + len(t.Services)
		})
		// the edge- and service-windows summarised (decoding included)
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "windows/s")
	})
	b.Run("models", func(b *testing.B) {
		t := decode(b).acc.Table()
		loopCPU(b, func() {
			if _, err := runModelStage(t, ModelOptions{}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("outputs", func(b *testing.B) {
		// the analysis directory's files written from the models' results
		// (one worker, as a merge at one core writes them)
		p := decode(b)
		inputs, rows, err := p.inputs()
		if err != nil {
			b.Fatal(err)
		}
		t := p.acc.Table()
		mr, err := runModelStage(t, ModelOptions{})
		if err != nil {
			b.Fatal(err)
		}
		files := outputFiles(t, mr, summarize(t, inputs, rows, mr, Options{}), false)
		dir := b.TempDir()
		loopCPU(b, func() {
			if err := writeFiles(dir, files, 1); err != nil {
				b.Fatal(err)
			}
		})
	})
	for _, c := range []struct {
		name     string
		noModels bool
	}{{"merge-no-models", true}, {"merge", false}} {
		b.Run(c.name, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "analysis")
			loopCPU(b, func() {
				if _, err := Merge(context.Background(), names, out, Options{NoModels: c.noModels, Force: true}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
