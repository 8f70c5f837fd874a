package importer

import (
	"os"
	"path/filepath"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// benchTraces is 50,000 traces of 4 spans: 200,000 spans.
const benchTraces = 50_000

func BenchmarkImport(b *testing.B) {
	td := genTraces(benchTraces, 42)
	dir := b.TempDir()
	pb, err := proto.Marshal(td)
	if err != nil {
		b.Fatal(err)
	}
	// The file exporter's JSON: one line per batch of 2,000 spans of a service.
	var lines []byte
	const batch = 2000
	for _, rs := range td.ResourceSpans {
		all := rs.ScopeSpans[0].Spans
		for i := 0; i < len(all); i += batch {
			part := proto.Clone(rs).(*tracepb.ResourceSpans)
			part.ScopeSpans[0].Spans = all[i:min(i+batch, len(all))]
			lines = append(append(lines, otlpJSONLine(b, &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{part}})...), '\n')
		}
	}
	inputs := []struct {
		name string
		data []byte
	}{{"otlp-proto", pb}, {"otlp-json", lines}}
	spans := float64(4 * benchTraces)
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			path := filepath.Join(dir, in.name)
			if err := os.WriteFile(path, in.data, 0o644); err != nil {
				b.Fatal(err)
			}
			out := filepath.Join(dir, in.name+".parquet")
			b.SetBytes(int64(len(in.data)))
			b.ReportAllocs()
			for b.Loop() {
				rep, err := Import(out, []string{path}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if rep.Calls != 3*benchTraces {
					b.Fatalf("%d calls, want %d", rep.Calls, 3*benchTraces)
				}
			}
			b.ReportMetric(spans*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}
