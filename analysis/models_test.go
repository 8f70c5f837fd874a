package analysis

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/ingest/importer"
	"github.com/chaosgen/chaosgen/internal/shared"
	"github.com/chaosgen/chaosgen/synth"
)

// compatible reports whether a finding kind is the right kind for an
// incident kind: a retry storm shows as errors.
func compatible(incident, finding string) bool {
	if incident == synth.KindRetryStorm {
		return finding == KindErrors
	}
	return incident == finding
}

// TestFindsPlantedIncidents: on synthetic meshes, every planted incident is
// found (its edge among the findings, overlapping the planted time, with the
// right kind), and edges without incidents are not flagged. It prints
// precision and recall. Predicted (forecast) findings are about the future
// and are left out of precision.
func TestFindsPlantedIncidents(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1.5 days of traffic per seed")
	}
	for _, seed := range []uint64{3, 11, 21, 40, 77} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			dir := t.TempDir()
			spans := filepath.Join(dir, "spans.parquet")
			truth, err := synth.Generate(context.Background(), spans, synth.Options{Days: 1.5, RPS: 1, Services: 16, Seed: seed})
			if err != nil {
				t.Fatal(err)
			}
			sum, err := Run(context.Background(), []string{spans}, filepath.Join(dir, "an"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for _, inc := range truth.Incidents {
				ok := false
				for _, f := range sum.Findings {
					if f.Caller == inc.Caller && f.Callee == inc.Callee && compatible(inc.Kind, f.Kind) && !f.Predicted &&
						f.FromUnixNano < inc.EndUnixNano && inc.StartUnixNano < f.ToUnixNano {
						ok = true
					}
				}
				if ok {
					found++
				} else {
					t.Errorf("missed %s on %s->%s from %s to %s", inc.Kind, inc.Caller, inc.Callee, inc.Start.Format(time.RFC3339), inc.End.Format(time.RFC3339))
				}
			}
			var tp, fp int
			for _, f := range sum.Findings {
				if f.Predicted {
					continue
				}
				hit := false
				for _, inc := range truth.Incidents {
					if f.Caller == inc.Caller && f.Callee == inc.Callee && f.FromUnixNano < inc.EndUnixNano && inc.StartUnixNano < f.ToUnixNano {
						hit = true
					}
				}
				if hit {
					tp++
				} else {
					fp++
					t.Errorf("false finding: %s on %s->%s from %s to %s (score %.3f): %s", f.Kind, f.Caller, f.Callee, f.From, f.To, f.Score, f.Explanation)
				}
			}
			precision := float64(tp) / float64(max(1, tp+fp))
			recall := float64(found) / float64(len(truth.Incidents))
			t.Logf("seed %d: %d incidents, %d findings (+%d predicted): precision %.2f, recall %.2f",
				seed, len(truth.Incidents), tp+fp, len(sum.Findings)-tp-fp, precision, recall)
			for _, f := range sum.Findings {
				if f.Explanation == "" || f.Score <= 0 || f.Score > 1 || len(f.Evidence) == 0 {
					t.Errorf("incomplete finding %+v", f)
				}
			}
		})
	}
}

// TestShortData: two hours of data must not crash or invent a daily season;
// forecasts fall back to a damped trend.
func TestShortData(t *testing.T) {
	dir := t.TempDir()
	spans := filepath.Join(dir, "spans.parquet")
	if _, err := synth.Generate(context.Background(), spans, synth.Options{Days: 2.0 / 24, RPS: 2, Services: 10, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	for _, season := range []time.Duration{0, 24 * time.Hour, -1} {
		out := filepath.Join(dir, fmt.Sprint("an", season))
		if _, err := Run(context.Background(), []string{spans}, out, Options{Models: ModelOptions{Season: season, Horizon: time.Hour}}); err != nil {
			t.Fatalf("season %s: %v", season, err)
		}
		rows, err := ReadParquet[ForecastRow](filepath.Join(out, ForecastFile))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			t.Fatalf("season %s: no forecast rows", season)
		}
		last := int64(0)
		perEdge := map[string]int{}
		for _, r := range rows {
			perEdge[r.Caller+">"+r.Callee+">"+r.Metric]++
			last = max(last, r.TUnixNano)
			if r.Lower > r.Forecast || r.Forecast > r.Upper {
				t.Fatalf("interval does not hold the forecast: %+v", r)
			}
			if r.Metric == "calls" && r.Lower < 0 {
				t.Fatalf("negative calls forecast: %+v", r)
			}
		}
		for k, n := range perEdge {
			if n != 60 {
				t.Errorf("season %s: %s has %d forecast points, want 60 (one hour of minutes)", season, k, n)
			}
		}
	}
}

// TestModelsAreDeterministic: the models (forest, forecasts, findings) give
// byte-identical outputs for any number of workers.
func TestModelsAreDeterministic(t *testing.T) {
	dir := t.TempDir()
	spans := filepath.Join(dir, "spans.parquet")
	if _, err := synth.Generate(context.Background(), spans, synth.Options{Days: 0.3, RPS: 2, Services: 12, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	var prev [][]byte
	for _, w := range []int{1, 3} {
		out := filepath.Join(dir, fmt.Sprint("an", w))
		if _, err := Run(context.Background(), []string{spans}, out, Options{Workers: w, Models: ModelOptions{Seed: 5}}); err != nil {
			t.Fatal(err)
		}
		var cur [][]byte
		for _, f := range []string{EdgesFile, WindowsFile, ForecastFile, SummaryFile} {
			cur = append(cur, read(t, filepath.Join(out, f)))
		}
		if prev != nil {
			for i := range cur {
				if string(cur[i]) != string(prev[i]) {
					t.Errorf("file %d differs between 1 and 3 workers", i)
				}
			}
		}
		prev = cur
	}
}

// TestRealTraces: on the DeepTraLog fault-injection runs, the edges that
// carry the errors and timeouts of the faulty runs rank at the top.
func TestRealTraces(t *testing.T) {
	for _, c := range []struct {
		file           string
		caller, callee string
	}{
		{"data/traces/deeptralog/F05-04_ERROR_SpanData2021-08-07_21-02-22.csv", "ts-admin-basic-info-service", "ts-config-service"},
		{"data/traces/deeptralog/F08-01_ERROR_SpanData2021-07-29_19-15-36.csv", "ts-order-service", "ts-station-service"},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			src := shared.Path(t, c.file)
			dir := t.TempDir()
			spans := filepath.Join(dir, "spans.parquet")
			if _, err := importer.Import(spans, []string{src}, importer.Options{}); err != nil {
				t.Fatal(err)
			}
			sum, err := Run(context.Background(), []string{spans}, filepath.Join(dir, "an"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(sum.Findings) == 0 {
				t.Fatal("no findings")
			}
			top := sum.Findings[0]
			if top.Caller != c.caller || top.Callee != c.callee || top.Kind != KindErrors {
				b, _ := json.MarshalIndent(sum.Findings, "", "  ")
				t.Fatalf("top finding %s %s->%s, want errors on %s->%s:\n%s", top.Kind, top.Caller, top.Callee, c.caller, c.callee, b)
			}
			if r := sum.Ranking.Edges[0]; r.Caller != c.caller || r.Callee != c.callee {
				t.Errorf("top ranked edge %s->%s", r.Caller, r.Callee)
			}
			t.Logf("top finding: %s", top.Explanation)
		})
	}
}

// TestImportThenAnalyze: every real trace file imports and analyzes.
func TestImportThenAnalyze(t *testing.T) {
	root := shared.Path(t, "data/traces")
	var files []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".csv")) {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 10 {
		t.Fatalf("found %d trace files in %s", len(files), root)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		t.Run(rel, func(t *testing.T) {
			dir := t.TempDir()
			spans := filepath.Join(dir, "spans.parquet")
			rep, err := importer.Import(spans, []string{f}, importer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			sum, err := Run(context.Background(), []string{spans}, filepath.Join(dir, "an"), Options{})
			if err != nil {
				t.Fatal(err)
			}
			calls, err := ingest.ReadFile(spans)
			if err != nil {
				t.Fatal(err)
			}
			if sum.RowsUsed != int64(len(calls)) || sum.Edges == 0 {
				t.Errorf("%d calls imported, %d analysed on %d edges (report: %d calls)", len(calls), sum.RowsUsed, sum.Edges, rep.Calls)
			}
		})
	}
}
