package features

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/testseed"
)

// TestSketchCodec: sketches with empty buckets alone, in runs of every
// length and none, and counts of every width (a count of exactly 2^32,
// whose 16 bits in counts are 0, at either end of the range and inside it), go
// through the binary form and back with every count, and give the same
// bytes again; and the form of a run (0, then the run's length less one)
// is used, with the range trimmed to its non-empty ends.
func TestSketchCodec(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 9))
	roundTrip := func(name string, s *Sketch) []byte {
		t.Helper()
		var e enc
		e.sketch(s)
		d := dec{b: e.b}
		var back Sketch
		d.sketch(&back, &d.slab)
		if d.err != nil || d.off != len(e.b) {
			t.Fatalf("%s: decode: %v (%d of %d bytes)", name, d.err, d.off, len(e.b))
		}
		if back.n != s.n || back.zero != s.zero {
			t.Fatalf("%s: n %d zero %d, want %d %d", name, back.n, back.zero, s.n, s.zero)
		}
		for k := range s.counts {
			b := int(s.lo) + k - int(back.lo)
			var got uint64
			if b >= 0 && b < len(back.counts) {
				got = back.count(b)
			}
			if want := s.count(k); got != want {
				t.Fatalf("%s: bucket %d: %d, want %d", name, int(s.lo)+k, got, want)
			}
		}
		var e2 enc
		e2.sketch(&back)
		if !bytes.Equal(e.b, e2.b) {
			t.Fatalf("%s: the binary form changes through a decode", name)
		}
		return e.b
	}
	// counts 3, 0, 0, 0, 5: 0 for the run of three, then 2
	var s Sketch
	s.addDuration(1_000_000)
	s.addDuration(1_000_000)
	s.addDuration(1_000_000)
	for range 5 {
		s.addDuration(int64(float64(1_000_000) * gamma * gamma * gamma * gamma))
	}
	if b := roundTrip("3,0,0,0,5", &s); !bytes.HasSuffix(b, []byte{3, 0, 2, 5}) {
		t.Fatalf("3,0,0,0,5 written as % x", b)
	}
	for i := range 300 {
		var s Sketch
		for range 1 + r.IntN(400) {
			// a spread of durations, many buckets left empty
			s.addDuration(int64(1_000 * (1 + r.ExpFloat64()*float64(1+r.IntN(1000)))))
		}
		if i%3 == 0 {
			// counts past the width of counts: exactly 2^32 (0 in counts,
			// all in the carry) at the ends and somewhere inside, and a
			// large one
			lo, hi := 0, len(s.counts)-1
			for s.counts[lo] == 0 {
				lo++
			}
			for s.counts[hi] == 0 {
				hi--
			}
			mid := lo + r.IntN(hi-lo+1)
			for _, k := range []int{lo, hi, mid} {
				s.n -= uint64(s.counts[k])
				s.counts[k] = 0
				s.addCarry(s.lo+int32(k), 1<<32)
				s.n += 1 << 32
			}
			s.counts[mid] = 7
			s.n += 7
		}
		roundTrip("random", &s)
	}
	// runs where none may be: first, last, one after another
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"run first", []byte{2, 0, 3, 0, 0, 2}},
		{"run last", []byte{2, 0, 3, 0, 2, 0, 1}},
		{"two runs", []byte{4, 0, 6, 0, 2, 0, 0, 0, 0, 2}},
		{"run past the end", []byte{2, 0, 3, 0, 1, 0, 5, 1}},
	} {
		d := dec{b: c.b}
		var s Sketch
		d.sketch(&s, &d.slab)
		if d.err == nil || !strings.Contains(d.err.Error(), "run of empty buckets") {
			t.Errorf("%s: %v", c.name, d.err)
		}
	}
}

// TestSketchRangeBound: a sketch decodes only within the buckets of
// durations from 1 ns to 2^63-1 ns (every sketch of a partial holds
// durations), so a damaged or hostile partial cannot declare ranges of
// tens of thousands of buckets for two bytes each; the longest and the
// shortest duration's buckets themselves decode.
func TestSketchRangeBound(t *testing.T) {
	decode := func(lo int64, n int) error {
		e := &enc{}
		e.u(2)
		e.u(0)
		e.u(uint64(n))
		e.i(lo)
		e.b = append(e.b, 1) // the first bucket's count
		if n > 1 {
			e.b = append(e.b, 0) // then a run of n-2 empty ones
			e.u(uint64(n - 3))
			e.b = append(e.b, 1) // and the last
		}
		d := &dec{b: e.b}
		var s Sketch
		var slab []uint16
		d.sketch(&s, &slab)
		return d.err
	}
	lo, hi := int64(bucketOfDuration(1)), int64(bucketOfDuration(1<<63-1))
	if err := decode(lo, int(hi-lo+1)); err != nil {
		t.Errorf("the whole range of durations: %v", err)
	}
	for _, c := range []struct {
		lo int64
		n  int
	}{{lo - 1, 3}, {hi, 3}, {lo, int(hi-lo) + 2}, {int64(bucketOf(1e300)), 3}, {int64(bucketOf(1e-300)), 3}} {
		if err := decode(c.lo, c.n); err == nil {
			t.Errorf("buckets %d to %d (durations %d to %d): decoded, want an error", c.lo, c.lo+int64(c.n)-1, lo, hi)
		}
	}
}
