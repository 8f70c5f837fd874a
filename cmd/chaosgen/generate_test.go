package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/profilegen"
	"github.com/parquet-go/parquet-go"
)

// goldenGenerate compares got with testdata/generate/name.
func goldenGenerate(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join(testdataDir, "generate", name), got)
}

// writeTestAnalysis writes a small analysis directory: a root edge, a
// critical gRPC edge with an errors finding and an HTTP edge with a
// latency finding, and windows in which the latency profile was injected
// without harm.
func writeTestAnalysis(t *testing.T, dir string) {
	t.Helper()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	sum := struct {
		analysis.Summary
		Findings []analysis.Finding `json:"findings"`
	}{
		Summary: analysis.Summary{
			Schema: "chaosgen.analysis/v1", Window: "1m0s",
			Inputs: []analysis.Input{{Path: "spans.parquet", SHA256: strings.Repeat("cd", 32), Rows: 5000}},
			TimeRange: analysis.TimeRange{StartUnixNano: start.UnixNano(), EndUnixNano: start.Add(time.Hour).UnixNano(),
				Start: start.Format(time.RFC3339), End: start.Add(time.Hour).Format(time.RFC3339)},
		},
		Findings: []analysis.Finding{
			{Caller: "checkout", Callee: "payment", Kind: analysis.KindErrors, Score: 0.9, Evidence: map[string]float64{"error_rate": 0.2}, Explanation: "payment failed."},
			{Caller: "frontend", Callee: "cart", Kind: analysis.KindLatency, Score: 0.7, Evidence: map[string]float64{"p99_ms": 90}, Explanation: "cart slowed down."},
			{Caller: "frontend", Callee: "cart", Kind: analysis.KindAnomaly, Score: 0.1, Explanation: "cart was odd."},
		},
	}
	data, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	edges := []analysis.EdgeRow{
		{Caller: "", Callee: "frontend", Criticality: 1, PeakCallsPerS: 20, CallStats: analysis.CallStats{Calls: 10000, Errors: 50, ErrorRate: 0.005, P50Ms: 30, P90Ms: 60, P99Ms: 120}},
		{Caller: "frontend", Callee: "cart", Criticality: 0.4, PeakCallsPerS: 15, Protocol: "http", CallStats: analysis.CallStats{Calls: 8000, P50Ms: 5, P90Ms: 12, P99Ms: 45}},
		{Caller: "frontend", Callee: "checkout", Criticality: 0.7, PeakCallsPerS: 10, Protocol: "http", CallStats: analysis.CallStats{Calls: 6000, P50Ms: 9, P90Ms: 20, P99Ms: 60}},
		{Caller: "checkout", Callee: "payment", Criticality: 0.7, PeakCallsPerS: 300, Protocol: "grpc", ErrorCodes: "14:50,13:10", CallStats: analysis.CallStats{Calls: 6000, Errors: 60, ErrorRate: 0.01, P50Ms: 4, P90Ms: 8, P99Ms: 20}},
	}
	var windows []analysis.WindowRow
	var outcomes []analysis.OutcomeRow // 8 traces a window injected into on frontend->cart, none failing
	for _, e := range edges {
		for i := range 10 {
			w := analysis.WindowRow{Caller: e.Caller, Callee: e.Callee, WindowStartUnixNano: start.Add(time.Duration(i) * time.Minute).UnixNano(), CallStats: analysis.CallStats{Calls: 100, P99Ms: e.P99Ms}}
			if e.Callee == "cart" && i < 5 {
				w.InjectedLatency = 8
				outcomes = append(outcomes, analysis.OutcomeRow{Caller: e.Caller, Callee: e.Callee, FaultProfileID: "latency-frontend-cart",
					WindowStartUnixNano: w.WindowStartUnixNano, Traces: 8, Judged: 8, Calls: 8})
			}
			if e.Callee == "cart" {
				outcomes = append(outcomes, analysis.OutcomeRow{Caller: e.Caller, Callee: e.Callee,
					WindowStartUnixNano: w.WindowStartUnixNano, Traces: 92, Judged: 92, Calls: 92})
			}
			windows = append(windows, w)
		}
	}
	if err := parquet.WriteFile(filepath.Join(dir, analysis.OutcomesFile), outcomes); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(filepath.Join(dir, "edges.parquet"), edges); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(filepath.Join(dir, "windows.parquet"), windows); err != nil {
		t.Fatal(err)
	}
}

// streams formats a CLI run for a golden file.
func streams(args []string, stdout, stderr string) []byte {
	return []byte("$ chaosgen " + strings.Join(args, " ") + "\n-- stdout --\n" + stdout + "-- stderr --\n" + stderr)
}

func TestGenerateCLI(t *testing.T) {
	dir := t.TempDir()
	writeTestAnalysis(t, filepath.Join(dir, "an"))
	writeTestKey(t, dir, "alice", 1)

	// The default expiry: a week after the end of the analysed data.
	if code, _, stderr := runBundleCLI(t, dir, "generate", "an", "-o", "out/default.json"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	def, _ := os.ReadFile(filepath.Join(dir, "out/default.json"))
	if !strings.Contains(string(def), `"notAfter": "2026-03-08T01:00:00Z"`) {
		t.Errorf("default expiry: want the data's end (2026-03-01T01:00Z) + 7 days:\n%.600s", def)
	}

	// Unsigned: a warning; the bundle decodes and validates.
	args := []string{"generate", "an", "-o", "out/nightly.json", "--not-after", "never"}
	code, stdout, stderr := runBundleCLI(t, dir, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	goldenGenerate(t, "unsigned.golden", streams(args, stdout, stderr))
	data, err := os.ReadFile(filepath.Join(dir, "out/nightly.json"))
	if err != nil {
		t.Fatal(err)
	}
	goldenGenerate(t, "nightly.json", data)
	b, err := bundle.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if b.Metadata.Name != "nightly" || !b.Metadata.NotAfter.IsZero() {
		t.Errorf("metadata %+v", b.Metadata)
	}
	if _, err := os.Stat(filepath.Join(dir, "out/nightly.json.sig")); !os.IsNotExist(err) {
		t.Error("an unsigned run wrote a signature")
	}

	// Signed: the same bytes, and a signature that verify accepts.
	args = []string{"generate", "an", "-o", "out/nightly.json", "--not-after", "never", "--key", "alice"}
	code, stdout, stderr = runBundleCLI(t, dir, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	goldenGenerate(t, "signed.golden", streams(args, stdout, stderr))
	again, _ := os.ReadFile(filepath.Join(dir, "out/nightly.json"))
	if string(again) != string(data) {
		t.Error("a second run changed the bundle bytes")
	}
	v, err := bundle.LoadPublicKey(filepath.Join(dir, "alice.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := bundle.VerifyFile(filepath.Join(dir, "out/nightly.json"), "", v, time.Now()); err != nil {
		t.Errorf("the signed bundle does not verify: %v", err)
	}
	code, _, stderr = runBundleCLI(t, dir, "verify", "out/nightly.json", "--pub", "alice.pub")
	if code != 0 {
		t.Errorf("verify: exit %d: %s", code, stderr)
	}
	sig1, _ := os.ReadFile(filepath.Join(dir, "out/nightly.json.sig"))
	runBundleCLI(t, dir, args...)
	if sig2, _ := os.ReadFile(filepath.Join(dir, "out/nightly.json.sig")); string(sig2) != string(sig1) {
		t.Error("re-signing an unchanged bundle changed the signature")
	}

	// Unsigned over the signed bundle: refused before anything is written,
	// then with --force the stale signature is removed, with a warning.
	signed, _ := os.ReadFile(filepath.Join(dir, "out/nightly.json"))
	code, _, stderr = runBundleCLI(t, dir, "generate", "an", "-o", "out/nightly.json", "--max-rate", "0.05")
	if code != 2 || !strings.Contains(stderr, "out/nightly.json is signed (out/nightly.json.sig)") || !strings.Contains(stderr, "--force") {
		t.Errorf("unsigned over signed: exit %d, stderr %q", code, stderr)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, "out/nightly.json")); string(now) != string(signed) {
		t.Error("the refused run changed the signed bundle")
	}
	if sig, _ := os.ReadFile(filepath.Join(dir, "out/nightly.json.sig")); string(sig) != string(sig1) {
		t.Error("the refused run changed the signature")
	}
	code, _, stderr = runBundleCLI(t, dir, "generate", "an", "-o", "out/nightly.json", "--max-rate", "0.05", "--force")
	if code != 0 || !strings.Contains(stderr, "removed out/nightly.json.sig") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "out/nightly.json.sig")); !os.IsNotExist(err) {
		t.Error("stale signature kept")
	}
}

// TestGenerateCLIJSON checks that --json prints what was written, as the
// table does: the digest, the signature and every profile.
func TestGenerateCLIJSON(t *testing.T) {
	dir := t.TempDir()
	writeTestAnalysis(t, filepath.Join(dir, "an"))
	writeTestKey(t, dir, "ci", 1)
	code, stdout, stderr := runBundleCLI(t, dir, "generate", "an", "-o", "b.json", "--key", "ci", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var r profilegen.JSONReport
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, stdout)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "b.json"))
	b, err := bundle.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Output != "b.json" || r.Digest != "sha256:"+bundle.Digest(data) || r.Signature != "b.json.sig" || r.Findings != 3 || len(r.Profiles) != len(b.Profiles) || len(b.Profiles) == 0 {
		t.Errorf("report %+v does not match the bundle written (%d profiles)", r, len(b.Profiles))
	}
}

func TestGenerateCLIFeedback(t *testing.T) {
	dir := t.TempDir()
	writeTestAnalysis(t, filepath.Join(dir, "an"))
	if code, _, stderr := runBundleCLI(t, dir, "generate", "an", "-o", "day1.json"); code != 0 {
		t.Fatalf("day 1: %s", stderr)
	}
	args := []string{"generate", "an", "-o", "day2.json", "--previous", "day1.json", "--not-after", "2030-01-01T00:00:00Z"}
	code, stdout, stderr := runBundleCLI(t, dir, args...)
	if code != 0 {
		t.Fatalf("day 2: exit %d: %s", code, stderr)
	}
	stdout = regexpDigest.ReplaceAllString(stdout, "sha256:…")
	goldenGenerate(t, "feedback.golden", streams(args, stdout, stderr))
	data, _ := os.ReadFile(filepath.Join(dir, "day2.json"))
	b, err := bundle.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range b.Profiles {
		// The latency profile was injected 40 times without harm: ×1.5.
		if p.ID == "latency-frontend-cart" && (p.Rate != 0.06 || !strings.Contains(p.Rationale.Summary, "last run handled")) {
			t.Errorf("latency profile after feedback: rate %v, %q", p.Rate, p.Rationale.Summary)
		}
	}
	if b.Metadata.NotAfter != time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("notAfter %v", b.Metadata.NotAfter)
	}
	// The diff between the two days shows the rate change.
	code, stdout, stderr = runBundleCLI(t, dir, "diff", "day1.json", "day2.json")
	if code != 0 || !strings.Contains(stdout, "rate: 4% → 6% (+2 pt, ×1.5)") {
		t.Errorf("diff: exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestGenerateCLIErrors(t *testing.T) {
	dir := t.TempDir()
	writeTestAnalysis(t, filepath.Join(dir, "an"))
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"apiVersion": "chaosgen/v1"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "open.key"), []byte("x"), 0o644)
	var all strings.Builder
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"generate", "an"}, 2},
		{[]string{"generate"}, 2},
		{[]string{"generate", "an", "-o", "b.json", "--max-rate", "0"}, 2},
		{[]string{"generate", "an", "-o", "b.json", "--min-score", "1.5"}, 2},
		{[]string{"generate", "an", "-o", "b.json", "--include", "payment"}, 2},
		{[]string{"generate", "an", "-o", "b.json", "--not-after", "soon"}, 2},
		{[]string{"generate", "an", "-o", "b.json", "--not-after", "2001-01-01T00:00:00Z"}, 2},
		{[]string{"generate", "missing", "-o", "b.json"}, 1},
		{[]string{"generate", "an", "-o", "b.json", "--previous", "bad.json"}, 3},
		{[]string{"generate", "an", "-o", "first.json", "--previous", "first-night.json"}, 0},
		{[]string{"generate", "an", "-o", "b.json", "--key", "open.key"}, 1},
	} {
		code, stdout, stderr := runBundleCLI(t, dir, tc.args...)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (%s)", tc.args, code, tc.code, stderr)
		}
		all.Write(streams(tc.args, stdout, stderr))
	}
	goldenGenerate(t, "errors.golden", []byte(all.String()))
	if _, err := os.Stat(filepath.Join(dir, "b.json")); !os.IsNotExist(err) {
		t.Error("a failed generate wrote its output")
	}
}

// TestGenerateNoModels: generate from an analysis written with --no-models
// says why there are no profiles.
func TestGenerateNoModels(t *testing.T) {
	spans, err := filepath.Abs(filepath.Join("..", "..", "analysis", "testdata", "synth-seed7.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	if code, _, stderr := runCLI("analyze", spans, "-o", "an", "--no-models"); code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, stderr)
	}
	code, _, stderr := runCLI("generate", "an", "-o", "bundle.json")
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "an was analysed with --no-models, so it has no findings") {
		t.Errorf("generate does not say that the analysis ran without models:\n%s", stderr)
	}
}
