package models

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/internal/numcsv"
	"github.com/chaosgen/chaosgen/internal/shared"
	"github.com/chaosgen/chaosgen/models/holtwinters"
)

func fptr(v float64) *float64 { return &v }

func TestHoltWintersCSV(t *testing.T) {
	seasonal := filepath.Join("testdata", "hw_seasonal.csv")
	for _, c := range []struct {
		name   string
		opt    HoltWintersOptions
		golden string
	}{
		{"additive table", HoltWintersOptions{CSV: seasonal, Period: 12, Seasonal: "additive"}, "hw_additive.golden"},
		{"multiplicative json", HoltWintersOptions{CSV: seasonal, Period: 12, Seasonal: "multiplicative", JSON: true}, "hw_multiplicative.json.golden"},
		{"fixed json", HoltWintersOptions{CSV: seasonal, Period: 12, Seasonal: "additive", Horizon: 3, Level: 0.8,
			Alpha: fptr(0.3), Beta: fptr(0.1), Gamma: fptr(0.1), JSON: true}, "hw_fixed.json.golden"},
		{"second column", HoltWintersOptions{CSV: filepath.Join("testdata", "hw_second_column.csv"), Period: 12, Seasonal: "a", Horizon: 4},
			"hw_second_column.golden"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := HoltWintersCSV(&out, c.opt); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", c.golden), out.Bytes())
		})
	}
}

func TestHoltWintersCSVErrors(t *testing.T) {
	td := func(name string) string { return filepath.Join("testdata", name) }
	for _, c := range []struct {
		name string
		opt  HoltWintersOptions
		want string
	}{
		{"non-numeric cell", HoltWintersOptions{CSV: td("hw_bad_cell.csv"), Period: 12, Seasonal: "additive"},
			`reading testdata/hw_bad_cell.csv: row 11: column "value": "n/a" is not a number`},
		{"nan", HoltWintersOptions{CSV: td("hw_nan.csv"), Period: 12, Seasonal: "additive"},
			`reading testdata/hw_nan.csv: row 32: column "value": "NaN" is not a finite number`},
		{"ragged row", HoltWintersOptions{CSV: td("hw_ragged.csv"), Period: 12, Seasonal: "additive"},
			`reading testdata/hw_ragged.csv: row 6: has 3 fields, the header has 2`},
		{"too few rows", HoltWintersOptions{CSV: td("hw_short.csv"), Period: 12, Seasonal: "additive"},
			`reading testdata/hw_short.csv: column "value" has 20 values; a period of 12 needs at least 24 (two periods)`},
		{"zero multiplicative", HoltWintersOptions{CSV: td("hw_zero.csv"), Period: 12, Seasonal: "multiplicative"},
			`reading testdata/hw_zero.csv: row 8: column "value": 0: multiplicative seasonality needs positive values`},
		{"missing file", HoltWintersOptions{CSV: td("hw_missing.csv"), Period: 12, Seasonal: "additive"},
			`reading testdata/hw_missing.csv: open testdata/hw_missing.csv: no such file or directory`},
		{"two of three parameters", HoltWintersOptions{CSV: td("hw_seasonal.csv"), Period: 12, Seasonal: "additive", Alpha: fptr(0.3), Beta: fptr(0.1)},
			`--alpha, --beta and --gamma go together: give all three or none`},
		{"alpha out of range", HoltWintersOptions{CSV: td("hw_seasonal.csv"), Period: 12, Seasonal: "additive", Alpha: fptr(1.3), Beta: fptr(0.1), Gamma: fptr(0.1)},
			`--alpha must be in (0, 1], got 1.3`},
		{"bad seasonal", HoltWintersOptions{CSV: td("hw_seasonal.csv"), Period: 12, Seasonal: "none"},
			`--seasonal must be additive or multiplicative, got "none"`},
		{"period 1", HoltWintersOptions{CSV: td("hw_seasonal.csv"), Period: 1, Seasonal: "additive"},
			`--period must be at least 2, got 1`},
		{"negative horizon", HoltWintersOptions{CSV: td("hw_seasonal.csv"), Period: 12, Seasonal: "additive", Horizon: -1},
			`--horizon must be at least 1, got -1`},
		{"level 1", HoltWintersOptions{CSV: td("hw_seasonal.csv"), Period: 12, Seasonal: "additive", Level: 1},
			`--level must be in (0, 1), got 1`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := HoltWintersCSV(&out, c.opt)
			if err == nil {
				t.Fatalf("no error; output:\n%s", out.String())
			}
			if err.Error() != c.want {
				t.Errorf("error\n%s\nwant\n%s", err, c.want)
			}
			if out.Len() != 0 {
				t.Errorf("wrote output on error:\n%s", out.String())
			}
		})
	}
}

// TestHoltWintersCSVMatchesFit checks the JSON against holtwinters.Fit on
// the shared AirPassengers series, and R's optimised SSE.
func TestHoltWintersCSVMatchesFit(t *testing.T) {
	path := shared.Path(t, "data/ml/series/AirPassengers.csv")
	var out bytes.Buffer
	err := HoltWintersCSV(&out, HoltWintersOptions{CSV: path, Period: 12, Seasonal: "multiplicative", Horizon: 24, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	for _, k := range []string{"alpha", "beta", "gamma", "sse", "level", "trend", "seasonal", "forecast", "lower", "upper"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in the JSON", k)
		}
	}
	tab, err := numcsv.ReadFile(path, numcsv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := holtwinters.Fit(tab.Num["value"], holtwinters.Options{Period: 12, Seasonal: holtwinters.Multiplicative})
	if err != nil {
		t.Fatal(err)
	}
	point, lower, upper := m.Forecast(24, 0.95)
	num := func(k string) float64 {
		v, err := strconv.ParseFloat(string(got[k]), 64)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return v
	}
	nums := func(k string) []float64 {
		var v []float64
		if err := json.Unmarshal(got[k], &v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return v
	}
	close := func(what string, a, b float64) {
		if math.Abs(a-b) > 1e-9*math.Abs(b) {
			t.Errorf("%s = %v in the JSON, %v from Fit", what, a, b)
		}
	}
	close("alpha", num("alpha"), m.Alpha)
	close("sse", num("sse"), m.SSE)
	close("level", num("level"), m.Level)
	for k, want := range map[string][]float64{"forecast": point, "lower": lower, "upper": upper, "seasonal": m.Seasonal} {
		v := nums(k)
		if len(v) != len(want) {
			t.Fatalf("%s has %d values, want %d", k, len(v), len(want))
		}
		for i := range v {
			close(k+"["+strconv.Itoa(i)+"]", v[i], want[i])
		}
	}
	// R's SSE for this fit is 16570.7779 (reference_dev.json): at most 0.1% above.
	if sse := num("sse"); sse > 16570.7779*1.001 {
		t.Errorf("SSE %v, R 16570.7779", sse)
	}
}
