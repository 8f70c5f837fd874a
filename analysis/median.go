package analysis

import (
	"math"
	"slices"
)

// median returns the upper median of xs, the element at index len(xs)/2 of
// a sorted copy (slices.Sort's order), or 0 for no values. It selects
// instead of sorting (quickselect: Hoare partitions around a median of
// three, insertion sort below 16 values), which is what the model stage's
// many robust baselines spend their time on. Values that compare equal
// have the same bits except zeros (-0 == +0) and NaNs, whose place in the
// sorted copy the sort's arrangement decides: when the selected value is
// a zero and xs holds both zeros, or xs holds a NaN, the sorted copy
// answers, so the result is always the sort's, bit for bit
// (TestMedianIsSorts).
func median(xs []float64) float64 { return medianIn(xs, nil) }

// medianIn is median selecting in buf's memory when it has room for xs
// (the series' robust baselines call it several times on scratch copies of
// their own: one buffer for all, instead of a fresh copy each time).
func medianIn(xs, buf []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return selectIn(xs, buf, len(xs)/2)
}

// selectIn returns the element at index k (0 ≤ k < len(xs)) of a sorted
// copy of xs, bit for bit, as median does for len/2, selecting in buf's
// memory when it has room for xs.
func selectIn(xs, buf []float64, k int) float64 {
	s := append(buf[:0], xs...)
	for _, v := range s {
		if math.IsNaN(v) {
			return sortedAt(s, k)
		}
	}
	lo, hi := 0, len(s)-1
	for hi-lo >= 16 {
		mid := lo + (hi-lo)/2
		if s[mid] < s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] < s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi] < s[mid] {
			s[hi], s[mid] = s[mid], s[hi]
		}
		pivot := s[mid]
		i, j := lo, hi
		for i <= j {
			for s[i] < pivot {
				i++
			}
			for pivot < s[j] {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		// s[lo..j] ≤ pivot ≤ s[i..hi]; between them, values equal to it
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			lo, hi = k, k
		}
	}
	for i := lo + 1; i <= hi; i++ {
		for j := i; j > lo && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	if s[k] == 0 && mixedZeros(xs) {
		return sortedAt(slices.Clone(xs), k)
	}
	return s[k]
}

// mixedZeros reports whether xs holds both zeros, -0 and +0: only then
// can the sorted copy hold another zero than selectIn's at the index (a
// series of rates or of absolute deviations has only +0, and its selected
// zero is the sort's without sorting).
func mixedZeros(xs []float64) bool {
	var pos, neg bool
	for _, v := range xs {
		if v == 0 {
			if math.Signbit(v) {
				neg = true
			} else {
				pos = true
			}
		}
	}
	return pos && neg
}

// sortedAt is selectIn by sorting s.
func sortedAt(s []float64, k int) float64 {
	slices.Sort(s)
	return s[k]
}

// floats hands out float64 slices from one buffer, reused from its start
// after reset: the robust baselines of a series (calibratedZ, countZ) take
// a dozen slices of its length that die with it, and the model stage runs
// them for every edge, service and root (tens of megabytes of garbage a
// merge of a day, otherwise). A nil *floats allocates each slice.
type floats struct{ buf []float64 }

// take returns n zeros, valid until the next reset.
func (f *floats) take(n int) []float64 {
	if f == nil {
		return make([]float64, n)
	}
	if cap(f.buf)-len(f.buf) < n {
		// the slices already taken keep the old buffer
		f.buf = make([]float64, 0, max(2*cap(f.buf), n, 1024))
	}
	s := f.buf[len(f.buf) : len(f.buf)+n : len(f.buf)+n]
	f.buf = f.buf[:len(f.buf)+n]
	clear(s)
	return s
}

// reset makes the buffer's memory available again: every slice taken
// before must be dead.
func (f *floats) reset() {
	if f != nil {
		f.buf = f.buf[:0]
	}
}
