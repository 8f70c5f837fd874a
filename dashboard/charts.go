package dashboard

import (
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/features"
)

// num writes a count with thousands separators, or a number with up to two
// decimals.
func num(v float64) string {
	if v != math.Trunc(v) || math.Abs(v) >= 1e15 {
		return trimFloat(v, 2)
	}
	s := strconv.FormatInt(int64(math.Abs(v)), 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if v < 0 {
		return "-" + string(out)
	}
	return string(out)
}

// pct writes a fraction as a percentage.
func pct(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	switch p := v * 100; {
	case p == 0:
		return "0%"
	case p < 0.1:
		return trimFloat(p, 3) + "%"
	case p < 10:
		return trimFloat(p, 2) + "%"
	default:
		return trimFloat(p, 1) + "%"
	}
}

// chartWidth is the width the edge charts are drawn at, in SVG units: the
// width of a card at 1440 pixels; CSS scales them to the card.
const chartWidth = 1300

// EdgeCharts are the rendered charts of an edge page.
type EdgeCharts struct {
	Calls, P99, Errors template.HTML
	Injection          template.HTML
	InjectionSource    string
	Response           template.HTML
	ResponseSource     string
}

// buckets maps times to buckets of bw nanoseconds from t0.
type buckets struct {
	t0, bw int64
	n      int
	t1     int64 // end of the shown range
}

func (d *Data) edgeBuckets(e *Edge) buckets {
	w := int64(d.Window)
	t0 := d.Summary.TimeRange.StartUnixNano
	t1 := d.Summary.TimeRange.EndUnixNano
	if len(e.windows) > 0 {
		t0 = min(t0, e.windows[0].WindowStartUnixNano)
	}
	for _, s := range e.forecast {
		if len(s) > 0 {
			t1 = max(t1, s[len(s)-1].TUnixNano+w)
		}
	}
	t0 -= mod(t0, w)
	// Show as much forecast as there is history, so that a short
	// recording is not squeezed against a day of forecast.
	end := d.Summary.TimeRange.EndUnixNano
	t1 = max(end, min(t1, end+(end-t0)))
	nw := max(1, (t1-t0+w-1)/w)
	per := (nw + MaxBuckets - 1) / MaxBuckets
	bw := per * w
	return buckets{t0: t0, bw: bw, n: int((t1 - t0 + bw - 1) / bw), t1: t1}
}

func (b buckets) index(t int64) int {
	i := int((t - b.t0) / b.bw)
	return min(max(i, 0), b.n-1)
}

func (b buckets) mid(i int) int64 { return b.t0 + int64(i)*b.bw + b.bw/2 }

// Charts renders the charts of an edge page at the given width.
func (d *Data) Charts(e *Edge, width float64) EdgeCharts {
	bk := d.edgeBuckets(e)
	perWin := float64(bk.bw) / float64(d.Window) // windows per bucket
	perMin := float64(time.Minute) / float64(d.Window)
	dataEnd := d.Summary.TimeRange.EndUnixNano
	calls := make([]float64, bk.n)
	errs := make([]float64, bk.n)
	p99 := make([]float64, bk.n)
	anom := make([]bool, bk.n)
	for i := range p99 {
		p99[i] = math.NaN()
	}
	for _, w := range e.windows {
		i := bk.index(w.WindowStartUnixNano)
		calls[i] += float64(w.Calls)
		errs[i] += float64(w.Errors)
		if w.Calls > 0 {
			if math.IsNaN(p99[i]) || w.P99Ms > p99[i] {
				p99[i] = w.P99Ms
			}
		}
		if w.AnomalyScore >= AnomalyMark {
			anom[i] = true
		}
	}
	var callPts, p99Pts, errPts []xy
	for i := 0; i < bk.n; i++ {
		t := bk.t0 + int64(i)*bk.bw
		if t > dataEnd {
			break
		}
		callPts = append(callPts, xy{bk.mid(i), calls[i] / perWin * perMin})
		p99Pts = append(p99Pts, xy{bk.mid(i), p99[i]})
		er := math.NaN()
		if calls[i] > 0 {
			er = errs[i] / calls[i]
		}
		errPts = append(errPts, xy{bk.mid(i), er})
	}
	var shades []shade
	for i := 0; i < bk.n; i++ {
		if !anom[i] {
			continue
		}
		j := i
		for j+1 < bk.n && anom[j+1] {
			j++
		}
		shades = append(shades, shade{bk.t0 + int64(i)*bk.bw, bk.t0 + int64(j+1)*bk.bw, colAnomaly, "anomaly score ≥ 0.7", true})
		i = j
	}
	for _, fd := range e.Findings {
		title := fd.Kind + " finding, score " + trimFloat(fd.Score, 2)
		if fd.Predicted {
			title = "predicted " + title
		}
		shades = append(shades, shade{fd.FromUnixNano, fd.ToUnixNano, colFinding, title, false})
	}
	fcLine := func(metric string, scale float64) (line, band) {
		s := e.forecast[metric]
		sum := make([][3]float64, bk.n)
		cnt := make([]int, bk.n)
		for _, r := range s {
			if r.TUnixNano >= bk.t1 {
				break
			}
			i := bk.index(r.TUnixNano)
			sum[i][0] += r.Forecast
			sum[i][1] += r.Lower
			sum[i][2] += r.Upper
			cnt[i]++
		}
		var l line
		var b band
		for i := 0; i < bk.n; i++ {
			if cnt[i] == 0 {
				continue
			}
			c := float64(cnt[i])
			l.pts = append(l.pts, xy{bk.mid(i), sum[i][0] / c * scale})
			b.lo = append(b.lo, xy{bk.mid(i), max(0, sum[i][1]/c*scale)})
			b.hi = append(b.hi, xy{bk.mid(i), sum[i][2] / c * scale})
		}
		return l, b
	}
	marks := []legendItem{{"anomalous window", colAnomaly, "box"}, {"finding", colFinding, "band"}}
	bucketNote := ""
	if bk.bw > int64(d.Window) {
		bucketNote = "per " + time.Duration(bk.bw).String() + " bucket"
	}
	var ch EdgeCharts
	{
		fl, fb := fcLine("calls", perMin)
		fl.name, fl.color, fl.dash = "forecast", colCalls, true
		fb.name, fb.color = "95% band", colCalls
		c := &timeChart{title: "Calls", unit: "per minute", w: width, h: 220, shades: shades, x0: bk.t0, x1: bk.t1,
			lines: []line{{name: "observed", color: colCalls, pts: callPts}, fl}, bands: []band{fb},
			legend: append([]legendItem{{"observed", colCalls, "line"}, {"forecast", colCalls, "dash"}, {"95% band", colCalls, "band"}}, marks...)}
		if len(fl.pts) == 0 {
			c.lines, c.bands = c.lines[:1], nil
			c.legend = append([]legendItem{{"observed", colCalls, "line"}}, marks...)
		}
		ch.Calls = c.render()
	}
	{
		fl, fb := fcLine("p99_ms", 1)
		fl.name, fl.color, fl.dash = "forecast", colP99, true
		fb.name, fb.color = "95% band", colP99
		unit := "ms"
		if bucketNote != "" {
			unit = "ms, highest window " + bucketNote
		}
		c := &timeChart{title: "p99 latency", unit: unit, w: width, h: 220, shades: shades, x0: bk.t0, x1: bk.t1,
			lines: []line{{name: "observed", color: colP99, pts: p99Pts}, fl}, bands: []band{fb},
			legend: append([]legendItem{{"observed", colP99, "line"}, {"forecast", colP99, "dash"}, {"95% band", colP99, "band"}}, marks...)}
		if len(fl.pts) == 0 {
			c.lines, c.bands = c.lines[:1], nil
			c.legend = append([]legendItem{{"observed", colP99, "line"}}, marks...)
		}
		ch.P99 = c.render()
	}
	ch.Errors = (&timeChart{title: "Error rate", unit: "errors / calls", w: width, h: 200, pct: true, shades: shades, x0: bk.t0, x1: bk.t1,
		lines:  []line{{name: "error rate", color: colErrors, pts: errPts}},
		legend: append([]legendItem{{"error rate", colErrors, "line"}}, marks...)}).render()

	// Injection activity and system response: the replay when it has
	// this edge, else the analysed spans' own markers.
	names := slices.Clone(features.FaultTypes)
	colors := faultColors[:]
	legend := func() []legendItem {
		var l []legendItem
		for i, n := range names {
			l = append(l, legendItem{n, colors[i], "box"})
		}
		return l
	}
	if len(e.replay) > 0 {
		rb := activityBuckets(e.replay, d.Window)
		bars := &barSet{t0: rb.t0, bw: rb.bw, names: names, colors: colors, vals: make([][]float64, rb.n)}
		resp := make([][4]float64, rb.n)
		for i := range bars.vals {
			bars.vals[i] = make([]float64, len(names))
		}
		for _, w := range e.replay {
			i := rb.index(w.StartUnixNano)
			for j, n := range names {
				bars.vals[i][j] += float64(w.Injected.Of(n))
			}
			for k, v := range replayResponses(&w) {
				resp[i][k] += float64(v)
			}
		}
		ch.Injection = (&timeChart{title: "Injected calls by fault type", unit: unitPer(rb.bw), w: width, h: 200, bars: bars, legend: legend()}).render()
		ch.InjectionSource = "replay " + d.Replay.Dir + "/spans.parquet"
		var ls [4]line
		for k, n := range []string{"retries", "timeouts", "breaker open", "fallbacks"} {
			ls[k] = line{name: n, color: []string{colRetries, colTimeouts, colBreaker, colFallback}[k]}
		}
		for i := 0; i < rb.n; i++ {
			for k := range ls {
				ls[k].pts = append(ls[k].pts, xy{rb.mid(i), resp[i][k]})
			}
		}
		ch.Response = (&timeChart{title: "System response", unit: unitPer(rb.bw), w: width, h: 200, lines: ls[:],
			legend: []legendItem{{"retries", colRetries, "line"}, {"timeouts", colTimeouts, "line"}, {"breaker open", colBreaker, "line"}, {"fallbacks", colFallback, "line"}}}).render()
		ch.ResponseSource = ch.InjectionSource
		return ch
	}
	bars := &barSet{t0: bk.t0, bw: bk.bw, names: names, colors: colors, vals: make([][]float64, bk.n)}
	resp := make([][2]float64, bk.n)
	for i := range bars.vals {
		bars.vals[i] = make([]float64, len(names))
	}
	for _, w := range e.windows {
		i := bk.index(w.WindowStartUnixNano)
		for j, n := range names {
			bars.vals[i][j] += float64(w.Faults().Of(n))
		}
		resp[i][0] += float64(w.Retries)
		resp[i][1] += float64(w.Timeouts)
	}
	ch.Injection = (&timeChart{title: "Injected calls by fault type", unit: unitPer(bk.bw), w: width, h: 200, bars: bars, legend: legend(), x0: bk.t0, x1: dataEnd}).render()
	ch.InjectionSource = "analysed spans (windows.parquet injected_*)"
	var rl [2]line
	rl[0] = line{name: "retries", color: colRetries}
	rl[1] = line{name: "timeouts", color: colTimeouts}
	for i := 0; i < bk.n; i++ {
		if bk.t0+int64(i)*bk.bw > dataEnd {
			break
		}
		rl[0].pts = append(rl[0].pts, xy{bk.mid(i), resp[i][0]})
		rl[1].pts = append(rl[1].pts, xy{bk.mid(i), resp[i][1]})
	}
	ch.Response = (&timeChart{title: "System response", unit: unitPer(bk.bw), w: width, h: 200, lines: rl[:], x0: bk.t0, x1: dataEnd,
		legend: []legendItem{{"retries", colRetries, "line"}, {"timeouts", colTimeouts, "line"}}}).render()
	ch.ResponseSource = "analysed spans (windows.parquet); breaker opens and fallbacks need --replay"
	return ch
}

func unitPer(bw int64) string {
	d := time.Duration(bw)
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	s = strings.TrimSuffix(s, "0m")
	if d == time.Minute {
		s = "minute"
	} else if d == time.Hour {
		s = "hour"
	}
	return "calls per " + s
}

// replayResponses are the retries, timeouts, breaker opens and fallbacks
// among all of a replay window's calls: features counts those of the
// organic calls and of the injected calls apart.
func replayResponses(w *features.Window) [4]int64 {
	r := w.InjectedResponses
	return [4]int64{w.Retries + r.Retries, w.Timeouts + r.Timeouts, w.CircuitOpen + r.CircuitOpen, w.Fallbacks + r.Fallbacks}
}

func activityBuckets(a []features.Window, window time.Duration) buckets {
	w := int64(window)
	t0, t1 := a[0].StartUnixNano, a[len(a)-1].StartUnixNano+w
	nw := max(1, (t1-t0+w-1)/w)
	bw := (nw + MaxBuckets - 1) / MaxBuckets * w
	return buckets{t0: t0, bw: bw, n: int((t1 - t0 + bw - 1) / bw)}
}
