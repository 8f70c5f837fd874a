package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/evaluate"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/parquet-go/parquet-go"
)

// The evaluate fixture: a small mesh analysed in 1-minute windows from
// 10:00 to 10:12 on 2026-01-05, with four faults planted in its scores
// (see the incidents of testdata/evaluate/truth.json):
//
//   - 10:02:30 payment slow: the service ranking puts payment first; the
//     edge ranking puts the symptom (ingress → frontend) above frontend →
//     payment; the naive ratio finds it.
//   - 10:06:00 db errors: db and cart tie in the service ranking (rank 2,
//     ties count against); window 10:05, which ends at the fault's start,
//     would put frontend ahead too and must not count, nor window 10:09,
//     which starts at start+3m and would put db first.
//   - 10:09:00 db slow for payment: a truth naming the edge payment → db
//     ranks it below cart → db; one naming the service db ranks it first.
//   - 10:10:00 inventory, which no ranking knows: a miss ("-").
//   - 10:30:00 after the data: skipped.
var (
	evalT0    = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	evalEdges = []struct {
		caller, callee string
		p50            float64
	}{{"", "frontend", 20}, {"frontend", "cart", 5}, {"cart", "db", 2}, {"frontend", "payment", 10}, {"payment", "db", 2}}
)

// evalServiceRow is a services.parquet row with an evidence column that
// evaluate must ignore.
type evalServiceRow struct {
	Service             string  `parquet:"service"`
	WindowStartUnixNano int64   `parquet:"window_start_unix_nano"`
	RootCauseScore      float64 `parquet:"root_cause_score"`
	SelfTimeMs          float64 `parquet:"self_time_ms"`
}

// writeEvalFixture writes the fixture analysis to dir; services adds
// services.parquet and suspects to the findings, as analyze writes them
// since issue 12.
func writeEvalFixture(t *testing.T, dir string, services bool) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	minute := func(m int) int64 { return evalT0.Add(time.Duration(m) * time.Minute).UnixNano() }
	type cell struct{ p50, anomaly float64 }
	over := map[[2]int]cell{ // (minute, edge index) -> window values
		{2, 3}: {50, 0.80}, {3, 3}: {50, 0.80}, {2, 0}: {70, 0.85}, {3, 0}: {70, 0.85},
		{6, 2}: {2, 0.90}, {6, 1}: {7.5, 0.50}, {6, 0}: {20, 0.60},
		{9, 4}: {3, 0.60}, {9, 2}: {2.2, 0.70}, {9, 1}: {5, 0.40},
	}
	var edges []analysis.EdgeRow
	var windows []analysis.WindowRow
	for i, e := range evalEdges {
		edges = append(edges, analysis.EdgeRow{Caller: e.caller, Callee: e.callee, Windows: 12, CallStats: analysis.CallStats{Calls: 120, P50Ms: e.p50}})
		for m := range 12 {
			c, ok := over[[2]int{m, i}]
			if !ok {
				c = cell{e.p50, 0.30 + 0.01*float64(i)}
			}
			windows = append(windows, analysis.WindowRow{
				Caller:              e.caller,
				Callee:              e.callee,
				WindowStartUnixNano: minute(m),
				AnomalyScore:        c.anomaly,
				CallStats:           analysis.CallStats{Calls: 10, P50Ms: c.p50},
			})
		}
	}
	writeRows(t, filepath.Join(dir, analysis.EdgesFile), edges)
	writeRows(t, filepath.Join(dir, analysis.WindowsFile), windows)
	if services {
		score := map[[2]any]float64{
			{2, "payment"}: 0.9, {3, "payment"}: 0.9, {2, "frontend"}: 0.5, {3, "frontend"}: 0.5,
			{5, "frontend"}: 0.85, {6, "db"}: 0.7, {6, "cart"}: 0.7, {9, "db"}: 0.95,
		}
		var rows []evalServiceRow
		for m := range 12 {
			for _, s := range []string{"frontend", "cart", "payment", "db"} {
				v, ok := score[[2]any{m, s}]
				if !ok {
					v = 0.1
				}
				rows = append(rows, evalServiceRow{Service: s, WindowStartUnixNano: minute(m), RootCauseScore: v, SelfTimeMs: 1})
			}
		}
		writeRows(t, filepath.Join(dir, "services.parquet"), rows)
	}
	finding := func(caller, callee, kind string, from, to int, score float64, suspects ...any) map[string]any {
		f := map[string]any{"caller": caller, "callee": callee, "kind": kind, "score": score,
			"from_unix_nano": minute(from), "to_unix_nano": minute(to), "evidence": map[string]float64{}, "explanation": kind + " on " + callee}
		if services && len(suspects) > 0 {
			var ss []map[string]any
			for i := 0; i < len(suspects); i += 2 {
				ss = append(ss, map[string]any{"service": suspects[i], "score": suspects[i+1]})
			}
			f["suspects"] = ss
		}
		return f
	}
	sum := map[string]any{"schema": "chaosgen.analysis/v1", "window": "1m0s", "findings": []any{
		finding("frontend", "payment", "latency", 2, 5, 0.8, "payment", 0.9),
		finding("", "frontend", "anomaly", 6, 7, 0.7, "db", 0.9, "cart", 0.7),
		finding("cart", "db", "errors", 20, 21, 0.6),
		finding("frontend", "cart", "anomaly", 9, 10, 0.5, "cart", 0.4),
	}}
	b, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, analysis.SummaryFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeRows[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
}

// writeEvalRecords writes injection records of the fixture's faults in
// two span files under dir, with calls that were not injected between.
func writeEvalRecords(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	at := func(d time.Duration) int64 { return evalT0.Add(d).UnixNano() }
	span := func(caller, callee string, start int64, fault, profile string) ingest.Span {
		s := ingest.Span{TraceID: "t", SpanID: "s", Caller: caller, Callee: callee, Operation: "GET /",
			Depth: 1, StartUnixNano: start, DurationNano: 1e6, StatusCode: 200}
		if fault != "" { // the injection time wins over the call's start
			s.Injected, s.FaultType, s.FaultProfileID, s.InjectedAtUnixNano = true, fault, profile, start
			s.StartUnixNano -= 2e6
		}
		return s
	}
	var a, b []ingest.Span
	// payment slow from 10:02:30 to 10:04:00 every 10 s, and once more at
	// 10:20, more than --after later: a second incident
	for d := 150 * time.Second; d <= 240*time.Second; d += 10 * time.Second {
		a = append(a, span("frontend", "payment", at(d), ingest.FaultLatency, "slow-payment"),
			span("frontend", "cart", at(d+time.Second), "", ""))
	}
	b = append(b, span("frontend", "payment", at(20*time.Minute), ingest.FaultLatency, "slow-payment"),
		span("cart", "db", at(6*time.Minute+20*time.Second), ingest.FaultAbort, "db-fail"),
		span("cart", "db", at(6*time.Minute), ingest.FaultAbort, "db-fail"),
		span("cart", "db", at(6*time.Minute+30*time.Second), ingest.FaultLatency, "db-fail"),
		span("payment", "db", at(9*time.Minute), ingest.FaultLatency, "db-slow"),
		span("frontend", "inventory", at(10*time.Minute), ingest.FaultDrop, "inventory-drop"),
		span("frontend", "cart", at(30*time.Minute), ingest.FaultLatency, "cart-slow"),
		span("frontend", "payment", at(5*time.Minute), "", ""))
	if err := ingest.WriteFile(filepath.Join(dir, "inject-a.parquet"), a); err != nil {
		t.Fatal(err)
	}
	if err := ingest.WriteFile(filepath.Join(dir, "inject-b.parquet"), b); err != nil {
		t.Fatal(err)
	}
}

// copyTestdata copies files from testdata/evaluate into the working
// directory, so paths in the output are relative.
func copyTestdata(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		copyFile(t, filepath.Join(testdataDir, "evaluate", n), n)
	}
}

// TestEvaluateCLI runs chaosgen evaluate on each truth source against the
// fixture analysis, in text and JSON, and checks both streams.
func TestEvaluateCLI(t *testing.T) {
	t.Chdir(t.TempDir())
	writeEvalFixture(t, "analysis", true)
	writeEvalFixture(t, "old", false)
	writeEvalRecords(t, "records")
	copyTestdata(t, "truth.json", "labels.csv", "labels_edges.csv", "labels_slip.csv", "nezha.json")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"synth", []string{"analysis", "--truth", "truth.json"}},
		{"records", []string{"analysis", "--truth", "records"}},
		{"labels", []string{"analysis", "--truth", "labels.csv"}},
		{"labels_edges", []string{"analysis", "--truth", "labels_edges.csv", "--truth-format", "labels"}},
		{"nezha", []string{"analysis", "--truth", "nezha.json", "--truth-format", "nezha"}},
		{"old_dir", []string{"old", "--truth", "labels.csv"}},
		{"after", []string{"analysis", "--truth", "records/inject-*.parquet", "--after", "30s"}},
		{"none_covered", []string{"analysis", "--truth", "labels_slip.csv"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var all strings.Builder
			for _, args := range [][]string{c.args, append(c.args, "--json")} {
				args = append([]string{"evaluate"}, args...)
				code, stdout, stderr := runCLI(args...)
				if code != 0 {
					t.Errorf("%v: exit %d: %s", args, code, stderr)
				}
				all.WriteString("$ chaosgen " + strings.Join(args, " ") + "\n" + stdout + stderr)
				if strings.Contains(strings.Join(args, " "), "--json") {
					var v map[string]any
					if err := json.Unmarshal([]byte(stdout), &v); err != nil {
						t.Errorf("--json output is not JSON: %v", err)
					}
				}
			}
			golden.Check(t, filepath.Join(testdataDir, "evaluate", c.name+".golden"), []byte(all.String()))
		})
	}
}

// TestEvaluateCLIErrors checks usage errors (exit 2) and bad truth files,
// which are named by file, row and field (exit 1).
func TestEvaluateCLIErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	writeEvalFixture(t, "analysis", true)
	bad, err := os.ReadDir(filepath.Join(testdataDir, "evaluate", "bad"))
	if err != nil {
		t.Fatal(err)
	}
	type errCase struct {
		args []string
		code int
	}
	cases := []errCase{
		{[]string{"analysis"}, 2},
		{[]string{"analysis", "--truth", "x.csv", "--truth-format", "yaml"}, 2},
		{[]string{"analysis", "--truth", "x.csv", "--after", "0s"}, 2},
		{[]string{"analysis", "--truth", "missing.csv"}, 1},
		{[]string{"nodir", "--truth", "bad/labels_rows.csv"}, 1},
		{[]string{"analysis", "--truth", "bad/labels_rows.csv", "--truth-format", "nezha"}, 1},
		{[]string{"analysis", "--truth", "bad/nezha.json", "--truth-format", "synth"}, 1},
	}
	for _, e := range bad {
		copyTestdata(t, "bad/"+e.Name())
		cases = append(cases, errCase{[]string{"analysis", "--truth", "bad/" + e.Name()}, 1})
	}
	// injection records without injected rows, and with an injected row
	// that is not a valid call
	if err := os.MkdirAll("bad/records", 0o755); err != nil {
		t.Fatal(err)
	}
	ok := ingest.Span{TraceID: "t", SpanID: "s", Caller: "a", Callee: "b", StartUnixNano: evalT0.UnixNano(), DurationNano: 5}
	if err := ingest.WriteFile("bad/records/none.parquet", []ingest.Span{ok}); err != nil {
		t.Fatal(err)
	}
	inj := ok
	inj.Injected, inj.Callee, inj.FaultType = true, "", ingest.FaultAbort
	if err := ingest.WriteFile("bad/records/empty_callee.parquet", []ingest.Span{ok, ok, inj}); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, errCase{[]string{"analysis", "--truth", "bad/records/none.parquet"}, 1},
		errCase{[]string{"analysis", "--truth", "bad/records"}, 1})

	var all strings.Builder
	for _, c := range cases {
		args := append([]string{"evaluate"}, c.args...)
		code, stdout, stderr := runCLI(args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d", args, code, c.code)
		}
		if stdout != "" {
			t.Errorf("%v: printed to stdout on error: %q", args, stdout)
		}
		all.WriteString("$ chaosgen " + strings.Join(args, " ") + "\n" + stderr)
	}
	golden.Check(t, filepath.Join(testdataDir, "evaluate", "errors.golden"), []byte(all.String()))
}

// TestEvaluateDocs checks that the output shown in docs/evaluate.md is what
// chaosgen evaluate prints: the error example, and the table rows (from the
// fixture run of TestEvaluateCLI's labels case).
func TestEvaluateDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(testdataDir, "..", "..", "..", "docs", "evaluate.md"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	writeEvalFixture(t, "analysis", true)
	os.WriteFile("gameday.csv", []byte("# game day 2026-01-05\nstart,end,service,kind\n2026-01-05 10:06:00,,db,errors\n1767607560,1767607500,db,errors\n"), 0o644)
	_, _, stderr := runCLI("evaluate", "analysis", "--truth", "gameday.csv")
	copyTestdata(t, "labels.csv")
	_, stdout, _ := runCLI("evaluate", "analysis", "--truth", "labels.csv")
	var want []string
	want = append(want, strings.Split(strings.TrimSpace(stderr), "\n")...)
	for _, l := range strings.Split(stdout, "\n") {
		// the doc shows the first two incidents
		if strings.HasPrefix(l, "2026-01-05T10:02") || strings.HasPrefix(l, "2026-01-05T10:06") || strings.HasPrefix(l, "start ") || strings.HasPrefix(l, "ranking ") ||
			strings.HasPrefix(l, "services ") || strings.HasPrefix(l, "edges ") || strings.HasPrefix(l, "naive ") {
			want = append(want, l)
		}
	}
	for _, l := range want {
		if !strings.Contains(string(doc), l+"\n") {
			t.Errorf("docs/evaluate.md lacks this output line:\n%s", l)
		}
	}
}

// TestEvaluateReplayRecords runs the game-day loop on real parts: a bundle
// generated from a synthetic mesh is replayed, the replayed traffic is
// analyzed, and evaluate reads the replay's injection records as the truth.
func TestEvaluateReplayRecords(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{
		{"synth", "-o", "in/spans.parquet", "--days", "0.1", "--rps", "3", "--services", "10", "--seed", "9"},
		{"analyze", "in/spans.parquet", "-o", "an"},
		{"generate", "an", "-o", "bundle.json"},
		{"replay", "--bundle", "bundle.json", "in/spans.parquet", "-o", "rep"},
		{"analyze", "rep/spans.parquet", "-o", "an2"},
	} {
		if code, _, stderr := runCLI(args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
	code, stdout, stderr := runCLI("evaluate", "an2", "--truth", "rep/spans.parquet", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res evaluate.Result
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	var bun struct {
		Profiles []struct {
			Target struct{ Caller, Callee string }
		}
	}
	if err := json.Unmarshal(b, &bun); err != nil {
		t.Fatal(err)
	}
	targets := map[[2]string]bool{}
	for _, p := range bun.Profiles {
		targets[[2]string{p.Target.Caller, p.Target.Callee}] = true
	}
	if res.Truth.Format != "records" || len(res.Incidents) == 0 || len(targets) == 0 {
		t.Fatalf("truth %+v with %d incidents, %d bundle targets", res.Truth, len(res.Incidents), len(targets))
	}
	for _, in := range res.Incidents {
		if !in.Edge || !targets[[2]string{in.Caller, in.Callee}] {
			t.Errorf("incident on %s → %s (%s) is not a target of the bundle %v", in.Caller, in.Callee, in.Source, targets)
		}
	}
	if edges := res.Rankings[1]; edges.Skipped != 0 || edges.Evaluated != len(res.Incidents) {
		t.Errorf("edge ranking: %d evaluated, %d skipped of %d incidents in the replayed data", edges.Evaluated, edges.Skipped, len(res.Incidents))
	}
}
