// Package analysis runs the analyze stage: it reads span files, builds the
// edge feature table, and writes an analysis directory (edges.parquet,
// windows.parquet, summary.json) atomically. Its file and column names are a
// contract that later stages and other tools read.
package analysis

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/chaosgen/chaosgen/internal/edge"
	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/chaosgen/chaosgen/internal/ordered"
)

// Options control Run.
type Options struct {
	Window  time.Duration // features.DefaultWindow when 0
	Workers int           // 0 means GOMAXPROCS
	// Progress, when set, is advanced by the span rows read; Total is
	// called once with the number of rows to read.
	Progress *atomic.Int64
	Total    func(rows int64)
	// TopEdges is the number of ranked edges in summary.json; 20 when 0.
	TopEdges int
	// Models configures the forecasts, the isolation forest and the
	// findings; NoModels skips them (then forecast.parquet is not written,
	// anomaly scores are 0 and there are no findings).
	Models   ModelOptions
	NoModels bool
	// Force replaces the output directory even when chaosgen did not
	// write it (see atomicfile.CheckDir).
	Force bool
	// Store opens the inputs that are s3://, gs:// or azblob:// URLs and
	// counts the bytes it fetched; nil: Run opens a Store of its own.
	Store *objstore.Store
}

// Summary is summary.json.
type Summary struct {
	Schema string `json:"schema"`
	Window string `json:"window"`
	// NoModels says that the models did not run (--no-models): there is no
	// forecast.parquet or services.parquet, the anomaly scores are 0, there
	// are no findings, and the ranking is by the interim score.
	NoModels  bool      `json:"no_models,omitempty"`
	Inputs    []Input   `json:"inputs"`
	Rows      int64     `json:"rows"`
	RowsUsed  int64     `json:"rows_used"`
	BadRows   BadRows   `json:"bad_rows"`
	TimeRange TimeRange `json:"time_range"`
	Traces    int64     `json:"traces"`
	Edges     int       `json:"edge_count"`
	Windows   int       `json:"window_count"`
	Services  int       `json:"service_count"`
	// TraceRuns says how the trace pass resolved the spans (see
	// docs/analysis.md, "Root causes"); nil when it did not run (--no-models
	// over spans without injected calls: docs/analysis.md, "Reading").
	TraceRuns *TraceRuns `json:"trace_runs,omitempty"`
	Ranking   Ranking    `json:"ranking"`
	// Findings are ranked by score, highest first.
	Findings []Finding `json:"findings"`
}

// TraceRuns counts the traces (runs of adjacent rows of one trace id)
// resolved and the rows whose parent span was not in their run: self times
// are exact when Orphans is 0.
type TraceRuns struct {
	Runs    int64 `json:"runs"`
	Orphans int64 `json:"orphan_rows"`
}

// Input is one input file.
type Input struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
}

// BadRows reports the rows left out, by reason, with the first example.
type BadRows struct {
	Total    int64                `json:"total"`
	ByReason map[string]BadReason `json:"by_reason"`
}

// BadReason is the count of one reason and where it first occurred.
type BadReason struct {
	Count int64  `json:"count"`
	First string `json:"first"`
}

// TimeRange bounds the calls: the first start and the last end.
type TimeRange struct {
	Start         string `json:"start"`
	End           string `json:"end"`
	StartUnixNano int64  `json:"start_unix_nano"`
	EndUnixNano   int64  `json:"end_unix_nano"`
}

// Ranking lists the edges by score, highest first.
type Ranking struct {
	Score string       `json:"score"`
	Edges []RankedEdge `json:"edges"`
}

// RankedEdge is one ranked edge.
type RankedEdge struct {
	Caller       string  `json:"caller"`
	Callee       string  `json:"callee"`
	Score        float64 `json:"score"` // the edge's best finding score
	InterimScore float64 `json:"interim_score"`
	AnomalyScore float64 `json:"anomaly_score"`
	Calls        int64   `json:"calls"`
	ErrorRate    float64 `json:"error_rate"`
	TimeoutRate  float64 `json:"timeout_rate"`
	P50Ms        float64 `json:"p50_ms"`
	P99Ms        float64 `json:"p99_ms"`
	Criticality  float64 `json:"criticality"`
}

// RankingDoc documents the ranking; it is written into summary.json.
const RankingDoc = "edges by the highest score of their findings, then by interim_score = " + InterimScoreDoc

// InterimScoreDoc documents InterimScore.
const InterimScoreDoc = "(error_rate + timeout_rate + 0.05*log2(max(1, p99_ms/p50_ms))) * (0.5 + criticality): " +
	"failures and tail latency, weighted up on edges that many requests use; interim, until the models rank findings"

// InterimScore ranks an edge by failures and tail latency, weighted by how
// many requests use it (see InterimScoreDoc).
func InterimScore(e *features.Edge) float64 {
	if e.Calls == 0 {
		return 0
	}
	tail := 0.0
	if e.P50Ms > 0 {
		tail = math.Log2(max(1, e.P99Ms/e.P50Ms))
	}
	timeoutRate := float64(e.Timeouts) / float64(e.Calls)
	return round6((e.ErrorRate + timeoutRate + 0.05*tail) * (0.5 + e.Criticality))
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// Run analyses the span files named by args (files, directories or globs)
// and writes the analysis to dir atomically: dir holds either its previous
// content or the complete new analysis.
func Run(ctx context.Context, args []string, dir string, opt Options) (*Summary, error) {
	p, err := accumulate(ctx, opt.Store, args, scan{window: opt.Window, workers: opt.Workers, progress: opt.Progress, total: opt.Total,
		whole: true, edgesOnly: opt.NoModels})
	if err != nil {
		return nil, err
	}
	return writeAnalysis(p, dir, opt)
}

// writeAnalysis runs the models over the accumulators of a partial that read every
// row group of its inputs and writes the analysis to dir atomically.
func writeAnalysis(p *partial, dir string, opt Options) (*Summary, error) {
	inputs, rows, err := p.inputs()
	if err != nil {
		return nil, err
	}
	table := p.acc.Table()
	// Table consumed the accumulators: collect them now, so that the
	// models and the outputs reuse their memory. Left to GOGC=400 (main.go)
	// the collector would not run before the end, and every page the rest
	// allocates would be a fresh one, faulted in at about 10 µs a page on
	// this VM (docs/scale.md, "The merge, made cheaper").
	p.acc = nil
	runtime.GC()
	if table.Rows == 0 {
		return nil, fmt.Errorf("no usable span rows in %d file(s) (%d rows, %d bad)", len(inputs), rows, table.Bad.Total())
	}
	var mr *modelResult
	if opt.NoModels {
		mr = &modelResult{edges: scoreEdges(table)}
	} else {
		mopt := opt.Models
		if mopt.Workers == 0 {
			mopt.Workers = opt.Workers
		}
		if mr, err = runModelStage(table, mopt); err != nil {
			return nil, err
		}
	}
	sum := summarize(table, inputs, rows, mr, opt)

	out, err := atomicfile.CreateDir(dir, opt.Force)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	defer out.Abort()
	if err := writeFiles(out.Tmp, outputFiles(table, mr, sum, opt.NoModels), opt.Workers); err != nil {
		return nil, err
	}
	if err := out.Commit(); err != nil {
		return nil, fmt.Errorf("writing %s: %w", dir, err)
	}
	return sum, nil
}

// outputFiles returns the writers of an analysis directory's files, the
// largest first.
func outputFiles(table *features.Table, mr *modelResult, sum *Summary, noModels bool) []outputFile {
	files := []outputFile{
		{WindowsFile, func(p string) error { return writeParquet(p, windowRows(mr.edges)) }},
	}
	if !noModels {
		files = append(files,
			outputFile{ForecastFile, func(p string) error { return writeParquet(p, forecastRows(mr.forecast)) }},
			outputFile{ServicesFile, func(p string) error { return writeParquet(p, slices.Values(mr.services)) }})
	}
	return append(files,
		outputFile{EdgesFile, func(p string) error { return writeParquet(p, slices.Values(edgeRows(mr.edges))) }},
		outputFile{InjectionsFile, func(p string) error { return writeParquet(p, slices.Values(injectionRows(table))) }},
		outputFile{OutcomesFile, func(p string) error { return writeParquet(p, slices.Values(outcomeRows(table))) }},
		outputFile{SummaryFile, func(p string) error {
			b, err := json.MarshalIndent(sum, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(p, append(b, '\n'), 0o644)
		}})
}

// writtenFiles returns the names of the files outputFiles writes, in the
// order the report lists them.
func writtenFiles(noModels bool) []string {
	files := []string{EdgesFile, WindowsFile, ForecastFile, InjectionsFile, OutcomesFile, ServicesFile, SummaryFile}
	if noModels {
		// the models' files
		files = slices.DeleteFunc(files, func(f string) bool { return f == ForecastFile || f == ServicesFile })
	}
	return files
}

// outputFile is one file of an analysis directory and its writer.
type outputFile struct {
	name  string
	write func(path string) error
}

// writeFiles writes files into dir, up to workers at once (GOMAXPROCS
// when 0): each file is compressed on one core, and windows.parquet alone
// took as long as the others together. The error is the first failure in
// files' order.
func writeFiles(dir string, files []outputFile, workers int) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	_, err := ordered.Do(len(files), workers, func(i int) (struct{}, error) {
		return struct{}{}, files[i].write(filepath.Join(dir, files[i].name))
	})
	return err
}

func summarize(t *features.Table, inputs []Input, rows int64, mr *modelResult, opt Options) *Summary {
	s := &Summary{
		Schema:   "chaosgen.analysis/v1",
		Window:   t.Window.String(),
		NoModels: opt.NoModels,
		Inputs:   inputs,
		Rows:     rows,
		RowsUsed: t.Rows,
		Traces:   t.Traces,
		Edges:    len(t.Edges),
		Windows:  len(t.Windows),
		BadRows:  BadRows{Total: t.Bad.Total(), ByReason: map[string]BadReason{}},
		TimeRange: TimeRange{
			Start:         time.Unix(0, t.StartUnixNano).UTC().Format(time.RFC3339Nano),
			End:           time.Unix(0, t.EndUnixNano).UTC().Format(time.RFC3339Nano),
			StartUnixNano: t.StartUnixNano,
			EndUnixNano:   t.EndUnixNano,
		},
	}
	for r := ingest.ReasonOK + 1; r < ingest.NumReasons; r++ {
		if n := t.Bad.Count[r]; n > 0 {
			s.BadRows.ByReason[r.String()] = BadReason{Count: n, First: t.Bad.First[r].Error()}
		}
	}
	if !t.NoTraces {
		s.TraceRuns = &TraceRuns{Runs: t.TraceRuns.Runs, Orphans: t.TraceRuns.Orphans}
	}
	services := map[string]bool{}
	for _, e := range t.Edges {
		if e.Caller != "" {
			services[e.Caller] = true
		}
		services[e.Callee] = true
	}
	s.Services = len(services)
	top := opt.TopEdges
	if top <= 0 {
		top = 20
	}
	s.Findings = mr.findings
	if s.Findings == nil {
		s.Findings = []Finding{}
	}
	best := map[edge.Edge]float64{}
	for _, f := range mr.findings {
		k := edge.Edge{Caller: f.Caller, Callee: f.Callee}
		best[k] = max(best[k], f.Score)
	}
	ranked := make([]RankedEdge, len(mr.edges))
	for i, e := range mr.edges {
		ranked[i] = RankedEdge{
			Caller: e.Caller, Callee: e.Callee, Score: best[edge.Edge{Caller: e.Caller, Callee: e.Callee}],
			InterimScore: e.interim, AnomalyScore: e.anomaly, Calls: e.Calls,
			ErrorRate: round6(e.ErrorRate), TimeoutRate: round6(float64(e.Timeouts) / float64(max(1, e.Calls))),
			P50Ms: round6(e.P50Ms), P99Ms: round6(e.P99Ms), Criticality: round6(e.Criticality),
		}
	}
	slices.SortStableFunc(ranked, func(a, b RankedEdge) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(b.InterimScore, a.InterimScore),
			cmp.Compare(a.Caller, b.Caller), cmp.Compare(a.Callee, b.Callee))
	})
	s.Ranking = Ranking{Score: RankingDoc, Edges: ranked[:min(top, len(ranked))]}
	return s
}

// ReadSummary reads dir/summary.json.
func ReadSummary(dir string) (*Summary, error) {
	p := filepath.Join(dir, SummaryFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not an analysis directory: it has no %s (write one with: chaosgen analyze SPANS... -o %s)", dir, SummaryFile, dir)
	}
	if err != nil {
		return nil, err
	}
	var s Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	return &s, nil
}
