package features

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
)

// orderByFields returns the positions of s's elements sorted by three
// integer fields compared in turn, which key returns for an element: a and
// c in [0, limit), b any int64 (a window index). Equal keys come out
// adjacent, in no promised order among themselves.
//
// When a, b less its smallest value, c and the element's position fit in
// 64 bits together, which they do for any day of windows and any mesh of
// services, it sorts those packed integers instead of positions with a
// comparison function: several times faster on the tens of thousands of
// service windows and trace ends of a day (tracesTable), with the same
// order but for equal keys. Otherwise it sorts with the comparison.
// The elements stay where they are: moving them into order would write
// every one of them to fresh memory (page faults that cost more than the
// comparisons saved).
func orderByFields[T any](s []T, limit int, key func(*T) (a int32, b int64, c int32)) []int32 {
	order := make([]int32, len(s))
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i := range s {
		_, b, _ := key(&s[i])
		lo, hi = min(lo, b), max(hi, b)
		order[i] = int32(i)
	}
	ac := bits.Len(uint(max(limit, 1) - 1))
	bw := bits.Len64(uint64(hi) - uint64(lo))
	iw := bits.Len(uint(max(len(s), 1) - 1))
	if len(s) < 2 || 2*ac+bw+iw > 64 {
		slices.SortFunc(order, func(i, j int32) int {
			xa, xb, xc := key(&s[i])
			ya, yb, yc := key(&s[j])
			return cmp.Or(cmp.Compare(xa, ya), cmp.Compare(xb, yb), cmp.Compare(xc, yc))
		})
		return order
	}
	packed := make([]uint64, len(s))
	for i := range s {
		a, b, c := key(&s[i])
		packed[i] = ((uint64(a)<<bw|(uint64(b)-uint64(lo)))<<ac|uint64(c))<<iw | uint64(i)
	}
	slices.Sort(packed)
	for j, p := range packed {
		order[j] = int32(p & (1<<iw - 1))
	}
	return order
}

// mergeAdjacent drops from order (positions sorted by key, orderByFields)
// each position whose element has the key of the one kept before it,
// after merge(kept, dropped) has folded it into that one; merge reports
// whether the keys were equal (and only then merges). It returns order's
// prefix of the kept positions.
func mergeAdjacent(order []int32, merge func(kept, next int32) bool) []int32 {
	u := 0
	for _, j := range order {
		if u > 0 && merge(order[u-1], j) {
			continue
		}
		order[u] = j
		u++
	}
	return order[:u]
}
