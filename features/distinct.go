package features

import (
	"math"
	"math/bits"
)

// distinct estimates the number of distinct 64-bit hashes. It is exact up to
// exactLimit values and a HyperLogLog (Flajolet et al. 2007, precision 12,
// standard error 1.6%) beyond. Its final state depends only on the set of
// hashes added, never on the order of adds and merges, so results are
// deterministic.
type distinct struct {
	exact map[uint64]struct{}
	regs  []uint8 // HLL registers; nil while exact
}

const (
	hllP       = 12
	hllM       = 1 << hllP
	exactLimit = 4096
)

func (d *distinct) add(h uint64) {
	if d.regs != nil {
		d.addHLL(h)
		return
	}
	if d.exact == nil {
		d.exact = make(map[uint64]struct{})
	}
	d.exact[h] = struct{}{}
	if len(d.exact) > exactLimit {
		d.toHLL()
	}
}

func (d *distinct) addHLL(h uint64) {
	idx := h >> (64 - hllP)
	rho := uint8(bits.LeadingZeros64(h<<hllP|1<<(hllP-1))) + 1
	if rho > d.regs[idx] {
		d.regs[idx] = rho
	}
}

func (d *distinct) toHLL() {
	d.regs = zeroed[uint8](hllM, hllM)
	for h := range d.exact {
		d.addHLL(h)
	}
	d.exact = nil
}

func (d *distinct) merge(o *distinct) {
	switch {
	case o.regs == nil && d.regs == nil:
		for h := range o.exact {
			d.add(h)
		}
	case o.regs == nil:
		for h := range o.exact {
			d.addHLL(h)
		}
	default:
		if d.regs == nil {
			d.toHLL()
		}
		for i, r := range o.regs {
			if r > d.regs[i] {
				d.regs[i] = r
			}
		}
	}
}

func (d *distinct) count() int64 {
	if d.regs == nil {
		return int64(len(d.exact))
	}
	return int64(math.Round(ertl(d.regs)))
}

// ertl is the improved HyperLogLog estimator of Ertl ("New cardinality
// estimation algorithms for HyperLogLog sketches", 2017, algorithm 6): it
// is unbiased over the whole range without the empirical bias tables of
// HyperLogLog++, where the classic raw estimator over-counts by several
// percent between about 2.5 and 5 times the number of registers.
func ertl(regs []uint8) float64 {
	const q = 64 - hllP
	m := float64(len(regs))
	var c [q + 2]float64
	for _, r := range regs {
		c[r]++
	}
	z := m * ertlTau(1-c[q+1]/m)
	for k := q; k >= 1; k-- {
		z = 0.5 * (z + c[k])
	}
	z += m * ertlSigma(c[0]/m)
	return m * m / (2 * math.Ln2 * z)
}

func ertlSigma(x float64) float64 {
	if x == 1 {
		return math.Inf(1)
	}
	y, z := 1.0, x
	for {
		x *= x
		prev := z
		z += x * y
		y += y
		if prev == z {
			return z
		}
	}
}

func ertlTau(x float64) float64 {
	if x == 0 || x == 1 {
		return 0
	}
	y, z := 1.0, 1-x
	for {
		x = math.Sqrt(x)
		prev := z
		y *= 0.5
		z -= (1 - x) * (1 - x) * y
		if prev == z {
			return z / 3
		}
	}
}

// hashBytes is FNV-1a followed by the splitmix64 finaliser, so that the top
// bits (the HLL register index) are well mixed.
func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return mix64(h)
}

// mix64 is the splitmix64 finaliser: every input bit reaches every output
// bit.
func mix64(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}
