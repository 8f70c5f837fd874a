package analysis

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
)

// WriteText prints a readable summary and the top n ranked edges.
func WriteText(w io.Writer, dir string, s *Summary, n int) error {
	fmt.Fprintf(w, "analysed %d spans (%d used, %d bad) from %d file(s), %s to %s\n",
		s.Rows, s.RowsUsed, s.BadRows.Total, len(s.Inputs), s.TimeRange.Start, s.TimeRange.End)
	for _, r := range sortedReasons(s.BadRows.ByReason) {
		b := s.BadRows.ByReason[r]
		fmt.Fprintf(w, "  left out %d rows: %s (first: %s)\n", b.Count, r, b.First)
	}
	fmt.Fprintf(w, "%d services, %d edges, %d edge-windows of %s, ~%d traces\n", s.Services, s.Edges, s.Windows, s.Window, s.Traces)
	fmt.Fprintf(w, "wrote %s/{%s,%s,%s}\n\n", dir, EdgesFile, WindowsFile, SummaryFile)
	edges := s.Ranking.Edges
	if n < len(edges) {
		edges = edges[:n]
	}
	fmt.Fprintf(w, "top %d edges by interim score:\n", len(edges))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "score\tcaller\tcallee\tcalls\terrors%\ttimeouts%\tp50 ms\tp99 ms\tcriticality\t")
	for _, e := range edges {
		caller := e.Caller
		if caller == "" {
			caller = "(ingress)"
		}
		fmt.Fprintf(tw, "%.4f\t%s\t%s\t%d\t%.2f\t%.2f\t%.1f\t%.1f\t%.2f\t\n",
			e.Score, caller, e.Callee, e.Calls, 100*e.ErrorRate, 100*e.TimeoutRate, e.P50Ms, e.P99Ms, e.Criticality)
	}
	return tw.Flush()
}

func sortedReasons(m map[string]BadReason) []string {
	return slices.Sorted(maps.Keys(m))
}
