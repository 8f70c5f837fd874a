// Package evaluate scores an analysis against labelled incidents: for a
// game day, a fault-injection run or planted synthetic incidents, it
// reports at which rank chaosgen's rankings put the service at fault, the
// top-k accuracy (AC@1, AC@3, AC@5) of each ranking against a naive
// baseline, and the precision and recall of the findings.
//
// For an incident starting at t, a ranking looks at the windows that
// overlap [t, t+After): a window [w, w+window) overlaps when w < t+After
// and w+window > t. Each candidate's score is its highest over those
// windows. The rank of the service at fault is 1 + the number of other
// candidates scoring at least as high (ties count against it); a hit at k
// when the rank is at most k. An incident with no window of a ranking
// around it is skipped by that ranking and counted as skipped.
//
// The rankings:
//   - services: services by root_cause_score (services.parquet).
//   - edges: caller→callee edges by anomaly_score (windows.parquet); the
//     true edges are those into the service at fault, or the one edge the
//     truth names.
//   - naive: services by the highest ratio, over the edges into them, of
//     the window's p50_ms to the edge's own p50_ms over the whole input
//     (edges.parquet); edges with a p50_ms of 0 are left out.
package evaluate

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/edge"
)

// DefaultAfter is the default length of the period after an incident's
// start that is scored.
const DefaultAfter = 3 * time.Minute

// Options control Run.
type Options struct {
	// After is the length of the scored period [t, t+After); DefaultAfter
	// when 0. It is also the gap that splits injection records into
	// incidents.
	After time.Duration
	// TruthFormat is the truth file's format; "" or FormatAuto detects it.
	TruthFormat Format
}

// EvidenceLevel is the root_cause_score from which an incident counts as
// seen by the analysis (Result.Evidence): a combined z of 3, which under
// 1% of service-windows reach on fault-free data (docs/analysis.md,
// "Calibration").
const EvidenceLevel = 0.5

// Ranking names.
const (
	RankServices = "services"
	RankEdges    = "edges"
	RankNaive    = "naive"
)

// Descriptions of the rankings, in their order in the output.
var rankingDocs = []struct{ name, doc string }{
	{RankServices, "root_cause_score (" + ServicesFile + ")"},
	{RankEdges, "anomaly_score of the edges into the service (" + analysis.WindowsFile + ")"},
	{RankNaive, "window p50_ms / the edge's own p50_ms, by callee"},
}

// Run reads the analysis directory dir and the truth file and scores them.
func Run(dir, truthPath string, opt Options) (*Result, error) {
	after := opt.After
	if after <= 0 {
		after = DefaultAfter
	}
	a, err := LoadAnalysis(dir)
	if err != nil {
		return nil, err
	}
	t, err := ReadTruth(truthPath, opt.TruthFormat, after)
	if err != nil {
		return nil, err
	}
	return Score(a, t, after), nil
}

// candidate is one ranked service or edge.
type candidate struct {
	name  string
	score float64
	truth bool // the service at fault, or an edge into it
}

// rankCandidates returns the rank of the best true candidate (0 when none
// is among them) and the candidates sorted by score, highest first.
func rankCandidates(cs []candidate) (rank int, trueScore float64) {
	slices.SortFunc(cs, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.name, b.name))
	})
	best := math.Inf(-1)
	found := false
	for _, c := range cs {
		if c.truth && c.score > best {
			best, found = c.score, true
		}
	}
	if !found {
		return 0, 0
	}
	rank = 1
	for _, c := range cs {
		if !c.truth && c.score >= best {
			rank++
		}
	}
	return rank, best
}

// span returns the index range of the rows whose window overlaps
// [t, t+after), given the rows' window starts in ascending order.
func span(n int, start func(i int) int64, t int64, window, after time.Duration) (int, int) {
	lo := sort.Search(n, func(i int) bool { return start(i) > t-int64(window) })
	hi := sort.Search(n, func(i int) bool { return start(i) >= t+int64(after) })
	return lo, max(lo, hi)
}

// maxBy collects the highest score per name.
type maxBy map[string]float64

func (m maxBy) add(name string, s float64) {
	if old, ok := m[name]; !ok || s > old {
		m[name] = s
	}
}

func (m maxBy) candidates(truth func(name string) bool) []candidate {
	cs := make([]candidate, 0, len(m))
	for name, s := range m {
		cs = append(cs, candidate{name: name, score: s, truth: truth(name)})
	}
	return cs
}

// Score scores the analysis against the truth's incidents over
// [t, t+after) each.
func Score(a *Analysis, t *Truth, after time.Duration) *Result {
	r := &Result{
		Schema:   Schema,
		Analysis: a.Dir,
		Truth:    TruthInfo{Path: t.Path, Format: string(t.Format), Incidents: len(t.Incidents)},
		After:    after.String(),
		Window:   a.Window.String(),
		Warnings: slices.Concat(a.Warnings, t.Warnings),
	}
	for _, d := range rankingDocs {
		tot := RankingTotal{Name: d.name, ScoredBy: d.doc, Available: d.name != RankServices || a.HasServices}
		if !tot.Available {
			tot.Note = MissingServicesNote(a.Dir)
		}
		r.Rankings = append(r.Rankings, tot)
	}
	for _, in := range t.Incidents {
		ir := newIncidentResult(in)
		isService := func(name string) bool { return name == in.Service }

		// services
		if a.HasServices {
			lo, hi := span(len(a.Services), func(i int) int64 { return a.Services[i].WindowStartUnixNano }, in.StartUnixNano, a.Window, after)
			m := maxBy{}
			for _, s := range a.Services[lo:hi] {
				if s.Service != "" {
					m.add(s.Service, s.RootCauseScore)
				}
			}
			ir.Ranks = append(ir.Ranks, rankResult(RankServices, m.candidates(isService)))
		} else {
			ir.Ranks = append(ir.Ranks, Rank{Ranking: RankServices, Unavailable: true})
		}

		// edges and naive
		lo, hi := span(len(a.Windows), func(i int) int64 { return a.Windows[i].WindowStartUnixNano }, in.StartUnixNano, a.Window, after)
		edges, naive := map[edge.Edge]float64{}, maxBy{}
		for _, w := range a.Windows[lo:hi] {
			k := edge.Edge{Caller: w.Caller, Callee: w.Callee}
			if old, ok := edges[k]; !ok || w.AnomalyScore > old {
				edges[k] = w.AnomalyScore
			}
			if p50 := a.EdgeP50[k]; p50 > 0 {
				naive.add(w.Callee, w.P50Ms/p50)
			}
		}
		ecs := make([]candidate, 0, len(edges))
		for k, s := range edges {
			truth := k.Callee == in.Service
			if in.Edge {
				truth = k == edge.Edge{Caller: in.Caller, Callee: in.Callee}
			}
			ecs = append(ecs, candidate{name: k.String(), score: s, truth: truth})
		}
		ir.Ranks = append(ir.Ranks, rankResult(RankEdges, ecs), rankResult(RankNaive, naive.candidates(isService)))
		ir.covered = hi > lo
		r.Incidents = append(r.Incidents, ir)
	}
	for i := range r.Rankings {
		if r.Rankings[i].Available {
			r.Rankings[i].tally(r.Incidents, i, func(Rank) bool { return true })
		}
	}
	if a.HasServices {
		r.Evidence = scoreEvidence(r)
	}
	r.Findings = scoreFindings(a, t, after, r.Incidents)
	if r.Findings.Incidents == 0 {
		r.Warnings = append(r.Warnings, noneCovered(a, t))
	}
	return r
}

// scoreEvidence is the service ranking (the first) over the incidents
// whose service reached EvidenceLevel.
func scoreEvidence(r *Result) *EvidenceScore {
	e := &EvidenceScore{Level: EvidenceLevel, Evaluated: r.Rankings[0].Evaluated}
	e.Ranking = RankingTotal{Name: r.Rankings[0].Name, ScoredBy: r.Rankings[0].ScoredBy, Available: true}
	e.Ranking.tally(r.Incidents, 0, func(rk Rank) bool {
		return rk.Rank > 0 && rk.Score != nil && *rk.Score >= EvidenceLevel
	})
	return e
}

// tally adds the incidents' ranks in ranking i that keep selects to t: the
// skipped ones, the hits at 1, 3 and 5, and AC@k over the rest.
func (t *RankingTotal) tally(incidents []IncidentResult, i int, keep func(Rank) bool) {
	for _, ir := range incidents {
		rk := ir.Ranks[i]
		switch {
		case rk.Skipped:
			t.Skipped++
			continue
		case !keep(rk):
			continue
		}
		t.Evaluated++
		for j, k := range []int{1, 3, 5} {
			if rk.Rank > 0 && rk.Rank <= k {
				t.Hits[j]++
			}
		}
	}
	if t.Evaluated > 0 {
		t.AC1, t.AC3, t.AC5 = ratio(t.Hits[0], t.Evaluated), ratio(t.Hits[1], t.Evaluated), ratio(t.Hits[2], t.Evaluated)
	}
}

// noneCovered explains an evaluation where no incident has windows around
// it: most often the truth's times are in another time zone than the data.
func noneCovered(a *Analysis, t *Truth) string {
	if len(a.Windows) == 0 {
		return fmt.Sprintf("%s has no windows: nothing to score", a.Dir)
	}
	first, last := a.Windows[0].WindowStartUnixNano, a.Windows[len(a.Windows)-1].WindowStartUnixNano+int64(a.Window)
	in0, in1 := t.Incidents[0].StartUnixNano, t.Incidents[len(t.Incidents)-1].StartUnixNano
	return fmt.Sprintf("none of the %d incidents (%s to %s) lies in the analysed time (%s to %s): check the truth's times and their time zone",
		len(t.Incidents), formatTime(in0), formatTime(in1), formatTime(first), formatTime(last))
}

func ratio(n, d int) *float64 {
	v := round6(float64(n) / float64(d))
	return &v
}

func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// topN is the number of candidates listed per incident and ranking.
const topN = 5

func rankResult(name string, cs []candidate) Rank {
	if len(cs) == 0 {
		return Rank{Ranking: name, Skipped: true}
	}
	rank, score := rankCandidates(cs)
	rk := Rank{Ranking: name, Rank: rank, Candidates: len(cs)}
	if rank > 0 {
		s := round6(score)
		rk.Score = &s
	}
	for _, c := range cs[:min(topN, len(cs))] {
		rk.Top = append(rk.Top, Scored{Name: c.name, Score: round6(c.score), Truth: c.truth})
	}
	return rk
}

// scoreFindings matches findings to incidents. A finding matches an
// incident when its callee, or one of its suspects, is the service at
// fault and its [from, to) overlaps the incident's period [t, t+after),
// or [t, end) when the truth gives a later end (a finding in the middle of
// a long incident is right). Precision is over the findings that overlap
// some incident's period (the truth says nothing about other times);
// recall is over the incidents with windows around them. Predicted
// (forecast) findings are left out.
func scoreFindings(a *Analysis, t *Truth, after time.Duration, irs []IncidentResult) FindingsScore {
	fs := FindingsScore{Suspects: a.HasSuspects}
	found := make([]bool, len(t.Incidents))
	for _, f := range a.Findings {
		if f.Predicted {
			continue
		}
		fs.Findings++
		inPeriod, matched := false, false
		for i, in := range t.Incidents {
			end := max(in.StartUnixNano+int64(after), in.EndUnixNano)
			if f.FromUnixNano >= end || f.ToUnixNano <= in.StartUnixNano {
				continue
			}
			inPeriod = true
			if findingNames(f, in.Service) {
				matched = true
				found[i] = true
				irs[i].Findings++
			}
		}
		if inPeriod {
			fs.InPeriods++
		} else {
			fs.Outside++
		}
		if matched {
			fs.Matched++
		}
	}
	for i := range irs {
		if irs[i].covered {
			fs.Incidents++
			if found[i] {
				fs.Found++
			}
		}
	}
	if fs.InPeriods > 0 {
		fs.Precision = ratio(fs.Matched, fs.InPeriods)
	}
	if fs.Incidents > 0 {
		fs.Recall = ratio(fs.Found, fs.Incidents)
	}
	return fs
}

func findingNames(f Finding, service string) bool {
	if f.Callee == service {
		return true
	}
	for _, s := range f.Suspects {
		if s.Service == service {
			return true
		}
	}
	return false
}
