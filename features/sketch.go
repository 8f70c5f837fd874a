package features

import (
	"math"
	"math/bits"
)

// RelativeAccuracy is the sketch's guarantee: a quantile it returns is within
// 1% (relative) of the exact value of the same rank.
const RelativeAccuracy = 0.01

var (
	gamma    = (1 + RelativeAccuracy) / (1 - RelativeAccuracy)
	logGamma = math.Log(gamma)
)

// Sketch is a mergeable quantile sketch of positive values on logarithmic
// buckets (the bucket scheme of DDSketch, Masson et al., VLDB 2019). Bucket i
// holds the values in (γ^(i-1), γ^i] with γ = (1+α)/(1-α), α =
// RelativeAccuracy, and a quantile is reported as the bucket's midpoint
// 2γ^i/(γ+1), which is within α of every value in the bucket. So for
// quantile q the sketch returns x̂ with |x̂ - x| ≤ α·x, where x is the exact
// element of rank ⌈q·n⌉ (1-based; the nearest-rank quantile). Values ≤ 0
// are counted separately and reported as 0.
//
// Counts are integers, so merging is exact and its result does not depend on
// the order of the merges.
//
// Bucket counts are 16-bit: an edge-window's sketch spans a few hundred
// buckets and holds a few hundred values, so the counts are most of the
// analysis's memory (and every fresh page of it a page fault), and a
// quarter of the width of a 64-bit count is a quarter of the pages and
// cache misses. A bucket past 65535 values (a busy edge, a long window, an
// edge's whole input) keeps the multiples of 2^16 in carry, so every count
// stays exact; a bucket wraps at most once per 65536 values added, so the
// carry costs nothing measurable where it is needed.
type Sketch struct {
	lo     int32            // bucket index of counts[0]
	counts []uint16         // dense counts for buckets lo, lo+1, ... (mod 2^16)
	carry  map[int32]uint64 // bucket → its count's multiples of 2^16; nil while none
	zero   uint64
	n      uint64
}

// count returns bucket lo+k's count.
func (s *Sketch) count(k int) uint64 {
	c := uint64(s.counts[k])
	if s.carry != nil {
		c += s.carry[s.lo+int32(k)]
	}
	return c
}

// countWrap is where a bucket's count in counts wraps around.
const countWrap = 1 << 16

// overflow records that bucket lo+k's 16-bit count wrapped around.
func (s *Sketch) overflow(k int32) { s.addCarry(s.lo+k, countWrap) }

func (s *Sketch) addCarry(bucket int32, c uint64) {
	if s.carry == nil {
		s.carry = map[int32]uint64{}
	}
	s.carry[bucket] += c
}

// addAt adds c to bucket lo+k, which is in range.
func (s *Sketch) addAt(k int32, c uint64) {
	low := uint16(c)
	high := c &^ (countWrap - 1)
	v := s.counts[k] + low
	if v < low {
		high += countWrap
	}
	s.counts[k] = v
	if high != 0 {
		s.addCarry(s.lo+k, high)
	}
}

// bucketOf returns ceil(log_γ(x)) for x > 0. A first guess from the float's
// exponent and a linear mantissa term is off by at most a few buckets; it is
// corrected against the exact bucket bounds, so the result equals the
// definition (tests compare it with math.Log) at a fraction of the cost.
func bucketOf(x float64) int32 {
	bits := math.Float64bits(x)
	exp := int64(bits>>52&0x7ff) - 1023
	if exp < minExp || exp > maxExp {
		return int32(math.Ceil(math.Log(x) / logGamma))
	}
	mant := float64(bits&(1<<52-1)) / (1 << 52) // in [0, 1): log2(1+m) ≈ m
	i := int32(math.Ceil((float64(exp) + mant) * log2OverLogGamma))
	// bounds[i-boundsLo] = γ^i: bucket i holds (γ^(i-1), γ^i]
	for x > bucketBounds[i-boundsLo] {
		i++
	}
	for x <= bucketBounds[i-1-boundsLo] {
		i--
	}
	return i
}

const (
	minExp = -20 // values from about 1e-6 ...
	maxExp = 62  // ... to about 4.6e18 use the fast path
)

var (
	log2OverLogGamma = math.Ln2 / logGamma
	boundsLo         = int32(math.Floor(float64(minExp)*log2OverLogGamma)) - 8
	bucketBounds     = func() []float64 {
		hi := int32(math.Ceil(float64(maxExp+1)*log2OverLogGamma)) + 8
		b := make([]float64, hi-boundsLo+1)
		for i := range b {
			b[i] = math.Pow(gamma, float64(int32(i)+boundsLo))
		}
		return b
	}()
)

// durBucketBits is how many bits after an integer's leading one select its
// entry in durBuckets: 2^8 slices per octave, each narrower (a factor of at
// most 1+2^-8) than a bucket (a factor γ ≈ 1.0202), so a slice holds at most
// one bucket bound.
const durBucketBits = 8

// durBuckets[e<<durBucketBits | m] is bucketOf of the smallest integer whose
// leading one is bit e and whose next durBucketBits bits are m (the slice's
// lower end). A duration d in the slice is in that bucket or, when it lies
// above the bucket's upper bound, the next one.
var durBuckets = func() []int32 {
	t := make([]int32, 63<<durBucketBits)
	for e := range 63 {
		for m := range 1 << durBucketBits {
			lo := uint64(1) << e
			if e >= durBucketBits {
				lo |= uint64(m) << (e - durBucketBits)
			} else {
				lo |= uint64(m) >> (durBucketBits - e) // the bits below bit 0 are dropped
			}
			t[e<<durBucketBits|m] = bucketOf(float64(lo))
		}
	}
	return t
}()

// bucketOfDuration is bucketOf(float64(d)) for d > 0, from a table: a load,
// a comparison and no data-dependent loop (bucketOf's corrections are
// mispredicted branches, the larger part of its time).
func bucketOfDuration(d int64) int32 {
	lz := bits.LeadingZeros64(uint64(d))
	e := 63 - lz
	m := uint64(d) << lz << 1 >> (64 - durBucketBits) // the bits after the leading one
	i := durBuckets[e<<durBucketBits|int(m)]
	if float64(d) > bucketBounds[i-boundsLo] {
		i++
	}
	return i
}

// Add records one value.
func (s *Sketch) Add(x float64) {
	s.n++
	if x <= 0 || math.IsNaN(x) {
		s.zero++
		return
	}
	s.addBucket(bucketOf(x), 1)
}

// initialBuckets is the dense range a sketch starts with, centred on its
// first value: γ^±32 covers a factor of about 1.9 either way, which holds
// most windows' latencies; wider ones grow by a quarter at a time.
const initialBuckets = 64

func (s *Sketch) addBucket(i int32, c uint64) {
	if len(s.counts) == 0 {
		if cap(s.counts) < initialBuckets {
			s.counts = zeroed[uint16](initialBuckets, initialBuckets)
		} else {
			s.counts = s.counts[:initialBuckets]
			clear(s.counts)
		}
		s.lo = i - initialBuckets/2
		s.addAt(i-s.lo, c)
		return
	}
	if k := i - s.lo; k >= 0 && int(k) < len(s.counts) {
		s.addAt(k, c)
		return
	}
	switch {
	case i < s.lo:
		// grow downwards with some slack to amortise
		extra := int(s.lo-i) + len(s.counts)/4
		nc := zeroed[uint16](extra+len(s.counts), extra+cap(s.counts))
		copy(nc[extra:], s.counts)
		s.counts = nc
		s.lo -= int32(extra)
	case int(i-s.lo) >= len(s.counts):
		need := int(i-s.lo) + 1
		if need > cap(s.counts) {
			nc := zeroed[uint16](need, need+need/4)
			copy(nc, s.counts)
			s.counts = nc
		} else {
			s.counts = s.counts[:need]
		}
	}
	s.addAt(i-s.lo, c)
}

// presize gives an empty sketch n zero buckets from lo on, carved from
// *slab (refilled in large chunks: one allocation for many sketches).
func (s *Sketch) presize(lo int32, n int, slab *[]uint16) {
	if len(s.counts) != 0 || n == 0 {
		return
	}
	if len(*slab) < n {
		*slab = zeroed[uint16](max(n, slabBuckets), max(n, slabBuckets))
	}
	s.counts, *slab = (*slab)[:n:n], (*slab)[n:]
	s.lo = lo
}

// presizeLike presizes s (empty) like o, the same series' previous window:
// o's occupied buckets and 16 more either way (a factor of 1.38), so that
// sizes follow the latencies instead of ratcheting up with every outlier
// that once widened a window (the previous sizing copied o's whole range:
// 7-8% more page faults and peak memory on the 10M-span file).
func (s *Sketch) presizeLike(o *Sketch, slab *[]uint16) {
	lo, hi := o.occupied()
	if lo == hi {
		return
	}
	const slack = 16
	s.presize(o.lo+int32(lo)-slack, hi-lo+2*slack, slab)
}

// slabBuckets is the size of presize's slab chunks (256 KiB).
const slabBuckets = 1 << 17

// addDuration is Add for an integer duration, with the common case (a
// bucket inside the current range) inlined.
func (s *Sketch) addDuration(d int64) {
	if d <= 0 {
		s.n++
		s.zero++
		return
	}
	i := bucketOfDuration(d)
	if k := i - s.lo; k >= 0 && int(k) < len(s.counts) {
		s.n++
		if s.counts[k]++; s.counts[k] == 0 {
			s.overflow(k)
		}
		return
	}
	s.n++
	s.addBucket(i, 1)
}

// bump counts a value in bucket i when i lies in the dense range and its
// 16-bit count does not wrap, and reports whether it did: addDuration's
// common case, small enough for the compiler to inline into the per-row
// loops (addDuration is not). Callers write
// if d <= 0 || !s.bump(bucketOfDuration(d)) { s.addDuration(d) }.
func (s *Sketch) bump(i int32) bool {
	k := int(i - s.lo)
	if uint(k) >= uint(len(s.counts)) || s.counts[k] == countWrap-1 {
		return false
	}
	s.counts[k]++
	s.n++
	return true
}

// Merge adds o's values to s.
func (s *Sketch) Merge(o *Sketch) {
	s.n += o.n
	s.zero += o.zero
	if len(o.counts) == 0 {
		return
	}
	lo, hi := o.occupied()
	if lo == hi {
		return
	}
	// pre-size once to the union range
	s.addBucket(o.lo+int32(lo), 0)
	s.addBucket(o.lo+int32(hi)-1, 0)
	off := int(o.lo - s.lo)
	// the same ranges of both, sliced once: no bounds check per bucket
	src := o.counts[lo:hi]
	dst := s.counts[lo+off : hi+off]
	dst = dst[:len(src)]
	for i, c := range src {
		v := dst[i] + c
		if v < c {
			s.overflow(int32(lo + off + i))
		}
		dst[i] = v
	}
	for b, c := range o.carry {
		s.addCarry(b, c)
	}
}

// Count returns the number of values added.
func (s *Sketch) Count() uint64 { return s.n }

// Quantile returns the q-quantile (0 ≤ q ≤ 1) of the values, or 0 for an
// empty sketch.
func (s *Sketch) Quantile(q float64) float64 {
	var out [1]float64
	s.quantiles([]float64{q}, out[:])
	return out[0]
}

// maxQuantiles bounds the quantiles that quantiles computes in one walk.
const maxQuantiles = 8

// quantiles sets out[j] to Quantile(qs[j]) in one walk over the buckets;
// qs must be ascending, at most maxQuantiles of them.
func (s *Sketch) quantiles(qs, out []float64) {
	var b [maxQuantiles]int32
	s.quantileBuckets(qs, b[:len(qs)])
	for j, i := range b[:len(qs)] {
		out[j] = quantileValue(i)
	}
}

// zeroBucket is quantileBuckets' bucket of the values ≤ 0.
const zeroBucket = math.MinInt32

// quantileValue is the value quantileBuckets' bucket i stands for.
func quantileValue(i int32) float64 {
	if i == zeroBucket {
		return 0
	}
	return bucketValue(i)
}

// quantileBuckets sets out[j] to the bucket of quantile qs[j] (zeroBucket
// for 0, and for every quantile of an empty sketch) in one walk over the
// buckets; qs must be ascending, at most maxQuantiles of them.
func (s *Sketch) quantileBuckets(qs []float64, out []int32) {
	if s.n == 0 {
		for j := range out {
			out[j] = zeroBucket
		}
		return
	}
	// the 1-based nearest rank of each quantile
	var ranks [maxQuantiles]uint64
	for j, q := range qs {
		ranks[j] = max(uint64(math.Ceil(q*float64(s.n))), 1)
	}
	j := 0
	for j < len(qs) && ranks[j] <= s.zero {
		out[j] = zeroBucket
		j++
	}
	if j == len(qs) {
		return
	}
	seen := s.zero
	lo, hi := s.occupied()
	if s.carry == nil {
		// the common case: every count is in counts
		for i, c := range s.counts[lo:hi] {
			if seen += uint64(c); seen < ranks[j] {
				continue
			}
			for ; j < len(qs) && seen >= ranks[j]; j++ {
				out[j] = s.lo + int32(lo+i)
			}
			if j == len(qs) {
				return
			}
		}
	} else {
		for i := lo; i < hi && j < len(qs); i++ {
			seen += s.count(i)
			for ; j < len(qs) && seen >= ranks[j]; j++ {
				out[j] = s.lo + int32(i)
			}
		}
	}
	for ; j < len(qs); j++ {
		out[j] = s.lo + int32(len(s.counts)) - 1
	}
}

// occupied returns the range [lo, hi) of counts outside which every
// bucket is empty.
func (s *Sketch) occupied() (lo, hi int) {
	lo, hi = 0, len(s.counts)
	if c := s.counts; s.carry == nil {
		// without carries a bucket is empty when its count is 0: the
		// empty ends are skipped four buckets at a time
		for hi-lo >= 4 && c[lo]|c[lo+1]|c[lo+2]|c[lo+3] == 0 {
			lo += 4
		}
		for lo < hi && c[lo] == 0 {
			lo++
		}
		for hi-lo >= 4 && c[hi-1]|c[hi-2]|c[hi-3]|c[hi-4] == 0 {
			hi -= 4
		}
		for hi > lo && c[hi-1] == 0 {
			hi--
		}
		return lo, hi
	}
	for lo < hi && s.empty(lo) {
		lo++
	}
	for hi > lo && s.empty(hi-1) {
		hi--
	}
	return lo, hi
}

// empty reports whether bucket lo+k holds no values (carry included).
func (s *Sketch) empty(k int) bool {
	return s.counts[k] == 0 && (s.carry == nil || s.carry[s.lo+int32(k)] == 0)
}

// bucketValue is bucket i's midpoint 2γ^i/(γ+1). Within bucketBounds' range
// γ^i is taken from it, computed there by the same math.Pow call: the
// same bits without a Pow per quantile (TestBucketValue).
func bucketValue(i int32) float64 {
	if k := i - boundsLo; k >= 0 && int(k) < len(bucketBounds) {
		return 2 * bucketBounds[k] / (gamma + 1)
	}
	return 2 * math.Pow(gamma, float64(i)) / (gamma + 1)
}

// Reset empties the sketch, keeping its memory.
func (s *Sketch) Reset() {
	s.counts = s.counts[:0]
	s.carry = nil
	s.zero, s.n, s.lo = 0, 0, 0
}

// logMid is ln(2/(γ+1)), the logarithm of a bucket's midpoint over its
// upper bound; logMillion is ln(1e6), of the unit the table's log moments
// are in (milliseconds of nanosecond durations). Each is what LogMoments
// computed per call before, the same bits.
var (
	logMid     = math.Log(2 / (gamma + 1))
	logMillion = math.Log(1e6)
)

// logUnit is math.Log(unit), looked up for the common unit.
func logUnit(unit float64) float64 {
	if unit == 1e6 {
		return logMillion
	}
	return math.Log(unit)
}

// LogMoments returns the mean and the (population) variance of ln(x/unit)
// over the sketch's positive values, each value taken at its bucket's
// midpoint (within 1% of it, so within 0.01 of its logarithm); 0, 0 for a
// sketch without positive values. The sums run over the buckets in order,
// so the result depends only on the counts.
func (s *Sketch) LogMoments(unit float64) (mean, variance float64) {
	n := s.n - s.zero
	if n == 0 {
		return 0, 0
	}
	off := logMid - logUnit(unit)
	lo, hi := s.occupied()
	var sum, sq float64
	if s.carry == nil {
		// The common case, without a branch per bucket: an empty bucket
		// adds 0·x = ±0 (x is finite), which leaves either sum unchanged
		// bit for bit (+0 + -0 = +0), so the sums are those of the
		// non-empty buckets in order, as below.
		counts := s.counts[lo:hi]
		base := s.lo + int32(lo)
		for k, c := range counts {
			sum += float64(c) * (float64(base+int32(k))*logGamma + off)
		}
		mean = sum / float64(n)
		for k, c := range counts {
			d := float64(base+int32(k))*logGamma + off - mean
			sq += float64(c) * d * d
		}
		return mean, sq / float64(n)
	}
	for i := lo; i < hi; i++ {
		if !s.empty(i) {
			sum += float64(s.count(i)) * (float64(s.lo+int32(i))*logGamma + off)
		}
	}
	mean = sum / float64(n)
	for i := lo; i < hi; i++ {
		if !s.empty(i) {
			d := float64(s.lo+int32(i))*logGamma + off - mean
			sq += float64(s.count(i)) * d * d
		}
	}
	return mean, sq / float64(n)
}

// logMoments2 returns a.LogMoments(1e6) and b.LogMoments(1e6), the same
// bits, computed side by side: each sum is taken over its buckets in the
// same order, but one sum's additions wait for each other (the latency of
// an addition), and two independent sums in one loop take little more
// time than one. Each bucket's logarithm comes from logMillis, computed
// there as LogMoments computes it.
func logMoments2(a, b *Sketch) (meanA, varA, meanB, varB float64) {
	na, nb := a.n-a.zero, b.n-b.zero
	loA, hiA := a.occupied()
	loB, hiB := b.occupied()
	baseA, baseB := int(a.lo)+loA-int(minBucket), int(b.lo)+loB-int(minBucket)
	if na == 0 || nb == 0 || a.carry != nil || b.carry != nil ||
		baseA < 0 || baseA+hiA-loA > len(logMillis) || baseB < 0 || baseB+hiB-loB > len(logMillis) {
		meanA, varA = a.LogMoments(1e6)
		meanB, varB = b.LogMoments(1e6)
		return meanA, varA, meanB, varB
	}
	ca, cb := a.counts[loA:hiA], b.counts[loB:hiB]
	xa, xb := logMillis[baseA:baseA+len(ca)], logMillis[baseB:baseB+len(cb)]
	m := min(len(ca), len(cb))
	// as LogMoments: an empty bucket adds ±0, which changes no sum
	var sumA, sumB float64
	for k, c := range ca[:m] {
		sumA += float64(c) * xa[k]
		sumB += float64(cb[k]) * xb[k]
	}
	for k := m; k < len(ca); k++ {
		sumA += float64(ca[k]) * xa[k]
	}
	for k := m; k < len(cb); k++ {
		sumB += float64(cb[k]) * xb[k]
	}
	meanA, meanB = sumA/float64(na), sumB/float64(nb)
	var sqA, sqB float64
	for k, c := range ca[:m] {
		d := xa[k] - meanA
		sqA += float64(c) * d * d
		e := xb[k] - meanB
		sqB += float64(cb[k]) * e * e
	}
	for k := m; k < len(ca); k++ {
		d := xa[k] - meanA
		sqA += float64(ca[k]) * d * d
	}
	for k := m; k < len(cb); k++ {
		d := xb[k] - meanB
		sqB += float64(cb[k]) * d * d
	}
	return meanA, sqA / float64(na), meanB, sqB / float64(nb)
}

// momentPairs computes sketches' log moments (in milliseconds) two at a
// time with logMoments2, each sketch offered (add) waiting for the next
// one; flush computes a last one alone. The results go where add was told.
type momentPairs struct {
	s              *Sketch
	mean, variance *float64
}

func (p *momentPairs) add(s *Sketch, mean, variance *float64) {
	if p.s == nil {
		*p = momentPairs{s, mean, variance}
		return
	}
	*p.mean, *p.variance, *mean, *variance = logMoments2(p.s, s)
	p.s = nil
}

func (p *momentPairs) flush() {
	if p.s != nil {
		*p.mean, *p.variance = p.s.LogMoments(1e6)
		p.s = nil
	}
}

// logMillis[i] is the logarithm of bucket minBucket+i's midpoint in
// milliseconds (of a duration in nanoseconds), for the buckets of
// durations (minBucket to maxBucket): the term LogMoments(1e6) computes
// per bucket, by the same expression.
var logMillis = func() []float64 {
	off := logMid - logUnit(1e6)
	x := make([]float64, maxSketchRange)
	for i := range x {
		x[i] = float64(minBucket+int32(i))*logGamma + off
	}
	return x
}()
