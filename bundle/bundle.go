package bundle

import "time"

// The fixed header values of a bundle.
const (
	APIVersion = "chaosgen/v1"
	Kind       = "ProfileBundle"
)

// Fault types.
const (
	FaultLatency = "latency"
	FaultAbort   = "abort"
	FaultDrop    = "drop"
	FaultCorrupt = "corrupt"
)

// FaultTypes are the fault types a profile can have, in this order: the one
// list of them (features.FaultTypes counts the same types in spans, plus
// "other").
var FaultTypes = []string{FaultLatency, FaultAbort, FaultDrop, FaultCorrupt}

// Severities, from least to most severe.
const (
	SeverityMinor    = "minor"
	SeverityModerate = "moderate"
	SeverityCritical = "critical"
)

// Corruption modes of a corrupt fault.
const (
	CorruptTruncate = "truncate" // cut the response body short
	CorruptBitflip  = "bitflip"  // flip bits in the response body
	CorruptEmpty    = "empty"    // replace the response body with nothing
)

// Bundle is a set of error profiles with the guards that bound them and the
// metadata that says where they came from.
//
// Struct fields are declared in the order of their JSON keys, which is the
// sorted order of the canonical encoding.
type Bundle struct {
	APIVersion string    `json:"apiVersion"`
	Guards     Guards    `json:"guards"`
	Kind       string    `json:"kind"`
	Metadata   Metadata  `json:"metadata"`
	Profiles   []Profile `json:"profiles"`
}

// Metadata says how a bundle was made.
type Metadata struct {
	Generator string `json:"generator"` // e.g. "chaosgen v1.2.0"
	Name      string `json:"name"`
	// NotAfter is when the bundle expires; injectors refuse it after that.
	// The zero time means it never expires (and is left out of the JSON).
	NotAfter time.Time         `json:"notAfter,omitzero"`
	Params   map[string]string `json:"params,omitempty"` // generator parameters, as given
	Seed     uint64            `json:"seed"`             // seed of the fault decision hash and the models
	Source   Source            `json:"source"`
}

// Source describes the tracing data a bundle was generated from.
type Source struct {
	Files     []SourceFile `json:"files"`
	TimeRange TimeRange    `json:"timeRange"`
}

// SourceFile is one input file.
type SourceFile struct {
	Path   string `json:"path"`
	Rows   int64  `json:"rows"`
	SHA256 string `json:"sha256"` // lowercase hex
}

// TimeRange is the span of the data's timestamps, End after Start. Both are
// written in UTC.
type TimeRange struct {
	End   time.Time `json:"end"`
	Start time.Time `json:"start"`
}

// Guards bound the whole experiment; injectors stop injecting when a guard
// trips.
type Guards struct {
	AbortIf AbortIf `json:"abortIf"`
	// Injectors are the abort conditions of the injector in front of each
	// service, over all the requests it serves (sorted by service; absent
	// in bundles from before they existed).
	Injectors       []InjectorGuard `json:"injectors,omitempty"`
	MaxActiveFaults int             `json:"maxActiveFaults"` // concurrent injected faults; 0 means no limit
	MaxGlobalRate   float64         `json:"maxGlobalRate"`   // fraction of all requests, in [0, 1]
}

// AbortIf lists the conditions on the root requests (those without a
// caller) that stop injection at an injector serving them. A zero value
// disables that condition.
type AbortIf struct {
	RootErrorRate float64 `json:"rootErrorRate"` // in [0, 1]
	RootP99Ms     float64 `json:"rootP99Ms"`     // milliseconds, >= 0
}

// InjectorGuard is the abort condition of the injector in front of one
// service, over every request it serves: its breaker trips when the error
// rate or the p99 latency of its window reaches the limit. A zero value
// disables that condition.
type InjectorGuard struct {
	ErrorRate float64 `json:"errorRate"` // in [0, 1]
	P99Ms     float64 `json:"p99Ms"`     // milliseconds, >= 0
	Service   string  `json:"service"`
}

// Profile is one fault to inject on one caller→callee edge.
type Profile struct {
	Fault     Fault     `json:"fault"`
	ID        string    `json:"id"`
	MaxRate   float64   `json:"maxRate"`             // the most an adaptive loop may raise Rate to, in [Rate, 1]
	PerSecond float64   `json:"perSecond,omitempty"` // cap on injections per second; 0 means no cap
	Rate      float64   `json:"rate"`                // fraction of matching requests that get the fault, in [0, 1]
	Rationale Rationale `json:"rationale"`
	Severity  string    `json:"severity"`
	Target    Target    `json:"target"`
}

// Target selects the requests a profile applies to.
type Target struct {
	Callee    string `json:"callee"`    // service receiving the call; required
	Caller    string `json:"caller"`    // calling service; empty matches every caller
	Operation string `json:"operation"` // endpoint or RPC method on the callee; empty matches all
}

// Fault is what happens to a request the profile fires on. Type selects
// which of the other fields may be set:
//
//	latency  DelayMs, Factor, JitterMs (DelayMs > 0 or Factor > 1)
//	abort    HTTPStatus, GRPCStatus (at least one)
//	drop     none: the request is never answered
//	corrupt  Mode
type Fault struct {
	DelayMs    float64 `json:"delayMs,omitempty"`    // fixed delay added, milliseconds
	Factor     float64 `json:"factor,omitempty"`     // the call's own latency is multiplied by Factor (>= 1)
	GRPCStatus int     `json:"grpcStatus,omitempty"` // gRPC status code, 1..16
	HTTPStatus int     `json:"httpStatus,omitempty"` // HTTP status code, 400..599
	JitterMs   float64 `json:"jitterMs,omitempty"`   // extra delay drawn uniformly from [0, JitterMs]
	Mode       string  `json:"mode,omitempty"`       // corrupt: truncate, bitflip or empty
	Type       string  `json:"type"`
}

// Rationale explains why a profile exists: the scores and features that led
// to it, and a sentence for people.
type Rationale struct {
	Features map[string]float64 `json:"features,omitempty"` // e.g. "p99Ms", "errorRate", "fanOut"
	Scores   map[string]float64 `json:"scores,omitempty"`   // e.g. "anomaly", "criticality"
	Summary  string             `json:"summary"`
}
