package ingest

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// aggRow holds the columns features.Build reads, for the row-struct side
// of BenchmarkReadPaths.
type aggRow struct {
	TraceID        string `parquet:"trace_id"`
	SpanID         string `parquet:"span_id"`
	ParentSpanID   string `parquet:"parent_span_id"`
	Caller         string `parquet:"caller"`
	Callee         string `parquet:"callee"`
	Operation      string `parquet:"operation"`
	Depth          int32  `parquet:"depth"`
	StartUnixNano  int64  `parquet:"start_unix_nano"`
	DurationNano   int64  `parquet:"duration_nano"`
	StatusCode     int32  `parquet:"status_code"`
	Error          bool   `parquet:"error"`
	RetryCount     int32  `parquet:"retry_count"`
	TimedOut       bool   `parquet:"timed_out"`
	CircuitOpen    bool   `parquet:"circuit_open"`
	Fallback       bool   `parquet:"fallback"`
	Injected       bool   `parquet:"injected"`
	FaultType      string `parquet:"fault_type"`
	FaultProfileID string `parquet:"fault_profile_id"`
}

// BenchmarkReadPaths compares the two ways of reading the columns analyze
// needs, one core each, in the same run: Scan (column pages decoded into
// typed batches, strings as dictionary indexes) and parquet-go's
// GenericReader into row structs. docs/dependencies.md quotes the ratio.
func BenchmarkReadPaths(b *testing.B) {
	n := 400_000
	path := filepath.Join(b.TempDir(), "spans.parquet")
	if err := WriteFile(path, randomSpans(rand.New(rand.NewPCG(1, 2)), n)); err != nil {
		b.Fatal(err)
	}
	cols := []Column{ColTraceID, ColSpanID, ColParentSpanID, ColCaller, ColCallee, ColOperation, ColDepth,
		ColStartUnixNano, ColDurationNano, ColStatusCode, ColError, ColRetryCount, ColTimedOut,
		ColCircuitOpen, ColFallback, ColInjected, ColFaultType, ColFaultProfileID}
	b.Run("scan", func(b *testing.B) {
		var rows int64
		for b.Loop() {
			of, err := Open([]string{path})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := of.Scan(context.Background(), ScanOptions{Columns: cols, Workers: 1}, func(_ int, bt *Batch) error {
				rows += int64(bt.N)
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			of.Close()
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("rows", func(b *testing.B) {
		var rows int64
		buf := make([]aggRow, 4096)
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			r := parquet.NewGenericReader[aggRow](f)
			for {
				k, err := r.Read(buf)
				rows += int64(k)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			r.Close()
			f.Close()
		}
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	})
}
