package holtwinters

import (
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/numcsv"
	"github.com/chaosgen/chaosgen/internal/shared"
)

// rFit is one R_HoltWinters entry of reference_dev.json.
type rFit struct {
	Alpha, Beta, Gamma float64
	SSE                float64
	A                  float64 `json:"a"`
	B                  float64 `json:"b"`
	S                  []float64
	Forecast           []float64 `json:"forecast_h2seasons"`
	LStart             float64   `json:"l_start"`
	BStart             float64   `json:"b_start"`
	SStart             []float64 `json:"s_start"`
	NFitted            int       `json:"n_fitted"`
	OptimWarning       string    `json:"optim_warning"`
	FittedXhat         []float64 `json:"fitted_xhat"`
}

type rSeries struct {
	N         int
	Frequency int
	File      string
	R         map[string]rFit `json:"R_HoltWinters"`
	y         []float64
}

// loadReference parses the Holt-Winters section of reference_dev.json and
// reads each series' CSV.
func loadReference(tb testing.TB) map[string]*rSeries {
	tb.Helper()
	path := shared.Path(tb, "data/ml/reference_dev.json")
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var doc struct {
		HoltWinters struct {
			Series map[string]*rSeries
		} `json:"holt_winters"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		tb.Fatalf("parsing %s: %v", path, err)
	}
	if len(doc.HoltWinters.Series) == 0 {
		tb.Fatalf("%s: no holt_winters series", path)
	}
	for name, s := range doc.HoltWinters.Series {
		s.y = loadSeries(tb, filepath.Join(filepath.Dir(path), "series", s.File))
		if len(s.y) != s.N {
			tb.Fatalf("%s: %d values, reference says %d", name, len(s.y), s.N)
		}
	}
	return doc.HoltWinters.Series
}

func loadSeries(tb testing.TB, path string) []float64 {
	tb.Helper()
	t, err := numcsv.ReadFile(path, numcsv.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	y, ok := t.Num["value"]
	if !ok {
		tb.Fatalf("%s: no value column", path)
	}
	return y
}

func relErr(got, want float64) float64 {
	if got == want {
		return 0
	}
	return math.Abs(got-want) / max(math.Abs(want), 1e-300)
}

func ptr(v float64) *float64 { return &v }

func seasonalityOf(variant string) Seasonality {
	if strings.HasPrefix(variant, "multiplicative") {
		return Multiplicative
	}
	return Additive
}

func TestStartValuesMatchR(t *testing.T) {
	ref := loadReference(t)
	for _, name := range slices.Sorted(maps.Keys(ref)) {
		s := ref[name]
		for _, variant := range []string{"additive_fixed_0.3_0.1_0.1", "multiplicative_fixed_0.3_0.1_0.1"} {
			want := s.R[variant]
			t.Run(name+"/"+variant, func(t *testing.T) {
				l0, b0, s0 := startValues(s.y[:2*s.Frequency], s.Frequency, seasonalityOf(variant))
				if e := relErr(l0, want.LStart); e > 1e-12 {
					t.Errorf("l.start = %.15g, R %.15g (rel err %.2g)", l0, want.LStart, e)
				}
				if e := relErr(b0, want.BStart); e > 1e-9 {
					t.Errorf("b.start = %.15g, R %.15g (rel err %.2g)", b0, want.BStart, e)
				}
				if len(s0) != len(want.SStart) {
					t.Fatalf("s.start has %d terms, R %d", len(s0), len(want.SStart))
				}
				for i := range s0 {
					if e := math.Abs(s0[i] - want.SStart[i]); e > 1e-9*max(1, math.Abs(want.SStart[i])) {
						t.Errorf("s.start[%d] = %.15g, R %.15g", i, s0[i], want.SStart[i])
					}
				}
			})
		}
	}
}

// TestFixedParametersMatchR checks the deterministic rows: fitted values,
// SSE, final states and forecasts to 1e-9 relative.
func TestFixedParametersMatchR(t *testing.T) {
	const tol = 1e-9
	ref := loadReference(t)
	for _, name := range slices.Sorted(maps.Keys(ref)) {
		s := ref[name]
		for _, variant := range []string{"additive_fixed_0.3_0.1_0.1", "multiplicative_fixed_0.3_0.1_0.1"} {
			want := s.R[variant]
			t.Run(name+"/"+variant, func(t *testing.T) {
				m, err := Fit(s.y, Options{
					Period: s.Frequency, Seasonal: seasonalityOf(variant),
					Alpha: ptr(0.3), Beta: ptr(0.1), Gamma: ptr(0.1),
				})
				if err != nil {
					t.Fatal(err)
				}
				if m.Optimized {
					t.Error("Optimized = true with all parameters fixed")
				}
				if len(m.Fitted) != want.NFitted || len(want.FittedXhat) != want.NFitted {
					t.Fatalf("%d fitted values, R %d (reference holds %d)", len(m.Fitted), want.NFitted, len(want.FittedXhat))
				}
				worst := 0.0
				for i, w := range want.FittedXhat {
					worst = max(worst, relErr(m.Fitted[i], w))
				}
				if worst > tol {
					t.Errorf("fitted values: worst rel err %.3g > %g", worst, tol)
				}
				for _, c := range []struct {
					what      string
					got, want float64
				}{{"SSE", m.SSE, want.SSE}, {"a", m.Level, want.A}, {"b", m.Trend, want.B}} {
					if e := relErr(c.got, c.want); e > tol {
						t.Errorf("%s = %.15g, R %.15g (rel err %.3g)", c.what, c.got, c.want, e)
					}
				}
				for i := range want.S {
					if e := relErr(m.Seasonal[i], want.S[i]); e > tol && math.Abs(m.Seasonal[i]-want.S[i]) > tol {
						t.Errorf("s[%d] = %.15g, R %.15g", i, m.Seasonal[i], want.S[i])
					}
				}
				fc, _, _ := m.Forecast(len(want.Forecast), 0.95)
				for i := range want.Forecast {
					if e := relErr(fc[i], want.Forecast[i]); e > tol {
						t.Errorf("forecast h=%d: %.15g, R %.15g (rel err %.3g)", i+1, fc[i], want.Forecast[i], e)
					}
				}
			})
		}
	}
}

// TestOptimizedMatchesR checks the optimised fits: SSE at most 0.1% above
// R's (at most R's where R's optimiser warned) and forecasts within 1%.
func TestOptimizedMatchesR(t *testing.T) {
	ref := loadReference(t)
	for _, name := range slices.Sorted(maps.Keys(ref)) {
		s := ref[name]
		for _, variant := range []string{"additive_optim", "multiplicative_optim"} {
			want := s.R[variant]
			t.Run(name+"/"+variant, func(t *testing.T) {
				m, err := Fit(s.y, Options{Period: s.Frequency, Seasonal: seasonalityOf(variant)})
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("alpha %.6g beta %.6g gamma %.6g SSE %.10g in %d iterations; R: %.6g %.6g %.6g SSE %.10g %s",
					m.Alpha, m.Beta, m.Gamma, m.SSE, m.Iterations, want.Alpha, want.Beta, want.Gamma, want.SSE, want.OptimWarning)
				limit := 1.001 * want.SSE
				if want.OptimWarning != "" {
					limit = want.SSE
				}
				if m.SSE > limit {
					t.Errorf("SSE %.10g > %.10g (R %.10g)", m.SSE, limit, want.SSE)
				}
				fc, _, _ := m.Forecast(len(want.Forecast), 0.95)
				for i := range want.Forecast {
					if e := relErr(fc[i], want.Forecast[i]); e > 0.01 {
						t.Errorf("forecast h=%d: %.8g, R %.8g (rel err %.3g)", i+1, fc[i], want.Forecast[i], e)
					}
				}
			})
		}
	}
}
