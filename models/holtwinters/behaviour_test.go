package holtwinters

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// seasonalSeries is a deterministic series with trend, a season of period p
// and a little pseudo-noise (a fixed LCG, so no random source is involved).
func seasonalSeries(n, p int, mult bool) []float64 {
	y := make([]float64, n)
	state := uint64(12345)
	for i := range y {
		state = state*6364136223846793005 + 1442695040888963407
		noise := float64(state>>11)/float64(1<<53) - 0.5
		season := math.Sin(2 * math.Pi * float64(i%p) / float64(p))
		level := 100 + 0.2*float64(i)
		if mult {
			y[i] = level * (1 + 0.1*season) * (1 + 0.01*noise)
		} else {
			y[i] = level + 10*season + noise
		}
	}
	return y
}

// TestGradient compares eval's forward-mode gradient with central
// differences of the SSE.
func TestGradient(t *testing.T) {
	for _, c := range []struct {
		name   string
		kind   Seasonality
		method Method
		damped bool
	}{
		{"additive", Additive, HoltWinters, false},
		{"multiplicative", Multiplicative, HoltWinters, false},
		{"additive damped", Additive, HoltWinters, true},
		{"multiplicative damped", Multiplicative, HoltWinters, true},
		{"holt damped", None, Holt, true},
		{"ses", None, SES, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			y := seasonalSeries(96, 12, c.kind == Multiplicative)
			w := newWork(y, c.method, Options{Period: 12, Seasonal: c.kind})
			th := [nparam]float64{0.4, 0.2, 0.3, 1}
			if c.damped {
				th[3] = 0.9
			}
			var g, dummy [nparam]float64
			f := w.eval(&th, &g)
			if fs := w.eval(&th, nil); relErr(fs, f) > 1e-12 {
				t.Errorf("SSE with gradient %.15g, without %.15g", f, fs)
			}
			for i := range th {
				const h = 1e-6
				up, down := th, th
				up[i] += h
				down[i] -= h
				num := (w.eval(&up, &dummy) - w.eval(&down, &dummy)) / (2 * h)
				if math.Abs(num-g[i]) > 1e-5*max(1, math.Abs(num)) {
					t.Errorf("dSSE/dtheta[%d] = %.10g, central difference %.10g", i, g[i], num)
				}
			}
		})
	}
}

func TestShortSeriesFallback(t *testing.T) {
	long := seasonalSeries(40, 12, true)
	for _, c := range []struct {
		name   string
		n      int
		opt    Options
		method Method
		start  int
	}{
		{"two seasons", 24, Options{Period: 12, Seasonal: Additive}, HoltWinters, 12},
		{"23 points: holt", 23, Options{Period: 12, Seasonal: Additive}, Holt, 2},
		{"multiplicative short: holt", 10, Options{Period: 12, Seasonal: Multiplicative}, Holt, 2},
		{"3 points: holt", 3, Options{Period: 12, Seasonal: Additive}, Holt, 2},
		{"2 points: ses", 2, Options{Period: 12, Seasonal: Additive}, SES, 1},
		{"none: holt", 10, Options{}, Holt, 2},
		{"none no trend: ses", 10, Options{NoTrend: true}, SES, 1},
		{"damped short: damped holt", 5, Options{Period: 4, Seasonal: Additive, Damped: true}, Holt, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			y := long[:c.n]
			m, err := Fit(y, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			if m.Method != c.method || m.Start != c.start {
				t.Fatalf("method %v start %d, want %v start %d", m.Method, m.Start, c.method, c.start)
			}
			if m.Method != HoltWinters && (m.Seasonality != None || m.Seasonal != nil || m.Gamma != 0) {
				t.Errorf("%v model has seasonality %v, seasonal %v, gamma %v", m.Method, m.Seasonality, m.Seasonal, m.Gamma)
			}
			if m.Method == SES && m.Trend != 0 {
				t.Errorf("SES trend = %v", m.Trend)
			}
			if m.Method == Holt && (m.LStart != y[1] || m.BStart != y[1]-y[0]) {
				t.Errorf("Holt start %v, %v; want y[2] = %v, y[2]-y[1] = %v", m.LStart, m.BStart, y[1], y[1]-y[0])
			}
			if len(m.Fitted) != c.n-c.start {
				t.Errorf("%d fitted values, want %d", len(m.Fitted), c.n-c.start)
			}
			pt, _, _ := m.Forecast(5, 0.9)
			for i, v := range pt {
				if !isFinite(v) {
					t.Errorf("forecast %d = %v", i+1, v)
				}
			}
			for _, v := range []float64{m.Alpha, m.Beta, m.Gamma} {
				if v < 0 || v > 1 {
					t.Errorf("parameter %v outside [0, 1]", v)
				}
			}
		})
	}
}

// TestHoltMatchesRecursion checks Holt and SES against R's recursion
// written out longhand with fixed parameters.
func TestHoltMatchesRecursion(t *testing.T) {
	y := []float64{3, 5, 4, 6, 8, 7, 9, 12}
	alpha, beta := 0.5, 0.3
	l, b := y[1], y[1]-y[0]
	var sse float64
	for _, v := range y[2:] {
		e := v - (l + b)
		sse += e * e
		ln := alpha*v + (1-alpha)*(l+b)
		b = beta*(ln-l) + (1-beta)*b
		l = ln
	}
	m, err := Fit(y, Options{Alpha: ptr(alpha), Beta: ptr(beta)})
	if err != nil {
		t.Fatal(err)
	}
	if m.SSE != sse || m.Level != l || m.Trend != b {
		t.Errorf("holt: SSE %v a %v b %v, want %v %v %v", m.SSE, m.Level, m.Trend, sse, l, b)
	}

	l, sse = y[0], 0
	for _, v := range y[1:] {
		e := v - l
		sse += e * e
		l = alpha*v + (1-alpha)*l
	}
	m, err = Fit(y, Options{NoTrend: true, Alpha: ptr(alpha)})
	if err != nil {
		t.Fatal(err)
	}
	if m.SSE != sse || m.Level != l {
		t.Errorf("ses: SSE %v a %v, want %v %v", m.SSE, m.Level, sse, l)
	}
	pt, _, _ := m.Forecast(3, 0.95)
	for i, v := range pt {
		if v != l {
			t.Errorf("ses forecast %d = %v, want the level %v", i+1, v, l)
		}
	}
}

func TestConstantSeries(t *testing.T) {
	y := make([]float64, 48)
	for i := range y {
		y[i] = 7
	}
	for _, opt := range []Options{
		{Period: 12, Seasonal: Additive},
		{Period: 12, Seasonal: Multiplicative},
		{Period: 12, Seasonal: Additive, Damped: true},
		{},
		{NoTrend: true},
	} {
		t.Run(fmt.Sprintf("%v damped=%v notrend=%v", opt.Seasonal, opt.Damped, opt.NoTrend), func(t *testing.T) {
			m, err := Fit(y, opt)
			if err != nil {
				t.Fatal(err)
			}
			if m.SSE > 1e-20 {
				t.Errorf("SSE = %v, want 0", m.SSE)
			}
			pt, lo, up := m.Forecast(24, 0.95)
			for i := range pt {
				if math.Abs(pt[i]-7) > 1e-9 || math.Abs(lo[i]-7) > 1e-9 || math.Abs(up[i]-7) > 1e-9 {
					t.Fatalf("h=%d: forecast %v [%v, %v], want 7 [7, 7]", i+1, pt[i], lo[i], up[i])
				}
			}
		})
	}
}

func TestErrors(t *testing.T) {
	good := seasonalSeries(48, 12, false)
	withNaN := append([]float64(nil), good...)
	withNaN[17] = math.NaN()
	withZero := append([]float64(nil), good...)
	withZero[3] = 0
	for _, c := range []struct {
		name string
		y    []float64
		opt  Options
		is   error
		msg  string
	}{
		{"too short strict", good[:20], Options{Period: 12, Seasonal: Additive, NoFallback: true}, ErrTooShort,
			"series too short: need at least 24 points (two periods of 12 for a seasonal model), have 20"},
		{"holt too short strict", good[:2], Options{NoFallback: true}, ErrTooShort,
			"series too short: need at least 3 points (Holt's trend model), have 2"},
		{"one point", good[:1], Options{Period: 12, Seasonal: Additive}, ErrTooShort,
			"series too short: need at least 2 points (simple exponential smoothing), have 1"},
		{"empty", nil, Options{}, ErrTooShort,
			"series too short: need at least 2 points (simple exponential smoothing), have 0"},
		{"damped one point", good[:2], Options{Damped: true}, ErrTooShort,
			"series too short: need at least 3 points (Holt's trend model), have 2"},
		{"nan", withNaN, Options{Period: 12, Seasonal: Additive}, ErrNonFinite,
			"y[17] = NaN: value is not a finite number"},
		{"inf", []float64{1, math.Inf(1), 3}, Options{}, ErrNonFinite,
			"y[1] = +Inf: value is not a finite number"},
		{"multiplicative zero", withZero, Options{Period: 12, Seasonal: Multiplicative}, ErrNonPositive,
			"multiplicative seasonality needs positive values: y[3] = 0"},
		{"period 1", good, Options{Period: 1, Seasonal: Additive}, ErrOptions,
			"invalid options: period = 1: a seasonal model needs a period of at least 2"},
		{"alpha 0", good, Options{Alpha: ptr(0)}, ErrOptions,
			"invalid options: alpha = 0: want a value in (0, 1]"},
		{"beta 1.5", good, Options{Beta: ptr(1.5)}, ErrOptions,
			"invalid options: beta = 1.5: want a value in [0, 1]"},
		{"gamma NaN", good, Options{Gamma: ptr(math.NaN())}, ErrOptions,
			"invalid options: gamma = NaN: want a value in [0, 1]"},
		{"phi without damped", good, Options{Phi: ptr(0.9)}, ErrOptions,
			"invalid options: phi is set but Damped is not"},
		{"seasonal no trend", good, Options{Period: 12, Seasonal: Additive, NoTrend: true}, ErrOptions,
			"invalid options: NoTrend is only for models without a season"},
		{"unknown seasonality", good, Options{Period: 12, Seasonal: Seasonality(7)}, ErrOptions,
			"invalid options: unknown seasonality 7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := Fit(c.y, c.opt)
			if err == nil {
				t.Fatalf("no error; model %+v", m)
			}
			if !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			if err.Error() != c.msg {
				t.Errorf("error\n%s\nwant\n%s", err, c.msg)
			}
		})
	}
}

func TestParseSeasonality(t *testing.T) {
	for in, want := range map[string]Seasonality{"additive": Additive, "Multiplicative": Multiplicative, "m": Multiplicative, "none": None} {
		if got, err := ParseSeasonality(in); err != nil || got != want {
			t.Errorf("ParseSeasonality(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "mult2", "x"} {
		if _, err := ParseSeasonality(in); err == nil || !strings.Contains(err.Error(), "want additive, multiplicative or none") {
			t.Errorf("ParseSeasonality(%q): error %v", in, err)
		}
	}
}

// TestForecastIntervals checks the interval formula against a literal
// transcription of R's predict.HoltWinters (with the multiplicative
// divisor s_p where R picks the trend coefficient).
func TestForecastIntervals(t *testing.T) {
	for _, kind := range []Seasonality{Additive, Multiplicative} {
		t.Run(kind.String(), func(t *testing.T) {
			const p, h, level = 4, 11, 0.8
			y := seasonalSeries(40, p, kind == Multiplicative)
			m, err := Fit(y, Options{Period: p, Seasonal: kind})
			if err != nil {
				t.Fatal(err)
			}
			pt, lo, up := m.Forecast(h, level)
			coef := append([]float64{m.Level, m.Trend}, m.Seasonal...) // R's coefficients, 1-based below
			c := func(i int) float64 { return coef[i-1] }
			var mean, v float64
			for _, r := range m.Residuals {
				mean += r
			}
			mean /= float64(len(m.Residuals))
			for _, r := range m.Residuals {
				v += (r - mean) * (r - mean)
			}
			v /= float64(len(m.Residuals) - 1)
			psi := func(j int) float64 {
				s := m.Alpha * (1 + float64(j)*m.Beta)
				if j%p == 0 {
					s += m.Gamma * (1 - m.Alpha)
				}
				return s
			}
			q := 1.2815515655446004 // qnorm(0.9)
			for k := 1; k <= h; k++ {
				var fit, sum float64
				rel := 1 + (k-1)%p
				if kind == Additive {
					fit = c(1) + float64(k)*c(2) + c(2+rel)
					sum = 1
					for j := 1; j <= k-1; j++ {
						sum += psi(j) * psi(j)
					}
				} else {
					fit = (c(1) + float64(k)*c(2)) * c(2+rel)
					for j := 0; j <= k-1; j++ {
						idx := 2 + ((rel-j)%p+p)%p
						if idx == 2 {
							idx = 2 + p // R: coefficients[2] (b); see Forecast
						}
						x := psi(j) * c(2+rel) / c(idx)
						sum += x * x
					}
				}
				half := q * math.Sqrt(v*sum)
				if relErr(pt[k-1], fit) > 1e-12 || relErr(up[k-1]-pt[k-1], half) > 1e-9 || relErr(pt[k-1]-lo[k-1], half) > 1e-9 {
					t.Errorf("h=%d: %v [%v, %v], want %v ± %v", k, pt[k-1], lo[k-1], up[k-1], fit, half)
				}
			}
			if _, lo, up := m.Forecast(3, 1); lo != nil || up != nil {
				t.Error("level 1 gave bounds")
			}
			if pt, _, _ := m.Forecast(0, 0.95); pt != nil {
				t.Error("h = 0 gave forecasts")
			}
		})
	}
}

func TestDamped(t *testing.T) {
	y := seasonalSeries(60, 12, false)
	base := Options{Period: 12, Seasonal: Additive, Alpha: ptr(0.3), Beta: ptr(0.1), Gamma: ptr(0.1)}
	plain, err := Fit(y, base)
	if err != nil {
		t.Fatal(err)
	}
	one := base
	one.Damped, one.Phi = true, ptr(1)
	d1, err := Fit(y, one)
	if err != nil {
		t.Fatal(err)
	}
	if d1.SSE != plain.SSE || d1.Level != plain.Level || d1.Trend != plain.Trend {
		t.Errorf("phi = 1: SSE %v a %v b %v, undamped %v %v %v", d1.SSE, d1.Level, d1.Trend, plain.SSE, plain.Level, plain.Trend)
	}
	p1, _, _ := plain.Forecast(24, 0.95)
	q1, _, _ := d1.Forecast(24, 0.95)
	for i := range p1 {
		if relErr(q1[i], p1[i]) > 1e-12 {
			t.Errorf("phi = 1: forecast %d = %v, undamped %v", i+1, q1[i], p1[i])
		}
	}

	opt := Options{Period: 12, Seasonal: Additive, Damped: true}
	m, err := Fit(y, opt)
	if err != nil {
		t.Fatal(err)
	}
	if m.Phi < phiLower || m.Phi > phiUpper {
		t.Errorf("optimised phi %v outside [%v, %v]", m.Phi, phiLower, phiUpper)
	}
	// The h-step forecast adds (phi + ... + phi^h) b.
	pt, _, _ := m.Forecast(13, 0.95)
	damp, pk := 0.0, 1.0
	for range 13 {
		pk *= m.Phi
		damp += pk
	}
	if want := m.Level + damp*m.Trend + m.Seasonal[0]; relErr(pt[12], want) > 1e-12 {
		t.Errorf("damped forecast h=13 = %v, want %v", pt[12], want)
	}
}

// TestOptimizerReachesMinimum checks that the optimised SSE is not beaten
// by a grid around the optimum (the optimiser stopped at a minimum).
func TestOptimizerReachesMinimum(t *testing.T) {
	y := seasonalSeries(120, 12, true)
	m, err := Fit(y, Options{Period: 12, Seasonal: Multiplicative})
	if err != nil {
		t.Fatal(err)
	}
	w := newWork(y, HoltWinters, Options{Period: 12, Seasonal: Multiplicative})
	for _, da := range []float64{-0.01, 0, 0.01} {
		for _, db := range []float64{-0.01, 0, 0.01} {
			for _, dg := range []float64{-0.01, 0, 0.01} {
				th := [nparam]float64{m.Alpha + da, m.Beta + db, m.Gamma + dg, 1}
				if th[0] <= 0 || th[0] > 1 || th[1] < 0 || th[1] > 1 || th[2] < 0 || th[2] > 1 {
					continue
				}
				if s := w.sse(&th); s < m.SSE*(1-1e-9) {
					t.Errorf("SSE %v at %v below the optimum %v at (%v, %v, %v)", s, th, m.SSE, m.Alpha, m.Beta, m.Gamma)
				}
			}
		}
	}
}

func TestSSEDoesNotAllocate(t *testing.T) {
	y := seasonalSeries(240, 12, true)
	w := newWork(y, HoltWinters, Options{Period: 12, Seasonal: Multiplicative})
	th := [nparam]float64{0.3, 0.1, 0.1, 1}
	var g [nparam]float64
	if n := testing.AllocsPerRun(100, func() { w.eval(&th, &g); w.eval(&th, nil) }); n != 0 {
		t.Errorf("eval allocates %v times per call", n)
	}
}

func TestDeterministic(t *testing.T) {
	y := seasonalSeries(120, 12, true)
	a, err := Fit(y, Options{Period: 12, Seasonal: Multiplicative})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Fit(y, Options{Period: 12, Seasonal: Multiplicative})
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("two fits differ:\n%v\n%v", a, b)
	}
}

func ExampleFit() {
	// Three years of a quarterly series.
	y := []float64{10, 14, 8, 25, 16, 22, 14, 35, 15, 27, 18, 40}
	alpha, beta, gamma := 0.5, 0.1, 0.3
	m, err := Fit(y, Options{Period: 4, Seasonal: Additive, Alpha: &alpha, Beta: &beta, Gamma: &gamma})
	if err != nil {
		fmt.Println(err)
		return
	}
	fc, lo, hi := m.Forecast(4, 0.95)
	fmt.Printf("SSE %.3f, level %.3f, trend %.3f\n", m.SSE, m.Level, m.Trend)
	for i := range fc {
		fmt.Printf("h=%d %.2f [%.2f, %.2f]\n", i+1, fc[i], lo[i], hi[i])
	}
	// Output:
	// SSE 153.024, level 29.402, trend 1.910
	// h=1 27.74 [18.59, 36.89]
	// h=2 35.14 [24.69, 45.58]
	// h=3 27.78 [15.98, 39.59]
	// h=4 46.30 [33.09, 59.52]
}

// BenchmarkSSE times one pass of the recursion with and without the
// gradient (the optimiser's inner loop).
func BenchmarkSSE(b *testing.B) {
	y := seasonalSeries(1440, 24, true)
	w := newWork(y, HoltWinters, Options{Period: 24, Seasonal: Multiplicative})
	th := [nparam]float64{0.3, 0.1, 0.1, 1}
	var g [nparam]float64
	for _, grad := range []bool{false, true} {
		b.Run(fmt.Sprintf("gradient=%v", grad), func(b *testing.B) {
			gp := &g
			if !grad {
				gp = nil
			}
			b.ReportAllocs()
			for b.Loop() {
				w.eval(&th, gp)
			}
			b.ReportMetric(float64(len(y)*b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

// BenchmarkFit times optimised fits of co2 (n = 468, period 12) and of a
// generated 1440-point series (a day of minutes, or 60 days of hours) with
// period 24.
func BenchmarkFit(b *testing.B) {
	for _, c := range []struct {
		name string
		y    []float64
		opt  Options
	}{
		{"co2/additive", nil, Options{Period: 12, Seasonal: Additive}},
		{"co2/multiplicative", nil, Options{Period: 12, Seasonal: Multiplicative}},
		{"daily1440/period24", seasonalSeries(1440, 24, true), Options{Period: 24, Seasonal: Multiplicative}},
		{"daily1440/period24/fixed", seasonalSeries(1440, 24, true), Options{Period: 24, Seasonal: Multiplicative, Alpha: ptr(0.3), Beta: ptr(0.1), Gamma: ptr(0.1)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			y := c.y
			if y == nil {
				y = loadReference(b)["co2"].y
			}
			b.ReportAllocs()
			iters := 0
			for b.Loop() {
				m, err := Fit(y, c.opt)
				if err != nil {
					b.Fatal(err)
				}
				iters = m.Iterations
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "series/s")
			b.ReportMetric(float64(iters), "iterations")
		})
	}
}
