package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/chaosgen/chaosgen/internal/numcsv"
	"github.com/chaosgen/chaosgen/internal/usage"
	"github.com/chaosgen/chaosgen/models/holtwinters"
)

// HoltWintersOptions are the options of HoltWintersCSV.
type HoltWintersOptions struct {
	// CSV is a time,value file: the series is the column named "value",
	// or else the second column.
	CSV string
	// Period is the season length, at least 2.
	Period int
	// Seasonal is "additive" or "multiplicative".
	Seasonal string
	// Horizon is the number of steps to forecast; 0 means one period.
	Horizon int
	// Level is the coverage of the prediction intervals; 0 means 0.95.
	Level float64
	// Alpha, Beta and Gamma fix the smoothing parameters: all three or
	// none (nil: optimised).
	Alpha, Beta, Gamma *float64
	// JSON prints JSON instead of a table.
	JSON bool
}

// HoltWintersCSV fits a Holt-Winters model to the series in opt.CSV and
// writes the parameters, final states and forecasts with prediction
// intervals to w, as a table or (opt.JSON) as JSON.
func HoltWintersCSV(w io.Writer, opt HoltWintersOptions) error {
	kind, err := opt.check()
	if err != nil {
		return err
	}
	if opt.Horizon == 0 {
		opt.Horizon = opt.Period
	}
	if opt.Level == 0 {
		opt.Level = 0.95
	}

	y, col, err := readSeries(opt.CSV)
	if err != nil {
		return fmt.Errorf("reading %w", err)
	}
	if need := 2 * opt.Period; len(y) < need {
		return fmt.Errorf("reading %s: column %q has %d values; a period of %d needs at least %d (two periods)",
			opt.CSV, col, len(y), opt.Period, need)
	}
	if kind == holtwinters.Multiplicative {
		for i, v := range y {
			if v <= 0 {
				return fmt.Errorf("reading %w", &numcsv.CellError{File: opt.CSV, Row: i + 2, Column: col,
					Msg: fmt.Sprintf("%v: multiplicative seasonality needs positive values", v)})
			}
		}
	}

	m, err := holtwinters.Fit(y, holtwinters.Options{
		Period: opt.Period, Seasonal: kind,
		Alpha: opt.Alpha, Beta: opt.Beta, Gamma: opt.Gamma,
		NoFallback: true,
	})
	if err != nil {
		return fmt.Errorf("fitting %s: %w", opt.CSV, err)
	}
	point, lower, upper := m.Forecast(opt.Horizon, opt.Level)
	if opt.JSON {
		return writeHoltWintersJSON(w, m, point, lower, upper)
	}
	return writeHoltWintersTable(w, opt, len(y), m, point, lower, upper)
}

// check reports options out of range, as errors matching usage.Err that
// name the flags of chaosgen models holtwinters, and returns the
// seasonality. Zero Horizon and Level are defaults, not errors.
func (opt *HoltWintersOptions) check() (holtwinters.Seasonality, error) {
	if opt.Period < 2 {
		return 0, usage.Errorf("--period must be at least 2, got %d", opt.Period)
	}
	kind, err := holtwinters.ParseSeasonality(opt.Seasonal)
	if err != nil || kind == holtwinters.None {
		return 0, usage.Errorf("--seasonal must be additive or multiplicative, got %q", opt.Seasonal)
	}
	if opt.Horizon < 0 {
		return 0, usage.Errorf("--horizon must be at least 1, got %d", opt.Horizon)
	}
	if opt.Level != 0 && !(opt.Level > 0 && opt.Level < 1) {
		return 0, usage.Errorf("--level must be in (0, 1), got %v", opt.Level)
	}
	switch countSet(opt.Alpha, opt.Beta, opt.Gamma) {
	case 0:
	case 3:
		if a := *opt.Alpha; !(a > 0 && a <= 1) {
			return 0, usage.Errorf("--alpha must be in (0, 1], got %v", a)
		}
		if b := *opt.Beta; !(b >= 0 && b <= 1) {
			return 0, usage.Errorf("--beta must be in [0, 1], got %v", b)
		}
		if g := *opt.Gamma; !(g >= 0 && g <= 1) {
			return 0, usage.Errorf("--gamma must be in [0, 1], got %v", g)
		}
	default:
		return 0, usage.Errorf("--alpha, --beta and --gamma go together: give all three or none")
	}
	return kind, nil
}

func countSet(ps ...*float64) int {
	n := 0
	for _, p := range ps {
		if p != nil {
			n++
		}
	}
	return n
}

// readSeries reads the value column of a time,value CSV: the column named
// "value", or else the second one. Errors name the file, row and column.
func readSeries(path string) ([]float64, string, error) {
	t, err := numcsv.ReadFile(path, numcsv.Options{AllowText: true})
	if err != nil {
		var ce *numcsv.CellError
		if errors.As(err, &ce) {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	col := "value"
	if !containsString(t.Header, col) {
		if len(t.Header) < 2 {
			return nil, "", &numcsv.CellError{File: path, Row: 1, Msg: "want a time,value CSV: no column named value and no second column"}
		}
		col = t.Header[1]
	}
	if cells, ok := t.Text[col]; ok {
		for i, c := range cells {
			if _, err := strconv.ParseFloat(c, 64); err != nil {
				return nil, "", &numcsv.CellError{File: path, Row: i + 2, Column: col, Msg: fmt.Sprintf("%q is not a number", c)}
			}
		}
	}
	return t.Num[col], col, nil
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// jsonFloat is a float64 written with 10 significant digits, so that the
// JSON output does not change with the last bits of the arithmetic.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("%v is not a finite number", v)
	}
	return strconv.AppendFloat(nil, v, 'g', 10, 64), nil
}

func jsonFloats(xs []float64) []jsonFloat {
	out := make([]jsonFloat, len(xs))
	for i, x := range xs {
		out[i] = jsonFloat(x)
	}
	return out
}

// holtWintersJSON is the --json output; fields are declared in key order.
type holtWintersJSON struct {
	Alpha       jsonFloat   `json:"alpha"`
	Beta        jsonFloat   `json:"beta"`
	Forecast    []jsonFloat `json:"forecast"`
	Gamma       jsonFloat   `json:"gamma"`
	Level       jsonFloat   `json:"level"`
	Lower       []jsonFloat `json:"lower"`
	Period      int         `json:"period"`
	Seasonal    []jsonFloat `json:"seasonal"`
	Seasonality string      `json:"seasonality"`
	SSE         jsonFloat   `json:"sse"`
	Trend       jsonFloat   `json:"trend"`
	Upper       []jsonFloat `json:"upper"`
}

func writeHoltWintersJSON(w io.Writer, m *holtwinters.Model, point, lower, upper []float64) error {
	out := holtWintersJSON{
		Alpha: jsonFloat(m.Alpha), Beta: jsonFloat(m.Beta), Gamma: jsonFloat(m.Gamma),
		Forecast: jsonFloats(point), Lower: jsonFloats(lower), Upper: jsonFloats(upper),
		Level: jsonFloat(m.Level), Trend: jsonFloat(m.Trend), Seasonal: jsonFloats(m.Seasonal),
		Period: m.Period, Seasonality: m.Seasonality.String(), SSE: jsonFloat(m.SSE),
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeHoltWintersTable(w io.Writer, opt HoltWintersOptions, n int, m *holtwinters.Model, point, lower, upper []float64) error {
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 7, 64) }
	how := "optimised"
	if !m.Optimized {
		how = "given"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Holt-Winters, %s season of period %d, %d values from %s; parameters %s\n\n",
		m.Seasonality, m.Period, n, filepath.Base(opt.CSV), how)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range [][2]string{
		{"alpha", g(m.Alpha)}, {"beta", g(m.Beta)}, {"gamma", g(m.Gamma)},
		{"SSE", g(m.SSE)}, {"level", g(m.Level)}, {"trend", g(m.Trend)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	fmt.Fprintf(tw, "seasonal\t%s\n", joinFloats(m.Seasonal, g))
	tw.Flush()

	pct := strconv.FormatFloat(100*opt.Level, 'g', -1, 64) + "%"
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(tw, "h\tforecast\tlower %s\tupper %s\n", pct, pct)
	for i := range point {
		lo, up := "-", "-"
		if lower != nil {
			lo, up = g(lower[i]), g(upper[i])
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", i+1, g(point[i]), lo, up)
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}

func joinFloats(xs []float64, f func(float64) string) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = f(x)
	}
	return strings.Join(s, " ")
}
