package analysis

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/chaosgen/chaosgen/features"
)

// Root-cause ranking (docs/analysis.md, "Root causes"). A slow or failing
// service makes the edges into it look bad, and its callers' edges too, so
// edges are the wrong unit to rank: services are ranked by evidence that
// points at the service itself and not at what it waits for.
//
//   - self time: the time a service spends on a call outside its own calls
//     (features' trace pass). A callee's slowness raises its callers'
//     durations but not their self times.
//   - trace ends: the share of a root operation's traces whose last call
//     goes into the service. A service that throws stops its trace early
//     and becomes its last stop, whatever happened to latency.
//   - own errors: failures none of whose children failed.
//   - the call shape: calls the service makes per call it receives, per
//     callee (a failing service skips its downstream calls).
//   - slow calls out: when nearly every edge out of a service slows at
//     once, the durations its clients measure are inflated by the service
//     itself (a starved CPU, its network): that is evidence for the
//     caller, and the self times of its callees are discounted by it.
//
// Each signal is a calibrated z score against the series' own history (see
// calibratedZ), so a busy, stable service is as quiet as an idle one.

const (
	rcMinWindows = 5   // windows a series needs before it has a baseline
	rcScale      = 3.0 // a combined z of rcScale scores 0.5
	rcSuspects   = 3   // suspects listed per finding
	countFloor   = 2.0 // count z below this is noise (countZ)
	welchMaxN    = 30  // windows with fewer calls are judged by their own spread too (calibratedZ)
	// a finding moves to the edge into a service below its callee when that
	// service's score is at least rcRetarget and rcMargin above the callee's
	rcRetarget = 0.5
	rcMargin   = 0.1
)

// ServiceRow is a row of services.parquet: one service in one window, with
// the evidence behind its root-cause score. Columns are added, never
// renamed.
type ServiceRow struct {
	Service             string  `parquet:"service,dict"`
	WindowStartUnixNano int64   `parquet:"window_start_unix_nano,delta"`
	Calls               int64   `parquet:"calls,delta"` // calls into the service (trace resolved)
	SelfP50Ms           float64 `parquet:"self_p50_ms"` // median self time
	SelfZ               float64 `parquet:"self_z"`      // calibrated z of the mean log self time
	TraceEndZ           float64 `parquet:"trace_end_z"` // traces ending here, most unusual root operation
	OwnErrors           int64   `parquet:"own_errors,delta"`
	OwnErrorZ           float64 `parquet:"own_error_z"`
	CallShapeZ          float64 `parquet:"call_shape_z"` // calls out per call in, most changed callee
	SlowOutZ            float64 `parquet:"slow_out_z"`   // lower quartile of the z of its outgoing edges' durations
	CallerSlowZ         float64 `parquet:"caller_slow_z"`
	RootCauseZ          float64 `parquet:"root_cause_z"`
	RootCauseScore      float64 `parquet:"root_cause_score"` // z/(z+3): in [0, 1), higher = more likely the root cause
}

// Suspect is a service ranked as the root cause of a finding.
type Suspect struct {
	Service string  `json:"service"`
	Score   float64 `json:"score"` // its mean root_cause_score over the finding's windows
}

// calibratedZ standardises per-window means m (with within-window variance
// v over n observations) against the series' own history with a
// random-effects model: a window's mean varies by sampling (v/n) and by
// the window-to-window variability τ² every real system has (a mix of
// operations, load). τ² is what the robust spread of the means leaves after
// sampling, so a busy edge, whose sampling error is tiny, is judged by its
// real variability and not flagged in every window, and a quiet one by its
// sampling error (with welch, by the window's own variance when that is
// larger). Windows with n = 0 get 0; so do series with fewer than
// rcMinWindows windows (no baseline). The result and the scratch space
// are taken from f.
func calibratedZ(m, v, n []float64, welch bool, f *floats) []float64 {
	z := f.take(len(m))
	// the windows' means, variances, inverse counts and deviations, and the
	// medians' scratch: one allocation, none of them grown by appends
	k := len(m)
	buf := f.take(5 * k)
	ms, vs, inv, dev, scratch := buf[:0:k], buf[k:k:2*k], buf[2*k:2*k:3*k], buf[3*k:4*k], buf[4*k:]
	// Two medians are known without selecting (TestCalibratedZFast): the
	// variances' when they all have the same bits (p99's series has none,
	// all 0; a count per call has one, its mean), and the inverse counts'
	// when it is multiplied by a zero sw and they are all finite (and
	// positive): the product is sw.
	sameV, finiteInv := true, true
	for i := range m {
		if n[i] <= 0 {
			continue
		}
		ms = append(ms, m[i])
		r := 1 / n[i]
		inv = append(inv, r)
		finiteInv = finiteInv && r-r == 0
		if n[i] >= 2 {
			sameV = sameV && (len(vs) == 0 || math.Float64bits(v[i]) == math.Float64bits(vs[0]))
			vs = append(vs, v[i])
		}
	}
	if len(ms) < rcMinWindows {
		return z
	}
	mu := medianIn(ms, scratch)
	sw := 0.0
	if len(vs) > 0 {
		sw = vs[0]
		if !sameV {
			sw = medianIn(vs, scratch)
		}
	}
	dev = dev[:len(ms)]
	for i, x := range ms {
		dev[i] = math.Abs(x - mu)
	}
	mad := 1.4826 * medianIn(dev, scratch)
	swInv := sw // sw times the inverse counts' median
	if sw != 0 || !finiteInv {
		swInv = sw * medianIn(inv, scratch)
	}
	tau2 := max(0, mad*mad-swInv)
	floor := 1e-4 + 1e-3*math.Abs(mu) // no division by zero on a constant series
	for i := range m {
		if n[i] <= 0 {
			continue
		}
		// With welch, the own spread of a window of few calls counts when
		// it is larger than usual: one extreme call among a few moves the
		// mean, not the whole window (Welch's view of the sampling error).
		// Self times use it; edge durations do not, as a starved caller
		// widens the spread of every call it makes, which is the signal;
		// nor do windows of welchMaxN calls or more, whose mean one call
		// cannot carry away.
		within := sw
		if welch && n[i] >= 2 && n[i] < welchMaxN {
			within = max(sw, v[i])
		}
		z[i] = clampZ((m[i] - mu) / math.Sqrt(tau2+within/n[i]+floor*floor))
	}
	return z
}

// callGraph maps each service to its callees (below) and to its callers
// (above), from the table's edges (the ingress and self-calls left out).
func callGraph(t *features.Table) (below, above map[string][]string) {
	below, above = map[string][]string{}, map[string][]string{}
	for i := range t.Edges {
		if e := &t.Edges[i]; e.Caller != "" && e.Caller != e.Callee {
			below[e.Caller] = append(below[e.Caller], e.Callee)
			above[e.Callee] = append(above[e.Callee], e.Caller)
		}
	}
	return below, above
}

// rootCauses computes services.parquet's rows from the table; above maps a
// service to its callers (callGraph).
func rootCauses(t *features.Table, above map[string][]string) []ServiceRow {
	rows := make([]ServiceRow, len(t.Services))
	if len(t.Services) == 0 {
		return rows
	}
	// each series' scratch slices, reused by the next
	f := &floats{}
	// each service's rows, a run of t.Services sorted by start: looked up
	// by walking a run beside another series sorted by start (serviceRows)
	runs := map[string][2]int{}
	for i, s := range t.Services {
		rows[i] = ServiceRow{Service: s.Service, WindowStartUnixNano: s.StartUnixNano, Calls: s.Calls,
			SelfP50Ms: round6(s.SelfP50Ms), OwnErrors: s.OwnErrors}
	}
	// self time and own errors, per service series
	for lo := 0; lo < len(t.Services); {
		hi := lo
		for hi < len(t.Services) && t.Services[hi].Service == t.Services[lo].Service {
			hi++
		}
		runs[t.Services[lo].Service] = [2]int{lo, hi}
		ss := t.Services[lo:hi]
		f.reset()
		m, v, n := f.take(len(ss)), f.take(len(ss)), f.take(len(ss))
		for j, s := range ss {
			m[j], v[j], n[j] = s.SelfLogMean, s.SelfLogVar, float64(s.Calls)
		}
		for j, z := range calibratedZ(m, v, n, true, f) {
			rows[lo+j].SelfZ = z
		}
		own := f.take(len(ss))
		var errs, calls float64
		for j, s := range ss {
			own[j] = float64(s.OwnErrors)
			errs += own[j]
			calls += n[j]
		}
		if errs > 0 {
			for j, z := range countSeriesZ(own, n, errs/calls, 0, f) {
				rows[lo+j].OwnErrorZ = z
			}
		}
		lo = hi
	}
	// serviceRows returns, for each of the ascending window starts, the row
	// of svc in that window, -1 where it has none.
	idx := []int{}
	serviceRows := func(svc string, n int, start func(j int) int64) []int {
		idx = slices.Grow(idx[:0], n)[:n]
		run, ok := runs[svc]
		r := run[0]
		for j := range n {
			idx[j] = -1
			for ok && r < run[1] && t.Services[r].StartUnixNano < start(j) {
				r++
			}
			if ok && r < run[1] && t.Services[r].StartUnixNano == start(j) {
				idx[j] = r
			}
		}
		return idx
	}
	// trace ends, per root operation and service: the ends are sorted by
	// root, start and service, so each root's are a run of them, its
	// windows in order
	var wins, traces []int64    // the root's windows, and its traces in each
	bySvc := map[string][]int{} // indexes of the root's ends, per service
	for lo := 0; lo < len(t.TraceEnds); {
		root := t.TraceEnds[lo].Root
		wins, traces = wins[:0], traces[:0]
		clear(bySvc)
		var rootTotal int64
		hi := lo
		for ; hi < len(t.TraceEnds) && t.TraceEnds[hi].Root == root; hi++ {
			e := &t.TraceEnds[hi]
			rootTotal += e.Traces
			bySvc[e.Service] = append(bySvc[e.Service], hi)
			if k := len(wins); k == 0 || wins[k-1] != e.StartUnixNano {
				wins = append(wins, e.StartUnixNano)
				traces = append(traces, 0)
			}
			traces[len(traces)-1] += e.Traces
		}
		lo = hi
		for _, svc := range slices.Sorted(maps.Keys(bySvc)) {
			// a series over every window of the root: traces that ended
			// at the service out of the root's traces
			f.reset()
			ends, n := f.take(len(wins)), f.take(len(wins))
			var total float64
			for _, i := range bySvc[svc] {
				e := &t.TraceEnds[i]
				j, _ := slices.BinarySearch(wins, e.StartUnixNano)
				ends[j] = float64(e.Traces)
				total += ends[j]
			}
			for j := range wins {
				n[j] = float64(traces[j])
			}
			at := serviceRows(svc, len(wins), func(j int) int64 { return wins[j] })
			for j, z := range countSeriesZ(ends, n, total/float64(rootTotal), 0, f) {
				if r := at[j]; r >= 0 && z > rows[r].TraceEndZ {
					rows[r].TraceEndZ = z
				}
			}
		}
	}
	// edges: duration z and calls per incoming call
	// the z of every row's edges out, as (row, z) pairs: a slice per row
	// was tens of thousands of small slices grown by appends
	type rowZ struct {
		row int
		z   float64
	}
	// at most one per edge window: allocated once, not grown
	slowOut := make([]rowZ, 0, len(t.Windows))
	for i := range t.Edges {
		e := &t.Edges[i]
		if e.Caller == "" {
			// the ingress: no caller's row for either
			continue
		}
		ws := t.EdgeWindows(i)
		f.reset()
		m, v, n := f.take(len(ws)), f.take(len(ws)), f.take(len(ws))
		for j, w := range ws {
			m[j], v[j], n[j] = w.LogMean, w.LogVar, float64(w.Calls)
		}
		at := serviceRows(e.Caller, len(ws), func(j int) int64 { return ws[j].StartUnixNano })
		for j, z := range calibratedZ(m, v, n, false, f) {
			if r := at[j]; ws[j].Calls > 0 && r >= 0 {
				slowOut = append(slowOut, rowZ{r, z})
			}
		}
		// calls per call into the caller
		ratio, rv, rn := f.take(len(ws)), f.take(len(ws)), f.take(len(ws))
		var calls, in float64
		for j, w := range ws {
			if r := at[j]; r >= 0 && t.Services[r].Calls > 0 {
				rn[j] = float64(t.Services[r].Calls)
				ratio[j] = float64(w.Calls) / rn[j]
				calls += float64(w.Calls)
				in += rn[j]
			} else {
				at[j] = -1
			}
		}
		if in == 0 {
			continue
		}
		for j := range rv {
			rv[j] = calls / in // Poisson: the variance of a count per call is its mean
		}
		for j, z := range calibratedZ(ratio, rv, rn, false, f) {
			if r := at[j]; r >= 0 && math.Abs(z) > math.Abs(rows[r].CallShapeZ) {
				rows[r].CallShapeZ = z
			}
		}
	}
	// grouped by row (a counting sort; each row's z are sorted, so their
	// order within the row does not matter)
	first := make([]int, len(rows)+1)
	for _, o := range slowOut {
		first[o.row+1]++
	}
	for r := range rows {
		first[r+1] += first[r]
	}
	zs := make([]float64, len(slowOut))
	fill := slices.Clone(first[:len(rows)])
	for _, o := range slowOut {
		zs[fill[o.row]] = o.z
		fill[o.row]++
	}
	for r := range rows {
		zr := zs[first[r]:first[r+1]]
		if len(zr) < 2 {
			continue
		}
		// the lower quartile: nearly every edge out slowed, not one of two
		slices.Sort(zr)
		rows[r].SlowOutZ = max(0, zr[(len(zr)-1)/4])
	}
	// a caller whose every edge slowed explains its callees' self times
	for lo := 0; lo < len(t.Services); {
		svc := t.Services[lo].Service
		run := runs[svc]
		ss := t.Services[run[0]:run[1]]
		lo = run[1]
		for _, c := range above[svc] {
			for j, r := range serviceRows(c, len(ss), func(j int) int64 { return ss[j].StartUnixNano }) {
				if r >= 0 {
					row := &rows[run[0]+j]
					row.CallerSlowZ = max(row.CallerSlowZ, rows[r].SlowOutZ)
				}
			}
		}
	}
	for i := range rows {
		r := &rows[i]
		z := max(math.Abs(r.SelfZ)-r.CallerSlowZ, r.TraceEndZ, r.OwnErrorZ, r.SlowOutZ, 0)
		r.RootCauseZ = round6(z)
		r.RootCauseScore = round6(z / (z + rcScale))
		r.SelfZ, r.TraceEndZ, r.OwnErrorZ = round6(r.SelfZ), round6(r.TraceEndZ), round6(r.OwnErrorZ)
		r.CallShapeZ, r.SlowOutZ, r.CallerSlowZ = round6(r.CallShapeZ), round6(r.SlowOutZ), round6(r.CallerSlowZ)
	}
	return rows
}

// reach returns svc and every service below it in the call graph (below
// maps a service to its callees).
func reach(below map[string][]string, svc string) map[string]bool {
	seen := map[string]bool{svc: true}
	queue := []string{svc}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, c := range below[s] {
			if !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	return seen
}

// suspects ranks the services that can be the root cause of a finding on
// caller→callee over [from, to): the callee and every service below it,
// by their mean root-cause score over those windows (the mean, not the
// highest: a finding that lasts hours is explained by what lasts with it,
// not by another service's five bad minutes).
func suspects(rows []ServiceRow, below map[string][]string, callee string, from, to int64) []Suspect {
	cand := reach(below, callee)
	sum, n := map[string]float64{}, map[string]int{}
	for i := range rows {
		r := &rows[i]
		if cand[r.Service] && r.WindowStartUnixNano >= from && r.WindowStartUnixNano < to {
			sum[r.Service] += r.RootCauseScore
			n[r.Service]++
		}
	}
	out := make([]Suspect, 0, len(sum))
	for s, v := range sum {
		out = append(out, Suspect{s, round6(v / float64(n[s]))})
	}
	slices.SortFunc(out, func(a, b Suspect) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Service, b.Service))
	})
	return out[:min(rcSuspects, len(out))]
}

// countZ returns, per window, how unusual a high count is for the series: the
// z of a Poisson tail at the series' rate p times the window's calls (mid-p,
// so a count at its mean scores 0 and rare events are not overstated the
// way a normal approximation overstates them), capped by how far the
// window's rate is from p in units of the series' own robust spread of
// rates. A window must be unusual both for its sample size and for the
// edge's history: a busy edge whose error rate always moves by a point is
// not flagged in every window for moving by a point.
//
// Fewer events than usual score 0. So does what is within floor of it: the
// isolation forest gets a floor of countFloor, below which a count is what
// the edge does every day (one failure among a few calls); its features
// are soft-thresholded so that it does not isolate windows by ordinary
// noise (a feature that is slightly negative in proportion to the traffic
// would even let it tell busy edges from quiet ones). Its result and scratch
// space are taken from f.
func countZ(ws []features.Window, p float64, count func(*features.Window) int64, f *floats) []float64 {
	k, n := f.take(len(ws)), f.take(len(ws))
	for j := range ws {
		k[j], n[j] = float64(count(&ws[j])), float64(ws[j].Calls)
	}
	return countSeriesZ(k, n, p, countFloor, f)
}

// countSeriesZ is countZ over counts k of n trials, its result and
// scratch space taken from f.
func countSeriesZ(k, n []float64, p, floor float64, f *floats) []float64 {
	z := f.take(len(k))
	// A window without events scores 0 at a rate p ≥ 0: both its Poisson z
	// and its z against the spread are ≤ 0, and max(0, z-floor) leaves 0
	// (TestNoEventsScoreZero). Most windows have no errors, retries or
	// timeouts, and the Poisson tail is the costly part; most series of
	// retries and timeouts have no window left, and the spread of the
	// rates, a median, is computed at the first window that needs it.
	noEvents := p >= 0 && floor >= 0
	var tau float64
	var rates []float64
	spread := false
	for j := range k {
		if n[j] == 0 || k[j] == 0 && noEvents {
			continue
		}
		if !spread {
			tau, rates = rateSpread(k, n, p, f)
			spread = true
		}
		zs := poissonZ(k[j], n[j]*p)
		if tau > 0 && len(rates) >= rcMinWindows {
			zv := (k[j]/n[j] - p) / tau
			if math.Abs(zv) < math.Abs(zs) {
				zs = zv
			}
		}
		z[j] = clampZ(max(0, zs-floor))
	}
	return z
}

// rateSpread returns the robust spread of the rates k/n of the windows
// with trials around p (1.4826 times their median absolute deviation) and
// the rates, in scratch space taken from f.
func rateSpread(k, n []float64, p float64, f *floats) (tau float64, rates []float64) {
	buf := f.take(3 * len(k)) // rates, their deviations, the median's scratch
	rates, dev, scratch := buf[:0:len(k)], buf[len(k):2*len(k)], buf[2*len(k):]
	for j := range k {
		if n[j] > 0 {
			rates = append(rates, k[j]/n[j])
		}
	}
	dev = dev[:len(rates)]
	for i, r := range rates {
		dev[i] = math.Abs(r - p)
	}
	return 1.4826 * medianIn(dev, scratch), rates
}

// poissonZ is the signed normal score of count k under Poisson(mu): from
// the mid-p upper tail when k > mu, the lower tail when k < mu.
func poissonZ(k, mu float64) float64 {
	if mu <= 0 {
		if k == 0 {
			return 0
		}
		mu = 1e-9
	}
	if mu > 200 {
		return (k - mu) / math.Sqrt(mu+0.25)
	}
	switch {
	case k > mu:
		// the mid-p upper tail P(X = k)/2 + P(X > k), summed from k up
		// (1 − the lower tail would cancel to nothing far out)
		lg := lgammaCount(k)
		var sum, term float64 = 0, 1
		for j := 1.0; j < 10000; j++ {
			term *= mu / (k + j)
			sum += term
			if term < 1e-17*sum {
				break
			}
		}
		upper := math.Exp(k*math.Log(mu)-mu-lg) * (0.5 + sum)
		return -normalQuantile(max(1e-300, upper))
	case k < mu:
		// the mid-p lower tail P(X < k) + P(X = k)/2, from 0 up by the
		// recurrence p(i+1) = p(i)·mu/(i+1)
		var below float64
		pi := math.Exp(-mu)
		for i := 0.0; i < k; i++ {
			below += pi
			pi *= mu / (i + 1)
		}
		return normalQuantile(max(1e-300, below+0.5*pi))
	}
	return 0
}

// lgammaTable holds ln Γ(i+1), math.Lgamma's, for the counts i below
// its length: a count's tail needs it at every window with events.
var lgammaTable = sync.OnceValue(func() []float64 {
	t := make([]float64, 1024)
	for i := range t {
		t[i], _ = math.Lgamma(float64(i) + 1)
	}
	return t
})

// lgammaCount is ln Γ(k+1) as math.Lgamma computes it, from lgammaTable
// when k is a count it holds (TestLgammaCount).
func lgammaCount(k float64) float64 {
	if t := lgammaTable(); k >= 0 && k < float64(len(t)) && k == math.Trunc(k) {
		return t[int(k)]
	}
	lg, _ := math.Lgamma(k + 1)
	return lg
}

// retarget moves a finding whose root cause lies below its callee onto the
// edge into the root-cause service: of the edges into it from the callee
// or a service below, the one with the most calls in the finding's
// windows. The symptom edge is kept in SymptomCaller/SymptomCallee and the
// explanation says where the finding moved and why.
func retarget(t *features.Table, f *Finding, below map[string][]string) {
	if len(f.Suspects) == 0 {
		return
	}
	top := f.Suspects[0]
	if top.Service == f.Callee || top.Score < rcRetarget {
		return
	}
	callee := 0.0
	for _, s := range f.Suspects {
		if s.Service == f.Callee {
			callee = s.Score
		}
	}
	if top.Score < callee+rcMargin {
		return
	}
	under := reach(below, f.Callee)
	best, bestCalls := -1, int64(-1)
	for i := range t.Edges {
		e := &t.Edges[i]
		if e.Callee != top.Service || !under[e.Caller] || e.Caller == e.Callee {
			continue
		}
		var calls int64
		for _, w := range t.EdgeWindows(i) {
			if w.StartUnixNano >= f.FromUnixNano && w.StartUnixNano < f.ToUnixNano {
				calls += w.Calls
			}
		}
		if calls > bestCalls { // edges are sorted: ties keep the first
			best, bestCalls = i, calls
		}
	}
	if best < 0 {
		return
	}
	e := &t.Edges[best]
	f.SymptomCaller, f.SymptomCallee = f.Caller, f.Callee
	f.Caller, f.Callee = e.Caller, e.Callee
	f.Explanation += fmt.Sprintf(" The root cause is most likely %s (root-cause score %.2f against %.2f for %s), so the finding targets %s.",
		top.Service, top.Score, callee, f.SymptomCallee, edgeName(e))
}

// rcFindingZ is the combined z of a service-window that is a finding on
// its own: never reached on fault-free traffic (TestCalibration's data: 0
// of 78,000 service-windows reach 9), and a score of 0.75.
const (
	rcFindingZ       = 9.0
	rcFindingWindows = 2  // flagged windows an episode needs ...
	rcFindingAlone   = 12 // ... unless one reaches this z
)

// rootCauseFindings turns episodes of service-windows whose root-cause z is
// at least rcFindingZ (gaps up to maxGap windows; rcFindingWindows of them,
// or one of at least rcFindingAlone)
// into anomaly findings on the busiest edge into the service, unless a
// finding of the other rules on the service or below it overlaps: it
// covers the service, or explains it. They catch what the episode rules miss
// by design: a short incident (a few minutes) on a service with a few calls
// a minute. The evidence names what pointed at the service
// (dominant_self_latency_z, dominant_trace_end_failure_z,
// dominant_own_error_z, dominant_slow_out_latency_z), so generate picks a
// latency or a failure fault.
func rootCauseFindings(t *features.Table, rows []ServiceRow, existing []Finding, below map[string][]string) []Finding {
	win := int64(t.Window)
	var out []Finding
	for lo := 0; lo < len(rows); {
		hi := lo
		for hi < len(rows) && rows[hi].Service == rows[lo].Service {
			hi++
		}
		ss := rows[lo:hi]
		lo = hi
		for i := 0; i < len(ss); {
			if ss[i].RootCauseZ < rcFindingZ {
				i++
				continue
			}
			j, last, flagged, top := i, i, 0, 0.0 // the episode [i, last]
			for j < len(ss) && ss[j].WindowStartUnixNano-ss[last].WindowStartUnixNano <= int64(maxGap+1)*win {
				if ss[j].RootCauseZ >= rcFindingZ {
					last = j
					flagged++
					top = max(top, ss[j].RootCauseZ)
				}
				j++
			}
			if flagged >= rcFindingWindows || top >= rcFindingAlone {
				if f, ok := rootCauseFinding(t, ss[i:last+1], existing, below); ok {
					out = append(out, f)
				}
			}
			i = last + 1
		}
	}
	return out
}

func rootCauseFinding(t *features.Table, ep []ServiceRow, existing []Finding, below map[string][]string) (Finding, bool) {
	svc := ep[0].Service
	from, to := ep[0].WindowStartUnixNano, ep[len(ep)-1].WindowStartUnixNano+int64(t.Window)
	// the service and everything below it: a finding there covers the
	// service (it is the finding's callee) or explains it (a caller slows
	// or fails fast when a callee fails, and its retries wait on its own
	// time)
	under := reach(below, svc)
	for i := range existing {
		f := &existing[i]
		if f.Predicted || f.FromUnixNano >= to || f.ToUnixNano <= from {
			continue
		}
		if under[f.Callee] || len(f.Suspects) > 0 && f.Suspects[0].Service == svc {
			return Finding{}, false
		}
	}
	best, bestCalls := -1, int64(0)
	for i := range t.Edges {
		e := &t.Edges[i]
		if e.Callee != svc || e.Caller == svc {
			continue
		}
		var calls int64
		for _, w := range t.EdgeWindows(i) {
			if w.StartUnixNano >= from && w.StartUnixNano < to {
				calls += w.Calls
			}
		}
		if calls > bestCalls {
			best, bestCalls = i, calls
		}
	}
	if best < 0 {
		return Finding{}, false
	}
	e := &t.Edges[best]
	var top ServiceRow
	ev := map[string]float64{"windows": float64(len(ep))}
	for _, r := range ep {
		if r.RootCauseZ > top.RootCauseZ {
			top = r
		}
		ev["root_cause_score"] = max(ev["root_cause_score"], r.RootCauseScore)
	}
	ev["self_z"], ev["trace_end_z"], ev["own_error_z"], ev["slow_out_z"] = top.SelfZ, top.TraceEndZ, top.OwnErrorZ, top.SlowOutZ
	// what pointed at the service, in the finding's best window
	type sig struct {
		key, why string
		z        float64
	}
	sigs := []sig{
		{"dominant_self_latency_z", fmt.Sprintf("its own time per call moved %.1f standard deviations from its usual (median %.1f ms)", top.SelfZ, top.SelfP50Ms), math.Abs(top.SelfZ) - top.CallerSlowZ},
		{"dominant_trace_end_failure_z", fmt.Sprintf("far more requests than usual stopped at it (z %.1f), as when a service fails before calling on", top.TraceEndZ), top.TraceEndZ},
		{"dominant_own_error_z", fmt.Sprintf("it failed calls none of its callees failed (%d, z %.1f)", top.OwnErrors, top.OwnErrorZ), top.OwnErrorZ},
		{"dominant_slow_out_latency_z", fmt.Sprintf("nearly every call it made slowed at once (z %.1f), as when its CPU or network is starved", top.SlowOutZ), top.SlowOutZ},
	}
	d := sigs[0]
	for _, s := range sigs[1:] {
		if s.z > d.z {
			d = s
		}
	}
	ev[d.key] = d.z
	for k, v := range ev {
		ev[k] = round6(v)
	}
	return Finding{
		Caller: e.Caller, Callee: e.Callee, Kind: KindAnomaly,
		Score:        round6(ev["root_cause_score"] * (0.5 + 0.5*e.Criticality)),
		From:         time.Unix(0, from).UTC().Format(time.RFC3339),
		To:           time.Unix(0, to).UTC().Format(time.RFC3339),
		FromUnixNano: from, ToUnixNano: to,
		Evidence: ev,
		Explanation: fmt.Sprintf("%s looks like the root cause of what went wrong from %s to %s (root-cause score %.2f): %s. Test how %s copes when %s misbehaves this way.",
			svc, fmtTime(from), fmtTime(to), ev["root_cause_score"], d.why, callerName(e), svc),
	}, true
}
