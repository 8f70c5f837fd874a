package prefault

import "testing"

func TestMakeIsZero(t *testing.T) {
	for _, n := range []int{0, 1, 1000, minBytes, 3*minBytes + 7} {
		b := Make[byte](n)
		if len(b) != n || cap(b) != n {
			t.Fatalf("Make[byte](%d): len %d cap %d", n, len(b), cap(b))
		}
		for i, v := range b {
			if v != 0 {
				t.Fatalf("Make[byte](%d)[%d] = %d", n, i, v)
			}
		}
		type rec struct {
			a, b int64
			p    *int
		}
		r := Make[rec](n)
		if len(r) != n {
			t.Fatalf("Make[rec](%d): len %d", n, len(r))
		}
		for i := range r {
			if r[i].a != 0 || r[i].b != 0 || r[i].p != nil {
				t.Fatalf("Make[rec](%d)[%d] = %v", n, i, r[i])
			}
		}
	}
}
