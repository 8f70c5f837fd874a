package analysis

import "math"

// floatKey maps x (not NaN) to an unsigned integer in the same order: -0
// sorts just before +0 (they compare equal, and callers treat runs of equal
// values alike).
func floatKey(x float64) uint64 {
	u := math.Float64bits(x)
	if u>>63 != 0 {
		return ^u // negative: larger magnitudes first
	}
	return u | 1<<63
}

// radixSort sorts keys, and pos beside them, by the keys' unsigned value,
// stably, a byte at a time (skipping the bytes every key shares): far
// cheaper than a comparison sort on the thousand-odd windows of an edge,
// and stable, so a sort by a second key after one by a first orders by
// both.
func radixSort(keys []uint64, pos []int32) {
	n := len(keys)
	if n < 2 {
		return
	}
	a, b := keys, make([]uint64, n)
	pa, pb := pos, make([]int32, n)
	var count [256]int
	for shift := 0; shift < 64; shift += 8 {
		clear(count[:])
		for _, u := range a {
			count[u>>shift&0xff]++
		}
		if count[a[0]>>shift&0xff] == n {
			continue // every key has this byte: the order stays
		}
		at := 0
		for d, c := range count {
			count[d] = at
			at += c
		}
		for i, u := range a {
			d := u >> shift & 0xff
			b[count[d]], pb[count[d]] = u, pa[i]
			count[d]++
		}
		a, b, pa, pb = b, a, pb, pa
	}
	if &a[0] != &keys[0] {
		copy(keys, a)
		copy(pos, pa)
	}
}

// pairOrder returns the positions 0..n-1 sorted by first(i), then by
// second(i) (values without NaN; -0 before +0): radix sorts by the second
// value, then stably by the first.
func pairOrder(n int, first, second func(i int) float64) []int32 {
	keys, pos := make([]uint64, n), make([]int32, n)
	for i := range n {
		keys[i], pos[i] = floatKey(second(i)), int32(i)
	}
	radixSort(keys, pos)
	for i, j := range pos {
		keys[i] = floatKey(first(int(j)))
	}
	radixSort(keys, pos)
	return pos
}
