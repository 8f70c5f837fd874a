package profilegen

import (
	"math"
	"strconv"
	"strings"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
)

// The rules' constants; docs/generate.md explains each one.
const (
	// RulesVersion names this set of rules in metadata.generator, so that a
	// bundle changes when the rules do and not when the binary does.
	RulesVersion = "1"

	// DefaultMaxRate is the default of Options.MaxRate.
	DefaultMaxRate = 0.1
	// CriticalEdge is the criticality from which an edge is critical: at
	// least this share of all root requests use it.
	CriticalEdge = 0.5
	// MaxRateMultiple bounds a profile's maxRate to this many times its
	// initial rate: the feedback loop's ×1.5 steps stop after four nights.
	MaxRateMultiple = 5
	// MinRate is the lowest rate the feedback loop lowers a profile to.
	MinRate = 0.001
	// CorruptShare is the corrupt profile's rate as a share of a critical
	// profile's rate on the same edge.
	CorruptShare = 0.1
	// DropTimeoutShare: an errors finding becomes a drop fault when at
	// least this share of the edge's errors are timeouts.
	DropTimeoutShare = 0.5
	// MinFactor and MaxFactor bound the factor of capacity faults.
	MinFactor = 1.25
	MaxFactor = 10
)

// baseRate is the initial rate by severity, before criticality.
var baseRate = map[string]float64{
	bundle.SeverityMinor:    0.05,
	bundle.SeverityModerate: 0.02,
	bundle.SeverityCritical: 0.01,
}

// perSecondCap is the injections per second above which a profile gets a
// perSecond cap, by severity.
var perSecondCap = map[string]float64{
	bundle.SeverityMinor:    20,
	bundle.SeverityModerate: 5,
	bundle.SeverityCritical: 2,
}

// sig2 is bundle.Sig2: two significant digits.
func sig2(x float64) float64 { return bundle.Sig2(x) }

// isCritical reports whether the edge counts as critical.
func isCritical(e *analysis.EdgeRow) bool { return e.Criticality >= CriticalEdge }

// severityOf is the severity of a fault on an edge: performance only for
// latency; loss of function for the others, critical on a critical edge.
func severityOf(f bundle.Fault, e *analysis.EdgeRow) string {
	switch {
	case f.Type == bundle.FaultLatency:
		return bundle.SeverityMinor
	case isCritical(e):
		return bundle.SeverityCritical
	}
	return bundle.SeverityModerate
}

// initialRate is base[severity] × (1 − criticality/2), two significant
// digits.
func initialRate(severity string, e *analysis.EdgeRow) float64 {
	c := min(1, max(0, e.Criticality))
	return sig2(float64(baseRate[severity] * float64(1-c/2)))
}

// latencyFault sizes a latency fault from the edge's tail: a median call is
// delayed to the edge's p99 (delay = p99 − p50, at least 1 ms), plus jitter
// up to p90 − p50.
func latencyFault(e *analysis.EdgeRow) bundle.Fault {
	return bundle.Fault{
		Type:     bundle.FaultLatency,
		DelayMs:  max(1, sig2(e.P99Ms-e.P50Ms)),
		JitterMs: max(0, sig2(e.P90Ms-e.P50Ms)),
	}
}

// capacityFactorKeys are the evidence keys read, in order, for the factor
// of a capacity fault: how much slower the edge gets under load. A
// predicted finding has latency_ratio_above_knee (the slowdown above the
// load knee), a historical one latency_ratio (its p50 during the episode
// over the healthy p50).
var capacityFactorKeys = []string{"latency_ratio_above_knee", "latency_ratio"}

// capacityFactor is the factor of a capacity fault: the first evidence key
// of capacityFactorKeys, else the evidence's p99_ms / baseline_p99_ms,
// else the edge's p99/p50; clamped to [MinFactor, MaxFactor], two
// significant digits. It returns where it came from.
func capacityFactor(ev map[string]float64, e *analysis.EdgeRow) (float64, string) {
	f, src := 0.0, ""
	for _, k := range capacityFactorKeys {
		if v, ok := ev[k]; ok && v > 0 {
			f, src = v, k
			break
		}
	}
	if src == "" {
		if p99, base := ev["p99_ms"], ev["baseline_p99_ms"]; p99 > 0 && base > 0 {
			f, src = p99/base, "p99_ms/baseline_p99_ms"
		}
	}
	if src == "" && e.P50Ms > 0 {
		f, src = e.P99Ms/e.P50Ms, "the edge's p99/p50"
	}
	return min(MaxFactor, max(MinFactor, sig2(f))), src
}

// capacityFault is a latency fault that multiplies the call's own latency.
func capacityFault(ev map[string]float64, e *analysis.EdgeRow) bundle.Fault {
	f, _ := capacityFactor(ev, e)
	return bundle.Fault{Type: bundle.FaultLatency, Factor: f}
}

// errorsFault reproduces the edge's failures: a drop when at least
// DropTimeoutShare of its errors are timeouts, else an abort with the
// status the edge has returned most often (gRPC on gRPC edges, HTTP
// otherwise), defaulting to UNAVAILABLE (14) or 503.
func errorsFault(e *analysis.EdgeRow) bundle.Fault {
	if e.Errors > 0 && float64(e.Timeouts) >= DropTimeoutShare*float64(e.Errors) {
		return bundle.Fault{Type: bundle.FaultDrop}
	}
	codes := parseCodes(e.ErrorCodes)
	grpc := e.Protocol == "grpc"
	if e.Protocol == "" && len(codes) > 0 && codes[0] >= 1 && codes[0] <= 16 {
		grpc = true
	}
	f := bundle.Fault{Type: bundle.FaultAbort}
	for _, c := range codes {
		if grpc && c >= 1 && c <= 16 {
			f.GRPCStatus = c
			return f
		}
		if !grpc && c >= 400 && c <= 599 {
			f.HTTPStatus = c
			return f
		}
	}
	if grpc {
		f.GRPCStatus = 14 // UNAVAILABLE
	} else {
		f.HTTPStatus = 503
	}
	return f
}

// parseCodes returns the codes of an error_codes value ("code:count,..."),
// in its order (most frequent first). Malformed items are skipped.
func parseCodes(s string) []int {
	var out []int
	for item := range strings.SplitSeq(s, ",") {
		code, _, _ := strings.Cut(strings.TrimSpace(item), ":")
		if c, err := strconv.Atoi(code); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// corruptFault is the corrupt fault of critical edges.
func corruptFault() bundle.Fault {
	return bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptTruncate}
}

// Anomaly features: what an anomaly finding's dominant evidence feature
// says about the fault to inject.
const (
	featLatency  = "latency"
	featErrors   = "errors"
	featTimeouts = "timeouts"
	featLoad     = "load"
)

// featureFamily classifies an evidence key by name ("p99_ms_z" → latency).
func featureFamily(key string) string {
	k := strings.ToLower(key)
	switch {
	case strings.Contains(k, "timeout"):
		return featTimeouts
	case strings.Contains(k, "error"), strings.Contains(k, "status"), strings.Contains(k, "retr"), strings.Contains(k, "fail"):
		return featErrors
	case strings.Contains(k, "concurrency"), strings.Contains(k, "calls"), strings.Contains(k, "load"), strings.Contains(k, "traffic"):
		return featLoad
	case strings.Contains(k, "p50"), strings.Contains(k, "p90"), strings.Contains(k, "p99"), strings.Contains(k, "latency"),
		strings.Contains(k, "mean_ms"), strings.Contains(k, "max_ms"), strings.Contains(k, "duration"):
		return featLatency
	}
	return ""
}

// baselineOf is the edge's whole-input value of an evidence feature, for
// comparing features in different units: value / baseline.
func baselineOf(key string, e *analysis.EdgeRow) float64 {
	k := strings.ToLower(key)
	calls := float64(max(1, e.Calls))
	switch {
	case strings.Contains(k, "timeout"):
		return float64(e.Timeouts) / calls
	case strings.Contains(k, "retr"):
		return float64(e.Retries) / calls
	case strings.Contains(k, "error"):
		return e.ErrorRate
	case strings.Contains(k, "p50"):
		return e.P50Ms
	case strings.Contains(k, "p90"):
		return e.P90Ms
	case strings.Contains(k, "p99"):
		return e.P99Ms
	case strings.Contains(k, "mean"):
		return e.MeanMs
	case strings.Contains(k, "max"):
		return e.MaxMs
	case strings.Contains(k, "per_s"):
		return e.PeakCallsPerS
	}
	return 0 // no comparable whole-input value: only a _z key can make it dominant
}

// dominantFeature picks the evidence feature of an anomaly finding that
// stands out most: the "dominant_<feature>" key the analysis marks; else,
// among keys ending in "_z" (mean robust deviations from the edge's
// baseline: p99_z, p50_z, errors_z, retries_z, timeouts_z,
// calls_residual_z), the largest |z|; else, among other recognized keys,
// the largest ratio to the edge's whole-input value. It returns the key
// and its family; "" when no key is recognized.
func dominantFeature(ev map[string]float64, e *analysis.EdgeRow) (string, string) {
	bestKey, bestFam, best := "", "", math.Inf(-1)
	consider := func(k, fam string, v float64) {
		if v > best || (v == best && k < bestKey) {
			bestKey, bestFam, best = k, fam, v
		}
	}
	for k, v := range ev {
		if name, ok := strings.CutPrefix(k, "dominant_"); ok {
			if fam := featureFamily(name); fam != "" && !math.IsNaN(v) {
				consider(k, fam, math.Abs(v))
			}
		}
	}
	if bestKey != "" {
		return bestKey, bestFam
	}
	hasZ := false
	for k := range ev {
		if strings.HasSuffix(k, "_z") && featureFamily(k) != "" {
			hasZ = true
		}
	}
	for k, v := range ev {
		fam := featureFamily(k)
		if fam == "" || math.IsNaN(v) {
			continue
		}
		if hasZ {
			if strings.HasSuffix(k, "_z") {
				consider(k, fam, math.Abs(v))
			}
			continue
		}
		if b := baselineOf(k, e); b > 0 {
			consider(k, fam, v/b)
		}
	}
	return bestKey, bestFam
}

// anomalyFault maps an anomaly's dominant feature to a fault: latency →
// tail latency, errors → abort, timeouts → drop, load → capacity factor;
// latency when no feature is recognized.
func anomalyFault(ev map[string]float64, e *analysis.EdgeRow) (bundle.Fault, string) {
	key, fam := dominantFeature(ev, e)
	switch fam {
	case featErrors:
		f := errorsFault(e)
		if f.Type == bundle.FaultDrop { // the evidence says errors, not timeouts
			f = errorsFault(&analysis.EdgeRow{ErrorCodes: e.ErrorCodes, Protocol: e.Protocol})
		}
		return f, key
	case featTimeouts:
		return bundle.Fault{Type: bundle.FaultDrop}, key
	case featLoad:
		return capacityFault(ev, e), key
	}
	return latencyFault(e), key
}

// milder is bundle.Milder on edge e: its errors' abort, its tail latency.
func milder(f bundle.Fault, e *analysis.EdgeRow) (bundle.Fault, bool) {
	return bundle.Milder(f, errorsFault(&analysis.EdgeRow{ErrorCodes: e.ErrorCodes, Protocol: e.Protocol}), latencyFault(e))
}
