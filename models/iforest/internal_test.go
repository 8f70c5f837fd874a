package iforest

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTreeInvariants walks every tree: children lie inside the tree, walks
// end at leaves within the height limit, and leaf path lengths are
// depth + c(size) for a size in 1..psi.
func TestTreeInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	X := Matrix{Rows: 700, Cols: 3}
	for i := range X.Rows * X.Cols {
		v := rng.NormFloat64()
		if i%3 == 2 {
			v = math.Round(v) // many ties
		}
		X.Data = append(X.Data, v)
	}
	f, err := Fit(X, Options{Trees: 30, Samples: 200, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if f.height != 8 || f.stride != 399 {
		t.Fatalf("height %d, stride %d; want 8, 399", f.height, f.stride)
	}
	cpsi := AveragePathLength(f.samples)
	for tr := range f.trees {
		nodes := f.nodes[tr*f.stride : (tr+1)*f.stride]
		leafH := f.leafH[tr*f.stride : (tr+1)*f.stride]
		var walk func(n uint32, depth int) float64 // returns the number of leaves
		walk = func(n uint32, depth int) float64 {
			nd := nodes[n]
			if math.IsInf(nd.thr, 1) {
				if nd.child != n {
					t.Fatalf("tree %d: leaf %d has child %d", tr, n, nd.child)
				}
				size := leafH[n] - float64(depth)
				if size < 0 || size > cpsi+1e-9 {
					t.Fatalf("tree %d: leaf %d at depth %d has h %v", tr, n, depth, leafH[n])
				}
				return 1
			}
			if depth >= f.height {
				t.Fatalf("tree %d: internal node %d at depth %d", tr, n, depth)
			}
			if int(nd.child)+1 >= len(nodes) || nd.child <= n || int(nd.feat) >= X.Cols {
				t.Fatalf("tree %d: node %d: child %d, feature %d", tr, n, nd.child, nd.feat)
			}
			return walk(nd.child, depth+1) + walk(nd.child+1, depth+1)
		}
		if leaves := walk(0, 0); leaves < 2 || leaves > float64(f.samples) {
			t.Fatalf("tree %d has %v leaves", tr, leaves)
		}
	}
}
