package analysis

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/internal/edge"
)

// episode is a run of flagged windows of one edge: window positions
// [from, to) in the edge's window list.
type episode struct {
	from, to int
	flagged  int
}

// episodes groups flagged windows into runs, joining flags at most gap grid
// windows apart.
func episodes(flag []bool, k []int, gap int) []episode {
	var out []episode
	cur := episode{from: -1}
	lastK := 0
	for j, f := range flag {
		if !f {
			continue
		}
		if cur.from >= 0 && k[j]-lastK <= gap {
			cur.to = j + 1
			cur.flagged++
		} else {
			if cur.from >= 0 {
				out = append(out, cur)
			}
			cur = episode{from: j, to: j + 1, flagged: 1}
		}
		lastK = k[j]
	}
	if cur.from >= 0 {
		out = append(out, cur)
	}
	return out
}

// candidate is a finding before root-cause suppression.
type candidate struct {
	Finding
	edge       int
	suppressed bool
}

func edgeName(e *features.Edge) string { return edge.Edge{Caller: e.Caller, Callee: e.Callee}.String() }

func fmtTime(t int64) string { return time.Unix(0, t).UTC().Format("Jan 2 15:04 MST") }

// findings derives the ranked findings from the edge models and the window
// scores (see docs/analysis.md for the rules).
func findings(t *features.Table, models []*edgeModel, edges []scoredEdge, g grid) []Finding {
	var cands []*candidate
	// each service's load forecast: the sum of its incoming edges' forecasts
	svcForecast := map[string][]float64{}
	for _, m := range models {
		e := &t.Edges[m.i]
		if len(m.callsFcast) == 0 {
			continue
		}
		fc := svcForecast[e.Callee]
		if fc == nil {
			fc = make([]float64, len(m.callsFcast))
			svcForecast[e.Callee] = fc
		}
		for j, c := range m.callsFcast {
			fc[j] += c
		}
	}
	win := int64(t.Window)
	for _, m := range models {
		e := &t.Edges[m.i]
		ws := m.ws
		add := func(kind string, from, to int64, score float64, ev map[string]float64, expl string) {
			for k, v := range ev {
				ev[k] = round6(v)
			}
			cands = append(cands, &candidate{edge: m.i, Finding: Finding{
				Caller: e.Caller, Callee: e.Callee, Kind: kind,
				Score:        round6(score * (0.5 + 0.5*e.Criticality)),
				From:         time.Unix(0, from).UTC().Format(time.RFC3339),
				To:           time.Unix(0, to).UTC().Format(time.RFC3339),
				FromUnixNano: from, ToUnixNano: to,
				Evidence: ev, Explanation: expl,
			}})
		}
		topCode := int32(0)
		if len(e.ErrorCodes) > 0 {
			topCode = e.ErrorCodes[0].Code
		}
		statusNote := ""
		if topCode != 0 {
			statusNote = fmt.Sprintf(" (mostly status %d)", topCode)
		}
		covered := make([]bool, len(ws))

		// errors: a persistently failing edge, or bursts over the baseline
		if m.p0 >= persistentRate && e.Errors >= 10 {
			from, to := ws[0].StartUnixNano, ws[len(ws)-1].StartUnixNano+win
			add(KindErrors, from, to, math.Sqrt(min(1, e.ErrorRate/0.3))*(1-math.Exp(-float64(e.Errors)/20)),
				map[string]float64{"error_rate": e.ErrorRate, "calls": float64(e.Calls), "errors": float64(e.Errors), "top_status": float64(topCode), "timeouts": float64(e.Timeouts)},
				fmt.Sprintf("%s fails %.1f%% of its %d calls throughout the data%s, so its callers already depend on handling these failures: test that they do.",
					edgeName(e), 100*e.ErrorRate, e.Calls, statusNote))
		}
		for _, ep := range episodes(m.errFlag, m.k, maxGap) {
			var calls, errs, retries int64
			for j := ep.from; j < ep.to; j++ {
				calls += ws[j].Calls
				errs += ws[j].Errors
				retries += ws[j].Retries
				covered[j] = true
			}
			rate := float64(errs) / float64(max(1, calls))
			excess := float64(errs) - m.p0*float64(calls)
			if excess < errMinExcess || ep.flagged < 3 && excess < 5*errMinExcess {
				continue
			}
			from, to := ws[ep.from].StartUnixNano, ws[ep.to-1].StartUnixNano+win
			retryNote := ""
			if retries > 0 && float64(retries) >= 0.2*float64(calls) {
				retryNote = fmt.Sprintf(" and %s retried them (%.0f%% of calls were retries)", callerName(e), 100*float64(retries)/float64(calls))
			}
			add(KindErrors, from, to, math.Sqrt(min(1, (rate-m.p0)/0.3))*(1-math.Exp(-excess/20)),
				map[string]float64{"error_rate": rate, "baseline_error_rate": m.p0, "calls": float64(calls), "errors": float64(errs),
					"excess_errors": excess, "retries": float64(retries), "windows": float64(ep.to - ep.from), "top_status": float64(topCode)},
				fmt.Sprintf("%s failed %.0f%% of calls%s from %s to %s instead of its usual %.2f%%%s: check how %s copes when %s fails this way.",
					edgeName(e), 100*rate, statusNote, fmtTime(from), fmtTime(to), 100*m.p0, retryNote, callerName(e), e.Callee))
		}

		// latency episodes: load-driven (capacity) or not (latency)
		lat := episodes(m.latFlag, m.k, latGap)
		// the rank correlation and the knee of load and latency, computed
		// at their first use: most edges have no latency episode, and the
		// knee needs one or the callee's forecast
		var rho, knee, kneeRatio float64
		haveRho, haveKnee := false, false
		loadRho := func() float64 {
			if !haveRho {
				rho, haveRho = spearmanLoadLatency(ws, m.load), true
			}
			return rho
		}
		needKnee := func() {
			if !haveKnee {
				knee, kneeRatio = loadKnee(ws, m.load)
				haveKnee = true
			}
		}
		for _, ep := range lat {
			n := ep.to - ep.from
			if ep.flagged < latMinWindows || 2*ep.flagged < n {
				continue
			}
			var epCalls int64
			for j := ep.from; j < ep.to; j++ {
				epCalls += ws[j].Calls
			}
			if epCalls < latMinCalls {
				continue
			}
			var l50, l99, loads []float64
			for j := ep.from; j < ep.to; j++ {
				covered[j] = true
				if !math.IsNaN(m.s50[j]) {
					l50 = append(l50, m.s50[j])
					l99 = append(l99, m.s99[j])
					loads = append(loads, m.load[j])
				}
			}
			if len(l50) == 0 {
				continue
			}
			ratio := math.Exp(median(l50) - m.base50)
			ratio99 := math.Exp(median(l99) - m.base99)
			p99ms := math.Exp(median(l99))
			// how much slower: the p50 ratio, or half the tail's in log terms
			eff := max(ratio, math.Sqrt(ratio99))
			if eff < 1.25 {
				continue
			}
			load := median(loads)
			loadExplained := loadRho() >= 0.3 && !slowAtLowLoad(ws, m.load, ep)
			from, to := ws[ep.from].StartUnixNano, ws[ep.to-1].StartUnixNano+win
			score := min(1, math.Log(eff)/math.Log(4)) * min(1, float64(ep.flagged)/10)
			ev := map[string]float64{"mean_ms": math.Exp(median(l50)), "baseline_mean_ms": math.Exp(m.base50),
				"p99_ms": p99ms, "baseline_p99_ms": math.Exp(m.base99), "latency_ratio": ratio,
				"calls_per_window": load, "load_latency_spearman": rho, "windows": float64(n)}
			if loadExplained {
				if needKnee(); knee > 0 {
					ev["knee_calls_per_window"] = knee
				}
				add(KindCapacity, from, to, score, ev,
					fmt.Sprintf("%s's latency climbs with load: on %s its mean latency rose %.1fx (%.1f → %.1f ms) at %.0f calls per %s from %s to %s; treat %s as a bottleneck at traffic peaks.",
						e.Callee, edgeName(e), ratio, math.Exp(m.base50), math.Exp(median(l50)), load, t.Window, fmtTime(from), fmtTime(to), e.Callee))
				continue
			}
			add(KindLatency, from, to, score, ev,
				fmt.Sprintf("%s became %.1fx slower (mean %.1f → %.1f ms, p99 %.1f → %.1f ms) from %s to %s, at traffic levels where it used to be fast: look for a change in %s around %s.",
					edgeName(e), eff, math.Exp(m.base50), math.Exp(median(l50)), math.Exp(m.base99), p99ms, fmtTime(from), fmtTime(to), e.Callee, fmtTime(from)))
		}

		// predicted bottleneck: the callee's forecast load reaches the knee
		if fc := svcForecast[e.Callee]; len(fc) > 0 {
			needKnee()
		}
		if fc := svcForecast[e.Callee]; knee > 0 && len(fc) > 0 {
			first, lastK, peak, above := -1, -1, 0.0, 0
			for j, c := range fc {
				peak = max(peak, c)
				if c >= knee {
					if first < 0 {
						first = j
					}
					lastK = j
					above++
				}
			}
			if above >= predictMinWindows {
				from, to := g.time(g.n+first), g.time(g.n+lastK+1)
				add(KindCapacity, from, to, 0.8*min(1, math.Log(kneeRatio)/math.Log(4)),
					map[string]float64{"knee_calls_per_window": knee, "forecast_peak_calls_per_window": peak, "latency_ratio_above_knee": kneeRatio},
					fmt.Sprintf("the forecast puts %s at %.0f incoming calls per %s around %s, above the %.0f where its latency on %s starts climbing (%.1fx): expect a bottleneck unless %s gets more capacity.",
						e.Callee, peak, t.Window, fmtTime(from), knee, edgeName(e), kneeRatio, e.Callee))
				cands[len(cands)-1].Predicted = true
			}
		}

		// anomalies no other finding explains
		scores := edges[m.i].windows
		cols := len(featureNames)
		anom := make([]bool, len(ws))
		for j := range ws {
			anom[j] = !covered[j] && scores[j].anomaly >= anomalyCut
		}
		for _, ep := range episodes(anom, m.k, maxGap) {
			if ep.flagged < anomalyMinWindows {
				continue
			}
			best, sum := 0.0, make([]float64, cols)
			for j := ep.from; j < ep.to; j++ {
				best = max(best, scores[j].anomaly)
				for c := 0; c < cols; c++ {
					sum[c] += math.Abs(m.x[j*cols+c])
				}
			}
			dom := 0
			for c := range sum {
				if sum[c] > sum[dom] {
					dom = c
				}
			}
			from, to := ws[ep.from].StartUnixNano, ws[ep.to-1].StartUnixNano+win
			ev := map[string]float64{"anomaly_score": best, "windows": float64(ep.to - ep.from)}
			for c, name := range featureNames {
				ev[name] = sum[c] / float64(ep.to-ep.from)
			}
			add(KindAnomaly, from, to, max(0, min(1, 2*(best-0.5)))*min(1, float64(ep.flagged)/10), ev,
				fmt.Sprintf("%s behaved unusually from %s to %s (isolation forest score %.2f), mostly in %s (%.1f robust standard deviations from its baseline): look at what changed then.",
					edgeName(e), fmtTime(from), fmtTime(to), best, featureNames[dom], sum[dom]/float64(ep.to-ep.from)))
			ev["dominant_"+featureNames[dom]] = round6(sum[dom] / float64(ep.to-ep.from))
		}
	}
	suppressPropagated(t, cands)
	var out []Finding
	for _, c := range cands {
		if !c.suppressed {
			out = append(out, c.Finding)
		}
	}
	slices.SortFunc(out, compareFindings)
	return out
}

// compareFindings orders findings best first, ending on a unique key.
func compareFindings(a, b Finding) int {
	return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Caller, b.Caller), cmp.Compare(a.Callee, b.Callee),
		cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.FromUnixNano, b.FromUnixNano))
}

func callerName(e *features.Edge) string {
	if e.Caller == "" {
		return "the ingress"
	}
	return e.Caller
}

// suppressPropagated drops findings that are symptoms of a finding further
// down the call graph: a finding on A→B is dropped when an edge reachable
// from B (B→C, C→D, ...) has a finding that can cause it and overlaps at
// least half of it in time. Errors cause errors; errors, latency and
// capacity cause latency and capacity; any finding but an anomaly causes an
// anomaly.
// Predicted findings are only compared with predicted ones. The kept
// finding's evidence counts the upstream symptoms it explains.
func suppressPropagated(t *features.Table, cands []*candidate) {
	// explains reports whether a downstream finding of kind d can cause an
	// upstream one of kind u.
	explains := func(d, u string) bool {
		switch u {
		case KindErrors:
			return d == KindErrors
		case KindLatency, KindCapacity:
			return d == KindErrors || d == KindLatency || d == KindCapacity
		}
		return d != KindAnomaly
	}
	// downstream[s] = services reachable from s (excluding s itself)
	calls := map[string][]string{}
	for _, e := range t.Edges {
		if e.Caller != "" && e.Caller != e.Callee {
			calls[e.Caller] = append(calls[e.Caller], e.Callee)
		}
	}
	reach := func(from string) map[string]bool {
		seen := map[string]bool{}
		stack := []string{from}
		for len(stack) > 0 {
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, c := range calls[s] {
				if !seen[c] {
					seen[c] = true
					stack = append(stack, c)
				}
			}
		}
		return seen
	}
	below := map[string]map[string]bool{}
	for _, up := range cands {
		r := below[up.Callee]
		if r == nil {
			r = reach(up.Callee)
			r[up.Callee] = true // edges leaving the callee itself
			below[up.Callee] = r
		}
		for _, down := range cands {
			if down == up || !r[down.Caller] || down.Callee == up.Callee || down.Caller == up.Caller && down.Callee == up.Callee ||
				!explains(down.Kind, up.Kind) || down.Predicted != up.Predicted {
				continue
			}
			overlap := min(up.ToUnixNano, down.ToUnixNano) - max(up.FromUnixNano, down.FromUnixNano)
			if 2*overlap >= up.ToUnixNano-up.FromUnixNano {
				up.suppressed = true
				down.Evidence["upstream_symptoms"]++
				break
			}
		}
	}
}

// slowAtLowLoad reports whether an episode is slow where load cannot
// explain it: its windows with less than the edge's median load are slower
// (by 25% or more) than the windows outside the episode at the same load
// (within 10%). A capacity limit only shows at high load; a regression
// shows at every load. It reports false when the episode has fewer than
// five such windows or fewer than five comparable windows exist outside.
func slowAtLowLoad(ws []features.Window, load []float64, ep episode) bool {
	all := make([]float64, 0, len(ws))
	for j := range ws {
		if ws[j].Calls >= minLatCalls && ws[j].MeanMs > 0 {
			all = append(all, load[j])
		}
	}
	medLoad := median(all)
	var inLat []float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for j := ep.from; j < ep.to; j++ {
		if ws[j].Calls >= minLatCalls && ws[j].MeanMs > 0 && load[j] < medLoad {
			inLat = append(inLat, math.Log(ws[j].MeanMs))
			lo, hi = min(lo, load[j]), max(hi, load[j])
		}
	}
	if len(inLat) < 5 {
		return false
	}
	var peers []float64
	for j := range ws {
		if (j < ep.from || j >= ep.to) && ws[j].Calls >= minLatCalls && ws[j].MeanMs > 0 && load[j] >= 0.9*lo && load[j] <= 1.1*hi {
			peers = append(peers, math.Log(ws[j].MeanMs))
		}
	}
	if len(peers) < 5 {
		return false
	}
	return median(inLat)-median(peers) >= math.Log(1.25)
}

// spearmanLoadLatency is the rank correlation of load and p50 over the
// edge's windows with enough calls.
func spearmanLoadLatency(ws []features.Window, load []float64) float64 {
	x, y := make([]float64, 0, len(ws)), make([]float64, 0, len(ws))
	for j, w := range ws {
		if w.Calls >= minLatCalls && w.MeanMs > 0 {
			x = append(x, load[j])
			y = append(y, w.MeanMs)
		}
	}
	if len(x) < 10 {
		return 0
	}
	rx, ry := ranks(x), ranks(y)
	var mx, my float64
	for i := range rx {
		mx += rx[i]
		my += ry[i]
	}
	mx /= float64(len(rx))
	my /= float64(len(ry))
	var sxy, sxx, syy float64
	for i := range rx {
		sxy += (rx[i] - mx) * (ry[i] - my)
		sxx += (rx[i] - mx) * (rx[i] - mx)
		syy += (ry[i] - my) * (ry[i] - my)
	}
	if sxx == 0 || syy == 0 {
		return 0
	}
	return sxy / math.Sqrt(sxx*syy)
}

// ranks returns average ranks (ties share their mean rank; v holds no
// NaN). The values are put in order by a radix sort (radixSort) with their
// positions beside them: several times cheaper than the stable sort of
// positions with a comparison function it replaces (most of
// spearmanLoadLatency's time), and the ranks depend only on the runs of
// equal values, not on their arrangement.
func ranks(v []float64) []float64 {
	n := len(v)
	keys, pos := make([]uint64, n), make([]int32, n)
	for i, x := range v {
		keys[i], pos[i] = floatKey(x), int32(i)
	}
	radixSort(keys, pos)
	r := make([]float64, n)
	for i := 0; i < n; {
		j := i
		for j < n && v[pos[j]] == v[pos[i]] {
			j++
		}
		for k := i; k < j; k++ {
			r[pos[k]] = float64(i+j-1) / 2
		}
		i = j
	}
	return r
}

// loadKnee estimates the load at which the edge's latency starts climbing:
// windows sorted by load (the callee's smoothed incoming calls per window)
// into ten equal bins, the median p50 per bin; the
// knee is the lightest bin from which every heavier bin is at least 25%
// slower than the fastest light bin, provided the heaviest is at least 50%
// slower. It returns the knee's calls per window (0 when there is none) and
// the heaviest bin's latency over the healthy level.
// The knee is in the callee's incoming calls per window.
func loadKnee(ws []features.Window, load []float64) (knee, ratio float64) {
	type pt struct{ load, lat float64 }
	pts := make([]pt, 0, len(ws))
	for j, w := range ws {
		if w.Calls >= minLatCalls && w.MeanMs > 0 {
			pts = append(pts, pt{load[j], math.Log(w.MeanMs)})
		}
	}
	const bins = 10
	if len(pts) < 5*bins {
		return 0, 0
	}
	// by load, then latency (the points hold no NaN and no -0, so this is
	// the order of comparing them field by field)
	pos := pairOrder(len(pts), func(i int) float64 { return pts[i].load }, func(i int) float64 { return pts[i].lat })
	med := make([]float64, bins)
	lo := make([]float64, bins)
	for b := 0; b < bins; b++ {
		part := pos[b*len(pts)/bins : (b+1)*len(pts)/bins]
		lat := make([]float64, len(part))
		for i, j := range part {
			lat[i] = pts[j].lat
		}
		med[b], lo[b] = median(lat), pts[part[0]].load
	}
	base := slices.Min(med[:bins/2])
	if med[bins-1]-base < math.Log(1.5) {
		return 0, 0
	}
	k := bins - 1
	for k > 0 && med[k-1]-base >= math.Log(1.25) {
		k--
	}
	if k == 0 {
		return 0, 0
	}
	return lo[k], math.Exp(med[bins-1] - base)
}
