package analysis

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/internal/testseed"
)

// The model stage's fast paths against the formulas they replace, bit for
// bit: each reference below is the straightforward code as it was.

// refPoissonZ is poissonZ with math.Lgamma called at every count.
func refPoissonZ(k, mu float64) float64 {
	if mu <= 0 {
		if k == 0 {
			return 0
		}
		mu = 1e-9
	}
	if mu > 200 {
		return (k - mu) / math.Sqrt(mu+0.25)
	}
	switch {
	case k > mu:
		lg, _ := math.Lgamma(k + 1)
		var sum, term float64 = 0, 1
		for j := 1.0; j < 10000; j++ {
			term *= mu / (k + j)
			sum += term
			if term < 1e-17*sum {
				break
			}
		}
		upper := math.Exp(k*math.Log(mu)-mu-lg) * (0.5 + sum)
		return -normalQuantile(max(1e-300, upper))
	case k < mu:
		var below float64
		pi := math.Exp(-mu)
		for i := 0.0; i < k; i++ {
			below += pi
			pi *= mu / (i + 1)
		}
		return normalQuantile(max(1e-300, below+0.5*pi))
	}
	return 0
}

// refCountSeriesZ is countSeriesZ with the spread computed before the
// windows, whether any needs it or not.
func refCountSeriesZ(k, n []float64, p, floor float64) []float64 {
	z := make([]float64, len(k))
	var rates []float64
	for j := range k {
		if n[j] > 0 {
			rates = append(rates, k[j]/n[j])
		}
	}
	dev := make([]float64, len(rates))
	for i, r := range rates {
		dev[i] = math.Abs(r - p)
	}
	tau := 1.4826 * median(dev)
	noEvents := p >= 0 && floor >= 0
	for j := range k {
		if n[j] == 0 || k[j] == 0 && noEvents {
			continue
		}
		zs := refPoissonZ(k[j], n[j]*p)
		if tau > 0 && len(rates) >= rcMinWindows {
			zv := (k[j]/n[j] - p) / tau
			if math.Abs(zv) < math.Abs(zs) {
				zs = zv
			}
		}
		z[j] = clampZ(max(0, zs-floor))
	}
	return z
}

// TestLgammaCount: lgammaCount is math.Lgamma(k+1) bit for bit, at every
// count of its table, past it, and off the integers.
func TestLgammaCount(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 40))
	ks := []float64{-0.5, 0.5, 1e-9, 1023.5, 1e6, math.Inf(1)}
	for i := range 1100 {
		ks = append(ks, float64(i))
	}
	for range 2000 {
		ks = append(ks, r.Float64()*2000, float64(r.IntN(5000)))
	}
	for _, k := range ks {
		want, _ := math.Lgamma(k + 1)
		if got := lgammaCount(k); !sameBits(got, want) {
			t.Fatalf("lgammaCount(%v) = %v, math.Lgamma(%v) = %v", k, got, k+1, want)
		}
	}
}

// TestCountSeriesZFast: poissonZ and countSeriesZ are their references bit
// for bit on random series: counts from none to thousands (past the
// Lgamma table), rates from 0 to 1, windows without calls, floors 0 and
// countFloor, scratch from a floats reused across series.
func TestCountSeriesZFast(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 41))
	for range 20000 {
		k, mu := float64(r.IntN(3000)), r.ExpFloat64()*float64(r.IntN(300))
		if r.IntN(2) == 0 {
			k = float64(r.IntN(20))
		}
		if got, want := poissonZ(k, mu), refPoissonZ(k, mu); !sameBits(got, want) {
			t.Fatalf("poissonZ(%v, %v) = %v, want %v", k, mu, got, want)
		}
	}
	f := &floats{}
	for it := range 3000 {
		n := r.IntN(60)
		ks, ns := make([]float64, n), make([]float64, n)
		rate := []float64{0, 1e-4, 0.01, 0.2, 0.9}[r.IntN(5)]
		for j := range ks {
			ns[j] = float64(r.IntN(3) * r.IntN(2000))
			if ns[j] > 0 && r.IntN(4) == 0 {
				ks[j] = float64(r.IntN(int(ns[j]) + 1))
			} else if ns[j] > 0 {
				ks[j] = math.Round(ns[j] * rate * r.Float64())
			}
		}
		p := rate
		if it%7 == 0 {
			p = -0.1 // no skipping of the windows without events
		}
		for _, floor := range []float64{0, countFloor} {
			f.reset()
			got, want := countSeriesZ(ks, ns, p, floor, f), refCountSeriesZ(ks, ns, p, floor)
			for j := range want {
				if !sameBits(got[j], want[j]) {
					t.Fatalf("series %d, window %d (%v of %v, p %v, floor %v): %v, want %v", it, j, ks[j], ns[j], p, floor, got[j], want[j])
				}
			}
		}
	}
}

// TestNormalSpread: robust's spreads for the levels it is called with,
// computed once, are those of the formula at a level only known at run
// time.
func TestNormalSpread(t *testing.T) {
	levels := []float64{0.3, 0.5}
	for i, level := range levels {
		want := normalQuantile(level) - normalQuantile(level-0.2)
		if !sameBits(normalSpread[i], want) {
			t.Errorf("level %v: %v, want %v", level, normalSpread[i], want)
		}
	}
}

// TestSelectLong: selectIn returns a sorted copy's element bit for bit on
// series as long as a day's windows and longer, of continuous values, of a
// few values tied many times (the rates of counts, whose zeros are all +0:
// the selected zero is returned without the sort, mixedZeros), of both
// zeros (the sort decides), of one value, ascending and in an organ-pipe
// order, at the median, the ends and random ranks.
func TestSelectLong(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 42))
	gens := map[string]func(i, n int) float64{
		"normal":    func(int, int) float64 { return r.NormFloat64() },
		"ties":      func(int, int) float64 { return float64(r.IntN(4)) * 0.25 },
		"fewevents": func(int, int) float64 { return float64(min(r.IntN(40), 3)) / 100 },
		"zeros":     func(int, int) float64 { return []float64{0, math.Copysign(0, -1), 1, -1}[r.IntN(4)] },
		"negzeros":  func(int, int) float64 { return []float64{math.Copysign(0, -1), 1, -1}[r.IntN(3)] },
		"constant":  func(int, int) float64 { return 0.7 },
		"ascending": func(i, _ int) float64 { return float64(i) },
		"organ":     func(i, n int) float64 { return float64(min(i, n-i)) },
	}
	buf := make([]float64, 0, 512)
	for name, gen := range gens {
		for _, n := range []int{17, 31, 100, 257, 1000, 1440, 4321} {
			xs := make([]float64, n)
			for i := range xs {
				xs[i] = gen(i, n)
			}
			s := slices.Clone(xs)
			slices.Sort(s)
			ks := []int{0, n - 1, n / 2, (n - 1) / 4}
			for range 20 {
				ks = append(ks, r.IntN(n))
			}
			for _, k := range ks {
				if got := selectIn(xs, buf, k); !sameBits(got, s[k]) {
					t.Fatalf("%s, n=%d, k=%d: selectIn %v, the sorted copy's %v", name, n, k, got, s[k])
				}
			}
		}
	}
}

// refRobust is robust by sorting a copy.
func refRobust(xs []float64, level float64) (base, scale float64) {
	if len(xs) == 0 {
		return 0, 1
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q := func(p float64) float64 { return s[min(len(s)-1, int(p*float64(len(s))))] }
	normal := normalQuantile(level) - normalQuantile(level-0.2)
	return q(level), max(0.05, (q(level)-q(level-0.2))/normal)
}

// TestRobustSelects: robust, which selects its two quantiles, is robust
// by sorting a copy bit for bit, at modelEdge's levels and another, on
// series of every length up to 300 and a day's, of logarithms and of
// values tied many times, and leaves its argument as it was.
func TestRobustSelects(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 43))
	f := &floats{}
	for _, n := range append(seqTo(300), 1440) {
		for _, ties := range []bool{false, true} {
			xs := make([]float64, n)
			for i := range xs {
				xs[i] = math.Log(r.ExpFloat64())
				if ties {
					xs[i] = float64(r.IntN(5)) * 0.3
				}
			}
			in := slices.Clone(xs)
			for _, level := range []float64{0.3, 0.5, 0.7} {
				f.reset()
				b, s := robust(xs, level, f)
				wb, ws := refRobust(xs, level)
				if !sameBits(b, wb) || !sameBits(s, ws) {
					t.Fatalf("n=%d, ties %v, level %v: robust %v, %v; by sorting %v, %v", n, ties, level, b, s, wb, ws)
				}
			}
			if !slices.EqualFunc(xs, in, sameBits) {
				t.Fatalf("n=%d: robust changed its argument", n)
			}
		}
	}
}

func seqTo(n int) []int {
	s := make([]int, n+1)
	for i := range s {
		s[i] = i
	}
	return s
}

// refCalibratedZ is calibratedZ as it was: every median selected.
func refCalibratedZ(m, v, n []float64, welch bool) []float64 {
	var f *floats
	z := f.take(len(m))
	// the windows' means, variances, inverse counts and deviations, and the
	// medians' scratch: one allocation, none of them grown by appends
	k := len(m)
	buf := f.take(5 * k)
	ms, vs, inv, dev, scratch := buf[:0:k], buf[k:k:2*k], buf[2*k:2*k:3*k], buf[3*k:4*k], buf[4*k:]
	for i := range m {
		if n[i] <= 0 {
			continue
		}
		ms = append(ms, m[i])
		inv = append(inv, 1/n[i])
		if n[i] >= 2 {
			vs = append(vs, v[i])
		}
	}
	if len(ms) < rcMinWindows {
		return z
	}
	mu := medianIn(ms, scratch)
	sw := 0.0
	if len(vs) > 0 {
		sw = medianIn(vs, scratch)
	}
	dev = dev[:len(ms)]
	for i, x := range ms {
		dev[i] = math.Abs(x - mu)
	}
	mad := 1.4826 * medianIn(dev, scratch)
	tau2 := max(0, mad*mad-sw*medianIn(inv, scratch))
	floor := 1e-4 + 1e-3*math.Abs(mu) // no division by zero on a constant series
	for i := range m {
		if n[i] <= 0 {
			continue
		}
		// With welch, the own spread of a window of few calls counts when
		// it is larger than usual: one extreme call among a few moves the
		// mean, not the whole window (Welch's view of the sampling error).
		// Self times use it; edge durations do not, as a starved caller
		// widens the spread of every call it makes, which is the signal;
		// nor do windows of welchMaxN calls or more, whose mean one call
		// cannot carry away.
		within := sw
		if welch && n[i] >= 2 && n[i] < welchMaxN {
			within = max(sw, v[i])
		}
		z[i] = clampZ((m[i] - mu) / math.Sqrt(tau2+within/n[i]+floor*floor))
	}
	return z
}

// TestCalibratedZFast: calibratedZ, which skips the medians it knows, is
// refCalibratedZ bit for bit on series with within-window variances of
// every kind (spread, all 0, all one value, with NaNs, with a -0), counts
// of every kind (0 and negative windows left out, whole, fractional, so
// small that 1/n overflows, NaN), with and without welch.
func TestCalibratedZFast(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 44))
	f := &floats{}
	for it := range 20000 {
		k := r.IntN(40)
		m, v, n := make([]float64, k), make([]float64, k), make([]float64, k)
		vk, nk := r.IntN(5), r.IntN(5)
		for i := range k {
			m[i] = r.NormFloat64()
			switch vk {
			case 0:
				v[i] = r.ExpFloat64()
			case 1:
				v[i] = 0
			case 2:
				v[i] = 0.25
			case 3:
				v[i] = []float64{0, math.Copysign(0, -1), 0.5}[r.IntN(3)]
			case 4:
				v[i] = []float64{math.NaN(), 0, 1}[r.IntN(3)]
			}
			switch nk {
			case 0, 1:
				n[i] = float64(r.IntN(60))
			case 2:
				n[i] = r.Float64() * 3
			case 3:
				n[i] = []float64{1e-320, 5, 0, -1}[r.IntN(4)]
			case 4:
				n[i] = []float64{math.NaN(), 3, 40}[r.IntN(3)]
			}
		}
		for _, welch := range []bool{false, true} {
			f.reset()
			got, want := calibratedZ(m, v, n, welch, f), refCalibratedZ(m, v, n, welch)
			for i := range want {
				if !sameBits(got[i], want[i]) {
					t.Fatalf("series %d (variances %d, counts %d, welch %v), window %d: %v, want %v\nm %v\nv %v\nn %v", it, vk, nk, welch, i, got[i], want[i], m, v, n)
				}
			}
		}
	}
}

// TestPredictedKnee: findings computes an edge's load knee only when it
// needs it, and the callee's load forecast needs it. An edge whose latency
// climbs past a load of 120 calls a window and which has no latency
// episode (its flags are all clear) gets a predicted bottleneck from a
// forecast of 300 calls a window, at the knee loadKnee finds.
func TestPredictedKnee(t *testing.T) {
	const n = 200
	win := time.Minute
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).UnixNano()
	tab := &features.Table{Window: win, Edges: []features.Edge{{Caller: "a", Callee: "b", Windows: n}}}
	m := &edgeModel{i: 0, k: make([]int, n), load: make([]float64, n),
		errFlag: make([]bool, n), latFlag: make([]bool, n), x: make([]float64, n*len(featureNames))}
	for j := range n {
		l := 10 + float64(j%100)*2
		mean := 10.0
		if l > 120 {
			mean = 10 * math.Exp((l-120)/40)
		}
		w := features.Window{StartUnixNano: start + int64(j)*int64(win)}
		w.Calls, w.MeanMs, w.P99Ms = 100, mean, 3*mean
		tab.Windows = append(tab.Windows, w)
		m.k[j], m.load[j] = j, l
	}
	m.ws = tab.Windows
	m.callsFcast = make([]float64, 60)
	for j := range m.callsFcast {
		m.callsFcast[j] = 300
	}
	knee, ratio := loadKnee(m.ws, m.load)
	if knee <= 0 {
		t.Fatalf("the edge has no knee (%v, %v): the test's data is wrong", knee, ratio)
	}
	g := grid{start: start, win: int64(win), n: n}
	var got []Finding
	for _, f := range findings(tab, []*edgeModel{m}, scoreEdges(tab), g) {
		if f.Predicted {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].Evidence["knee_calls_per_window"] != round6(knee) || got[0].Evidence["latency_ratio_above_knee"] != round6(ratio) {
		t.Fatalf("predicted findings %+v, want one at the knee %v (latency ratio %v)", got, knee, ratio)
	}
}
