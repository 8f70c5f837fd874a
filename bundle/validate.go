package bundle

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"
)

// MaxNumber bounds the magnitude of every number in a bundle, so that each
// one prints without an exponent and survives a round trip at the fixed
// precision (see Round).
const MaxNumber = 1e15

// Decimals is the number of digits after the decimal point kept by the
// canonical encoding: every number is rounded to a multiple of 10^-6.
const Decimals = 6

var (
	// compiled on first use, not at the start of every process: the
	// counted repeat makes a program of a few hundred instructions
	idPattern     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`) })
	sha256Pattern = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Validate checks every rule of the schema that the types cannot express. It
// returns all the problems it finds, joined; each wraps ErrInvalid.
func (b *Bundle) Validate() error {
	var errs []error
	add := func(e *Error) { errs = append(errs, e) }
	if b.APIVersion != APIVersion {
		add(fieldErr("apiVersion", "%q is not supported, want %q", b.APIVersion, APIVersion))
	}
	if b.Kind != Kind {
		add(fieldErr("kind", "%q is not %q", b.Kind, Kind))
	}
	m := &b.Metadata
	if m.Name == "" {
		add(fieldErr("metadata.name", "must not be empty"))
	}
	for k := range m.Params {
		if k == "" {
			add(fieldErr("metadata.params", "empty key"))
		}
	}
	paths := map[string]bool{}
	for i, f := range m.Source.Files {
		field := fmt.Sprintf("metadata.source.files[%d]", i)
		if f.Path == "" {
			add(fieldErr(field+".path", "must not be empty"))
		} else if paths[f.Path] {
			add(fieldErr(field+".path", "%q is listed twice", f.Path))
		}
		paths[f.Path] = true
		if f.Rows < 0 {
			add(fieldErr(field+".rows", "%d is negative", f.Rows))
		}
		if !sha256Pattern.MatchString(f.SHA256) {
			add(fieldErr(field+".sha256", "%q is not 64 lowercase hex digits", f.SHA256))
		}
	}
	tr := m.Source.TimeRange
	for _, t := range []struct {
		field string
		t     time.Time
	}{{"metadata.notAfter", m.NotAfter}, {"metadata.source.timeRange.end", tr.End}, {"metadata.source.timeRange.start", tr.Start}} {
		if y := t.t.UTC().Year(); y < 1 || y > 9999 {
			add(fieldErr(t.field, "year %d is outside 1..9999", y))
		}
	}
	if tr.End.Before(tr.Start) {
		add(fieldErr("metadata.source.timeRange", "end %s is before start %s", tr.End.UTC().Format(time.RFC3339Nano), tr.Start.UTC().Format(time.RFC3339Nano)))
	}

	g := &b.Guards
	checkFraction(g.MaxGlobalRate, func(msg string) { add(fieldErr("guards.maxGlobalRate", "%s", msg)) })
	if g.MaxActiveFaults < 0 {
		add(fieldErr("guards.maxActiveFaults", "%d is negative", g.MaxActiveFaults))
	}
	checkFraction(g.AbortIf.RootErrorRate, func(msg string) { add(fieldErr("guards.abortIf.rootErrorRate", "%s", msg)) })
	checkNonNegative(g.AbortIf.RootP99Ms, func(msg string) { add(fieldErr("guards.abortIf.rootP99Ms", "%s", msg)) })
	services := map[string]int{}
	for i, ig := range g.Injectors {
		field := fmt.Sprintf("guards.injectors[%d]", i)
		if ig.Service == "" {
			add(fieldErr(field+".service", "must not be empty"))
		} else if j, ok := services[ig.Service]; ok {
			add(fieldErr(field+".service", "duplicate service %q (also guards.injectors[%d])", ig.Service, j))
		} else {
			services[ig.Service] = i
		}
		checkFraction(ig.ErrorRate, func(msg string) { add(fieldErr(field+".errorRate", "%s", msg)) })
		checkNonNegative(ig.P99Ms, func(msg string) { add(fieldErr(field+".p99Ms", "%s", msg)) })
	}

	ids := map[string]int{}
	for i := range b.Profiles {
		p := &b.Profiles[i]
		perr := func(field, format string, args ...any) { add(profileErr(i, p.ID, field, format, args...)) }
		switch {
		case p.ID == "":
			perr("id", "must not be empty")
		case !idPattern().MatchString(p.ID):
			perr("id", "must be 1 to 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit")
		}
		if j, ok := ids[p.ID]; ok && p.ID != "" {
			perr("id", "duplicate id (also profiles[%d])", j)
		} else {
			ids[p.ID] = i
		}
		if p.Target.Callee == "" {
			perr("target.callee", "must not be empty")
		}
		checkFraction(p.Rate, func(msg string) { perr("rate", "%s", msg) })
		checkFraction(p.MaxRate, func(msg string) { perr("maxRate", "%s", msg) })
		if p.MaxRate < p.Rate {
			perr("maxRate", "%s is below rate %s", num(p.MaxRate), num(p.Rate))
		}
		checkNonNegative(p.PerSecond, func(msg string) { perr("perSecond", "%s", msg) })
		switch p.Severity {
		case SeverityMinor, SeverityModerate, SeverityCritical:
		default:
			perr("severity", "%q is not minor, moderate or critical", p.Severity)
		}
		for _, e := range p.Fault.check() {
			perr("fault."+e.field, "%s", e.msg)
		}
		if p.Rationale.Summary == "" {
			perr("rationale.summary", "must not be empty")
		}
		for _, nm := range []struct {
			name string
			m    map[string]float64
		}{{"rationale.features", p.Rationale.Features}, {"rationale.scores", p.Rationale.Scores}} {
			name, m := nm.name, nm.m
			for _, k := range sortedKeys(m) {
				if k == "" {
					perr(name, "empty key")
				}
				checkFinite(m[k], func(msg string) { perr(name+"."+k, "%s", msg) })
			}
		}
	}
	return errors.Join(errs...)
}

type faultProblem struct{ field, msg string }

// check returns the problems of a fault, in field order.
func (f *Fault) check() []faultProblem {
	var out []faultProblem
	bad := func(field, format string, args ...any) {
		out = append(out, faultProblem{field, fmt.Sprintf(format, args...)})
	}
	// Which fields each type allows.
	allowed := map[string][]string{
		FaultLatency: {"delayMs", "factor", "jitterMs"},
		FaultAbort:   {"grpcStatus", "httpStatus"},
		FaultDrop:    nil,
		FaultCorrupt: {"mode"},
	}
	set := map[string]bool{
		"delayMs":    f.DelayMs != 0,
		"factor":     f.Factor != 0,
		"grpcStatus": f.GRPCStatus != 0,
		"httpStatus": f.HTTPStatus != 0,
		"jitterMs":   f.JitterMs != 0,
		"mode":       f.Mode != "",
	}
	ok, known := allowed[f.Type]
	if !known {
		bad("type", "unknown fault type %q, want latency, abort, drop or corrupt", f.Type)
		return out
	}
	for _, name := range sortedKeys(set) {
		if set[name] && !slices.Contains(ok, name) {
			bad(name, "not allowed for a %s fault", f.Type)
		}
	}
	switch f.Type {
	case FaultLatency:
		checkNonNegative(f.DelayMs, func(msg string) { bad("delayMs", "%s", msg) })
		checkNonNegative(f.JitterMs, func(msg string) { bad("jitterMs", "%s", msg) })
		checkFinite(f.Factor, func(msg string) { bad("factor", "%s", msg) })
		if f.Factor != 0 && f.Factor < 1 {
			bad("factor", "%s is below 1", num(f.Factor))
		}
		if !(f.DelayMs > 0) && !(f.Factor > 1) {
			bad("delayMs", "a latency fault needs delayMs > 0 or factor > 1")
		}
		// Bounds that keep every delay far inside time.Duration (an
		// overflow would silently become no delay).
		if f.DelayMs+f.JitterMs > MaxDelayMs {
			bad("delayMs", "delayMs + jitterMs = %s exceeds %d (one hour)", num(f.DelayMs+f.JitterMs), MaxDelayMs)
		}
		if f.Factor > MaxFactor {
			bad("factor", "%s exceeds %d", num(f.Factor), MaxFactor)
		}
	case FaultAbort:
		if f.HTTPStatus == 0 && f.GRPCStatus == 0 {
			bad("httpStatus", "an abort fault needs httpStatus or grpcStatus")
		}
		if f.HTTPStatus != 0 && (f.HTTPStatus < 400 || f.HTTPStatus > 599) {
			bad("httpStatus", "%d is outside 400..599", f.HTTPStatus)
		}
		if f.GRPCStatus != 0 && (f.GRPCStatus < 1 || f.GRPCStatus > 16) {
			bad("grpcStatus", "%d is outside 1..16", f.GRPCStatus)
		}
	case FaultCorrupt:
		switch f.Mode {
		case CorruptTruncate, CorruptBitflip, CorruptEmpty:
		default:
			bad("mode", "%q is not truncate, bitflip or empty", f.Mode)
		}
	}
	return out
}

// Bounds of a latency fault.
const (
	MaxDelayMs = 3_600_000 // delayMs + jitterMs: one hour
	MaxFactor  = 1000
)

func checkFinite(x float64, bad func(string)) bool {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		bad(fmt.Sprintf("%v is not a finite number", x))
		return false
	case math.Abs(x) >= MaxNumber:
		bad(fmt.Sprintf("%s is too large (limit 1e15)", num(x)))
		return false
	}
	return true
}

func checkFraction(x float64, bad func(string)) {
	if checkFinite(x, bad) && (x < 0 || x > 1) {
		bad(fmt.Sprintf("%s is outside [0, 1]", num(x)))
	}
}

func checkNonNegative(x float64, bad func(string)) {
	if checkFinite(x, bad) && x < 0 {
		bad(fmt.Sprintf("%s is negative", num(x)))
	}
}

// num formats x for messages.
func num(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// CheckExpiry returns an error wrapping ErrExpired (and so ErrInvalid) when
// the bundle's notAfter time is before now. A bundle without notAfter never
// expires. The caller passes now; the package never reads the clock.
func (b *Bundle) CheckExpiry(now time.Time) error {
	na := b.Metadata.NotAfter
	if na.IsZero() || !now.After(na) {
		return nil
	}
	return fmt.Errorf("%w: metadata.notAfter %s is before now (%s)", ErrExpired,
		na.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
