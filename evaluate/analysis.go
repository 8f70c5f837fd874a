package evaluate

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/edge"
	"github.com/parquet-go/parquet-go"
)

// ServicesFile is the root-cause ranking of an analysis directory: one row
// per service and window with at least service, window_start_unix_nano
// and root_cause_score (higher: more likely the root cause). Directories
// written before it existed lack it.
const ServicesFile = analysis.ServicesFile

// ServiceRow is the part of a services.parquet row that evaluate reads;
// other columns are ignored.
type ServiceRow struct {
	Service             string  `parquet:"service"`
	WindowStartUnixNano int64   `parquet:"window_start_unix_nano"`
	RootCauseScore      float64 `parquet:"root_cause_score"`
}

// Suspect is a ranked suspect service of a finding.
type Suspect struct {
	Service string  `json:"service"`
	Score   float64 `json:"score"`
}

// Finding is a finding of summary.json with its suspects (absent in
// directories written before suspects existed).
type Finding struct {
	analysis.Finding
	Suspects []Suspect `json:"suspects"`
}

// Analysis is what evaluate reads from an analysis directory.
type Analysis struct {
	Dir    string
	Window time.Duration
	// Services holds services.parquet sorted by window start and service;
	// HasServices is false when the directory has no services.parquet.
	Services    []ServiceRow
	HasServices bool
	// Windows holds windows.parquet sorted by window start, caller, callee.
	Windows []analysis.WindowRow
	// EdgeP50 is each edge's p50_ms over the whole input (edges.parquet).
	EdgeP50 map[edge.Edge]float64
	// Findings are those of summary.json; HasSuspects says whether any of
	// them carries suspects.
	Findings    []Finding
	HasSuspects bool
	Warnings    []string
}

// MissingServicesNote says why the service ranking is missing.
func MissingServicesNote(dir string) string {
	return fmt.Sprintf("%s has no %s: it was written by an older chaosgen; re-run chaosgen analyze to get the root-cause ranking of services (the edge and naive rankings do not need it)", dir, ServicesFile)
}

// LoadAnalysis reads an analysis directory. A missing services.parquet is
// not an error: HasServices is false and Warnings says so.
func LoadAnalysis(dir string) (*Analysis, error) {
	sp := filepath.Join(dir, analysis.SummaryFile)
	data, err := os.ReadFile(sp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not an analysis directory: it has no %s (write one with: chaosgen analyze SPANS... -o %s)", dir, analysis.SummaryFile, dir)
	}
	if err != nil {
		return nil, err
	}
	var sum struct {
		Window   string    `json:"window"`
		Findings []Finding `json:"findings"`
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		return nil, fmt.Errorf("reading %s: %w", sp, err)
	}
	window, err := time.ParseDuration(sum.Window)
	if err != nil || window <= 0 {
		return nil, fmt.Errorf("reading %s: window %q is not a positive duration", sp, sum.Window)
	}
	a := &Analysis{Dir: dir, Window: window, Findings: sum.Findings, EdgeP50: map[edge.Edge]float64{}}
	for _, f := range a.Findings {
		if len(f.Suspects) > 0 {
			a.HasSuspects = true
		}
	}

	edges, err := readColumns[analysis.EdgeRow](filepath.Join(dir, analysis.EdgesFile), "caller", "callee", "p50_ms")
	if err != nil {
		return nil, err
	}
	for _, e := range edges {
		a.EdgeP50[edge.Edge{Caller: e.Caller, Callee: e.Callee}] = e.P50Ms
	}
	if a.Windows, err = readColumns[analysis.WindowRow](filepath.Join(dir, analysis.WindowsFile),
		"caller", "callee", "window_start_unix_nano", "p50_ms", "anomaly_score"); err != nil {
		return nil, err
	}
	slices.SortFunc(a.Windows, func(x, y analysis.WindowRow) int {
		return cmp.Or(cmp.Compare(x.WindowStartUnixNano, y.WindowStartUnixNano), cmp.Compare(x.Caller, y.Caller), cmp.Compare(x.Callee, y.Callee))
	})

	svp := filepath.Join(dir, ServicesFile)
	if _, err := os.Stat(svp); errors.Is(err, fs.ErrNotExist) {
		a.Warnings = append(a.Warnings, MissingServicesNote(dir))
		return a, nil
	}
	if a.Services, err = readColumns[ServiceRow](svp, "service", "window_start_unix_nano", "root_cause_score"); err != nil {
		return nil, err
	}
	for i, s := range a.Services {
		if math.IsNaN(s.RootCauseScore) {
			return nil, fmt.Errorf("reading %s: row %d: root_cause_score is NaN", svp, i)
		}
	}
	a.HasServices = true
	slices.SortFunc(a.Services, func(x, y ServiceRow) int {
		return cmp.Or(cmp.Compare(x.WindowStartUnixNano, y.WindowStartUnixNano), cmp.Compare(x.Service, y.Service),
			cmp.Compare(x.RootCauseScore, y.RootCauseScore))
	})
	return a, nil
}

// readColumns reads a Parquet file into rows of T after checking that it
// has the columns evaluate needs (parquet-go would read a missing one as
// zeros); other columns are ignored.
func readColumns[T any](path string, need ...string) ([]T, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is missing: the analysis directory is incomplete; re-run chaosgen analyze", path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, name := range need {
		if _, ok := pf.Schema().Lookup(name); !ok {
			return nil, fmt.Errorf("reading %s: no column %s", path, name)
		}
	}
	return analysis.ReadParquet[T](path)
}
