package profilegen

import (
	"encoding/json"
	"fmt"
	"os"
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

// summaryFile is summary.json with its findings. Declaring Findings here
// too keeps Load working whether or not analysis.Summary has the field: the
// outer field wins in encoding/json.
type summaryFile struct {
	analysis.Summary
	Findings []analysis.Finding `json:"findings"`
}

// Load reads dir/summary.json and dir/edges.parquet and, when windows is
// true, dir/windows.parquet.
func Load(dir string, windows bool) (*Analysis, error) {
	p := filepath.Join(dir, analysis.SummaryFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var s summaryFile
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	a := &Analysis{Summary: s.Summary, Findings: s.Findings}
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
