package importer

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/chaosgen/chaosgen/ingest"
)

// Issue names a kind of messy input the importer met.
type Issue string

// The issues counted in a Report. Kept issues leave their spans in the
// output (perhaps changed, as the docs say); the others drop them.
const (
	IssueBadRecord          Issue = "bad_record"            // unreadable line, row or message: dropped
	IssueMissingID          Issue = "missing_id"            // no trace or span id: dropped
	IssueDuplicateSpanID    Issue = "duplicate_span_id"     // a second span with the same id and side: dropped
	IssueOrphan             Issue = "orphan"                // parent not in the trace: kept as a subtree root
	IssueCycle              Issue = "cycle"                 // on or under a parent cycle: dropped
	IssueClockSkew          Issue = "clock_skew"            // starts before its parent: kept as recorded
	IssueMissingTimestamp   Issue = "missing_timestamp"     // call without a start time: dropped (its subtree is kept)
	IssueMissingDuration    Issue = "missing_duration"      // call without a duration: dropped (its subtree is kept)
	IssueNegativeDuration   Issue = "negative_duration"     // ends before it starts: dropped (its subtree is kept)
	IssueMissingService     Issue = "missing_service"       // call to a span without a service name: dropped (its subtree is kept)
	IssueClientNoCallee     Issue = "client_without_callee" // client span with no server span and no peer service: no call
	IssueClientOtherService Issue = "client_other_service"  // client span in another service than its parent: kept, that service is the caller
	IssueEvictedTrace       Issue = "evicted_trace"         // trace resolved early to bound memory; later spans become orphans
	IssueDeepStack          Issue = "deep_stack"            // call deeper than MaxStack services: kept without its stack column
)

// Issues lists every issue in report order.
var Issues = []Issue{IssueBadRecord, IssueMissingID, IssueDuplicateSpanID, IssueOrphan, IssueCycle, IssueClockSkew,
	IssueMissingTimestamp, IssueMissingDuration, IssueMissingService, IssueNegativeDuration, IssueClientNoCallee, IssueClientOtherService, IssueEvictedTrace, IssueDeepStack}

// Report says what an import read, wrote and met on the way.
type Report struct {
	Calls  int64  `json:"calls_out"`
	Edges  []Edge `json:"edges"`
	Errors int64  `json:"errors_out"`
	// Examples holds the first place each issue was met, Counts the number
	// of spans (or records, or traces) per issue.
	Examples map[Issue]string `json:"examples"`
	Files    []FileReport     `json:"files"`
	Counts   map[Issue]int64  `json:"issues"`
	Spans    int64            `json:"spans_in"`
	Traces   int64            `json:"traces"`

	edges map[[2]string]*Edge
}

// FileReport describes one input file.
type FileReport struct {
	BadRecords int64  `json:"bad_records"`
	Format     string `json:"format"`
	Path       string `json:"path"`
	Preset     string `json:"preset,omitempty"`
	Spans      int64  `json:"spans"`
}

// Edge sums the calls written for one caller→callee pair. The JSON keys
// are in sorted order, as every chaosgen JSON output.
type Edge struct {
	Callee        string `json:"callee"`
	Caller        string `json:"caller"`
	Calls         int64  `json:"calls"`
	MaxDurationNs int64  `json:"duration_nano_max"`
	MinDurationNs int64  `json:"duration_nano_min"`
	DurationNano  int64  `json:"duration_nano_sum"`
	Errors        int64  `json:"errors"`
	MaxDepth      int32  `json:"max_depth"`
	Retries       int64  `json:"retries"`  // calls that were a retry (retry_count > 0)
	Timeouts      int64  `json:"timeouts"` // calls that timed out
}

func newReport() *Report {
	return &Report{Counts: map[Issue]int64{}, Examples: map[Issue]string{}, edges: map[[2]string]*Edge{}}
}

func (r *Report) add(i Issue, example string) {
	r.Counts[i]++
	if _, ok := r.Examples[i]; !ok && example != "" {
		r.Examples[i] = example
	}
}

func (r *Report) call(s *ingest.Span) {
	r.Calls++
	k := [2]string{s.Caller, s.Callee}
	e := r.edges[k]
	if e == nil {
		e = &Edge{Caller: s.Caller, Callee: s.Callee, MinDurationNs: s.DurationNano}
		r.edges[k] = e
	}
	e.Calls++
	e.DurationNano += s.DurationNano
	e.MinDurationNs = min(e.MinDurationNs, s.DurationNano)
	e.MaxDurationNs = max(e.MaxDurationNs, s.DurationNano)
	e.MaxDepth = max(e.MaxDepth, s.Depth)
	if s.Error {
		e.Errors++
		r.Errors++
	}
	if s.TimedOut {
		e.Timeouts++
	}
	if s.RetryCount > 0 {
		e.Retries++
	}
}

func (r *Report) finish() {
	r.Spans = 0
	for _, f := range r.Files {
		r.Spans += f.Spans
	}
	r.Edges = r.Edges[:0]
	for _, k := range slices.SortedFunc(maps.Keys(r.edges), func(a, b [2]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]))
	}) {
		r.Edges = append(r.Edges, *r.edges[k])
	}
	for _, i := range Issues {
		if r.Counts[i] == 0 {
			delete(r.Counts, i)
		}
	}
}

// Print writes the report as text: files, totals, issues, edges.
func (r *Report) Print(w io.Writer) error {
	var err error
	p := func(format string, args ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, args...)
		}
	}
	for _, f := range r.Files {
		format := f.Format
		if f.Preset != "" {
			format += " (" + f.Preset + ")"
		}
		p("read %s: %s, %d spans", f.Path, format, f.Spans)
		if f.BadRecords > 0 {
			p(", %d bad records", f.BadRecords)
		}
		p("\n")
	}
	p("spans in: %d in %d traces\ncalls out: %d (%d errors) on %d edges\n", r.Spans, r.Traces, r.Calls, r.Errors, len(r.Edges))
	for _, i := range Issues {
		if n := r.Counts[i]; n > 0 {
			p("issue %s: %d (first: %s)\n", i, n, r.Examples[i])
		}
	}
	for _, e := range r.Edges {
		caller := e.Caller
		if caller == "" {
			caller = "(root)"
		}
		p("edge %s -> %s: %d calls, %d errors", caller, e.Callee, e.Calls, e.Errors)
		if e.Timeouts > 0 {
			p(", %d timeouts", e.Timeouts)
		}
		if e.Retries > 0 {
			p(", %d retries", e.Retries)
		}
		p(", mean %s, max depth %d\n", ms(e.DurationNano/max(e.Calls, 1)), e.MaxDepth)
	}
	return err
}

// ms formats nanoseconds as milliseconds with three decimals.
func ms(ns int64) string {
	return fmt.Sprintf("%d.%03dms", ns/1e6, ns%1e6/1e3)
}
