package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/chaosgen/chaosgen/internal/golden"
)

// hwTestdata holds the Holt-Winters fixtures and goldens (owned by the
// models package).
var hwTestdata = filepath.Join("..", "..", "models", "testdata")

func TestModelsHoltWintersCLI(t *testing.T) {
	csv := func(name string) string { return filepath.Join(hwTestdata, name) }
	seasonal := csv("hw_seasonal.csv")
	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"table", []string{"--csv", seasonal, "--period", "12"}, 0},
		{"json_multiplicative", []string{"--csv", seasonal, "--period", "12", "--seasonal", "multiplicative", "--horizon", "3", "--json"}, 0},
		{"json_fixed", []string{"--csv", seasonal, "--period", "12", "--alpha", "0.3", "--beta", "0.1", "--gamma", "0.1", "--horizon", "2", "--level", "0.5", "--json"}, 0},
		{"second_column", []string{"--csv", csv("hw_second_column.csv"), "--period", "12", "--horizon", "2"}, 0},
		{"no_csv", []string{"--period", "12"}, 2},
		{"positional_arg", []string{seasonal, "--period", "12"}, 2},
		{"no_period", []string{"--csv", seasonal}, 2},
		{"period_not_a_number", []string{"--csv", seasonal, "--period", "twelve"}, 2},
		{"period_1", []string{"--csv", seasonal, "--period", "1"}, 2},
		{"bad_seasonal", []string{"--csv", seasonal, "--period", "12", "--seasonal", "weekly"}, 2},
		{"two_of_three", []string{"--csv", seasonal, "--period", "12", "--alpha", "0.3", "--gamma", "0.1"}, 2},
		{"alpha_zero", []string{"--csv", seasonal, "--period", "12", "--alpha", "0", "--beta", "0.1", "--gamma", "0.1"}, 2},
		{"horizon_0", []string{"--csv", seasonal, "--period", "12", "--horizon", "0"}, 2},
		{"bad_cell", []string{"--csv", csv("hw_bad_cell.csv"), "--period", "12"}, 1},
		{"nan", []string{"--csv", csv("hw_nan.csv"), "--period", "12"}, 1},
		{"ragged", []string{"--csv", csv("hw_ragged.csv"), "--period", "12"}, 1},
		{"too_short", []string{"--csv", csv("hw_short.csv"), "--period", "12"}, 1},
		{"zero_multiplicative", []string{"--csv", csv("hw_zero.csv"), "--period", "12", "--seasonal", "multiplicative"}, 1},
		{"missing_file", []string{"--csv", csv("hw_missing.csv"), "--period", "12"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"models", "holtwinters"}, c.args...), &stdout, &stderr)
			if code != c.code {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			if c.code != 0 && stdout.Len() != 0 {
				t.Errorf("failed but wrote to stdout:\n%s", stdout.String())
			}
			var got bytes.Buffer
			fmt.Fprintf(&got, "exit %d\n--- stdout\n%s--- stderr\n%s", code, stdout.String(), stderr.String())
			golden.Check(t, filepath.Join(hwTestdata, "hw_cli_"+c.name+".golden"), got.Bytes())
		})
	}
}
