package evaluate

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/chaosgen/chaosgen/internal/edge"
)

// Schema names the JSON output's format.
const Schema = "chaosgen.evaluate/v1"

// Result is the output of evaluate. Its JSON fields are declared in key
// order; lists are sorted (incidents by start, service, edge, kind, where
// in the truth they are; rankings in a fixed order).
type Result struct {
	After    string `json:"after"`
	Analysis string `json:"analysis"`
	// Evidence splits the service ranking's incidents by whether the
	// analysis saw anything at the service at fault; nil without
	// services.parquet.
	Evidence  *EvidenceScore   `json:"evidence,omitempty"`
	Findings  FindingsScore    `json:"findings"`
	Incidents []IncidentResult `json:"incidents"`
	Rankings  []RankingTotal   `json:"rankings"`
	Schema    string           `json:"schema"`
	Truth     TruthInfo        `json:"truth"`
	Warnings  []string         `json:"warnings"`
	Window    string           `json:"window"`
}

// TruthInfo describes the truth file.
type TruthInfo struct {
	Format    string `json:"format"`
	Incidents int    `json:"incidents"`
	Path      string `json:"path"`
}

// RankingTotal is one ranking's accuracy over the incidents it scored.
// The AC@k are nil when it scored none.
type RankingTotal struct {
	AC1       *float64 `json:"ac1"`
	AC3       *float64 `json:"ac3"`
	AC5       *float64 `json:"ac5"`
	Available bool     `json:"available"`
	Evaluated int      `json:"evaluated"`
	Hits      [3]int   `json:"hits_at_1_3_5"`
	Name      string   `json:"name"`
	Note      string   `json:"note,omitempty"`
	ScoredBy  string   `json:"scored_by"`
	Skipped   int      `json:"skipped"`
}

// IncidentResult is one incident with the rank each ranking gave it.
type IncidentResult struct {
	Callee string `json:"callee,omitempty"`
	Caller string `json:"caller,omitempty"`
	// Edge is set when the truth names the edge (caller and callee).
	Edge          bool   `json:"edge,omitempty"`
	End           string `json:"end,omitempty"`
	EndUnixNano   int64  `json:"end_unix_nano,omitempty"`
	Findings      int    `json:"findings"` // findings that match it
	Kind          string `json:"kind"`
	Ranks         []Rank `json:"ranks"`
	Service       string `json:"service"`
	Source        string `json:"source"`
	Start         string `json:"start"`
	StartUnixNano int64  `json:"start_unix_nano"`

	covered bool // windows.parquet has windows around it
}

// Rank is where one ranking put the service at fault in one incident:
// Rank 0 when it was not among the candidates (a miss).
type Rank struct {
	Candidates int      `json:"candidates"`
	Rank       int      `json:"rank"`
	Ranking    string   `json:"ranking"`
	Score      *float64 `json:"score,omitempty"` // the true candidate's score
	// Skipped: no window of this ranking overlaps the period.
	Skipped bool     `json:"skipped,omitempty"`
	Top     []Scored `json:"top,omitempty"`
	// Unavailable: the analysis has no such ranking.
	Unavailable bool `json:"unavailable,omitempty"`
}

// Scored is a ranked candidate.
type Scored struct {
	Name  string  `json:"name"`
	Score float64 `json:"score"`
	Truth bool    `json:"truth,omitempty"`
}

// EvidenceScore counts the incidents whose service at fault reached
// EvidenceLevel in the service ranking during the period, and the service
// ranking's accuracy over those incidents alone (Ranking: its evaluated
// are the incidents that reached the level). An incident below the level
// left no more trace in the analysis than fault-free data does: a miss
// there is a limit of what the spans show, not of the ranking.
type EvidenceScore struct {
	Evaluated int          `json:"evaluated"` // incidents the service ranking scored
	Level     float64      `json:"level"`
	Ranking   RankingTotal `json:"ranking"`
}

// FindingsScore is the findings' precision and recall.
type FindingsScore struct {
	Findings  int      `json:"findings"`   // findings of summary.json, predicted ones left out
	Found     int      `json:"found"`      // incidents with a matching finding
	InPeriods int      `json:"in_periods"` // findings overlapping some incident's period
	Incidents int      `json:"incidents"`  // incidents with windows around them
	Matched   int      `json:"matched"`    // findings in periods that match an incident
	Outside   int      `json:"outside"`    // findings outside every incident's period
	Precision *float64 `json:"precision"`  // matched / in_periods
	Recall    *float64 `json:"recall"`     // found / incidents
	Suspects  bool     `json:"suspects"`   // the findings carry suspects
}

func newIncidentResult(in Incident) IncidentResult {
	ir := IncidentResult{
		Start: formatTime(in.StartUnixNano), StartUnixNano: in.StartUnixNano,
		Service: in.Service, Kind: in.Kind, Source: in.Source, Edge: in.Edge,
	}
	if in.Edge {
		ir.Caller, ir.Callee = in.Caller, in.Callee
	}
	if in.EndUnixNano != 0 {
		ir.End, ir.EndUnixNano = formatTime(in.EndUnixNano), in.EndUnixNano
	}
	return ir
}

func formatTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes r as aligned tables: one row per incident, then the
// accuracy of each ranking and the findings' precision and recall.
// Warnings are not included (the command prints them to stderr), but a
// missing ranking is noted.
func (r *Result) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "analysis %s (window %s); truth %s (%s, %d incidents); each scored over [start, start+%s)\n\n",
		r.Analysis, r.Window, r.Truth.Path, r.Truth.Format, r.Truth.Incidents, r.After)
	// the first candidate of the service ranking, else of the edges
	topRanking, topTitle := RankServices, "top service"
	if !r.Rankings[0].Available {
		topRanking, topTitle = RankEdges, "top edge"
	}
	rows := [][]string{{"start", "kind", "service", RankServices, "score", RankEdges, RankNaive, "findings", topTitle}}
	for _, ir := range r.Incidents {
		row := []string{shortTime(ir.StartUnixNano), ir.Kind, incidentName(ir)}
		for i, rk := range ir.Ranks {
			row = append(row, rankCell(rk))
			if i == 0 {
				row = append(row, scoreCell(rk))
			}
		}
		rows = append(rows, append(row, strconv.Itoa(ir.Findings), topName(ir, topRanking)))
	}
	writeTable(w, rows, []bool{false, false, false, true, true, true, true, true, false})
	fmt.Fprintln(w)
	rows = [][]string{{"ranking", "scored by", "incidents", "skipped", "AC@1", "AC@3", "AC@5"}}
	var notes []string
	for _, t := range r.Rankings {
		if !t.Available {
			rows = append(rows, []string{t.Name, t.ScoredBy, "n/a", "n/a", "n/a", "n/a", "n/a"})
			notes = append(notes, fmt.Sprintf("note: %s: n/a: %s", t.Name, t.Note))
			continue
		}
		rows = append(rows, []string{t.Name, t.ScoredBy, strconv.Itoa(t.Evaluated), strconv.Itoa(t.Skipped),
			fmtRatio(t.AC1), fmtRatio(t.AC3), fmtRatio(t.AC5)})
	}
	writeTable(w, rows, []bool{false, false, true, true, true, true, true})
	if e := r.Evidence; e != nil {
		x := e.Ranking
		fmt.Fprintf(w, "\nevidence: %d of %d incidents left their service a root_cause_score of at least %.2f (fault-free data: under 1%% of service-windows; see docs/evaluate.md); services AC@1/3/5 over those: %s/%s/%s\n",
			x.Evaluated, e.Evaluated, e.Level, fmtRatio(x.AC1), fmtRatio(x.AC3), fmtRatio(x.AC5))
	}
	f := r.Findings
	suspects := "callee"
	if f.Suspects {
		suspects = "callee or a suspect"
	}
	fmt.Fprintf(w, "\nfindings (matched by %s): %d of %d in the incidents' periods match one (precision %s); %d of %d incidents found (recall %s); %d outside every period\n",
		suspects, f.Matched, f.InPeriods, fmtRatio(f.Precision), f.Found, f.Incidents, fmtRatio(f.Recall), f.Outside)
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	_, err := fmt.Fprintln(w, "rank: 1 + the other candidates scoring at least as high (ties count against); score: the service's root_cause_score; -: no score for the service in the period; skip: no windows in the period")
	return err
}

// writeTable writes rows as columns two spaces apart, right-aligned where
// right is set, without trailing spaces. Widths count runes.
func writeTable(w io.Writer, rows [][]string, right []bool) {
	widths := make([]int, len(right))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

func incidentName(ir IncidentResult) string {
	if ir.Edge {
		return edge.Edge{Caller: ir.Caller, Callee: ir.Callee}.String()
	}
	return ir.Service
}

// topName is the first candidate of the named ranking.
func topName(ir IncidentResult, ranking string) string {
	for _, rk := range ir.Ranks {
		if rk.Ranking == ranking && len(rk.Top) > 0 {
			return rk.Top[0].Name
		}
	}
	return "-"
}

func rankCell(rk Rank) string {
	switch {
	case rk.Unavailable:
		return "n/a"
	case rk.Skipped:
		return "skip"
	case rk.Rank == 0:
		return "-"
	}
	return strconv.Itoa(rk.Rank)
}

// scoreCell is the true candidate's score, "-" when it has none.
func scoreCell(rk Rank) string {
	if rk.Score == nil || rk.Rank == 0 {
		return "-"
	}
	return strconv.FormatFloat(*rk.Score, 'f', 2, 64)
}

func shortTime(ns int64) string {
	t := time.Unix(0, ns).UTC()
	return t.Format("2006-01-02T15:04:05Z")
}

func fmtRatio(p *float64) string {
	if p == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*p, 'f', 2, 64)
}
