package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"io"
	"io/fs"

	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/chaosgen/chaosgen/internal/edge"
)

// ReportOptions configure WriteReport.
type ReportOptions struct {
	// TopEdges is the number of edges with charts, by finding score;
	// 10 when 0.
	TopEdges int
}

type reportView struct {
	CSS      template.CSS
	JS       template.JS
	CSP      string
	Page     page
	Overview *overviewView
	Graph    graphView
	Findings []findingRow
	Edges    []*edgeView
	Profiles page
}

// WriteReportFile writes the report (WriteReport) to path, replacing it
// atomically: a failure leaves what was there.
func WriteReportFile(path string, d *Data, o ReportOptions) error {
	var buf bytes.Buffer
	if err := WriteReport(&buf, d, o); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, buf.Bytes())
}

// WriteReport writes the read-only HTML report: one self-contained file
// (styles, SVG charts and the small script inlined) with the overview, the
// graph, the findings and the charts of the top edges. The same Data give
// the same bytes: nothing in it depends on the clock.
func WriteReport(w io.Writer, d *Data, o ReportOptions) error {
	if o.TopEdges <= 0 {
		o.TopEdges = 10
	}
	pages, err := parsePages()
	if err != nil {
		return err
	}
	css, err := fs.ReadFile(assets, "assets/static/style.css")
	if err != nil {
		return err
	}
	js, err := fs.ReadFile(assets, "assets/static/app.js")
	if err != nil {
		return err
	}
	top := d.topEdges(o.TopEdges)
	inReport := map[edge.Edge]bool{}
	for _, e := range top {
		inReport[e.Key] = true
	}
	link := func(e *Edge) string {
		if inReport[e.Key] {
			return "#" + anchorOf(e.Key)
		}
		return ""
	}
	sum := func(b []byte) string {
		h := sha256.Sum256(b)
		return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
	}
	v := &reportView{CSS: template.CSS(css), JS: template.JS(js),
		CSP: "default-src 'none'; style-src " + sum(css) + "; script-src " + sum(js) + "; img-src data:; base-uri 'none'; form-action 'none'"}
	v.Overview = d.overviewView(link)
	v.Page = page{Static: true, D: d, V: v.Overview}
	v.Graph = graphView{SVG: d.graphSVG(graphStyle{link: link}), Layout: d.Layout,
		AnomalyScale: scaleLegend("anomaly 0", "1"), ResilienceScale: scaleLegend("resilience 100", "0"), HasResilience: d.Replay != nil}
	for _, f := range d.Summary.Findings {
		fr := findingRow{Finding: f, Edge: edge.Edge{Caller: f.Caller, Callee: f.Callee}.String()}
		if e := d.Edge(f.Caller, f.Callee); e != nil {
			fr.Href = link(e)
		}
		v.Findings = append(v.Findings, fr)
	}
	for _, e := range top {
		ev := d.edgeView(e, chartWidth)
		ev.Anchor = anchorOf(e.Key)
		v.Edges = append(v.Edges, ev)
	}
	pv := d.profilesView(false, false)
	for i := range pv.Rows {
		pv.Rows[i].Href = ""
		if pv.Rows[i].Edge != nil {
			pv.Rows[i].Href = link(pv.Rows[i].Edge)
		}
	}
	v.Profiles = page{Static: true, D: d, V: pv}
	var buf bytes.Buffer
	if err := pages["report"].ExecuteTemplate(&buf, "page", page{Title: "Report", Static: true, D: d, V: v}); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}
