package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/google/go-cmp/cmp"
)

// modelsTestdata holds the isolation forest fixtures and goldens (owned by
// the models package).
var modelsTestdata = filepath.Join("..", "..", "models", "testdata")

// runModelsCLI runs the root command as main does and returns the exit code
// and both streams, with the error printed to stderr as main prints it.
func runModelsCLI(args ...string) (code int, stdout, stderr string) {
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.Execute()
	if err != nil {
		fmt.Fprintf(&errb, "chaosgen: %v\n", err)
	}
	return exitCode(err), out.String(), errb.String()
}

func TestModelsIForestCLI(t *testing.T) {
	small := filepath.Join(modelsTestdata, "iforest_small.csv")
	bad := func(name string) string { return filepath.Join(modelsTestdata, name) }
	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"json", []string{"--csv", small, "--label", "label", "--json"}, 0},
		{"text", []string{"--csv", small, "--label", "label", "--trees", "50", "--samples", "64", "--seed", "3"}, 0},
		{"nolabel", []string{"--csv", small, "--seed", "3"}, 0},
		{"out", []string{"--csv", small, "--label", "label", "-o", "OUT"}, 0},
		{"out_json", []string{"--csv", small, "--label", "label", "--output", "OUT", "--json"}, 0},
		{"help", []string{"--help"}, 0},
		{"no_csv", []string{"--label", "label"}, 2},
		{"trees_0", []string{"--csv", small, "--trees", "0"}, 2},
		{"samples_1", []string{"--csv", small, "--samples", "1"}, 2},
		{"trees_not_a_number", []string{"--csv", small, "--trees", "many"}, 2},
		{"seed_negative", []string{"--csv", small, "--seed", "-1"}, 2},
		{"unknown_flag", []string{"--csv", small, "--depth", "3"}, 2},
		{"positional", []string{small}, 2},
		{"missing_file", []string{"--csv", bad("nope.csv")}, 1},
		{"text_cell", []string{"--csv", bad("iforest_bad_text.csv"), "--label", "label"}, 1},
		{"ragged", []string{"--csv", bad("iforest_bad_ragged.csv"), "--label", "label"}, 1},
		{"nan", []string{"--csv", bad("iforest_bad_nan.csv"), "--label", "label"}, 1},
		{"label_not_01", []string{"--csv", bad("iforest_bad_label.csv"), "--label", "label"}, 1},
		{"one_class", []string{"--csv", bad("iforest_one_class.csv"), "--label", "label"}, 1},
		{"no_features", []string{"--csv", bad("iforest_no_features.csv"), "--label", "label"}, 1},
		{"no_label_column", []string{"--csv", small, "--label", "is_outlier"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "scores.csv")
			args := []string{"models", "iforest"}
			for _, a := range c.args {
				if a == "OUT" {
					a = out
				}
				args = append(args, a)
			}
			code, stdout, stderr := runModelsCLI(args...)
			if code != c.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, c.code, stderr)
			}
			got := fmt.Sprintf("$ chaosgen %s\n-- exit %d --\n-- stdout --\n%s-- stderr --\n%s", strings.Join(args, " "), code, stdout, stderr)
			if b, err := os.ReadFile(out); err == nil {
				got += "-- scores.csv --\n" + string(b)
			}
			golden.Check(t, filepath.Join(modelsTestdata, "iforest_cli_"+c.name+".golden"), []byte(strings.ReplaceAll(got, dir, "$TMP")))
		})
	}
}

// TestModelsIForestCLIOutMatchesStdout: -o writes exactly the CSV that goes
// to stdout without it.
func TestModelsIForestCLIOutMatchesStdout(t *testing.T) {
	small := filepath.Join(modelsTestdata, "iforest_small.csv")
	out := filepath.Join(t.TempDir(), "scores.csv")
	code, stdout, _ := runModelsCLI("models", "iforest", "--csv", small, "--label", "label", "--seed", "9")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	code, summary, _ := runModelsCLI("models", "iforest", "--csv", small, "--label", "label", "--seed", "9", "-o", out)
	if code != 0 {
		t.Fatalf("-o: exit %d", code)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != stdout {
		t.Errorf("-o file differs from stdout:\n%s", cmp.Diff(stdout, string(b)))
	}
	if !strings.Contains(summary, "roc_auc") || strings.Contains(summary, "score,label") {
		t.Errorf("with -o, stdout is not the summary:\n%s", summary)
	}
}

func TestModelsParent(t *testing.T) {
	code, stdout, _ := runModelsCLI("models")
	if code != 0 || !strings.Contains(stdout, "iforest") {
		t.Errorf("chaosgen models: exit %d, stdout:\n%s", code, stdout)
	}
	code, _, stderr := runModelsCLI("models", "forest")
	if want := "chaosgen: models: unknown model \"forest\"\n"; code != 2 || stderr != want {
		t.Errorf("chaosgen models forest: exit %d, stderr %q; want 2, %q", code, stderr, want)
	}
}
