package sim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/sim"
)

// Run replays recorded traces on a virtual clock: here 100 root requests
// to frontend, each calling cart once. With a profile that aborts a
// quarter of the calls to cart (decided by inject.Decide, as in
// production) and the default mesh, which has no retries or fallback, the
// roots fail where their cart call does (23 of the 100 traces here).
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "sim-example")
	defer os.RemoveAll(dir)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	var spans []ingest.Span
	for i := range 100 {
		trace, t := fmt.Sprintf("%032x", i), start+int64(i)*int64(time.Second)
		spans = append(spans,
			ingest.Span{TraceID: trace, SpanID: trace[16:] + "1", Callee: "frontend", Operation: "GET /", StartUnixNano: t,
				DurationNano: int64(30 * time.Millisecond), StatusCode: 200},
			ingest.Span{TraceID: trace, SpanID: trace[16:] + "2", ParentSpanID: trace[16:] + "1", Caller: "frontend", Callee: "cart",
				Operation: "GET /cart", Depth: 1, StartUnixNano: t + int64(5*time.Millisecond), DurationNano: int64(10 * time.Millisecond), StatusCode: 200})
	}
	path := filepath.Join(dir, "spans.parquet")
	if err := ingest.WriteFile(path, spans); err != nil {
		fmt.Println(err)
		return
	}
	b := bundletest.Bundle(bundle.Profile{ID: "cart-abort", Target: bundle.Target{Callee: "cart"}, Rate: 0.25,
		Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}})
	for _, inject := range []bool{false, true} {
		res, err := sim.Run(context.Background(), []string{path}, sim.Options{Bundle: b, Inject: inject, Seed: 1})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("inject %v: %d roots, success rate %.2f; cart-abort fired on %d calls, injected %d\n",
			inject, res.Root.Calls, res.Root.SuccessRate, res.Profiles[0].Fired, res.Profiles[0].Injected)
	}
	// Output:
	// inject false: 100 roots, success rate 1.00; cart-abort fired on 0 calls, injected 0
	// inject true: 100 roots, success rate 0.77; cart-abort fired on 23 calls, injected 23
}
