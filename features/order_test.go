package features

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/chaosgen/chaosgen/internal/testseed"
)

// TestOrderByFields checks orderByFields against a sort with a comparison
// function over unique keys: few and many, windows near each other (the
// packed sort) and far apart (too wide to pack: the comparison), negative
// window indexes, and a limit of one (a field always 0).
func TestOrderByFields(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 19))
	type key struct {
		a    int32
		b    int64
		c    int32
		data int
	}
	cases := []struct {
		name   string
		n      int
		limit  int
		lo, hi int64 // the window indexes' range
	}{
		{"one", 1, 5, 0, 10},
		{"two", 2, 1, -3, 3},
		{"day", 5000, 30, 29_000_000, 29_001_440},
		{"one name", 3000, 1, -5000, 5000},
		{"negative", 3000, 300, -1 << 40, -1<<40 + 100},
		{"too wide", 3000, 30, math.MinInt64 / 2, math.MaxInt64 / 2},
		{"extremes", 100, 7, math.MinInt64, math.MaxInt64},
	}
	for _, tc := range cases {
		seen := map[key]bool{}
		var s []key
		for len(s) < tc.n {
			k := key{a: r.Int32N(int32(tc.limit)), c: r.Int32N(int32(tc.limit))}
			switch r.IntN(10) {
			case 0:
				k.b = tc.lo
			case 1:
				k.b = tc.hi
			default:
				k.b = tc.lo + int64(r.Uint64N(uint64(tc.hi-tc.lo)))
			}
			if !seen[k] {
				seen[k] = true
				k.data = len(s)
				s = append(s, k)
			}
		}
		want := slices.Clone(s)
		slices.SortFunc(want, func(x, y key) int {
			return cmp.Or(cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b), cmp.Compare(x.c, y.c))
		})
		order := orderByFields(s, tc.limit, func(k *key) (int32, int64, int32) { return k.a, k.b, k.c })
		got := make([]key, len(order))
		for j, i := range order {
			got[j] = s[i]
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: orderByFields gives another order than the comparison", tc.name)
		}
	}
}
