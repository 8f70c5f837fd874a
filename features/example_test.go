package features_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/ingest"
)

// Build aggregates spans into one row per caller→callee edge (and one per
// edge and window): here two minutes of frontend calling cart, one call in
// four failing with 503 in the second minute.
func ExampleBuild() {
	dir, _ := os.MkdirTemp("", "features-example")
	defer os.RemoveAll(dir)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var spans []ingest.Span
	for i := range 8 {
		s := ingest.Span{TraceID: fmt.Sprintf("t%d", i), SpanID: fmt.Sprintf("s%d", i), Caller: "frontend", Callee: "cart",
			Operation: "GET /cart", Depth: 1, StartUnixNano: start.Add(time.Duration(i) * 15 * time.Second).UnixNano(),
			DurationNano: int64(10+i) * int64(time.Millisecond), StatusCode: 200}
		if i == 6 || i == 7 {
			s.StatusCode, s.Error = 503, true
		}
		spans = append(spans, s)
	}
	path := filepath.Join(dir, "spans.parquet")
	if err := ingest.WriteFile(path, spans); err != nil {
		fmt.Println(err)
		return
	}
	files, err := ingest.Open([]string{path})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer files.Close()
	t, err := features.Build(context.Background(), files, features.Options{Window: time.Minute, Workers: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, e := range t.Edges {
		fmt.Printf("%s->%s: %d calls, error rate %.2f, codes %v\n", e.Caller, e.Callee, e.Calls, e.ErrorRate, e.ErrorCodes)
		for _, w := range t.EdgeWindows(i) {
			fmt.Printf("  %s: %d calls, %d errors\n", time.Unix(0, w.StartUnixNano).UTC().Format("15:04"), w.Calls, w.Errors)
		}
	}
	// Output:
	// frontend->cart: 8 calls, error rate 0.25, codes [{503 2}]
	//   12:00: 4 calls, 0 errors
	//   12:01: 4 calls, 2 errors
}
