package holtwinters

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestEvalTrendIsGeneral checks that evalTrend, eval's fast path for a
// trend without a season, gives evalGeneral's SSE and gradient bit for bit
// (forecasts, goldens and the R comparisons rely on it), over series of
// several shapes (smooth, noisy, counts with zeros and bursts, constant)
// and parameters across the box, its corners included.
func TestEvalTrendIsGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 5))
	series := map[string]func(i int) float64{
		"trend":    func(i int) float64 { return 100 + 0.3*float64(i) + rng.NormFloat64() },
		"counts":   func(i int) float64 { return float64(rng.IntN(3) * rng.IntN(50)) },
		"bursts":   func(i int) float64 { return float64(rng.IntN(2)) * math.Exp(8*rng.Float64()) },
		"constant": func(int) float64 { return 42 },
		"tiny":     func(i int) float64 { return 1e-300 * float64(i%7) },
	}
	thetas := [][nparam]float64{{0, 0, 0, 1}, {1, 1, 0, 1}, {1, 0, 0, 0.8}, {0, 1, 0, 0.98}}
	for range 40 {
		thetas = append(thetas, [nparam]float64{rng.Float64(), rng.Float64(), 0, 0.8 + 0.2*rng.Float64()})
	}
	for name, f := range series {
		for _, n := range []int{3, 10, 1440} {
			y := make([]float64, n)
			for i := range y {
				y[i] = f(i)
			}
			w := newWork(y, Holt, Options{Damped: true})
			for _, th := range thetas {
				var gf, gg [nparam]float64
				sf, sg := w.evalTrend(&th, &gf), w.evalGeneral(&th, &gg)
				if math.Float64bits(sf) != math.Float64bits(sg) {
					t.Fatalf("%s, n=%d, theta %v: SSE %v, evalGeneral's %v", name, n, th, sf, sg)
				}
				for i := range gf {
					if math.Float64bits(gf[i]) != math.Float64bits(gg[i]) {
						t.Fatalf("%s, n=%d, theta %v: gradient[%d] %v, evalGeneral's %v", name, n, th, i, gf[i], gg[i])
					}
				}
			}
		}
	}
	// eval takes the fast path exactly for a trend without a season
	w := newWork(seasonalSeries(48, 12, false), HoltWinters, Options{Period: 12, Seasonal: Additive})
	th := [nparam]float64{0.4, 0.2, 0.3, 1}
	var ge, gg [nparam]float64
	if w.eval(&th, &ge) != w.evalGeneral(&th, &gg) || ge != gg {
		t.Errorf("seasonal eval differs from evalGeneral")
	}
}
