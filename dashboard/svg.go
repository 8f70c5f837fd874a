package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"
)

// svgBuf builds SVG markup; every text and attribute value goes through esc.
type svgBuf struct{ strings.Builder }

func esc(s string) string { return html.EscapeString(s) }

// f formats a coordinate with one decimal, so output is byte-stable.
func f(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "0"
	}
	s := strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64)
	if s == "-0" {
		return "0"
	}
	return s
}

func (b *svgBuf) printf(format string, args ...any) { fmt.Fprintf(b, format, args...) }

// The sequential scale for anomaly (and for resilience, reversed): ColorBrewer
// BuPu, pale to deep, no red (red marks only what is bad).
var seqScale = []string{"#e0ecf4", "#bfd3e6", "#9ebcda", "#8c96c6", "#8c6bb1", "#88419d", "#6e016b"}

// seqColor maps v in [0, 1] to the sequential scale.
func seqColor(v float64) string {
	if math.IsNaN(v) {
		return "#cbd5e1"
	}
	v = min(1, max(0, v))
	i := int(math.Round(v * float64(len(seqScale)-1)))
	return seqScale[i]
}

// Chart colours.
const (
	colCalls    = "#3d6fa8"
	colP99      = "#6a4c93"
	colErrors   = "#c0392b"
	colAnomaly  = "#8c6bb1"
	colFinding  = "#e9a23b"
	colRetries  = "#3d6fa8"
	colTimeouts = "#d08c2c"
	colBreaker  = "#8c6bb1"
	colFallback = "#2a9d8f"
	colAdapt    = "#3d6fa8"
	colLearn    = "#2a9d8f"
)

var faultColors = [5]string{"#6c8ebf", "#c2665a", "#8c6bb1", "#d4a24c", "#94a3b8"}

// ---- time series charts ----

type xy struct {
	t int64 // unix nano
	v float64
}

type line struct {
	name, color string
	dash        bool
	pts         []xy // NaN values break the line
}

type band struct {
	name, color string
	lo, hi      []xy
}

type shade struct {
	from, to int64
	color    string
	title    string
	strip    bool // a mark along the top of the plot, not a full-height band
}

type legendItem struct {
	name, color, kind string // kind: line, dash, band, box
}

type timeChart struct {
	title  string
	unit   string // y axis unit, shown after the title
	w, h   float64
	lines  []line
	bands  []band
	shades []shade
	bars   *barSet
	legend []legendItem
	pct    bool  // y values are fractions shown as %
	x0, x1 int64 // the time range; from the data when zero
}

type barSet struct {
	t0, bw int64
	names  []string
	colors []string
	vals   [][]float64 // [bucket][series]
}

const (
	padL = 56.0
	padR = 16.0
	padT = 40.0
	padB = 28.0
)

// render draws the chart as an SVG element.
func (c *timeChart) render() template.HTML {
	if c.w == 0 {
		c.w, c.h = 760, 220
	}
	var t0, t1 int64 = math.MaxInt64, math.MinInt64
	ymax := 0.0
	span := func(t int64, v float64) {
		t0, t1 = min(t0, t), max(t1, t)
		if !math.IsNaN(v) {
			ymax = max(ymax, v)
		}
	}
	for _, l := range c.lines {
		for _, p := range l.pts {
			span(p.t, p.v)
		}
	}
	for _, b := range c.bands {
		for _, p := range b.hi {
			span(p.t, p.v)
		}
		for _, p := range b.lo {
			span(p.t, p.v)
		}
	}
	if c.bars != nil {
		for i, row := range c.bars.vals {
			s := 0.0
			for _, v := range row {
				s += v
			}
			span(c.bars.t0+int64(i)*c.bars.bw, s)
			span(c.bars.t0+int64(i+1)*c.bars.bw, math.NaN())
		}
	}
	var b svgBuf
	b.printf(`<svg class="chart" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`,
		f(c.w), f(c.h), f(c.w), f(c.h), esc(c.title))
	b.printf(`<text class="ctitle" x="%s" y="16">%s`, f(padL-48), esc(c.title))
	if c.unit != "" {
		b.printf(`<tspan class="cunit"> · %s</tspan>`, esc(c.unit))
	}
	b.WriteString(`</text>`)
	// legend, right-aligned on the title line
	lx := c.w - padR
	for i := len(c.legend) - 1; i >= 0; i-- {
		it := c.legend[i]
		lx -= 7*float64(len([]rune(it.name))) + 28
		b.legendEntry(lx, 12, it)
	}
	if c.x1 > c.x0 {
		t0, t1 = c.x0, c.x1
	}
	if t0 > t1 {
		b.printf(`<text class="empty" x="%s" y="%s" text-anchor="middle">no data</text></svg>`, f(c.w/2), f(c.h/2))
		return template.HTML(b.String())
	}
	if t1 == t0 {
		t1 = t0 + int64(time.Minute)
	}
	if ymax <= 0 {
		ymax = 1
	}
	ticks := niceTicks(ymax, 4)
	ytop := ticks[len(ticks)-1]
	pw, ph := c.w-padL-padR, c.h-padT-padB
	X := func(t int64) float64 { return padL + float64(t-t0)/float64(t1-t0)*pw }
	Y := func(v float64) float64 { return padT + ph - v/ytop*ph }
	for _, s := range c.shades {
		if s.to <= t0 || s.from >= t1 {
			continue
		}
		x0, x1 := X(max(s.from, t0)), X(min(s.to, t1))
		if x1 <= x0 {
			x1 = x0 + 1.5
		}
		if s.strip {
			b.printf(`<rect class="strip" x="%s" y="%s" width="%s" height="5" fill="%s"><title>%s</title></rect>`,
				f(x0), f(padT-7), f(x1-x0), s.color, esc(s.title))
			continue
		}
		b.printf(`<rect class="shade" x="%s" y="%s" width="%s" height="%s" fill="%s" fill-opacity="0.13"><title>%s</title></rect>`,
			f(x0), f(padT), f(x1-x0), f(ph), s.color, esc(s.title))
	}
	for _, v := range ticks {
		b.printf(`<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f(padL), f(padL+pw), f(Y(v)), f(Y(v)))
		b.printf(`<text class="tick" x="%s" y="%s" text-anchor="end">%s</text>`, f(padL-6), f(Y(v)+4), esc(tickLabel(v, c.pct)))
	}
	for _, tk := range timeTicks(t0, t1, pw) {
		x := X(tk.t)
		b.printf(`<line class="xtick" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f(x), f(x), f(padT+ph), f(padT+ph+4))
		b.printf(`<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>`, f(x), f(padT+ph+17), esc(tk.label))
	}
	for _, bd := range c.bands {
		var pts []string
		for _, p := range bd.hi {
			pts = append(pts, f(X(p.t))+","+f(Y(p.v)))
		}
		for i := len(bd.lo) - 1; i >= 0; i-- {
			pts = append(pts, f(X(bd.lo[i].t))+","+f(Y(bd.lo[i].v)))
		}
		if len(pts) > 0 {
			b.printf(`<polygon class="band" points="%s" fill="%s" fill-opacity="0.16"/>`, strings.Join(pts, " "), bd.color)
		}
	}
	if c.bars != nil {
		bw := float64(c.bars.bw) / float64(t1-t0) * pw
		gap := min(1.0, bw*0.15)
		for i, row := range c.bars.vals {
			x := X(c.bars.t0 + int64(i)*c.bars.bw)
			acc := 0.0
			for j, v := range row {
				if v <= 0 {
					continue
				}
				y1, y2 := Y(acc+v), Y(acc)
				b.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s</title></rect>`,
					f(x+gap/2), f(y1), f(max(0.5, bw-gap)), f(y2-y1), c.bars.colors[j], esc(c.bars.names[j]), esc(num(v)))
				acc += v
			}
		}
	}
	for _, l := range c.lines {
		var d strings.Builder
		pen := false
		for _, p := range l.pts {
			if math.IsNaN(p.v) {
				pen = false
				continue
			}
			if pen {
				d.WriteString("L")
			} else {
				d.WriteString("M")
				pen = true
			}
			d.WriteString(f(X(p.t)) + " " + f(Y(p.v)))
		}
		dash := ""
		if l.dash {
			dash = ` stroke-dasharray="5 4"`
		}
		b.printf(`<path class="series" d="%s" stroke="%s"%s fill="none"/>`, d.String(), l.color, dash)
	}
	b.printf(`<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f(padL), f(padL+pw), f(padT+ph), f(padT+ph))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func (b *svgBuf) legendEntry(x, y float64, it legendItem) {
	switch it.kind {
	case "line":
		b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="2.5"/>`, f(x), f(x+18), f(y), f(y), it.color)
	case "dash":
		b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="2" stroke-dasharray="4 3"/>`, f(x), f(x+18), f(y), f(y), it.color)
	case "band":
		b.printf(`<rect x="%s" y="%s" width="18" height="10" fill="%s" fill-opacity="0.25"/>`, f(x), f(y-5), it.color)
	default:
		b.printf(`<rect x="%s" y="%s" width="12" height="10" rx="2" fill="%s"/>`, f(x+3), f(y-5), it.color)
	}
	b.printf(`<text class="legend" x="%s" y="%s">%s</text>`, f(x+23), f(y+4), esc(it.name))
}

// niceTicks returns 0 and ticks at a step of 1, 2 or 5 × 10^k up to at least v.
func niceTicks(v float64, n int) []float64 {
	raw := v / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for i := 0; ; i++ {
		t := float64(i) * step
		out = append(out, t)
		if t >= v*0.999999 {
			break
		}
	}
	return out
}

func tickLabel(v float64, pct bool) string {
	if pct {
		return trimFloat(v*100, 2) + "%"
	}
	switch {
	case v >= 1e6:
		return trimFloat(v/1e6, 2) + "M"
	case v >= 1e4:
		return trimFloat(v/1e3, 1) + "k"
	}
	return trimFloat(v, 3)
}

func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

type timeTick struct {
	t     int64
	label string
}

// timeTicks chooses round UTC instants with at least 90 units between labels.
func timeTicks(t0, t1 int64, width float64) []timeTick {
	steps := []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour}
	span := time.Duration(t1 - t0)
	maxTicks := max(2, int(width/90))
	step := steps[len(steps)-1]
	for _, s := range steps {
		if int(span/s) <= maxTicks {
			step = s
			break
		}
	}
	first := t0 - mod(t0, int64(step))
	if first < t0 {
		first += int64(step)
	}
	var out []timeTick
	for t := first; t <= t1; t += int64(step) {
		tm := time.Unix(0, t).UTC()
		label := tm.Format("15:04")
		if step >= 24*time.Hour || (tm.Hour() == 0 && tm.Minute() == 0) {
			label = tm.Format("Jan 2")
		}
		out = append(out, timeTick{t, label})
	}
	return out
}

// ---- the round trend (overview) ----

type roundLine struct {
	name, color string
	vals        []float64 // per round, NaN for none
}

// trendChart draws resilience (0-100) by round.
func trendChart(lines []roundLine, w, h float64) template.HTML {
	n := 0
	for _, l := range lines {
		n = max(n, len(l.vals))
	}
	var b svgBuf
	b.printf(`<svg class="chart" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="resilience by round" xmlns="http://www.w3.org/2000/svg">`, f(w), f(h), f(w), f(h))
	b.printf(`<text class="ctitle" x="8" y="16">Resilience by replay round<tspan class="cunit"> · mean profile score, 0–100</tspan></text>`)
	lx := w - padR
	for i := len(lines) - 1; i >= 0; i-- {
		lx -= 7*float64(len(lines[i].name)) + 28
		b.legendEntry(lx, 12, legendItem{lines[i].name, lines[i].color, "line"})
	}
	pw, ph := w-padL-padR, h-padT-padB
	X := func(i int) float64 {
		if n <= 1 {
			return padL + pw/2
		}
		return padL + float64(i)/float64(n-1)*pw
	}
	Y := func(v float64) float64 { return padT + ph - v/100*ph }
	for _, v := range []float64{0, 25, 50, 75, 100} {
		b.printf(`<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f(padL), f(padL+pw), f(Y(v)), f(Y(v)))
		b.printf(`<text class="tick" x="%s" y="%s" text-anchor="end">%s</text>`, f(padL-6), f(Y(v)+4), f(v))
	}
	for i := 0; i < n; i++ {
		b.printf(`<text class="tick" x="%s" y="%s" text-anchor="middle">%d</text>`, f(X(i)), f(padT+ph+17), i+1)
	}
	for _, l := range lines {
		var d strings.Builder
		pen := false
		for i, v := range l.vals {
			if math.IsNaN(v) {
				pen = false
				continue
			}
			if pen {
				d.WriteString("L")
			} else {
				d.WriteString("M")
				pen = true
			}
			d.WriteString(f(X(i)) + " " + f(Y(v)))
		}
		b.printf(`<path class="series" d="%s" stroke="%s" fill="none"/>`, d.String(), l.color)
		for i, v := range l.vals {
			if !math.IsNaN(v) {
				b.printf(`<circle cx="%s" cy="%s" r="3.5" fill="%s"><title>%s round %d: %s</title></circle>`, f(X(i)), f(Y(v)), l.color, esc(l.name), i+1, trimFloat(v, 1))
			}
		}
	}
	b.printf(`<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s"/>`, f(padL), f(padL+pw), f(padT+ph), f(padT+ph))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// ---- the service graph ----

// GraphMode selects what colours the edges.
type graphStyle struct {
	link func(e *Edge) string // href of an edge, "" for none
}

// graphSVG draws the laid-out service graph. Edges carry both colourings
// (data-anomaly, data-resilience) so the page can switch between them.
func (d *Data) graphSVG(st graphStyle) template.HTML {
	l := d.Layout
	var b svgBuf
	b.printf(`<svg id="graph" class="graph" viewBox="0 0 %s %s" data-w="%s" data-h="%s" role="img" aria-label="service graph" xmlns="http://www.w3.org/2000/svg">`,
		f(l.Width), f(l.Height), f(l.Width), f(l.Height))
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 8 8" refX="7" refY="4" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto"><path d="M0 0L8 4L0 8z" fill="#64748b"/></marker></defs>`)
	maxCalls := int64(1)
	for _, e := range d.Edges {
		maxCalls = max(maxCalls, e.Row.Calls)
	}
	// critical halos first, then edges, so edges stay on top of halos
	b.WriteString(`<g class="halos">`)
	for i, e := range d.Edges {
		if e.Row.Criticality >= CriticalEdge {
			b.printf(`<path class="halo" d="%s" stroke-width="%s"/>`, curve(l.Paths[i].Points), f(edgeWidth(e.Row.Calls, maxCalls)+7))
		}
	}
	b.WriteString(`</g><g class="edges">`)
	for i, e := range d.Edges {
		p := l.Paths[i]
		ca := seqColor(e.Row.AnomalyScore)
		cr := "#cbd5e1"
		res := "no replayed profile"
		if e.Resilience != nil {
			cr = seqColor((100 - *e.Resilience) / 100)
			res = "resilience " + trimFloat(*e.Resilience, 1)
		}
		title := fmt.Sprintf("%s\n%s calls · error rate %s · p99 %s ms\nanomaly %s · criticality %s · %s",
			e.Key, num(float64(e.Row.Calls)), pct(e.Row.ErrorRate), trimFloat(e.Row.P99Ms, 1),
			trimFloat(e.Row.AnomalyScore, 2), trimFloat(e.Row.Criticality, 2), res)
		if e.Score > 0 {
			title += "\nfinding score " + trimFloat(e.Score, 2)
		}
		cls := "edge"
		if e.Row.Criticality >= CriticalEdge {
			cls += " critical"
		}
		if len(e.Findings) > 0 {
			cls += " finding"
		}
		href := ""
		if st.link != nil {
			href = st.link(e)
		}
		if href != "" {
			b.printf(`<a href="%s" class="edgelink">`, esc(href))
		}
		b.printf(`<path class="%s" d="%s" stroke="%s" stroke-width="%s" data-anomaly="%s" data-resilience="%s" data-from="%s" data-to="%s" marker-end="url(#arrow)"><title>%s</title></path>`,
			cls, curve(p.Points), ca, f(edgeWidth(e.Row.Calls, maxCalls)), ca, cr, esc(callerName(e.Key.Caller)), esc(e.Key.Callee), esc(title))
		// a wide transparent path makes thin edges easy to click
		b.printf(`<path class="hit" d="%s"><title>%s</title></path>`, curve(p.Points), esc(title))
		if href != "" {
			b.WriteString(`</a>`)
		}
	}
	b.WriteString(`</g><g class="nodes">`)
	flagged := map[string]bool{}
	for _, e := range d.Edges {
		if len(e.Findings) > 0 {
			flagged[e.Key.Callee] = true
		}
	}
	for _, n := range l.Nodes {
		name := n.Name
		cls := "node"
		if n.Ingres {
			name, cls = "ingress", "node ingress"
		}
		if flagged[n.Name] {
			cls += " flagged"
		}
		label := name
		if r := []rune(label); len(r) > 20 {
			label = string(r[:19]) + "…"
		}
		b.printf(`<g class="%s" data-name="%s"><rect x="%s" y="%s" width="%s" height="%s" rx="6"/><text x="%s" y="%s" text-anchor="middle">%s</text><title>%s · %d in, %d out</title></g>`,
			cls, esc(name), f(n.X), f(n.Y), f(NodeWidth), f(NodeHeight), f(n.X+NodeWidth/2), f(n.Y+NodeHeight/2+4.5), esc(label), esc(name), n.In, n.Out)
	}
	b.WriteString(`</g></svg>`)
	return template.HTML(b.String())
}

// edgeWidth maps traffic to a stroke width in [1.2, 9]: the area of the
// stroke grows with the calls (a square-root scale).
func edgeWidth(calls, maxCalls int64) float64 {
	if calls <= 0 {
		return 1.2
	}
	return 1.2 + 7.8*math.Sqrt(float64(calls)/float64(maxCalls))
}

// curve draws a polyline as horizontal-tangent cubic segments.
func curve(pts []Point) string {
	if len(pts) == 0 {
		return ""
	}
	var s strings.Builder
	s.WriteString("M" + f(pts[0].X) + " " + f(pts[0].Y))
	for i := 1; i < len(pts); i++ {
		a, c := pts[i-1], pts[i]
		dx := (c.X - a.X) / 2
		if math.Abs(dx) < 20 {
			dx = math.Copysign(40, dx+1e-9)
		}
		s.WriteString(fmt.Sprintf("C%s %s %s %s %s %s", f(a.X+dx), f(a.Y), f(c.X-dx), f(c.Y), f(c.X), f(c.Y)))
	}
	return s.String()
}

// scaleLegend draws the sequential scale with its end labels.
func scaleLegend(lo, hi string) template.HTML {
	var b svgBuf
	w := 22.0
	b.printf(`<svg class="scale" viewBox="0 0 %s 30" width="%s" height="30" xmlns="http://www.w3.org/2000/svg">`, f(w*float64(len(seqScale))+80), f(w*float64(len(seqScale))+80))
	for i, c := range seqScale {
		b.printf(`<rect x="%s" y="2" width="%s" height="10" fill="%s"/>`, f(float64(i)*w), f(w), c)
	}
	b.printf(`<text class="legend" x="0" y="26">%s</text><text class="legend" x="%s" y="26" text-anchor="end">%s</text></svg>`,
		esc(lo), f(w*float64(len(seqScale))), esc(hi))
	return template.HTML(b.String())
}
