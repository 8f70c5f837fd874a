package analysis

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/chaosgen/chaosgen/internal/edge"
)

// WriteText prints a readable summary, the top n findings and the top n
// ranked edges.
func WriteText(out io.Writer, dir string, s *Summary, n int) error {
	// in one write at the end: the table's writer writes every cell and
	// its padding apart, hundreds of system calls
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "analysed %d spans (%d used, %d bad) from %d file(s), %s to %s\n",
		s.Rows, s.RowsUsed, s.BadRows.Total, len(s.Inputs), s.TimeRange.Start, s.TimeRange.End)
	for _, r := range slices.Sorted(maps.Keys(s.BadRows.ByReason)) {
		b := s.BadRows.ByReason[r]
		fmt.Fprintf(w, "  left out %d rows: %s (first: %s)\n", b.Count, r, b.First)
	}
	fmt.Fprintf(w, "%d services, %d edges, %d edge-windows of %s, ~%d traces\n", s.Services, s.Edges, s.Windows, s.Window, s.Traces)
	fmt.Fprintf(w, "wrote %s/{%s}\n", dir, strings.Join(writtenFiles(s.NoModels), ","))

	if !s.NoModels {
		fs := s.Findings
		fmt.Fprintf(w, "\n%d findings", len(fs))
		if len(fs) > n {
			fmt.Fprintf(w, ", top %d", n)
			fs = fs[:n]
		}
		fmt.Fprintln(w, ":")
		for i, f := range fs {
			when := f.From + " to " + f.To
			if f.Predicted {
				when = "predicted " + when
			}
			fmt.Fprintf(w, "%2d. %.2f %-8s %s  (%s)\n    %s\n", i+1, f.Score, f.Kind, edge.Edge{Caller: f.Caller, Callee: f.Callee}, when, f.Explanation)
			if len(f.Suspects) > 0 {
				var sus []string
				for _, x := range f.Suspects {
					sus = append(sus, fmt.Sprintf("%s %.2f", x.Service, x.Score))
				}
				fmt.Fprintf(w, "    root-cause suspects: %s\n", strings.Join(sus, ", "))
			}
		}
	}
	if s.TraceRuns != nil && s.TraceRuns.Orphans > 0 {
		fmt.Fprintf(w, "\nnote: %d rows name a parent span that is not among the adjacent rows of their trace (the parent is missing from the input, or the trace's rows are scattered), so their parents' self times are not exact (see docs/analysis.md, Root causes)\n", s.TraceRuns.Orphans)
	}

	edges := s.Ranking.Edges
	if n < len(edges) {
		edges = edges[:n]
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	if s.NoModels {
		// no findings or anomaly scores: the ranking is the interim score's
		fmt.Fprintf(w, "\ntop %d edges (no models: by the interim score, docs/analysis.md):\n", len(edges))
		fmt.Fprintln(tw, "interim\tcaller\tcallee\tcalls\terrors%\ttimeouts%\tp50 ms\tp99 ms\tcriticality\t")
	} else {
		fmt.Fprintf(w, "\ntop %d edges:\n", len(edges))
		fmt.Fprintln(tw, "score\tanomaly\tcaller\tcallee\tcalls\terrors%\ttimeouts%\tp50 ms\tp99 ms\tcriticality\t")
	}
	for _, e := range edges {
		if s.NoModels {
			fmt.Fprintf(tw, "%.2f\t", e.InterimScore)
		} else {
			fmt.Fprintf(tw, "%.2f\t%.2f\t", e.Score, e.AnomalyScore)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.2f\t%.1f\t%.1f\t%.2f\t\n",
			edge.CallerName(e.Caller), e.Callee, e.Calls, 100*e.ErrorRate, 100*e.TimeoutRate, e.P50Ms, e.P99Ms, e.Criticality)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return w.Flush()
}
