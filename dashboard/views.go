package dashboard

import (
	"cmp"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/inject"
	"github.com/chaosgen/chaosgen/internal/edge"
	"github.com/chaosgen/chaosgen/sim"
)

var queryEscape = url.QueryEscape

var funcs = template.FuncMap{
	"pct":    pct,
	"num":    func(v any) string { return num(toFloat(v)) },
	"fix":    func(v float64, p int) string { return trimFloat(v, p) },
	"ms":     func(v float64) string { return trimFloat(v, 1) + " ms" },
	"caller": callerName,
	"short":  func(s string) string { return shortDigest(s) },
	"fault":  bundle.FaultString,
	"target": bundle.TargetString,
	"score": func(p *float64) string {
		if p == nil {
			return "–"
		}
		return trimFloat(*p, 1)
	},
	"scoreClass": func(p *float64) string {
		switch {
		case p == nil:
			return "muted"
		case *p < 50:
			return "bad"
		case *p < 80:
			return "warn"
		}
		return "good"
	},
	"when": func(from, to string) string { return when(from, to) },
	"nan":  math.IsNaN,
	"at":   func(ns int64) string { return time.Unix(0, ns).UTC().Format("Jan 2 15:04:05 UTC") },
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int32:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

func shortDigest(s string) string {
	s = strings.TrimPrefix(s, "sha256:")
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// when writes an episode's bounds compactly in UTC.
func when(from, to string) string {
	a, err1 := time.Parse(time.RFC3339Nano, from)
	b, err2 := time.Parse(time.RFC3339Nano, to)
	if err1 != nil || err2 != nil {
		return from + " – " + to
	}
	a, b = a.UTC(), b.UTC()
	if a.Format("2006-01-02") == b.Format("2006-01-02") {
		return a.Format("Jan 2 15:04") + "–" + b.Format("15:04") + " UTC"
	}
	return a.Format("Jan 2 15:04") + " – " + b.Format("Jan 2 15:04") + " UTC"
}

// findingRow is a finding with its edge link.
type findingRow struct {
	analysis.Finding
	Edge string
	Href string
}

type overviewView struct {
	Score      float64 // NaN without a replay
	ScoreN     int
	Trend      template.HTML
	Rounds     int
	Guards     *sim.GuardReport
	Findings   []findingRow // the top TopFindings
	MoreCount  int
	All        []findingRow // every finding, for the list below the cards
	Edges      []edgeListRow
	Bundle     *BundleInfo
	NotAfter   string
	Live       *inject.Status
	LiveErr    error
	TimeRange  string
	Profiles   int
	Simulated  *sim.Report
	Criticals  int
	Anomalous  int
	SpansCount int64
}

// edgeListRow is one edge in the overview's list of every edge.
type edgeListRow struct {
	Name string
	Href string
	Row  analysis.EdgeRow
}

// TopFindings is how many findings the overview shows as cards.
const TopFindings = 8

func (d *Data) overviewView(link func(*Edge) string) *overviewView {
	v := &overviewView{Score: math.NaN(), Bundle: d.Bundle, SpansCount: d.Summary.RowsUsed}
	v.TimeRange = when(d.Summary.TimeRange.Start, d.Summary.TimeRange.End)
	for _, e := range d.Edges {
		if e.Row.Criticality >= CriticalEdge {
			v.Criticals++
		}
		if e.Row.AnomalyScore >= AnomalyMark {
			v.Anomalous++
		}
	}
	for _, f := range d.Summary.Findings {
		fr := findingRow{Finding: f, Edge: edge.Edge{Caller: f.Caller, Callee: f.Callee}.String()}
		if e := d.Edge(f.Caller, f.Callee); e != nil && link != nil {
			fr.Href = link(e)
		}
		v.All = append(v.All, fr)
	}
	v.Findings = v.All[:min(len(v.All), TopFindings)]
	v.MoreCount = len(v.All) - len(v.Findings)
	for _, e := range d.Edges {
		r := edgeListRow{Name: e.Key.String(), Row: e.Row}
		if link != nil {
			r.Href = link(e)
		}
		v.Edges = append(v.Edges, r)
	}
	if d.Bundle != nil {
		v.Profiles = len(d.Bundle.B.Profiles)
		if t := d.Bundle.B.Metadata.NotAfter; !t.IsZero() {
			v.NotAfter = t.UTC().Format("Jan 2, 2006 15:04 UTC")
		}
	}
	if r := d.Replay; r != nil {
		v.Simulated = r.Report
		v.Score, v.ScoreN = Resilience(r.Report.Profiles)
		v.Guards = r.Report.Guards
		var lines []roundLine
		if r.Adapt != nil && len(r.Adapt.Rounds) > 0 {
			lines = append(lines, roundLine{"adaptive loop", colAdapt, roundScores(r.Adapt)})
			v.Rounds = max(v.Rounds, len(r.Adapt.Rounds))
		}
		if r.Learn != nil && len(r.Learn.Rounds) > 0 {
			lines = append(lines, roundLine{"learning agent", colLearn, roundScores(r.Learn)})
			v.Rounds = max(v.Rounds, len(r.Learn.Rounds))
		}
		if len(lines) > 0 {
			v.Trend = trendChart(lines, 560, 200)
		}
	}
	return v
}

func roundScores(l *sim.LoopReport) []float64 {
	out := make([]float64, len(l.Rounds))
	for i, r := range l.Rounds {
		out[i] = RoundResilience(r)
	}
	return out
}

type graphView struct {
	SVG             template.HTML
	Layout          *Layout
	AnomalyScale    template.HTML
	ResilienceScale template.HTML
	HasResilience   bool
}

type profileRow struct {
	Index int
	P     bundle.Profile
	Edge  *Edge
	Href  string
	Sim   *sim.ProfileReport
	JSON  string // the profile's editable fields, for the editor
}

type edgeView struct {
	E        *Edge
	Title    string
	Charts   EdgeCharts
	Profiles []profileRow
	Baseline *sim.EdgeStats
	Faults   *sim.EdgeStats
	Findings []findingRow
	Anchor   string
}

func (d *Data) edgeView(e *Edge, width float64) *edgeView {
	v := &edgeView{E: e, Title: e.Key.String(), Charts: d.Charts(e, width), Baseline: e.simEdge[0], Faults: e.simEdge[1]}
	for _, f := range e.Findings {
		v.Findings = append(v.Findings, findingRow{Finding: f, Edge: e.Key.String()})
	}
	if d.Bundle != nil {
		for _, i := range e.Profiles {
			v.Profiles = append(v.Profiles, d.profileRow(i, nil))
		}
	}
	return v
}

func (d *Data) profileRow(i int, link func(*Edge) string) profileRow {
	p := d.Bundle.B.Profiles[i]
	r := profileRow{Index: i, P: p}
	if js, err := json.Marshal(map[string]any{"rate": p.Rate, "maxRate": p.MaxRate, "severity": p.Severity, "fault": p.Fault}); err == nil {
		r.JSON = string(js)
	}
	if e := d.Edge(p.Target.Caller, p.Target.Callee); e != nil {
		r.Edge = e
		if link != nil {
			r.Href = link(e)
		}
	}
	if d.Replay != nil {
		for j := range d.Replay.Report.Profiles {
			if d.Replay.Report.Profiles[j].ID == p.ID {
				r.Sim = &d.Replay.Report.Profiles[j]
			}
		}
	}
	return r
}

type profilesView struct {
	Rows      []profileRow
	CanSign   bool
	CanSim    bool
	SimReason string
	Severity  []string
	Faults    []string
}

func (d *Data) profilesView(canSign, canSim bool) *profilesView {
	v := &profilesView{CanSign: canSign, CanSim: canSim,
		Severity: []string{bundle.SeverityMinor, bundle.SeverityModerate, bundle.SeverityCritical},
		Faults:   bundle.FaultTypes}
	if !canSim {
		v.SimReason = "Simulation needs span files: start the dashboard with --spans (or keep the analysis inputs where summary.json says they are)."
	}
	if d.Bundle == nil {
		return v
	}
	for i := range d.Bundle.B.Profiles {
		v.Rows = append(v.Rows, d.profileRow(i, func(e *Edge) string { return edgeURL(e.Key) }))
	}
	return v
}

// topEdges returns the n edges with the highest finding score (then
// anomaly score, then name), for the report.
func (d *Data) topEdges(n int) []*Edge {
	es := slices.Clone(d.Edges)
	slices.SortStableFunc(es, func(a, b *Edge) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(b.Row.AnomalyScore, a.Row.AnomalyScore),
			cmp.Compare(a.Key.Caller, b.Key.Caller), cmp.Compare(a.Key.Callee, b.Key.Callee))
	})
	return es[:min(n, len(es))]
}

func anchorOf(k edge.Edge) string {
	var b strings.Builder
	b.WriteString("edge-")
	for _, r := range callerName(k.Caller) + "--" + k.Callee {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "_%x", r)
		}
	}
	return b.String()
}
