package evaluate

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/ingest/importer"
	"github.com/chaosgen/chaosgen/internal/shared"
)

// devDays are the labelled runs of ../shared/data/rca/nezha_dev with the
// floors for the service ranking (0: none). Online Boutique's are issue
// 12's targets (reached: 1.00 / 1.00). Train-Ticket's target is AC@3 >=
// 0.50 and is NOT reached (0.29 today; the naive ranking gets 0.19; see
// docs/analysis.md): its floor is what the ranking reaches today, so that
// any regression fails, and is to be raised to 0.50 when the ranking gets
// there.
var devDays = []struct {
	dir, faults string
	ac1, ac3    float64
}{
	{"onlineboutique_2022-08-22", "2022-08-22-fault_list.json", 0.89, 1.00},
	{"trainticket_2023-01-29", "2023-01-29-fault_list.json", 0, 0.28},
}

// TestDevSet runs the pipeline of `make eval` in process on both days of
// the dev set (import, analyze, evaluate against the fault list) and
// fails when the service ranking falls below the floors. It logs every
// ranking's figures.
func TestDevSet(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED under -short: imports and analyzes the dev set (about 260,000 calls)")
	}
	for _, d := range devDays {
		t.Run(d.dir, func(t *testing.T) {
			root := shared.Path(t, filepath.Join("data/rca/nezha_dev", d.dir))
			work := t.TempDir()
			// the upstream minute files, gzip-compressed: import reads them as they are
			traces, err := filepath.Glob(filepath.Join(root, "trace", "*.csv.gz"))
			if err != nil || len(traces) == 0 {
				t.Fatalf("no trace files *.csv.gz in %s (%v)", filepath.Join(root, "trace"), err)
			}
			spans := filepath.Join(work, "spans.parquet")
			if _, err := importer.Import(spans, traces, importer.Options{}); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(work, "analysis")
			// the defaults of chaosgen analyze (its --seed is 1)
			opt := analysis.Options{Models: analysis.ModelOptions{Seed: 1}}
			if _, err := analysis.Run(context.Background(), []string{spans}, dir, opt); err != nil {
				t.Fatal(err)
			}
			res, err := Run(dir, filepath.Join(root, d.faults), Options{TruthFormat: FormatNezha})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := res.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s:\n%s", d.dir, b.String())
			for _, w := range res.Warnings {
				t.Logf("warning: %s", w)
			}
			svc := res.Rankings[0]
			if !svc.Available {
				t.Fatalf("%s: the service ranking is missing, so its floors (AC@1 >= %.2f, AC@3 >= %.2f) cannot be checked: %s", d.dir, d.ac1, d.ac3, svc.Note)
			}
			if svc.Skipped > 0 {
				t.Errorf("%s: %d of %d faults skipped: the analysis has no windows around them", d.dir, svc.Skipped, len(res.Incidents))
			}
			for _, f := range []struct {
				name      string
				got       *float64
				floor     float64
				hits, all int
			}{{"AC@1", svc.AC1, d.ac1, svc.Hits[0], svc.Evaluated}, {"AC@3", svc.AC3, d.ac3, svc.Hits[1], svc.Evaluated}} {
				if f.got == nil || *f.got < f.floor {
					t.Errorf("%s: services %s = %s (%d of %d), below the floor %.2f", d.dir, f.name, fmtRatio(f.got), f.hits, f.all, f.floor)
				}
			}
		})
	}
}
