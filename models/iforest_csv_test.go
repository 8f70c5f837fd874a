package models

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/google/go-cmp/cmp"
)

const iforestSmall = "testdata/iforest_small.csv"

func TestIForestCSV(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opt    IForestOptions
		minAUC float64
	}{
		// Scores to stdout, the summary with the metrics to stderr.
		{"label", IForestOptions{CSV: iforestSmall, Label: "label", Seed: 1}, 0.9},
		// Without a label, "label" is just another feature.
		{"nolabel", IForestOptions{CSV: iforestSmall, Seed: 1}, 0},
		{"label_json", IForestOptions{CSV: iforestSmall, Label: "label", Seed: 1, JSON: true}, 0.9},
		{"nolabel_json", IForestOptions{CSV: iforestSmall, Seed: 1, JSON: true}, 0},
		{"label_out", IForestOptions{CSV: iforestSmall, Label: "label", Seed: 1, Out: "OUT"}, 0.9},
		{"label_out_json", IForestOptions{CSV: iforestSmall, Label: "label", Seed: 1, Out: "OUT", JSON: true}, 0.9},
		{"trees_samples_seed", IForestOptions{CSV: iforestSmall, Label: "label", Trees: 10, Samples: 16, Seed: 2}, 0.7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.opt.Out != "" {
				tc.opt.Out = filepath.Join(dir, "scores.csv")
			}
			var stdout, stderr bytes.Buffer
			sum, err := IForestCSV(&stdout, &stderr, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			got.WriteString("-- stdout --\n")
			got.Write(stdout.Bytes())
			got.WriteString("-- stderr --\n")
			got.Write(stderr.Bytes())
			if tc.opt.Out != "" {
				b, err := os.ReadFile(tc.opt.Out)
				if err != nil {
					t.Fatal(err)
				}
				got.WriteString("-- scores.csv --\n")
				got.Write(b)
			}
			golden.Check(t, filepath.Join("testdata", "iforest_"+tc.name+".golden"), bytes.ReplaceAll(got.Bytes(), []byte(dir), []byte("$TMP")))

			if sum.N != 200 {
				t.Errorf("N = %d, want 200", sum.N)
			}
			if tc.opt.Label != "" {
				// The planted outliers are easy; two labelled rows sit inside
				// the cloud, so a perfect ranking is impossible.
				if sum.AUC == nil || sum.AP == nil {
					t.Fatal("no AUC or AP with a label")
				}
				if *sum.AUC < tc.minAUC || *sum.AUC > 0.999 {
					t.Errorf("AUC = %v, want in [%v, 0.999]", *sum.AUC, tc.minAUC)
				}
				if want := []string{"x0", "x1", "x2"}; !cmp.Equal(sum.Features, want) {
					t.Errorf("features %v, want %v", sum.Features, want)
				}
			} else if sum.AUC != nil || sum.AP != nil {
				t.Errorf("AUC, AP = %v, %v without a label", sum.AUC, sum.AP)
			}
			if want := []string{"id"}; !cmp.Equal(sum.Ignored, want) {
				t.Errorf("ignored %v, want %v", sum.Ignored, want)
			}
		})
	}
}

// TestIForestCSVSameBytes: the same seed gives the same bytes, whatever the
// number of workers; another seed gives other scores.
func TestIForestCSVSameBytes(t *testing.T) {
	run := func(seed uint64, workers int) string {
		var stdout bytes.Buffer
		if _, err := IForestCSV(&stdout, &bytes.Buffer{}, IForestOptions{CSV: iforestSmall, Label: "label", Seed: seed, Workers: workers}); err != nil {
			t.Fatal(err)
		}
		return stdout.String()
	}
	a := run(3, 1)
	for _, w := range []int{1, 2, 5} {
		if b := run(3, w); b != a {
			t.Errorf("seed 3, %d workers: output differs from 1 worker:\n%s", w, cmp.Diff(a, b))
		}
	}
	if run(4, 1) == a {
		t.Error("seeds 3 and 4 give the same scores")
	}
	if lines := strings.Count(a, "\n"); lines != 201 {
		t.Errorf("%d lines, want a header and 200 rows", lines)
	}
}

func TestIForestCSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  IForestOptions
		want string
	}{
		{"missing file", IForestOptions{CSV: "testdata/nope.csv"}, "reading testdata/nope.csv: no such file or directory"},
		{"text cell", IForestOptions{CSV: "testdata/iforest_bad_text.csv", Label: "label"}, `reading testdata/iforest_bad_text.csv: row 4: column "x1": "abc" is not a number`},
		{"empty cell", IForestOptions{CSV: "testdata/iforest_empty_cell.csv"}, `reading testdata/iforest_empty_cell.csv: row 3: column "x1": empty cell in a numeric column`},
		{"ragged", IForestOptions{CSV: "testdata/iforest_bad_ragged.csv", Label: "label"}, "reading testdata/iforest_bad_ragged.csv: row 4: has 2 fields, the header has 3"},
		{"nan", IForestOptions{CSV: "testdata/iforest_bad_nan.csv", Label: "label"}, `reading testdata/iforest_bad_nan.csv: row 3: column "x1": "NaN" is not a finite number`},
		{"label 2", IForestOptions{CSV: "testdata/iforest_bad_label.csv", Label: "label"}, `reading testdata/iforest_bad_label.csv: row 4: column "label": label 2 is not 0 or 1`},
		{"label text", IForestOptions{CSV: "testdata/iforest_bad_label_text.csv", Label: "label"}, `reading testdata/iforest_bad_label_text.csv: row 3: column "label": label "yes" is not 0 or 1`},
		{"one class", IForestOptions{CSV: "testdata/iforest_one_class.csv", Label: "label"}, `reading testdata/iforest_one_class.csv: column "label": every label is 0: ROC-AUC and average precision need both 0 and 1`},
		{"no label column", IForestOptions{CSV: iforestSmall, Label: "nope"}, `reading testdata/iforest_small.csv: no label column "nope" (columns: id, x0, x1, x2, label)`},
		{"no features", IForestOptions{CSV: "testdata/iforest_no_features.csv", Label: "label"}, "reading testdata/iforest_no_features.csv: no numeric feature columns (columns: id, label)"},
		{"one row", IForestOptions{CSV: "testdata/iforest_one_row.csv"}, "testdata/iforest_one_row.csv: an isolation forest needs at least 2 rows, have 1"},
		{"negative trees", IForestOptions{CSV: iforestSmall, Trees: -1}, "testdata/iforest_small.csv: trees must be positive, not -1"},
		{"unwritable output", IForestOptions{CSV: iforestSmall, Out: "testdata/iforest_small.csv/scores.csv"}, "writing scores: mkdir testdata/iforest_small.csv: not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			_, err := IForestCSV(&stdout, &stderr, tc.opt)
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if msg := err.Error(); msg != tc.want {
				t.Errorf("error\n  %s\nwant\n  %s", msg, tc.want)
			}
			if stdout.Len() != 0 || stderr.Len() != 0 {
				t.Errorf("wrote %q to stdout and %q to stderr before failing", stdout.String(), stderr.String())
			}
		})
	}
}
