package profilegen_test

import (
	"fmt"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/profilegen"
)

// Generate turns an analysis's findings into profiles: here one errors
// finding on checkout→payment, a gRPC edge that fails with UNAVAILABLE,
// becomes an abort profile with that status, sized by the finding's score
// and the edge's criticality; a critical edge with a finding also gets a
// rarer corrupt profile.
func ExampleGenerate() {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a := &profilegen.Analysis{
		Summary: analysis.Summary{Window: "1m0s", TimeRange: analysis.TimeRange{
			StartUnixNano: t0.UnixNano(), EndUnixNano: t0.Add(24 * time.Hour).UnixNano()}},
		Edges: []analysis.EdgeRow{
			{Caller: "", Callee: "checkout", Criticality: 1, PeakCallsPerS: 30, Protocol: "http", ErrorCodes: "500:60", CallStats: analysis.CallStats{Calls: 60000, Errors: 60, ErrorRate: 0.001, P50Ms: 20, P90Ms: 40, P99Ms: 90}},
			{Caller: "checkout", Callee: "payment", Criticality: 0.6, PeakCallsPerS: 40, Protocol: "grpc", ErrorCodes: "14:30,4:5", CallStats: analysis.CallStats{Calls: 60000, Errors: 35, ErrorRate: 35.0 / 60000, P50Ms: 5, P90Ms: 9, P99Ms: 30}},
		},
		Findings: []analysis.Finding{{Caller: "checkout", Callee: "payment", Kind: analysis.KindErrors, Score: 0.9,
			FromUnixNano: t0.Add(10 * time.Hour).UnixNano(), ToUnixNano: t0.Add(11 * time.Hour).UnixNano(),
			Evidence: map[string]float64{"error_rate": 0.3, "baseline_error_rate": 0.001, "top_status": 14}}},
	}
	res, err := profilegen.Generate(a, profilegen.Options{Name: "shop", MinScore: 0.5, Seed: 7, Expiry: profilegen.DefaultExpiry})
	if err != nil {
		fmt.Println(err)
		return
	}
	b := res.Bundle
	fmt.Println("expires", b.Metadata.NotAfter.Format(time.RFC3339))
	for _, p := range b.Profiles {
		fmt.Printf("%s: %s on %s, rate %v (max %v), %s\n", p.ID, bundle.FaultString(p.Fault), bundle.TargetString(p.Target), p.Rate, p.MaxRate, p.Severity)
	}
	// Output:
	// expires 2026-03-09T00:00:00Z
	// corrupt-checkout-payment: corrupt mode=truncate on checkout->payment, rate 0.0007 (max 0.0035), critical
	// errors-checkout-payment: abort grpcStatus=14 on checkout->payment, rate 0.007 (max 0.035), critical
}
