package analysis

import (
	"fmt"
	"iter"
	"os"
	"strconv"

	"github.com/chaosgen/chaosgen/features"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// File names inside an analysis directory: a contract (columns are added,
// never renamed).
const (
	EdgesFile    = "edges.parquet"
	WindowsFile  = "windows.parquet"
	SummaryFile  = "summary.json"
	ForecastFile = "forecast.parquet"
	// InjectionsFile counts injected calls per edge, profile, window and
	// fault type (from the injection records in the spans).
	InjectionsFile = "injections.parquet"
	// ServicesFile ranks services per window by how likely each is a
	// root cause (see rootcause.go).
	ServicesFile = "services.parquet"
	// OutcomesFile counts, per edge and window, the traces each profile
	// injected into and the traces without injection, and how many of
	// them failed (features.TraceOutcome).
	OutcomesFile = "outcomes.parquet"
)

// OutcomeRow is a row of outcomes.parquet: fault_profile_id empty for the
// traces without any injection (the baseline).
type OutcomeRow struct {
	Caller              string `parquet:"caller,dict"`
	Callee              string `parquet:"callee,dict"`
	FaultProfileID      string `parquet:"fault_profile_id,dict"`
	WindowStartUnixNano int64  `parquet:"window_start_unix_nano,delta"`
	Traces              int64  `parquet:"traces,delta"`
	Judged              int64  `parquet:"judged,delta"`
	Failed              int64  `parquet:"failed,delta"`
	Calls               int64  `parquet:"calls,delta"`
}

func outcomeRows(t *features.Table) []OutcomeRow {
	rows := make([]OutcomeRow, len(t.Outcomes))
	for i, o := range t.Outcomes {
		rows[i] = OutcomeRow{Caller: o.Caller, Callee: o.Callee, FaultProfileID: o.Profile, WindowStartUnixNano: o.StartUnixNano,
			Traces: o.Traces, Judged: o.Judged, Failed: o.Failed, Calls: o.Calls}
	}
	return rows
}

// InjectionRow is a row of injections.parquet.
type InjectionRow struct {
	Caller              string `parquet:"caller,dict"`
	Callee              string `parquet:"callee,dict"`
	FaultProfileID      string `parquet:"fault_profile_id,dict"`
	FaultType           string `parquet:"fault_type,dict"`
	WindowStartUnixNano int64  `parquet:"window_start_unix_nano,delta"`
	Injected            int64  `parquet:"injected,delta"`
}

func injectionRows(t *features.Table) []InjectionRow {
	rows := make([]InjectionRow, len(t.Injections))
	for i, in := range t.Injections {
		e := &t.Edges[in.Edge]
		rows[i] = InjectionRow{Caller: e.Caller, Callee: e.Callee, FaultProfileID: in.Profile,
			FaultType: in.FaultType, WindowStartUnixNano: in.StartUnixNano, Injected: in.Calls}
	}
	return rows
}

// CallStats are the call columns edges.parquet and windows.parquet share
// (embedded: their columns sit where the struct does).
type CallStats struct {
	Calls       int64   `parquet:"calls,delta"`
	Errors      int64   `parquet:"errors,delta"`
	ErrorRate   float64 `parquet:"error_rate"`
	Timeouts    int64   `parquet:"timeouts,delta"`
	Retries     int64   `parquet:"retries,delta"`
	Fallbacks   int64   `parquet:"fallbacks,delta"`
	CircuitOpen int64   `parquet:"circuit_open,delta"`
	P50Ms       float64 `parquet:"p50_ms"`
	P90Ms       float64 `parquet:"p90_ms"`
	P99Ms       float64 `parquet:"p99_ms"`
	MeanMs      float64 `parquet:"mean_ms"`
	MaxMs       float64 `parquet:"max_ms"`
}

// InjectedCounts are the injected calls by fault type (features.FaultTypes),
// columns of edges.parquet and windows.parquet.
type InjectedCounts struct {
	InjectedLatency int64 `parquet:"injected_latency,delta"`
	InjectedAbort   int64 `parquet:"injected_abort,delta"`
	InjectedDrop    int64 `parquet:"injected_drop,delta"`
	InjectedCorrupt int64 `parquet:"injected_corrupt,delta"`
	InjectedOther   int64 `parquet:"injected_other,delta"`
}

func injectedCounts(c features.FaultCounts) InjectedCounts {
	return InjectedCounts{InjectedLatency: c.Latency, InjectedAbort: c.Abort, InjectedDrop: c.Drop, InjectedCorrupt: c.Corrupt, InjectedOther: c.Other}
}

// Faults returns the counts by fault type.
func (c InjectedCounts) Faults() features.FaultCounts {
	return features.FaultCounts{Latency: c.InjectedLatency, Abort: c.InjectedAbort, Drop: c.InjectedDrop, Corrupt: c.InjectedCorrupt, Other: c.InjectedOther}
}

// EdgeRow is a row of edges.parquet: one caller→callee edge over the input.
type EdgeRow struct {
	Caller string `parquet:"caller,dict"`
	Callee string `parquet:"callee,dict"`
	CallStats
	Criticality float64 `parquet:"criticality"`
	Traces      int64   `parquet:"traces,delta"`
	FanOut      int32   `parquet:"fan_out,delta"`
	Depth       int32   `parquet:"depth,delta"`
	MeanDepth   float64 `parquet:"mean_depth"`
	Windows     int32   `parquet:"windows,delta"`
	InjectedCounts
	InterimScore float64 `parquet:"interim_score"`
	// ErrorCodes lists the status codes of failed calls as
	// "code:count,code:count", most frequent first.
	ErrorCodes    string  `parquet:"error_codes"`
	Protocol      string  `parquet:"protocol"` // grpc, http or empty
	PeakCallsPerS float64 `parquet:"peak_calls_per_s"`
	AnomalyScore  float64 `parquet:"anomaly_score"` // see docs/analysis.md
}

// WindowRow is a row of windows.parquet: one edge in one window.
type WindowRow struct {
	Caller              string `parquet:"caller,dict"`
	Callee              string `parquet:"callee,dict"`
	WindowStartUnixNano int64  `parquet:"window_start_unix_nano,delta"`
	CallStats
	Concurrency float64 `parquet:"concurrency"`
	InjectedCounts
	AnomalyScore float64 `parquet:"anomaly_score"` // isolation forest score in (0, 1]
}

// scoredEdge is one edge of the feature table with the scores analyze
// gives it; edges.parquet, windows.parquet and summary.json's ranking are
// written from these.
type scoredEdge struct {
	*features.Edge
	interim float64        // InterimScore
	anomaly float64        // edgeAnomaly of its windows' scores; 0 without models
	windows []scoredWindow // the edge's windows, by start
}

// scoredWindow is one of an edge's windows with its isolation-forest score
// (0 without models).
type scoredWindow struct {
	*features.Window
	anomaly float64
}

// scoreEdges returns the table's edges, in its order, with their interim
// scores and anomaly scores 0 (the model stage sets them).
func scoreEdges(t *features.Table) []scoredEdge {
	out := make([]scoredEdge, len(t.Edges))
	for i := range t.Edges {
		e := &t.Edges[i]
		ws := t.EdgeWindows(i)
		out[i] = scoredEdge{Edge: e, interim: InterimScore(e), windows: make([]scoredWindow, len(ws))}
		for j := range ws {
			out[i].windows[j].Window = &ws[j]
		}
	}
	return out
}

func edgeRows(edges []scoredEdge) []EdgeRow {
	rows := make([]EdgeRow, len(edges))
	for i, e := range edges {
		rows[i] = EdgeRow{
			Caller: e.Caller, Callee: e.Callee,
			CallStats: CallStats{Calls: e.Calls, Errors: e.Errors, ErrorRate: e.ErrorRate,
				Timeouts: e.Timeouts, Retries: e.Retries, Fallbacks: e.Fallbacks, CircuitOpen: e.CircuitOpen,
				P50Ms: e.P50Ms, P90Ms: e.P90Ms, P99Ms: e.P99Ms, MeanMs: e.MeanMs, MaxMs: e.MaxMs},
			Criticality: e.Criticality, Traces: e.Traces,
			FanOut: int32(e.FanOut), Depth: e.Depth, MeanDepth: e.MeanDepth,
			Windows:        int32(e.Windows),
			InjectedCounts: injectedCounts(e.Injected),
			InterimScore:   e.interim,
			ErrorCodes:     formatCodes(e.ErrorCodes),
			Protocol:       e.Protocol,
			PeakCallsPerS:  e.PeakCallsPerSecond,
			AnomalyScore:   e.anomaly,
		}
	}
	return rows
}

// windowRows yields the rows of every edge's windows, in the table's
// order (by edge, then start).
func windowRows(edges []scoredEdge) iter.Seq[WindowRow] {
	return func(yield func(WindowRow) bool) {
		for _, e := range edges {
			for _, w := range e.windows {
				if !yield(WindowRow{
					Caller: e.Caller, Callee: e.Callee, WindowStartUnixNano: w.StartUnixNano,
					CallStats: CallStats{Calls: w.Calls, Errors: w.Errors, ErrorRate: w.ErrorRate,
						Timeouts: w.Timeouts, Retries: w.Retries, Fallbacks: w.Fallbacks, CircuitOpen: w.CircuitOpen,
						P50Ms: w.P50Ms, P90Ms: w.P90Ms, P99Ms: w.P99Ms, MeanMs: w.MeanMs, MaxMs: w.MaxMs},
					Concurrency:    w.Concurrency,
					InjectedCounts: injectedCounts(w.Injected),
					AnomalyScore:   w.anomaly,
				}) {
					return
				}
			}
		}
	}
}

// outputCodec compresses the analysis files' pages. One codec for all of
// them: it keeps its zstd encoders in a pool, and each encoder allocates
// about 8 MB of history the first time it compresses (a codec per file
// allocated that six times over; every page is compressed as one
// independent frame, so the bytes do not depend on the encoder's past).
//
// Its level is zstd's fastest: the pages are mostly floats (percentiles,
// scores, forecasts), which no level compresses much. On a 40M-span day
// the default level made the files 2-9% smaller (6.1 MB against 6.4 MB)
// for 80 ms more of a merge's 600 ms of CPU (BenchmarkMerge/merge, 3 runs
// each; docs/scale.md), and an uncompressed file was 2.4 times the size
// and no faster to write.
var outputCodec = &zstd.Codec{Level: zstd.SpeedFastest}

// writeChunk is how many rows writeParquet hands the writer at a time, a
// multiple of the 64 rows the writer itself takes at a time (and after
// which it checks whether a page is full): the pages, and so the file, are
// those of one call with every row (TestWriteParquetChunks), without a
// slice of every row (the 66,000 rows of windows.parquet on a day of a
// mesh are 12 MB, each page of it a page fault).
const writeChunk = 16 * 64

// writeParquet writes the rows that rows yields to path (inside the
// temporary output directory, which is flushed to disk and renamed into
// place only when complete).
func writeParquet[T any](path string, rows iter.Seq[T]) error {
	return writeParquetChunks(path, rows, writeChunk)
}

// writeParquetChunks is writeParquet handing the writer chunk rows at a
// time.
func writeParquetChunks[T any](path string, rows iter.Seq[T], chunk int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := parquet.NewGenericWriter[T](f,
		parquet.Compression(outputCodec),
		parquet.CreatedBy("chaosgen", "", ""),
		// Each column's bounds go to the chunk's statistics and the column
		// index, where readers look; in every data page's header as well
		// (parquet-go's default) they were computed a second time, a tenth
		// of the writing.
		parquet.DataPageStatistics(false),
	)
	buf := make([]T, 0, chunk)
	for r := range rows {
		if buf = append(buf, r); len(buf) == chunk {
			if _, err = w.Write(buf); err != nil {
				break
			}
			buf = buf[:0]
		}
	}
	if err == nil {
		_, err = w.Write(buf)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// flushed to disk with the rest of the directory, at its commit
	return f.Close()
}

// ReadParquet reads all rows of an analysis output file.
func ReadParquet[T any](path string) ([]T, error) {
	rows, err := parquet.ReadFile[T](path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return rows, nil
}

func formatCodes(cs []features.CodeCount) string {
	var b []byte
	for i, c := range cs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(c.Code), 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, c.Count, 10)
	}
	return string(b)
}
