package bundle

import (
	"math"
	"strconv"
)

// Harshness orders fault types by how much of a call they take away:
// latency 0 (the call succeeds, late), abort 1 (it fails at once), drop and
// corrupt 2 (the caller waits for nothing, or reads a broken body).
func Harshness(faultType string) int {
	switch faultType {
	case FaultLatency:
		return 0
	case FaultAbort:
		return 1
	}
	return 2
}

// Milder is the one rule for "a milder fault", used where a profile hurt
// too much (generate's feedback loop, replay's adaptive loop): drop or
// corrupt → abort, the fault the edge fails with; abort → latency, the
// delay of the edge's tail; latency → half the delay and jitter and half
// the extra factor (two significant digits). abort and latency are those
// faults as the caller knows them for the edge; one with an empty Type is
// not known, and the ladder stops there. ok is false when there is no
// milder fault: that step is unknown, or a latency fault is already under
// 1 ms with a factor under 1.05.
func Milder(f, abort, latency Fault) (Fault, bool) {
	switch f.Type {
	case FaultDrop, FaultCorrupt:
		return abort, abort.Type != ""
	case FaultAbort:
		return latency, latency.Type != ""
	}
	g := Fault{Type: FaultLatency, DelayMs: Sig2(f.DelayMs / 2), JitterMs: Sig2(f.JitterMs / 2)}
	if f.Factor > 1 {
		g.Factor = Sig2(1 + (f.Factor-1)/2)
	}
	if g.DelayMs < 1 && g.Factor < 1.05 {
		return f, false
	}
	if g.Factor > 0 && g.Factor < 1.05 {
		g.Factor = 0
	}
	if g.DelayMs < 1 {
		g.DelayMs, g.JitterMs = 0, 0
	}
	return g, true
}

// Sig2 rounds x to two significant digits by decimal rounding, as
// generated rates and faults are, so that small drifts of the data from one
// night to the next do not change a bundle.
func Sig2(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	y, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 2, 64), 64)
	return y
}
