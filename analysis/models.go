package analysis

import (
	"fmt"
	"iter"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/models/holtwinters"
	"github.com/chaosgen/chaosgen/models/iforest"
)

// "Model" has one meaning in chaosgen: a package under models/ (iforest,
// holtwinters), a pure function of its input and parameters. This file is
// analyze's model stage: it runs those models over the feature table (a
// Holt-Winters forecast per edge series, isolation-forest scores per edge
// window) and derives from their output, with the robust flags, the
// findings and the services' root-cause ranking. Package models is only the
// models' CSV front end (chaosgen models).

// ModelOptions control the model stage of analyze.
type ModelOptions struct {
	// Season is the seasonal period of the Holt-Winters forecasts. Zero
	// means automatic: one day when the data covers at least two days,
	// otherwise no season. Negative means no season.
	Season time.Duration
	// Horizon is how far ahead to forecast; one day when zero.
	Horizon time.Duration
	// Seed seeds the isolation forest.
	Seed uint64
	// Workers bounds the goroutines; 0 means GOMAXPROCS.
	Workers int
}

// Thresholds of the detectors (documented in docs/analysis.md).
const (
	minModelWindows   = 10   // edges with fewer active windows get no models
	minLatCalls       = 3    // windows with fewer calls carry no latency signal
	errZ              = 4.0  // binomial z of a window's errors over the baseline
	errExcessRate     = 0.05 // ... and 5 points above the baseline error rate
	errMinErrors      = 3    // ... and at least 3 errors in the window
	latRatio50        = 1.4  // p50 40% above the edge's healthy level ...
	latZ50            = 3.0  // ... by 3 robust standard deviations
	latRatio99        = 2.0  // or p99 twice the healthy level ...
	latZ99            = 4.0  // ... by 4
	p99MinCalls       = 100
	anomalyCut        = 0.7  // isolation forest score of an anomalous window
	anomalyMinWindows = 5    // anomalous windows an anomaly episode needs
	maxGap            = 3    // windows between flagged windows of an errors or anomaly episode
	latGap            = 10   // ... of a latency episode (latency is noisier)
	latMinWindows     = 8    // flagged windows a latency episode needs ...
	latMinCalls       = 150  // ... and calls
	errMinExcess      = 15   // excess errors an errors episode needs (with 3 flagged windows, or 5x as many)
	loadSmooth        = 15   // windows in the moving average of a service's load
	latSmooth         = 11   // windows in the rolling median of an edge's latency
	predictMinWindows = 10   // forecast windows above the knee for a predicted bottleneck
	persistentRate    = 0.05 // an edge failing this often has persistent errors
)

// featureNames are the columns of the isolation forest's input, in order.
var featureNames = []string{"p99_z", "mean_z", "errors_z", "retries_z", "timeouts_z", "calls_residual_z"}

// edgeModel is one edge's series, baselines, flags and model results.
type edgeModel struct {
	i          int // edge index
	ws         []features.Window
	k          []int     // global window index of each window
	x          []float64 // feature rows, len(ws) × len(featureNames)
	errFlag    []bool
	latFlag    []bool
	load       []float64 // the callee's smoothed incoming calls, per window
	s50, s99   []float64 // rolling medians of ln p50 and ln p99 (NaN: too few calls)
	base50     float64   // healthy ln p50
	base99     float64
	p0         float64          // baseline error rate
	forecast   []forecastSeries // calls, then p99_ms
	callsFcast []float64        // point forecast of calls per window over the horizon
}

// modelResult is what the model stage adds to an analysis: scores,
// forecasts, and the findings and service ranking derived from them.
type modelResult struct {
	edges    []scoredEdge     // the table's edges with their scores
	forecast []forecastSeries // forecast.parquet's rows, by edge
	findings []Finding
	services []ServiceRow
}

// ForecastRow is a row of forecast.parquet.
type ForecastRow struct {
	Caller    string  `parquet:"caller,dict"`
	Callee    string  `parquet:"callee,dict"`
	Metric    string  `parquet:"metric,dict"` // calls (per window) or p99_ms
	TUnixNano int64   `parquet:"t_unix_nano,delta"`
	Forecast  float64 `parquet:"forecast"`
	Lower     float64 `parquet:"lower"` // 95% prediction interval
	Upper     float64 `parquet:"upper"`
}

// grid maps window starts to indexes 0..n-1.
type grid struct {
	start int64 // first window start
	win   int64
	n     int
}

func (g grid) index(t int64) int { return int((t - g.start) / g.win) }
func (g grid) time(k int) int64  { return g.start + int64(k)*g.win }

// runModelStage fits the forecasts, scores every window with the isolation
// forest and derives the findings and the service ranking from them.
func runModelStage(t *features.Table, opt ModelOptions) (*modelResult, error) {
	res := &modelResult{edges: scoreEdges(t)}
	if len(t.Windows) == 0 {
		return res, nil
	}
	win := int64(t.Window)
	g := grid{start: t.Windows[0].StartUnixNano, win: win}
	last := g.start
	for _, w := range t.Windows {
		g.start = min(g.start, w.StartUnixNano)
		last = max(last, w.StartUnixNano)
	}
	g.n = int((last-g.start)/win) + 1
	span := time.Duration(last - g.start + win)
	season := opt.Season
	if season == 0 && span >= 48*time.Hour {
		season = 24 * time.Hour
	}
	period := 0
	if season > 0 {
		period = int(season / t.Window)
		if period < 2 || int64(period)*2 > int64(g.n) {
			period = 0 // too short for the season: no seasonal model
		}
	}
	horizon := opt.Horizon
	if horizon <= 0 {
		horizon = 24 * time.Hour
	}
	h := max(1, int(horizon/t.Window))

	load := serviceLoad(t, g)
	models := make([]*edgeModel, len(t.Edges))
	// The isolation forest's input: every window's per-edge normalised
	// features, its rows the table's windows in order, written by the
	// edges' models in place (each edge's rows are a view of it).
	cols := len(featureNames)
	X := iforest.Matrix{Rows: len(t.Windows), Cols: cols, Data: make([]float64, len(t.Windows)*cols)}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := &floats{}
			for i := range next {
				e := &t.Edges[i]
				x := X.Data[e.FirstWindow*cols : (e.FirstWindow+e.Windows)*cols]
				models[i] = modelEdge(t, i, g, period, h, load[e.Callee], x, f)
			}
		}()
	}
	for i := range t.Edges {
		next <- i
	}
	close(next)
	wg.Wait()

	if X.Rows >= 2 {
		f, err := iforest.Fit(X, iforest.Options{Seed: opt.Seed, Workers: opt.Workers})
		if err != nil {
			return nil, fmt.Errorf("isolation forest: %w", err)
		}
		// X's rows are the table's windows, in order
		scores := f.ScoreAll(X)
		for i := range res.edges {
			e := &res.edges[i]
			ws := scores[e.FirstWindow : e.FirstWindow+e.Windows]
			for j := range ws {
				ws[j] = round6(ws[j])
				e.windows[j].anomaly = ws[j]
			}
			e.anomaly = edgeAnomaly(ws)
		}
	}
	for _, m := range models {
		res.forecast = append(res.forecast, m.forecast...)
	}
	res.findings = findings(t, models, res.edges, g)
	below, above := callGraph(t)
	res.services = rootCauses(t, above)
	for i := range res.findings {
		f := &res.findings[i]
		if !f.Predicted {
			f.Suspects = suspects(res.services, below, f.Callee, f.FromUnixNano, f.ToUnixNano)
			retarget(t, f, below)
		}
	}
	rc := rootCauseFindings(t, res.services, res.findings, below)
	for i := range rc {
		rc[i].Suspects = suspects(res.services, below, rc[i].Callee, rc[i].FromUnixNano, rc[i].ToUnixNano)
	}
	res.findings = append(res.findings, rc...)
	slices.SortFunc(res.findings, compareFindings)
	return res, nil
}

// serviceLoad returns each service's incoming calls per window over the
// grid, smoothed by a centred moving average of loadSmooth windows: the
// load that decides whether a service is at capacity, steadier than one
// edge's count in one window.
func serviceLoad(t *features.Table, g grid) map[string][]float64 {
	raw := map[string][]float64{}
	for i := range t.Edges {
		e := &t.Edges[i]
		r := raw[e.Callee]
		if r == nil {
			r = make([]float64, g.n)
			raw[e.Callee] = r
		}
		for _, w := range t.EdgeWindows(i) {
			r[g.index(w.StartUnixNano)] += float64(w.Calls)
		}
	}
	out := make(map[string][]float64, len(raw))
	for svc, r := range raw {
		s := make([]float64, g.n)
		var sum float64
		lo, hi := 0, 0 // window [lo, hi)
		for k := range r {
			for hi < len(r) && hi <= k+loadSmooth/2 {
				sum += r[hi]
				hi++
			}
			for lo < k-loadSmooth/2 {
				sum -= r[lo]
				lo++
			}
			s[k] = sum / float64(hi-lo)
		}
		out[svc] = s
	}
	return out
}

// edgeAnomaly aggregates an edge's window scores: the 99th percentile
// (nearest rank), so that a short episode among a day of normal windows
// still shows, while a single odd window does not.
func edgeAnomaly(scores []float64) float64 {
	if len(scores) == 0 {
		return 0
	}
	r := int(math.Ceil(0.99 * float64(len(scores))))
	return selectIn(scores, nil, max(r, 1)-1)
}

// modelEdge models edge i, its isolation-forest features written to x
// (zeros, a row per window); its scratch slices are taken from f, reset
// first (the model keeps none of them).
func modelEdge(t *features.Table, i int, g grid, period, h int, load []float64, x []float64, f *floats) *edgeModel {
	f.reset()
	e := &t.Edges[i]
	ws := t.EdgeWindows(i)
	m := &edgeModel{i: i, ws: ws, k: make([]int, len(ws)), load: make([]float64, len(ws))}
	for j, w := range ws {
		m.k[j] = g.index(w.StartUnixNano)
		m.load[j] = load[m.k[j]]
	}
	// Latency flags use a rolling median of ln p50 and ln p99 over the
	// edge's neighbouring windows: a regression or a capacity limit lasts,
	// while one window's quantiles are noisy when it holds few calls. The
	// healthy level is the 30th percentile of the smoothed series, the scale
	// its lower-tail spread (see robust).
	s50, s99 := rollingLogMedian(ws, func(w *features.Window) float64 { return w.MeanMs }, f),
		rollingLogMedian(ws, func(w *features.Window) float64 { return w.P99Ms }, f)
	m.s50, m.s99 = s50, s99
	l50, l99 := make([]float64, 0, len(ws)), make([]float64, 0, len(ws))
	for j := range ws {
		if !math.IsNaN(s50[j]) {
			l50 = append(l50, s50[j])
			l99 = append(l99, s99[j])
		}
	}
	base50, sc50 := robust(l50, 0.3, f)
	// the tail is noisier: its healthy level is the median, not the 30th
	// percentile, so that ordinary tail spikes do not look like episodes
	base99, sc99 := robust(l99, 0.5, f)
	m.base50, m.base99 = base50, base99
	m.p0 = trimmedRate(ws, func(w *features.Window) int64 { return w.Errors }, f)
	q0 := trimmedRate(ws, func(w *features.Window) int64 { return w.Retries }, f)
	t0 := trimmedRate(ws, func(w *features.Window) int64 { return w.Timeouts }, f)

	// forecasts on calls per window and on p99
	var callsZ []float64
	if len(ws) >= minModelWindows {
		calls := make([]float64, g.n)
		p99 := make([]float64, g.n)
		for j, w := range ws {
			calls[m.k[j]] = float64(w.Calls)
			p99[m.k[j]] = w.P99Ms
		}
		// carry the last p99 forward over windows without calls
		lastP := ws[0].P99Ms
		for k := range p99 {
			if p99[k] == 0 {
				p99[k] = lastP
			}
			lastP = p99[k]
		}
		fit, fcalls := forecast(e, "calls", calls, period, h, g, true)
		if fit != nil {
			callsZ = standardised(fit, g.n)
		}
		_, f99 := forecast(e, "p99_ms", p99, period, h, g, false)
		m.callsFcast, m.forecast = fcalls.point, []forecastSeries{fcalls, f99}
	}

	// The isolation forest's features are calibrated z scores against the
	// edge's own history (calibratedZ, countZ): what makes a window unusual
	// for this edge, whatever its traffic.
	lm, lv, ln := f.take(len(ws)), f.take(len(ws)), f.take(len(ws))
	pm, pv := f.take(len(ws)), f.take(len(ws))
	for j := range ws {
		if w := &ws[j]; w.Calls >= minLatCalls && w.MeanMs > 0 {
			lm[j], lv[j], ln[j] = w.LogMean, w.LogVar, float64(w.Calls)
			pm[j] = math.Log(max(w.P99Ms, 1e-6))
		}
	}
	meanZ, p99Z := calibratedZ(lm, lv, ln, false, f), calibratedZ(pm, pv, ln, false, f)
	errorsZ := countZ(ws, m.p0, func(w *features.Window) int64 { return w.Errors }, f)
	retriesZ := countZ(ws, q0, func(w *features.Window) int64 { return w.Retries }, f)
	timeoutsZ := countZ(ws, t0, func(w *features.Window) int64 { return w.Timeouts }, f)

	cols := len(featureNames)
	m.x = x
	m.errFlag = make([]bool, len(ws))
	m.latFlag = make([]bool, len(ws))
	for j := range ws {
		w := &ws[j]
		row := m.x[j*cols : (j+1)*cols]
		n := float64(w.Calls)
		if w.Calls >= minLatCalls && w.MeanMs > 0 {
			row[0], row[1] = p99Z[j], meanZ[j]
			sd50, sd99 := s50[j]-base50, s99[j]-base99
			// a window's p99 is only a tail with 100 calls or more; below
			// that it is nearly the maximum, which grows with the count
			m.latFlag[j] = sd50 >= math.Log(latRatio50) && sd50/sc50 >= latZ50 ||
				w.Calls >= p99MinCalls && sd99 >= math.Log(latRatio99) && sd99/sc99 >= latZ99
		}
		row[2], row[3], row[4] = errorsZ[j], retriesZ[j], timeoutsZ[j]
		if callsZ != nil {
			row[5] = clampZ(callsZ[m.k[j]])
		}
		m.errFlag[j] = w.Errors >= errMinErrors && binomZ(float64(w.Errors), n, m.p0) >= errZ && w.ErrorRate >= m.p0+errExcessRate
	}
	return m
}

// forecastSeries is one metric's forecast of an edge over the horizon:
// its rows of forecast.parquet are made as the file is written
// (forecastRows), not kept (a day of a mesh's rows are 10 MB).
type forecastSeries struct {
	e                   *features.Edge
	metric              string
	g                   grid
	point, lower, upper []float64 // no rows when point is nil; no interval when lower is nil
	nonNegative         bool
}

// forecast fits Holt-Winters (additive season when period > 0, else a
// damped Holt trend, which levels off instead of extrapolating a daily swing
// for a day) to y and forecasts h windows after the grid; with
// nonNegative, the point forecast is floored at 0.
func forecast(e *features.Edge, metric string, y []float64, period, h int, g grid, nonNegative bool) (*holtwinters.Model, forecastSeries) {
	opt := holtwinters.Options{Period: period, Seasonal: holtwinters.Additive}
	if period == 0 {
		opt = holtwinters.Options{Seasonal: holtwinters.None, Damped: true}
	}
	fit, err := holtwinters.Fit(y, opt)
	if err != nil {
		return nil, forecastSeries{}
	}
	point, lower, upper := fit.Forecast(h, 0.95)
	if nonNegative {
		for j := range point {
			point[j] = max(point[j], 0)
		}
	}
	return fit, forecastSeries{e: e, metric: metric, g: g, point: point, lower: lower, upper: upper, nonNegative: nonNegative}
}

// forecastRows yields the rows of forecast.parquet: each series' windows
// after the grid, its bounds floored at 0 when its point forecast is.
func forecastRows(series []forecastSeries) iter.Seq[ForecastRow] {
	return func(yield func(ForecastRow) bool) {
		for _, f := range series {
			for j, p := range f.point {
				lo, up := p, p
				if f.lower != nil {
					lo, up = f.lower[j], f.upper[j]
				}
				if f.nonNegative {
					lo, up = max(lo, 0), max(up, 0)
				}
				if !yield(ForecastRow{
					Caller: f.e.Caller, Callee: f.e.Callee, Metric: f.metric,
					TUnixNano: f.g.time(f.g.n + j),
					Forecast:  round6(p), Lower: round6(lo), Upper: round6(up),
				}) {
					return
				}
			}
		}
	}
}

// standardised returns the one-step residuals over their RMS, per grid
// index (0 before the model's first forecast).
func standardised(fit *holtwinters.Model, n int) []float64 {
	z := make([]float64, n)
	if len(fit.Residuals) == 0 {
		return z
	}
	sd := math.Sqrt(fit.SSE / float64(len(fit.Residuals)))
	if sd == 0 || math.IsNaN(sd) {
		return z
	}
	for i, r := range fit.Residuals {
		if fit.Start+i < n {
			z[fit.Start+i] = r / sd
		}
	}
	return z
}

// rollingLogMedian returns, per window, the median of ln(v) over the
// window and its latSmooth-1 nearest neighbours in the edge's window list
// that hold at least minLatCalls calls; NaN for windows with fewer calls.
// Its scratch space is taken from f.
func rollingLogMedian(ws []features.Window, v func(*features.Window) float64, f *floats) []float64 {
	idx, lv := make([]int, 0, len(ws)), f.take(len(ws))[:0]
	for j := range ws {
		if ws[j].Calls >= minLatCalls && v(&ws[j]) > 0 {
			idx = append(idx, j)
			lv = append(lv, math.Log(v(&ws[j])))
		}
	}
	out := make([]float64, len(ws))
	for j := range out {
		out[j] = math.NaN()
	}
	// buf holds lv[lo:hi] sorted; as the window slides, the value that
	// leaves is taken out and the one that enters put in its place in the
	// order (logarithms of values > 0: no NaN, no -0, so equal values have
	// equal bits, which of them leaves does not matter, and the median is
	// that of sorting each window afresh). The window holds at most
	// latSmooth values: a scan and a shift by plain comparisons, not a
	// binary search through cmp.Less's NaN handling.
	var arr [latSmooth]float64
	buf := arr[:0]
	lo, hi := 0, 0
	for i, j := range idx {
		nlo := max(0, i-latSmooth/2)
		nhi := min(len(lv), nlo+latSmooth)
		nlo = max(0, nhi-latSmooth)
		for ; lo < nlo; lo++ {
			buf = sortedDelete(buf, lv[lo])
		}
		for ; hi < nhi; hi++ {
			buf = sortedInsert(buf, lv[hi])
		}
		out[j] = buf[len(buf)/2]
	}
	return out
}

// sortedDelete removes one element equal to v from the ascending buf,
// which holds it and no NaN.
func sortedDelete(buf []float64, v float64) []float64 {
	k := 0
	for buf[k] < v {
		k++
	}
	copy(buf[k:], buf[k+1:])
	return buf[:len(buf)-1]
}

// sortedInsert inserts v, not NaN, into the ascending buf, which has room
// for it, after any element equal to it.
func sortedInsert(buf []float64, v float64) []float64 {
	k := len(buf)
	buf = buf[:k+1]
	for ; k > 0 && v < buf[k-1]; k-- {
		buf[k] = buf[k-1]
	}
	buf[k] = v
	return buf
}

// robust returns the healthy level, the level-th quantile, and a robust
// standard deviation from the lower tail: the spread between the
// (level-0.2)-th quantile and the level-th over its value for a normal
// distribution, floored at 0.05 in log units. Both ignore the upper part of
// the distribution, so an episode that covers even half of the data does
// not hide itself by raising them. The two quantiles are a sorted copy's
// elements, selected (selectIn) in scratch space taken from f.
func robust(xs []float64, level float64, f *floats) (base, scale float64) {
	if len(xs) == 0 {
		return 0, 1
	}
	buf := f.take(len(xs))
	q := func(p float64) float64 { return selectIn(xs, buf, min(len(xs)-1, int(p*float64(len(xs))))) }
	var normal float64
	switch level {
	case 0.3:
		normal = normalSpread[0]
	case 0.5:
		normal = normalSpread[1]
	default:
		normal = normalSpreadAt(level)
	}
	base = q(level)
	return base, max(0.05, (base-q(level-0.2))/normal)
}

// normalSpread is normalSpreadAt of the levels modelEdge uses, 0.3 and 0.5,
// computed once (TestNormalSpread).
var normalSpread = [2]float64{normalSpreadAt(0.3), normalSpreadAt(0.5)}

// normalSpreadAt is the spread of robust's quantiles for a normal
// distribution. Its level is a float64 variable: level-0.2 is rounded as
// robust rounds it (a constant expression 0.3-0.2 would be exact, 0.1,
// another float64 than 0.3-0.2 computed in float64).
func normalSpreadAt(level float64) float64 {
	return normalQuantile(level) - normalQuantile(level-0.2)
}

// normalQuantile is the standard normal quantile function.
func normalQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

// trimmedRate is the edge's rate of count per call over its windows, after
// leaving out the 5% of windows with the highest rate (an episode must not
// raise its own baseline; of windows with the same rate, the later ones go
// first), floored at 1e-4. The windows kept are those below the highest
// rate kept and, at it, the earliest: that rate is selected from a copy of
// the rates, without sorting the windows (the sums are integers, so their
// order does not matter). Its scratch space is taken from f.
func trimmedRate(ws []features.Window, count func(*features.Window) int64, f *floats) float64 {
	// without a count in any window, whatever is kept sums to 0: the floor
	// (most edges' retries and timeouts)
	none := true
	for j := range ws {
		if count(&ws[j]) != 0 {
			none = false
			break
		}
	}
	if none {
		return 1e-4
	}
	rates := f.take(len(ws))
	for j := range ws {
		rates[j] = float64(count(&ws[j])) / float64(max(1, ws[j].Calls))
	}
	var c, n int64
	if keep := len(ws) - len(ws)/20; keep > 0 {
		cut := selectIn(rates, f.take(len(ws)), keep-1)
		below := 0
		for _, r := range rates {
			if r < cut {
				below++
			}
		}
		ties := keep - below // the windows kept at rate cut
		for j, r := range rates {
			if r > cut || r == cut && ties == 0 {
				continue
			}
			if r == cut {
				ties--
			}
			c += count(&ws[j])
			n += ws[j].Calls
		}
	}
	if n == 0 {
		return 1e-4
	}
	return max(1e-4, float64(c)/float64(n))
}

// binomZ is the z score of k successes in n trials at rate p.
func binomZ(k, n, p float64) float64 {
	if n == 0 {
		return 0
	}
	return (k - n*p) / math.Sqrt(n*p*(1-p)+0.25)
}

func clampZ(z float64) float64 {
	if math.IsNaN(z) {
		return 0
	}
	return max(-20, min(20, z))
}
