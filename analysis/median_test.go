package analysis

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

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
