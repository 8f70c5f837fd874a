package profilegen

import (
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
	// Injections, when present, let the feedback loop judge each profile
	// by its own injections (fault_profile_id) rather than by the edge's
	// injections of the profile's fault type; analyses written before
	// injections.parquet existed have none.
	Injections []analysis.InjectionRow
	// Outcomes count the traces each profile injected into and the
	// traces without injection (outcomes.parquet): the feedback loop
	// judges a profile by them.
	Outcomes []analysis.OutcomeRow
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
		p := filepath.Join(dir, analysis.InjectionsFile)
		if _, err := os.Stat(p); err == nil {
			if a.Injections, err = analysis.ReadParquet[analysis.InjectionRow](p); err != nil {
				return nil, err
			}
		}
		p = filepath.Join(dir, analysis.OutcomesFile)
		if _, err := os.Stat(p); err == nil {
			if a.Outcomes, err = analysis.ReadParquet[analysis.OutcomeRow](p); err != nil {
				return nil, err
			}
		}
	}
	return a, nil
}
