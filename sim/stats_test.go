package sim

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHistBucketTable checks the table lookup against the logarithm around
// every bucket bound and at random latencies on a log scale.
func TestHistBucketTable(t *testing.T) {
	check := func(ns int64) {
		if got, want := histBucket(ns), histBucketOf(ns); got != want {
			t.Fatalf("histBucket(%d) = %d, want %d", ns, got, want)
		}
	}
	for ns := int64(-5); ns < 5000; ns++ {
		check(ns)
	}
	tab := histTab()
	for i := 1; i < len(tab.bounds)-1; i++ {
		b := tab.bounds[i]
		for d := int64(-300); d <= 300; d++ {
			if ns := b + d; ns > 0 && (d <= 0 || ns > b) {
				check(ns)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		check(int64(math.Exp(r.Float64() * math.Log(math.MaxInt64))))
	}
	check(math.MaxInt64)
}
