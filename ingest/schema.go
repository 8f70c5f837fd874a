package ingest

import "fmt"

// Column identifies one column of span schema v1.
type Column int

// The columns of span schema v1, in the order of DESIGN.md.
const (
	ColTraceID Column = iota
	ColSpanID
	ColParentSpanID
	ColCaller
	ColCallee
	ColOperation
	ColDepth
	ColStack
	ColStartUnixNano
	ColDurationNano
	ColStatusCode
	ColError
	ColRetryCount
	ColTimedOut
	ColCircuitOpen
	ColFallback
	ColInjected
	ColFaultType
	ColFaultProfileID
	ColInjectedAtUnixNano
	ColFallbackLatencyNano
	numColumns
)

// Kind is the physical type a column must have.
type Kind int

// Physical column kinds of schema v1.
const (
	KindString     Kind = iota // BYTE_ARRAY
	KindInt32                  // INT32
	KindInt64                  // INT64
	KindBool                   // BOOLEAN
	KindStringList             // list<BYTE_ARRAY>
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "BYTE_ARRAY (string)"
	case KindInt32:
		return "INT32"
	case KindInt64:
		return "INT64"
	case KindBool:
		return "BOOLEAN"
	case KindStringList:
		return "list<string>"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

type columnSpec struct {
	name     string
	kind     Kind
	required bool
}

// columns is schema v1. Required columns must be present in every file;
// optional ones (the stack and the response and injection markers, which only
// instrumented systems record) read as unset when absent.
var columns = [numColumns]columnSpec{
	ColTraceID:             {"trace_id", KindString, true},
	ColSpanID:              {"span_id", KindString, true},
	ColParentSpanID:        {"parent_span_id", KindString, true},
	ColCaller:              {"caller", KindString, true},
	ColCallee:              {"callee", KindString, true},
	ColOperation:           {"operation", KindString, true},
	ColDepth:               {"depth", KindInt32, true},
	ColStack:               {"stack", KindStringList, false},
	ColStartUnixNano:       {"start_unix_nano", KindInt64, true},
	ColDurationNano:        {"duration_nano", KindInt64, true},
	ColStatusCode:          {"status_code", KindInt32, true},
	ColError:               {"error", KindBool, true},
	ColRetryCount:          {"retry_count", KindInt32, false},
	ColTimedOut:            {"timed_out", KindBool, false},
	ColCircuitOpen:         {"circuit_open", KindBool, false},
	ColFallback:            {"fallback", KindBool, false},
	ColInjected:            {"injected", KindBool, false},
	ColFaultType:           {"fault_type", KindString, false},
	ColFaultProfileID:      {"fault_profile_id", KindString, false},
	ColInjectedAtUnixNano:  {"injected_at_unix_nano", KindInt64, false},
	ColFallbackLatencyNano: {"fallback_latency_nano", KindInt64, false},
}

// Name returns the column's name in schema v1.
func (c Column) Name() string { return columns[c].name }

// Kind returns the column's physical kind.
func (c Column) Kind() Kind { return columns[c].kind }

// Required reports whether every span file must carry the column.
func (c Column) Required() bool { return columns[c].required }

func (c Column) String() string { return c.Name() }

// ColumnByName returns the schema v1 column with the given name.
func ColumnByName(name string) (Column, bool) {
	for c := Column(0); c < numColumns; c++ {
		if columns[c].name == name {
			return c, true
		}
	}
	return 0, false
}

// Columns returns every column of schema v1 in order.
func Columns() []Column {
	cs := make([]Column, numColumns)
	for i := range cs {
		cs[i] = Column(i)
	}
	return cs
}
