package analysis

// Finding kinds.
const (
	KindLatency  = "latency"  // the edge became slower, not because of load
	KindErrors   = "errors"   // the edge failed more than its baseline, or persistently
	KindCapacity = "capacity" // latency that climbs with load; a bottleneck at peaks
	KindAnomaly  = "anomaly"  // unusual by the isolation forest, no other kind fits
)

// Finding is one ranked finding of summary.json: a fragile or anomalous
// edge, when, how badly, the numbers behind it, and one sentence a person
// can act on.
type Finding struct {
	Caller string  `json:"caller"`
	Callee string  `json:"callee"`
	Kind   string  `json:"kind"`
	Score  float64 `json:"score"` // in [0, 1]; see docs/analysis.md
	// From and To bound the episode (RFC 3339, UTC); To is exclusive.
	From         string `json:"from"`
	To           string `json:"to"`
	FromUnixNano int64  `json:"from_unix_nano"`
	ToUnixNano   int64  `json:"to_unix_nano"`
	// Predicted marks a capacity finding from the forecast (From/To lie in
	// the forecast horizon) rather than from history.
	Predicted bool `json:"predicted,omitempty"`
	// Evidence holds the numbers behind the finding, by feature name
	// (documented per kind in docs/analysis.md).
	Evidence    map[string]float64 `json:"evidence"`
	Explanation string             `json:"explanation"`
	// Suspects rank the callee and the services below it by how likely
	// each is the root cause over the finding's windows (their mean
	// root_cause_score in services.parquet); absent on predicted findings.
	Suspects []Suspect `json:"suspects,omitempty"`
	// SymptomCaller and SymptomCallee name the edge the finding was seen
	// on when its root cause lies below it: the finding then targets the
	// edge into the root-cause service (Caller, Callee), and Evidence still
	// describes the symptom edge.
	SymptomCaller string `json:"symptom_caller,omitempty"`
	SymptomCallee string `json:"symptom_callee,omitempty"`
}
