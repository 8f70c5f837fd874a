package profilegen

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/parquet-go/parquet-go"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// testEdges is a small mesh: the ingress calls frontend, which calls
// checkout (critical, HTTP), search (timeouts) and recs; checkout calls
// payment (critical, gRPC, busy); search calls db.
func testEdges() []analysis.EdgeRow {
	return []analysis.EdgeRow{
		{Caller: "", Callee: "frontend", Criticality: 1, PeakCallsPerS: 50, Protocol: "http", ErrorCodes: "500:1000", CallStats: analysis.CallStats{Calls: 100000, Errors: 1000, ErrorRate: 0.01, P50Ms: 20, P90Ms: 40, P99Ms: 80}},
		{Caller: "frontend", Callee: "checkout", Criticality: 0.6, PeakCallsPerS: 30, Protocol: "http", ErrorCodes: "503:40,500:10", CallStats: analysis.CallStats{Calls: 60000, Errors: 50, ErrorRate: 50.0 / 60000, P50Ms: 8, P90Ms: 15, P99Ms: 40}},
		{Caller: "checkout", Callee: "payment", Criticality: 0.6, PeakCallsPerS: 400, Protocol: "grpc", ErrorCodes: "14:30,4:5", CallStats: analysis.CallStats{Calls: 60000, Errors: 35, ErrorRate: 35.0 / 60000, P50Ms: 5, P90Ms: 9, P99Ms: 30}},
		{Caller: "frontend", Callee: "search", Criticality: 0.3, PeakCallsPerS: 20, Protocol: "http", ErrorCodes: "504:80,500:20", CallStats: analysis.CallStats{Calls: 30000, Errors: 100, Timeouts: 80, ErrorRate: 100.0 / 30000, P50Ms: 12, P90Ms: 30, P99Ms: 90}},
		{Caller: "search", Callee: "db", Criticality: 0.3, PeakCallsPerS: 20, CallStats: analysis.CallStats{Calls: 30000, P50Ms: 3, P90Ms: 6, P99Ms: 12}},
		{Caller: "frontend", Callee: "recs", Criticality: 0.2, PeakCallsPerS: 10, Protocol: "http", ErrorCodes: "502:10", AnomalyScore: 0.71, CallStats: analysis.CallStats{Calls: 20000, Errors: 10, ErrorRate: 0.0005, P50Ms: 10, P90Ms: 20, P99Ms: 50}},
	}
}

func finding(kind, caller, callee string, score float64, ev map[string]float64) analysis.Finding {
	return analysis.Finding{
		Caller: caller, Callee: callee, Kind: kind, Score: score,
		From: "2026-03-01T10:00:00Z", To: "2026-03-01T11:00:00Z",
		FromUnixNano: t0.Add(10 * time.Hour).UnixNano(), ToUnixNano: t0.Add(11 * time.Hour).UnixNano(),
		Evidence: ev, Explanation: callee + " did something.",
	}
}

func testFindings() []analysis.Finding {
	return []analysis.Finding{
		finding(analysis.KindLatency, "frontend", "checkout", 0.8, map[string]float64{"p99_ms": 120, "baseline_p99_ms": 40, "latency_ratio": 2}),
		finding(analysis.KindLatency, "frontend", "checkout", 0.55, map[string]float64{"p99_ms": 90, "baseline_p99_ms": 40, "latency_ratio": 1.6}), // a second episode
		finding(analysis.KindErrors, "checkout", "payment", 0.9, map[string]float64{"error_rate": 0.3, "baseline_error_rate": 0.001, "top_status": 14}),
		finding(analysis.KindErrors, "frontend", "search", 0.6, map[string]float64{"error_rate": 0.2, "timeouts": 80}),
		finding(analysis.KindCapacity, "search", "db", 0.7, map[string]float64{"latency_ratio": 3.14159, "knee_calls_per_window": 900}),
		finding(analysis.KindAnomaly, "frontend", "recs", 0.65, map[string]float64{"anomaly_score": 0.8, "p99_z": 1.5, "errors_z": 4.2, "dominant_errors_z": 4.2}),
		finding(analysis.KindAnomaly, "frontend", "search", 0.2, map[string]float64{"anomaly_score": 0.6, "p99_z": 3}), // below the default test min score
		finding(analysis.KindErrors, "ghost", "payment", 0.9, nil),                                                     // no such edge
	}
}

func testSummary() analysis.Summary {
	return analysis.Summary{
		Schema: "chaosgen.analysis/v1", Window: "1m0s",
		Inputs: []analysis.Input{{Path: "traces/day.parquet", SHA256: "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12", Rows: 300000, Bytes: 1 << 20}},
		TimeRange: analysis.TimeRange{
			Start: t0.Format(time.RFC3339Nano), End: t0.Add(24 * time.Hour).Format(time.RFC3339Nano),
			StartUnixNano: t0.UnixNano(), EndUnixNano: t0.Add(24 * time.Hour).UnixNano(),
		},
	}
}

func testAnalysis() *Analysis {
	return &Analysis{Summary: testSummary(), Findings: testFindings(), Edges: testEdges()}
}

func testOptions() Options { return Options{Name: "shop-nightly", MinScore: 0.3, Seed: 7} }

func mustGenerate(t *testing.T, a *Analysis, opt Options) *Result {
	t.Helper()
	res, err := Generate(a, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustEncode(t *testing.T, b *bundle.Bundle) []byte {
	t.Helper()
	data, err := bundle.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// writeAnalysisDir writes a as an analysis directory, as analyze does.
func writeAnalysisDir(t *testing.T, a *Analysis) string {
	t.Helper()
	dir := t.TempDir()
	sum := a.Summary
	sum.Findings = a.Findings
	data, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, analysis.SummaryFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(filepath.Join(dir, analysis.EdgesFile), a.Edges); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(filepath.Join(dir, analysis.WindowsFile), a.Windows); err != nil {
		t.Fatal(err)
	}
	return dir
}

func profileByID(t *testing.T, b *bundle.Bundle, id string) *bundle.Profile {
	t.Helper()
	for i := range b.Profiles {
		if b.Profiles[i].ID == id {
			return &b.Profiles[i]
		}
	}
	var ids []string
	for _, p := range b.Profiles {
		ids = append(ids, p.ID)
	}
	t.Fatalf("no profile %q; have %v", id, ids)
	return nil
}
