package profilegen

import (
	"path/filepath"

	"github.com/chaosgen/chaosgen/analysis"
)

// Analysis is the part of an analysis directory that Generate reads.
type Analysis struct {
	Summary  analysis.Summary
	Findings []analysis.Finding
	Edges    []analysis.EdgeRow
	// Windows is needed only by the feedback loop (Options.Previous).
	Windows []analysis.WindowRow
}

// Load reads dir/summary.json and dir/edges.parquet and, when windows is
// true, dir/windows.parquet.
func Load(dir string, windows bool) (*Analysis, error) {
	s, err := analysis.ReadSummary(dir)
	if err != nil {
		return nil, err
	}
	a := &Analysis{Summary: *s, Findings: s.Findings}
	if a.Edges, err = analysis.ReadParquet[analysis.EdgeRow](filepath.Join(dir, analysis.EdgesFile)); err != nil {
		return nil, err
	}
	if windows {
		if a.Windows, err = analysis.ReadParquet[analysis.WindowRow](filepath.Join(dir, analysis.WindowsFile)); err != nil {
			return nil, err
		}
	}
	return a, nil
}
