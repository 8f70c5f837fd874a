package ingest_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/chaosgen/chaosgen/internal/s3test"
	"github.com/chaosgen/chaosgen/internal/testserver"
)

var (
	benchObjects = flag.Int("objects", 64, "span objects BenchmarkOpenObjects opens")
	benchLatency = flag.Duration("latency", 20*time.Millisecond, "latency BenchmarkOpenObjects adds to every request to the S3 server")
)

// BenchmarkOpenObjects opens -objects span files in a real S3-compatible
// server (versitygw) behind a proxy that adds -latency to every request,
// as a bucket in a cloud region does: one at a time, and as OpenWith does
// (OpenConcurrency at once). Each open is a metadata request and a ranged
// read of the footer. objects/s is the figure to compare.
func BenchmarkOpenObjects(b *testing.B) {
	srv := s3test.Start(b)
	srv.MakeBucket(b, "spans")
	file := filepath.Join(b.TempDir(), "spans.parquet")
	spans := make([]ingest.Span, 500)
	for i := range spans {
		spans[i] = ingest.Span{TraceID: fmt.Sprint("t", i/5), SpanID: fmt.Sprint("s", i), Caller: "a", Callee: "b", Operation: "op",
			StartUnixNano: 1_767_571_200_000_000_000 + int64(i)*1e6, DurationNano: 1e6}
	}
	if err := ingest.WriteFile(file, spans); err != nil {
		b.Fatal(err)
	}
	slow := *srv
	slow.Endpoint = "http://" + testserver.DelayProxy(b, srv.Endpoint[len("http://"):], *benchLatency)
	var names []string
	for i := range *benchObjects {
		key := fmt.Sprintf("day/part-%04d.parquet", i)
		srv.Put(b, "spans", key, file)
		names = append(names, slow.URL("spans", key))
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"one-at-a-time", 1}, {"concurrent", ingest.OpenConcurrency}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				store := objstore.New(context.Background())
				of, err := ingest.OpenAll(names, func(name string) (ingest.Input, error) { return store.Open(name) }, c.n)
				if err != nil {
					b.Fatal(err)
				}
				of.Close()
				store.Close()
			}
			b.ReportMetric(float64(len(names))*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}

// BenchmarkScanObjects scans -objects/8 span files of 200,000 spans in
// row groups of 50,000 from a real S3-compatible server (versitygw)
// behind a proxy that adds -latency to every request, reading the
// columns analyze reads: with each row group's column chunks fetched
// at once (as Scan does from a bucket) and streamed through the decoder's
// buffered reads (as from a local file). spans/s and requests/object are
// the figures to compare; the bytes fetched are the same.
func BenchmarkScanObjects(b *testing.B) {
	srv := s3test.Start(b)
	srv.MakeBucket(b, "spans")
	file := filepath.Join(b.TempDir(), "spans.parquet")
	r := rand.New(rand.NewPCG(1, 2))
	spans := make([]ingest.Span, 200_000)
	svcs := []string{"frontend", "cart", "checkout", "payment", "db"}
	for i := range spans {
		spans[i] = ingest.Span{TraceID: fmt.Sprintf("%032x", i/8), SpanID: fmt.Sprintf("%016x", r.Uint64()), ParentSpanID: fmt.Sprintf("%016x", r.Uint64()),
			Caller: svcs[r.IntN(5)], Callee: svcs[r.IntN(5)], Operation: "op", Depth: int32(r.IntN(4)),
			StartUnixNano: 1_767_571_200_000_000_000 + int64(i)*1e6, DurationNano: r.Int64N(1e8), StatusCode: 200}
	}
	w, err := ingest.Create(file, ingest.WriterOptions{RowGroupRows: 50_000})
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Write(spans); err != nil {
		b.Fatal(err)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	slow := *srv
	slow.Endpoint = "http://" + testserver.DelayProxy(b, srv.Endpoint[len("http://"):], *benchLatency)
	var names []string
	for i := range max(1, *benchObjects/8) {
		key := fmt.Sprintf("day/part-%04d.parquet", i)
		srv.Put(b, "spans", key, file)
		names = append(names, slow.URL("spans", key))
	}
	var cols []ingest.Column
	for c := range ingest.Column(ingest.ColFaultProfileID + 1) {
		if c.Kind() != ingest.KindStringList {
			cols = append(cols, c)
		}
	}
	for _, c := range []struct {
		name     string
		prefetch bool
	}{{"streamed", false}, {"prefetched", true}} {
		b.Run(c.name, func(b *testing.B) {
			ingest.SetPrefetch(c.prefetch)
			defer ingest.SetPrefetch(true)
			var requests, fetched int64
			for b.Loop() {
				store := objstore.New(context.Background())
				of, err := ingest.OpenWith(names, func(name string) (ingest.Input, error) { return store.Open(name) })
				if err != nil {
					b.Fatal(err)
				}
				if _, err := of.Scan(context.Background(), ingest.ScanOptions{Columns: cols}, func(int, *ingest.Batch) error { return nil }); err != nil {
					b.Fatal(err)
				}
				requests, fetched = 0, 0
				for _, s := range store.Stats() {
					requests += s.Requests
					fetched += s.Fetched
				}
				of.Close()
				store.Close()
			}
			b.ReportMetric(float64(len(names)*len(spans))*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
			b.ReportMetric(float64(requests)/float64(len(names)), "requests/object")
			b.ReportMetric(float64(fetched)/float64(len(names)), "bytes/object")
		})
	}
}
