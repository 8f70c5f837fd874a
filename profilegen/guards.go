package profilegen

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
)

// Guard rule constants (docs/generate.md, "Guards").
const (
	// RootErrorMargin is the least an error rate limit lies above its
	// baseline.
	RootErrorMargin = 0.02
	// GuardFalseTripOdds is the chance that one guard window of normal
	// traffic, with the bundle's faults, reaches an error rate limit.
	GuardFalseTripOdds = 1e-6
	// GuardLatencyMargin multiplies the slowest call seen (plus the largest
	// injected delay) to give a p99 limit: the guard's histogram reports a
	// bucket's upper bound, up to 25% above the value.
	GuardLatencyMargin = 1.3
	// GuardWindow and GuardMinRequests are the injector's (package guard's
	// defaults): the window the limits are for and the fewest requests it
	// judges.
	GuardWindow      = 10 * time.Second
	GuardMinRequests = 20
	// ActiveFaultsHeadroom multiplies the Little's law estimate of
	// maxActiveFaults.
	ActiveFaultsHeadroom = 2
)

// traffic is the calls to one service (or its root calls) by analysis
// window: what the injector in front of it sees.
type traffic struct {
	calls, errors []int64 // by window start; errors without injected aborts and drops
	starts        []int64
	maxMs         float64
	total, errs   int64
}

func (t *traffic) add(w *analysis.WindowRow) {
	i, ok := slices.BinarySearch(t.starts, w.WindowStartUnixNano)
	if !ok {
		t.starts = slices.Insert(t.starts, i, w.WindowStartUnixNano)
		t.calls = slices.Insert(t.calls, i, 0)
		t.errors = slices.Insert(t.errors, i, 0)
	}
	e := max(0, w.Errors-w.InjectedAbort-w.InjectedDrop)
	t.calls[i] += w.Calls
	t.errors[i] += e
	t.total += w.Calls
	t.errs += e
	t.maxMs = max(t.maxMs, w.MaxMs)
}

// errorLimit is the error rate that the guard window of this traffic, with
// faults adding injected to its error rate, reaches with odds below
// GuardFalseTripOdds in every analysis window: the upper quantile of the
// failures among the window's requests (binomial, at the analysis window's
// error rate or the overall one, whichever is higher), at the window's
// requests per guard window but at least GuardMinRequests (the noisiest
// window the guard judges). At least the baseline plus RootErrorMargin.
func (t *traffic) errorLimit(window time.Duration, injected float64) float64 {
	if t.total == 0 {
		return 0
	}
	overall := float64(t.errs) / float64(t.total)
	limit := min(1, overall+injected+RootErrorMargin)
	per := float64(GuardWindow) / float64(window)
	for i, n := range t.calls {
		if n == 0 {
			continue
		}
		p := min(1, max(float64(t.errors[i])/float64(n), overall)+injected)
		m := max(int64(GuardMinRequests), int64(math.Round(float64(n)*per)))
		limit = max(limit, float64(binomialQuantile(m, p, GuardFalseTripOdds))/float64(m))
	}
	return min(1, ceil2(limit))
}

// p99Limit is GuardLatencyMargin × (the slowest call seen + extraMs).
// It is 0 (no limit) when the analysis has no slowest call.
func (t *traffic) p99Limit(extraMs float64) float64 {
	if t.total == 0 || t.maxMs == 0 {
		return 0
	}
	return ceil2(GuardLatencyMargin * (t.maxMs + extraMs))
}

// binomialQuantile is the least k with P(X ≥ k) ≤ odds for X ~ B(m, p):
// exact for small m·p·(1−p), a normal approximation (with continuity
// correction) above.
func binomialQuantile(m int64, p, odds float64) int64 {
	switch {
	case p <= 0:
		return 1
	case p >= 1:
		return m + 1
	}
	if v := float64(m) * p * (1 - p); v > 50 {
		z := normalQuantile(1 - odds)
		return min(m+1, int64(math.Ceil(float64(m)*p+z*math.Sqrt(v)+0.5)))
	}
	// P(X ≥ k) = 1 − Σ_{j<k} pmf(j), pmf in log space
	lp, lq := math.Log(p), math.Log1p(-p)
	logPMF := func(j int64) float64 {
		lg := func(x int64) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
		return lg(m) - lg(j) - lg(m-j) + float64(j)*lp + float64(m-j)*lq
	}
	// sum the upper tail from the top down: no cancellation
	tail := 0.0
	for k := m; k >= 0; k-- {
		tail += math.Exp(logPMF(k))
		if tail > odds {
			return k + 1
		}
	}
	return 0
}

// normalQuantile is the standard normal quantile of q in (0.5, 1), by
// bisection on math.Erfc.
func normalQuantile(q float64) float64 {
	lo, hi := 0.0, 40.0
	for range 100 {
		mid := (lo + hi) / 2
		if 0.5*math.Erfc(mid/math.Sqrt2) > 1-q {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// ceil2 rounds x > 0 up to two significant digits.
func ceil2(x float64) float64 {
	if x <= 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	e := math.Pow(10, math.Floor(math.Log10(x))-1)
	y, _ := strconv.ParseFloat(strconv.FormatFloat(math.Ceil(x/e-1e-9)*e, 'g', 2, 64), 64)
	return y
}

// extraMs is the most latency c's fault adds to a call, in ms.
func extraMs(c *candidate) float64 {
	f := c.p.Fault
	if f.Type != bundle.FaultLatency {
		return 0
	}
	x := f.DelayMs + f.JitterMs
	if f.Factor > 1 {
		x += (f.Factor - 1) * c.edge.P99Ms
	}
	return x
}

// guards derives the bundle's guards (docs/generate.md, "Guards"):
// maxGlobalRate and maxActiveFaults from rateGuards; each targeted service's injector gets limits
// calibrated to the traffic through it (guards.injectors); abortIf, checked
// by injectors serving root requests, gets limits calibrated to the root
// traffic; maxActiveFaults by Little's law at maxGlobalRate of the peak
// root traffic held for the root p99 plus the largest injected delay. A
// non-empty string is a warning.
func guards(a *Analysis, cands []*candidate, maxRate float64) (bundle.Guards, string) {
	g := bundle.Guards{MaxGlobalRate: maxRate}
	g.MaxGlobalRate, g.MaxActiveFaults = rateGuards(a, cands, maxRate)
	window := time.Minute
	if d, err := time.ParseDuration(a.Summary.Window); err == nil && d > 0 {
		window = d
	}
	// the share of each edge in its callee's calls, for the faults' part
	// of the error rate an injector sees
	calls := map[string]int64{}
	for i := range a.Edges {
		calls[a.Edges[i].Callee] += a.Edges[i].Calls
	}
	injected, extra := map[string]float64{}, map[string]float64{}
	maxExtra := 0.0
	for _, c := range cands {
		callee := c.p.Target.Callee
		extra[callee] = max(extra[callee], extraMs(c))
		maxExtra = max(maxExtra, extraMs(c))
		if c.p.Fault.Type == bundle.FaultCorrupt || calls[callee] == 0 {
			continue // a corrupt body is a 200 to the injector
		}
		share := 1.0
		if c.p.Target.Caller != "" {
			share = float64(c.edge.Calls) / float64(calls[callee])
		}
		injected[callee] += c.p.Rate * share
	}
	services, roots := map[string]*traffic{}, map[string]*traffic{}
	for callee := range injected {
		services[callee] = &traffic{}
	}
	for callee := range extra {
		services[callee] = &traffic{}
	}
	windows := a.Windows
	if len(windows) == 0 {
		// without windows.parquet, each edge as one window of the whole
		// time range
		if tr := a.Summary.TimeRange; tr.EndUnixNano > tr.StartUnixNano {
			window = time.Duration(tr.EndUnixNano - tr.StartUnixNano)
		}
		for i := range a.Edges {
			e := &a.Edges[i]
			windows = append(windows, analysis.WindowRow{Caller: e.Caller, Callee: e.Callee,
				CallStats:      analysis.CallStats{Calls: e.Calls, Errors: e.Errors, MaxMs: e.MaxMs},
				InjectedCounts: analysis.InjectedCounts{InjectedAbort: e.InjectedAbort, InjectedDrop: e.InjectedDrop}})
		}
	}
	for i := range windows {
		w := &windows[i]
		if t := services[w.Callee]; t != nil {
			t.add(w)
		}
		if w.Caller == "" {
			t := roots[w.Callee]
			if t == nil {
				t = &traffic{}
				roots[w.Callee] = t
			}
			t.add(w)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(services)) {
		t := services[s]
		if t.total == 0 {
			continue
		}
		g.Injectors = append(g.Injectors, bundle.InjectorGuard{Service: s,
			ErrorRate: t.errorLimit(window, injected[s]), P99Ms: t.p99Limit(extra[s])})
	}
	slices.SortFunc(g.Injectors, func(x, y bundle.InjectorGuard) int { return cmp.Compare(x.Service, y.Service) })

	var rootCalls int64
	var p99, peak float64
	for i := range a.Edges {
		if e := &a.Edges[i]; e.Caller == "" {
			rootCalls += e.Calls
			p99 = max(p99, e.P99Ms)
			peak += e.PeakCallsPerS
		}
	}
	if rootCalls == 0 {
		g.MaxActiveFaults = max(g.MaxActiveFaults, len(cands))
		return g, "no root edges (caller empty) in " + analysis.EdgesFile + ": abortIf is disabled and maxActiveFaults is at least the number of profiles"
	}
	// the root error rate at an ingress injector holds the faults'
	// failures that reach the root: at most each profile's rate × the share
	// of root requests whose traces reach its edge
	var rootTraces int64
	for i := range a.Edges {
		if e := &a.Edges[i]; e.Caller == "" {
			rootTraces += e.Traces
		}
	}
	rootInjected := 0.0
	for _, c := range cands {
		if c.p.Fault.Type != bundle.FaultCorrupt && rootTraces > 0 {
			rootInjected += c.p.Rate * min(1, float64(c.edge.Traces)/float64(rootTraces))
		}
	}
	for _, s := range slices.Sorted(maps.Keys(roots)) {
		t := roots[s]
		g.AbortIf.RootErrorRate = max(g.AbortIf.RootErrorRate, t.errorLimit(window, min(1, rootInjected)))
		g.AbortIf.RootP99Ms = max(g.AbortIf.RootP99Ms, t.p99Limit(maxExtra))
	}
	little := peak * g.MaxGlobalRate * (p99 + maxExtra) / 1000
	g.MaxActiveFaults = max(g.MaxActiveFaults, int(math.Ceil(ActiveFaultsHeadroom*little)))
	return g, ""
}

// RateGuardOdds is the chance that the injected share of a guard window
// of GuardMinRequests requests exceeds maxGlobalRate by fluctuation alone.
const RateGuardOdds = 0.01

// rateGuards derives maxGlobalRate and the injectors' part of
// maxActiveFaults. At each targeted service, the profiles inject a share s
// of its calls (Σ rate × the share of the profile's edge in the service's
// calls); a trace the decision fires on is faulted on all of its calls
// there (b calls per trace), so the share in a window of m =
// GuardMinRequests requests varies by about √(s·b/m). maxGlobalRate is the
// largest s + z·√(s·b/m) (z the normal quantile of 1 − RateGuardOdds), at
// least maxRate. maxActiveFaults is, at each service, Little's law at
// that share of its peak calls held for its p99 plus the largest injected
// delay, doubled, and at least b + 1.
func rateGuards(a *Analysis, cands []*candidate, maxRate float64) (float64, int) {
	type svc struct {
		calls, traces    int64
		peak, p99, share float64
		extra            float64
		targeted         bool
	}
	svcs := map[string]*svc{}
	for i := range a.Edges {
		e := &a.Edges[i]
		v := svcs[e.Callee]
		if v == nil {
			v = &svc{}
			svcs[e.Callee] = v
		}
		v.calls += e.Calls
		v.traces += e.Traces
		v.peak += e.PeakCallsPerS
		v.p99 = max(v.p99, e.P99Ms)
	}
	for _, c := range cands {
		v := svcs[c.p.Target.Callee]
		if v == nil || v.calls == 0 {
			continue
		}
		v.targeted = true
		share := 1.0
		if c.p.Target.Caller != "" {
			share = float64(c.edge.Calls) / float64(v.calls)
		}
		v.share += c.p.Rate * share
		v.extra = max(v.extra, extraMs(c))
	}
	rate, active := maxRate, 1
	z := normalQuantile(1 - RateGuardOdds)
	for _, name := range slices.Sorted(maps.Keys(svcs)) {
		v := svcs[name]
		if !v.targeted {
			continue
		}
		b := 1.0
		if v.traces > 0 {
			b = max(1, float64(v.calls)/float64(v.traces))
		}
		s := min(1, v.share)
		r := min(1, ceil2(s+z*math.Sqrt(s*b/GuardMinRequests)))
		rate = max(rate, r)
		little := v.peak * r * (v.p99 + v.extra) / 1000
		active = max(active, int(math.Ceil(ActiveFaultsHeadroom*little)), int(math.Ceil(b))+1)
	}
	return rate, active
}
