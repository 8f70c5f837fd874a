// Package features builds the caller→callee edge table from span records:
// per edge and per time window, calls, errors, timeouts, retries, latency
// quantiles from a mergeable sketch, concurrency, and injected calls by
// fault type with the responses among them; per edge over the whole input,
// the same totals plus fan-out, depth and criticality.
//
// Row groups are aggregated in parallel into per-worker accumulators that
// hold only integers and sketches, and merged at the end: the result does
// not depend on the number of workers or the order of the input.
package features

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
)

// Options control Build.
type Options struct {
	Window   time.Duration // window length; DefaultWindow when 0
	Workers  int           // 0 means GOMAXPROCS
	Progress *atomic.Int64 // advanced by the rows read
	// RowGroups, when not nil, are the row groups to read (a shard, see
	// ingest.OpenedFiles.Shard); nil reads all.
	RowGroups []ingest.RowGroup
	// Whole says that the table is built from this accumulation alone, no
	// other partial merged into it (Build; a plain analyze). The table
	// keeps trace outcomes only for edges with injected calls, so when the
	// column statistics say that no row group read holds one (production
	// spans), the trace pass then skips the outcomes: about 7% of the CPU of
	// analyze --no-models on the 10M-span benchmark file.
	Whole bool
	// EdgesOnly says that the caller uses the edges, their windows and the
	// injections only, not what the trace pass finds: the services'
	// windows, the trace ends and the runs (analyze --no-models, which
	// ranks no services). With Whole, when no row group read may hold an
	// injected call (so there are no trace outcomes to count either),
	// Accumulate then skips the trace pass and does not read TraceColumns,
	// and the table says so (Table.NoTraces).
	EdgesOnly bool
}

// DefaultWindow is the default window length.
const DefaultWindow = time.Minute

// FaultTypes are the fault types counted in Stats.Injected, "other" for
// any type not named before it: chaosgen's one list of them.
var FaultTypes = []string{ingest.FaultLatency, ingest.FaultAbort, ingest.FaultDrop, ingest.FaultCorrupt, "other"}

// NumFaultTypes is len(FaultTypes).
const NumFaultTypes = 5

// FaultCounts count injected calls by fault type.
type FaultCounts struct {
	Latency, Abort, Drop, Corrupt, Other int64
}

// Of returns the count of fault type t, one of FaultTypes; any name not
// in FaultTypes reads as "other".
func (c FaultCounts) Of(t string) int64 {
	switch t {
	case ingest.FaultLatency:
		return c.Latency
	case ingest.FaultAbort:
		return c.Abort
	case ingest.FaultDrop:
		return c.Drop
	case ingest.FaultCorrupt:
		return c.Corrupt
	}
	return c.Other
}

// faultCounts names counts kept by index into FaultTypes.
func faultCounts(c *[NumFaultTypes]int64) FaultCounts {
	return FaultCounts{Latency: c[0], Abort: c[1], Drop: c[2], Corrupt: c[3], Other: c[4]}
}

// Responses count calls by how the system responded: retried
// (retry_count > 0), timed out, short-circuited by an open circuit
// breaker, answered by a fallback.
type Responses struct {
	Retries, Timeouts, CircuitOpen, Fallbacks int64
}

// count adds one call.
func (r *Responses) count(retried, timedOut, circuitOpen, fallback bool) {
	if retried {
		r.Retries++
	}
	if timedOut {
		r.Timeouts++
	}
	if circuitOpen {
		r.CircuitOpen++
	}
	if fallback {
		r.Fallbacks++
	}
}

func (r *Responses) merge(o *Responses) {
	r.Retries += o.Retries
	r.Timeouts += o.Timeouts
	r.CircuitOpen += o.CircuitOpen
	r.Fallbacks += o.Fallbacks
}

// Stats are the aggregate features of one edge, over a window or the input.
// All but Injected and InjectedResponses describe the calls without an
// injected fault: the findings must come from how the system behaves, not
// from chaosgen's own faults. Injected counts the injected calls by fault
// type, InjectedResponses the responses among them.
type Stats struct {
	Calls       int64
	Errors      int64
	Timeouts    int64
	Retries     int64 // calls with retry_count > 0 (retry attempts)
	Fallbacks   int64 // calls answered by a fallback
	CircuitOpen int64 // calls short-circuited by an open circuit breaker
	ErrorRate   float64
	MeanMs      float64
	P50Ms       float64
	P90Ms       float64
	P99Ms       float64
	MaxMs       float64
	// DurationSumNano is the exact sum of durations.
	DurationSumNano int64
	// LogMean and LogVar are the mean and variance of ln(duration in ms)
	// (from the sketch: each duration within 1% of its value).
	LogMean, LogVar   float64
	Injected          FaultCounts
	InjectedResponses Responses
}

// Edge is one caller→callee edge with its totals.
type Edge struct {
	Caller, Callee string
	Stats
	// Criticality is the share of traces (root requests) that use the edge:
	// exact up to 4096 traces per edge, a HyperLogLog estimate (1.6%
	// standard error) beyond.
	Criticality float64
	Traces      int64 // distinct traces using the edge (same estimate)
	// FanOut is the number of distinct services the callee calls.
	FanOut int
	// Depth is the smallest depth at which the edge is called (0: called
	// from the ingress); MeanDepth the mean over its calls.
	Depth     int32
	MeanDepth float64
	// Windows is the number of windows with calls; FirstWindow the index of
	// the edge's first row in Table.Windows.
	Windows     int
	FirstWindow int
	// ErrorCodes counts the status codes of failed calls, most frequent
	// first.
	ErrorCodes []CodeCount
	// Protocol is "grpc" when most status codes are gRPC codes (0-16),
	// "http" when they are HTTP codes, else empty.
	Protocol string
	// PeakCallsPerSecond is the busiest window's calls per second.
	PeakCallsPerSecond float64

	sketch Sketch
}

// CodeCount is a status code and how often it was seen.
type CodeCount struct {
	Code  int32
	Count int64
}

// Window is one edge's features in one window.
type Window struct {
	Edge          int // index into Table.Edges
	StartUnixNano int64
	Stats
	// Concurrency is the mean number of calls in flight: the sum of
	// durations over the window length (Little's law).
	Concurrency float64
}

// Table is the feature table.
type Table struct {
	Window  time.Duration
	Edges   []Edge   // sorted by caller, then callee
	Windows []Window // sorted by edge, then start
	Rows    int64    // rows aggregated (bad rows excluded)
	Traces  int64    // distinct traces (estimate as for Criticality)
	// StartUnixNano and EndUnixNano bound the calls (first start, last end).
	StartUnixNano, EndUnixNano int64
	Bad                        *ingest.BadRows
	// Injections count injected calls by edge, profile, window and fault
	// type, sorted by edge, then profile, window and fault type.
	Injections []Injection
	// Services are the services' windows from the trace pass, sorted by
	// service, then start; TraceEnds count where traces stopped, sorted by
	// root, start and service; TraceRuns says how exact they are (see
	// traces.go).
	Services  []ServiceWindow
	TraceEnds []TraceEnd
	TraceRuns TraceRuns
	// Outcomes count the traces injected into and their baseline, per
	// edge and window, sorted by caller, callee, profile and start
	// (outcomes.go).
	Outcomes []TraceOutcome
	// NoTraces says that the trace pass did not run (Options.EdgesOnly):
	// Services, TraceEnds, TraceRuns and Outcomes are empty because
	// nothing looked, not because the spans hold none.
	NoTraces bool
}

// Injection is the number of calls of one edge that one profile injected
// a fault of one type into, in one window.
type Injection struct {
	Edge          int // index into Table.Edges
	Profile       string
	FaultType     string
	StartUnixNano int64
	Calls         int64
}

// EdgeSketch returns the latency sketch (ns) of edge i over the whole input.
func (t *Table) EdgeSketch(i int) *Sketch { return &t.Edges[i].sketch }

// EdgeWindows returns edge i's windows.
func (t *Table) EdgeWindows(i int) []Window {
	e := &t.Edges[i]
	return t.Windows[e.FirstWindow : e.FirstWindow+e.Windows]
}

// Columns are the span columns Build reads: EdgeColumns, then
// TraceColumns.
var Columns = slices.Concat(EdgeColumns, TraceColumns)

// EdgeColumns are the columns the edges' accumulators read: all that
// Build reads when it skips the trace pass (Options.EdgesOnly).
var EdgeColumns = []ingest.Column{
	ingest.ColTraceID, ingest.ColCaller, ingest.ColCallee, ingest.ColDepth,
	ingest.ColStartUnixNano, ingest.ColDurationNano, ingest.ColStatusCode,
	ingest.ColError, ingest.ColRetryCount, ingest.ColTimedOut,
	ingest.ColCircuitOpen, ingest.ColFallback,
	ingest.ColInjected, ingest.ColFaultType, ingest.ColFaultProfileID,
}

// TraceColumns are the columns only the trace pass reads (traces.go).
var TraceColumns = []ingest.Column{ingest.ColSpanID, ingest.ColParentSpanID, ingest.ColOperation}

// HashedColumns are the columns of Columns that the trace pass only
// compares: Build reads them as hashes (ingest.ScanOptions.Hashed).
var HashedColumns = []ingest.Column{ingest.ColSpanID, ingest.ColParentSpanID}

// Build aggregates the opened files (the row groups opt.RowGroups, or all).
func Build(ctx context.Context, files *ingest.OpenedFiles, opt Options) (*Table, error) {
	opt.Whole = true
	p, err := Accumulate(ctx, files, opt)
	if err != nil {
		return nil, err
	}
	return p.Table(), nil
}
