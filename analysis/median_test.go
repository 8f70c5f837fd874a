package analysis

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/internal/testseed"
)

// TestMedianIsSorts: median, which selects, returns the element of a sorted
// copy at len/2 bit for bit, over values with many ties, both zeros, NaNs
// and infinities, at every length up to 300, and leaves its argument as it
// was.
func TestMedianIsSorts(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 16))
	pools := map[string][]float64{
		"ties":     {1, 2, 2, 3, 3, 3, -1},
		"zeros":    {math.Copysign(0, -1), 0, 1, -1},
		"nan":      {math.NaN(), 1, 2, math.Inf(1), math.Inf(-1)},
		"log":      nil, // continuous values
		"constant": {7},
	}
	if median(nil) != 0 {
		t.Fatal("median of nothing is not 0")
	}
	for name, pool := range pools {
		for n := 1; n <= 300; n++ {
			xs := make([]float64, n)
			for i := range xs {
				if pool == nil {
					xs[i] = math.Log(r.ExpFloat64())
				} else {
					xs[i] = pool[r.IntN(len(pool))]
				}
			}
			in := slices.Clone(xs)
			s := slices.Clone(xs)
			slices.Sort(s)
			want := s[n/2]
			got := median(xs)
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("%s, n=%d: median %v, the sorted copy's %v (%v)", name, n, got, want, xs)
			}
			for i := range xs {
				if math.Float64bits(xs[i]) != math.Float64bits(in[i]) {
					t.Fatalf("%s, n=%d: median changed its argument", name, n)
				}
			}
		}
	}
}

// TestSelectIsSorts: selectIn returns the element of a sorted copy at every
// index k bit for bit, over values with many ties, both zeros, NaNs and
// infinities, in a buffer dirty from the call before, and leaves its
// argument as it was.
func TestSelectIsSorts(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 19))
	pools := [][]float64{
		{1, 2, 2, 3, 3, 3, -1},
		{math.Copysign(0, -1), 0, 1, -1},
		{math.Copysign(0, -1), 0.5},
		{math.NaN(), 1, 2, math.Inf(1), math.Inf(-1)},
		nil, // continuous values
	}
	buf := make([]float64, 0, 64) // too small for the longer series
	for p, pool := range pools {
		for n := 1; n <= 120; n++ {
			xs := make([]float64, n)
			for i := range xs {
				if pool == nil {
					xs[i] = r.NormFloat64()
				} else {
					xs[i] = pool[r.IntN(len(pool))]
				}
			}
			in := slices.Clone(xs)
			s := slices.Clone(xs)
			slices.Sort(s)
			for k := range n {
				if got := selectIn(xs, buf, k); math.Float64bits(got) != math.Float64bits(s[k]) {
					t.Fatalf("pool %d, n=%d, k=%d: selectIn %v, the sorted copy's %v (%v)", p, n, k, got, s[k], in)
				}
			}
			if !slices.EqualFunc(xs, in, sameBits) {
				t.Fatalf("pool %d, n=%d: selectIn changed its argument", p, n)
			}
		}
	}
}

// TestRollingLogMedian checks rollingLogMedian, which keeps its window
// sorted as it slides, against its definition: per window with at least
// minLatCalls calls, the median of the logarithms of the latSmooth nearest
// such windows' values, a sorted copy's element at len/2; NaN for the
// others. Values repeat (ties) and series are of every length up to 60.
func TestRollingLogMedian(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 17))
	v := func(w *features.Window) float64 { return w.P99Ms }
	for n := 0; n <= 60; n++ {
		for range 20 {
			ws := make([]features.Window, n)
			for j := range ws {
				ws[j].Calls = int64(r.IntN(2 * minLatCalls))
				ws[j].P99Ms = float64(r.IntN(6)) * 0.5 // zeros and ties
			}
			var idx []int
			var lv []float64
			for j := range ws {
				if ws[j].Calls >= minLatCalls && ws[j].P99Ms > 0 {
					idx = append(idx, j)
					lv = append(lv, math.Log(ws[j].P99Ms))
				}
			}
			want := make([]float64, n)
			for j := range want {
				want[j] = math.NaN()
			}
			for i, j := range idx {
				hi := min(len(lv), max(0, i-latSmooth/2)+latSmooth)
				s := slices.Clone(lv[max(0, hi-latSmooth):hi])
				slices.Sort(s)
				want[j] = s[len(s)/2]
			}
			got := rollingLogMedian(ws, v, nil)
			for j := range want {
				if math.Float64bits(got[j]) != math.Float64bits(want[j]) && !(math.IsNaN(got[j]) && math.IsNaN(want[j])) {
					t.Fatalf("n=%d: window %d: %v, want %v", n, j, got[j], want[j])
				}
			}
		}
	}
}

// TestTrimmedRateIsSorts checks trimmedRate, which selects the highest
// rate kept from a copy of the rates, against its definition: windows
// sorted by rate, then position, the last 5% of them left out. Counts
// repeat, so rates tie at the cut; series are of every length up to 200.
func TestTrimmedRateIsSorts(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 18))
	for _, maxErr := range []int64{1, 3, 50} {
		for n := 0; n <= 200; n++ {
			ws := make([]features.Window, n)
			for j := range ws {
				ws[j].Calls = r.Int64N(4) * 10 // some windows without calls
				ws[j].Errors = min(ws[j].Calls, r.Int64N(maxErr+1))
			}
			type wr struct {
				rate float64
				c, n int64
				j    int
			}
			rs := make([]wr, n)
			for j := range ws {
				rs[j] = wr{float64(ws[j].Errors) / float64(max(1, ws[j].Calls)), ws[j].Errors, ws[j].Calls, j}
			}
			slices.SortFunc(rs, func(a, b wr) int { return cmp.Or(cmp.Compare(a.rate, b.rate), cmp.Compare(a.j, b.j)) })
			var c, calls int64
			for _, x := range rs[:n-n/20] {
				c += x.c
				calls += x.n
			}
			want := 1e-4
			if calls > 0 {
				want = max(want, float64(c)/float64(calls))
			}
			if got := trimmedRate(ws, func(w *features.Window) int64 { return w.Errors }, nil); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("n=%d, errors up to %d: trimmedRate %v, want %v", n, maxErr, got, want)
			}
		}
	}
}

// TestRanksAreSorts checks ranks, which sorts by radix, against its
// definition: a value's rank is the number of values below it plus half the
// number of others equal to it. Values repeat (ties, both zeros), are negative
// and positive, of every magnitude or a few units in the last place apart,
// and series are of every length up to 200.
func TestRanksAreSorts(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 17))
	ulps := []float64{1, -1} // values a few units in the last place apart: only their lowest bytes differ
	for range 6 {
		ulps = append(ulps, math.Nextafter(ulps[len(ulps)-2], 2), math.Nextafter(ulps[len(ulps)-1], -2))
	}
	pools := [][]float64{{1, 2, 2, 3, 3, 3, -1, -2.5}, {math.Copysign(0, -1), 0, 1, -1}, {5}, {math.Inf(1), math.Inf(-1), 0, 7}, ulps, nil}
	for _, pool := range pools {
		for n := 0; n <= 200; n++ {
			v := make([]float64, n)
			for i := range v {
				if pool == nil {
					v[i] = r.NormFloat64() * math.Pow(10, float64(r.IntN(20)-10))
				} else {
					v[i] = pool[r.IntN(len(pool))]
				}
			}
			// a value's average rank: the values below it, and half of the
			// others equal to it
			want := make([]float64, n)
			for i, x := range v {
				var below, equal int
				for _, y := range v {
					if y < x {
						below++
					} else if y == x {
						equal++
					}
				}
				want[i] = float64(below) + float64(equal-1)/2
			}
			if got := ranks(v); !slices.Equal(got, want) {
				t.Fatalf("ranks(%v) = %v, want %v", v, got, want)
			}
		}
	}
}

// TestPairOrder checks that pairOrder, two radix sorts, orders pairs as a
// comparison of both fields does (loadKnee's points): values that tie,
// negatives, infinities and values a unit in the last place apart, at
// lengths across the byte passes' skipping.
func TestPairOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 20))
	pool := []float64{0, 1, math.Nextafter(1, 2), -1, math.Nextafter(-1, -2), 3.5, math.Inf(1), math.Inf(-1), 1e-300, 1e300}
	type pt struct{ x, y float64 }
	for n := 0; n <= 300; n++ {
		pts := make([]pt, n)
		for i := range pts {
			pts[i] = pt{pool[r.IntN(len(pool))], pool[r.IntN(len(pool))]}
			if r.IntN(2) == 0 {
				pts[i].y = r.NormFloat64()
			}
		}
		want := slices.Clone(pts)
		slices.SortStableFunc(want, func(a, b pt) int { return cmp.Or(cmp.Compare(a.x, b.x), cmp.Compare(a.y, b.y)) })
		order := pairOrder(n, func(i int) float64 { return pts[i].x }, func(i int) float64 { return pts[i].y })
		if len(order) != n {
			t.Fatalf("n=%d: %d positions", n, len(order))
		}
		for i, j := range order {
			if pts[j] != want[i] {
				t.Fatalf("n=%d: at %d pairOrder gives %v, the comparison %v", n, i, pts[j], want[i])
			}
		}
	}
}

// TestFloatsReused: the slices floats hands out are zeros however dirty
// its buffer was, do not overlap until reset, and the robust scores
// computed in a reused buffer equal those computed in fresh memory, bit
// for bit.
func TestFloatsReused(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 17))
	f := &floats{}
	for round := range 50 {
		f.reset()
		var taken [][]float64
		for range 1 + r.IntN(6) {
			s := f.take(r.IntN(3000))
			for i, v := range s {
				if v != 0 || math.Signbit(v) {
					t.Fatalf("round %d: take gave %v at %d, not 0", round, v, i)
				}
			}
			for i := range s {
				s[i] = float64(len(taken) + 1) // dirty it for the next round
			}
			taken = append(taken, s)
		}
		for k, s := range taken {
			for i, v := range s {
				if v != float64(k+1) {
					t.Fatalf("round %d: slice %d overwritten at %d by a later take", round, k, i)
				}
			}
		}
		// scores in the dirty buffer and in fresh memory
		n := 1 + r.IntN(400)
		m, v, cnt, k := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		for i := range n {
			if r.IntN(8) > 0 {
				cnt[i] = float64(r.IntN(300))
			}
			m[i], v[i] = r.NormFloat64(), r.ExpFloat64()
			k[i] = float64(r.IntN(int(cnt[i]) + 1))
		}
		for _, welch := range []bool{false, true} {
			want := calibratedZ(m, v, cnt, welch, nil)
			if got := calibratedZ(m, v, cnt, welch, f); !slices.EqualFunc(got, want, sameBits) {
				t.Fatalf("round %d: calibratedZ in a reused buffer differs", round)
			}
		}
		want := countSeriesZ(k, cnt, 0.05, countFloor, nil)
		if got := countSeriesZ(k, cnt, 0.05, countFloor, f); !slices.EqualFunc(got, want, sameBits) {
			t.Fatalf("round %d: countSeriesZ in a reused buffer differs", round)
		}
	}
}

func sameBits(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
