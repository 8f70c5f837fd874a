// Package iforest is the isolation forest of Liu, Ting and Zhou (2008): a
// pure function of a feature matrix and a seed that scores how easily each
// row is isolated by random axis-parallel splits (higher = more anomalous).
//
// The trees follow scikit-learn's IsolationForest (max_features=1.0,
// bootstrap=False): each tree is grown on Samples rows drawn without
// replacement, down to a height limit of ceil(log2 Samples); a node splits on
// a feature drawn uniformly among those that are not constant on its rows, at
// a threshold drawn uniformly between their minimum and maximum (rows <= the
// threshold go left); a node whose rows are equal on every feature is a leaf.
// A row's path length in a tree is the depth of the leaf it reaches plus
// c(size of that leaf), and its score is 2^(-E[h(x)]/c(Samples)).
//
// Unlike scikit-learn, which converts features to float32 and treats a
// feature whose range in a node is at most 1e-7 as constant, this package
// works in float64 and treats a feature as constant only when it is.
//
// Tree i draws from rand.New(rand.NewPCG(seed, uint64(i))) and every score
// sums the trees in index order, so the results depend on the seed only,
// never on the number of workers.
package iforest

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
)

// Default values of Options fields left at zero.
const (
	DefaultTrees   = 100
	DefaultSamples = 256
)

// eulerGamma is the Euler-Mascheroni constant (numpy's np.euler_gamma).
const eulerGamma = 0.57721566490153286060651209008240243104215933593992

// Options control Fit.
type Options struct {
	// Trees is the number of trees; 0 means DefaultTrees.
	Trees int
	// Samples is the subsample size ψ drawn (without replacement) for each
	// tree; 0 means DefaultSamples, else it must be at least 2. It is capped
	// at the number of rows.
	Samples int
	// Seed selects the random draws: tree i uses rand.NewPCG(Seed, i).
	Seed uint64
	// Workers is the number of goroutines used by Fit and ScoreAll; 0 means
	// runtime.GOMAXPROCS(0). It never changes the results.
	Workers int
}

// Matrix is a dense row-major matrix: row i is Data[i*Cols : (i+1)*Cols].
type Matrix struct {
	Data []float64
	Rows int
	Cols int
}

// FromRows copies rows into a Matrix. All rows must have the same length.
func FromRows(rows [][]float64) (Matrix, error) {
	if len(rows) == 0 {
		return Matrix{}, nil
	}
	d := len(rows[0])
	m := Matrix{Data: make([]float64, 0, len(rows)*d), Rows: len(rows), Cols: d}
	for i, r := range rows {
		if len(r) != d {
			return Matrix{}, fmt.Errorf("row %d has %d values, row 0 has %d", i, len(r), d)
		}
		m.Data = append(m.Data, r...)
	}
	return m, nil
}

// Row returns row i of m (a sub-slice, not a copy).
func (m Matrix) Row(i int) []float64 { return m.Data[i*m.Cols : (i+1)*m.Cols : (i+1)*m.Cols] }

func (m Matrix) check() error {
	if m.Rows < 0 || m.Cols < 0 || len(m.Data) != m.Rows*m.Cols {
		return fmt.Errorf("matrix of %d rows and %d columns has %d values", m.Rows, m.Cols, len(m.Data))
	}
	return nil
}

// node is one tree node. An internal node sends x to child when
// x[feat] <= thr and to child+1 otherwise. A leaf has thr = +Inf and
// child = its own index, so a walk that reaches it stays there: every walk
// takes exactly height steps, without a branch on the kind of node.
type node struct {
	thr   float64
	feat  uint32
	child uint32
}

// Forest is a fitted isolation forest. It is safe for concurrent use.
type Forest struct {
	trees   int
	samples int
	height  int // steps of every walk: ceil(log2 samples)
	cols    int
	workers int
	stride  int       // node slots per tree: 2*samples - 1
	nodes   []node    // tree t holds nodes[t*stride : (t+1)*stride]; indices are tree-relative
	leafH   []float64 // per node slot: depth + c(leaf size) for leaves
	norm    float64   // trees * c(samples)
}

// ErrTooFewRows is returned by Fit for fewer than two rows: c(1) = 0 leaves
// the score undefined.
var ErrTooFewRows = errors.New("an isolation forest needs at least 2 rows")

// AveragePathLength is c(n), the average path length of an unsuccessful
// search in a binary search tree of n keys, as scikit-learn computes it:
// c(n) = 0 for n <= 1, c(2) = 1, else 2(ln(n-1) + γ) - 2(n-1)/n.
func AveragePathLength(n int) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	f := float64(n)
	return 2*(math.Log(f-1)+eulerGamma) - 2*(f-1)/f
}

// Fit grows a forest on the rows of X. X must be finite.
func Fit(X Matrix, opt Options) (*Forest, error) {
	if err := X.check(); err != nil {
		return nil, err
	}
	if opt.Trees < 0 {
		return nil, fmt.Errorf("trees must be positive, not %d", opt.Trees)
	}
	if opt.Samples < 0 || opt.Samples == 1 {
		// One row per tree leaves c(1) = 0 and every score undefined.
		return nil, fmt.Errorf("samples must be at least 2, not %d", opt.Samples)
	}
	if opt.Workers < 0 {
		return nil, fmt.Errorf("workers must not be negative, not %d", opt.Workers)
	}
	if X.Rows < 2 {
		return nil, fmt.Errorf("%w, have %d", ErrTooFewRows, X.Rows)
	}
	if X.Cols < 1 {
		return nil, errors.New("an isolation forest needs at least 1 feature")
	}
	for i, v := range X.Data {
		if v-v != 0 { // NaN or ±Inf
			return nil, fmt.Errorf("row %d, column %d: %v is not a finite number", i/X.Cols, i%X.Cols, v)
		}
	}
	trees, psi := opt.Trees, opt.Samples
	if trees == 0 {
		trees = DefaultTrees
	}
	if psi == 0 {
		psi = DefaultSamples
	}
	psi = min(psi, X.Rows)
	stride := 2*psi - 1
	if int64(trees)*int64(stride) > math.MaxInt32 || X.Cols > math.MaxInt32 {
		return nil, fmt.Errorf("%d trees of %d samples are too many", trees, psi)
	}
	workers := opt.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	f := &Forest{
		trees:   trees,
		samples: psi,
		height:  bits.Len(uint(psi - 1)), // ceil(log2 psi) for psi >= 2
		cols:    X.Cols,
		workers: workers,
		stride:  stride,
		nodes:   make([]node, trees*stride),
		leafH:   make([]float64, trees*stride),
		norm:    float64(trees) * AveragePathLength(psi),
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, trees) {
		wg.Go(func() {
			b := newBuilder(X, psi, f.height)
			for {
				t := int(next.Add(1) - 1)
				if t >= trees {
					return
				}
				b.grow(X, rand.New(rand.NewPCG(opt.Seed, uint64(t))),
					f.nodes[t*stride:(t+1)*stride], f.leafH[t*stride:(t+1)*stride])
			}
		})
	}
	wg.Wait()
	return f, nil
}

// Trees returns the number of trees.
func (f *Forest) Trees() int { return f.trees }

// Samples returns the subsample size ψ each tree was grown on.
func (f *Forest) Samples() int { return f.samples }

// Cols returns the number of features the forest was fitted on.
func (f *Forest) Cols() int { return f.cols }

// builder is one worker's scratch space for growing trees; nothing in it
// carries over from one tree to the next.
type builder struct {
	height int
	perm   []int32   // identity between trees; partial Fisher-Yates draws the sample
	swaps  []int32   // the draws, to undo them
	cols   []float64 // the sample, column-major: feature f of row i at f*psi+i
	idx    []int32   // sample rows, partitioned in place as the tree grows
	feats  []uint32  // feature candidates of the current node
	stack  []task
}

type task struct {
	node, lo, hi, depth int32
}

func newBuilder(X Matrix, psi, height int) *builder {
	b := &builder{
		height: height,
		perm:   make([]int32, X.Rows),
		swaps:  make([]int32, psi),
		cols:   make([]float64, psi*X.Cols),
		idx:    make([]int32, psi),
		feats:  make([]uint32, X.Cols),
		stack:  make([]task, 0, 2*height+2),
	}
	for i := range b.perm {
		b.perm[i] = int32(i)
	}
	return b
}

// grow draws a sample and grows one tree into nodes and leafH.
func (b *builder) grow(X Matrix, rng *rand.Rand, nodes []node, leafH []float64) {
	n, d, psi := X.Rows, X.Cols, len(b.idx)
	// Sample psi distinct rows: partial Fisher-Yates on perm, then undo the
	// swaps so that the next tree starts from the identity again.
	for i := range psi {
		j := i + rng.IntN(n-i)
		b.swaps[i] = int32(j)
		b.perm[i], b.perm[j] = b.perm[j], b.perm[i]
	}
	for i := range psi {
		row := X.Data[int(b.perm[i])*d : int(b.perm[i])*d+d]
		for f, v := range row {
			b.cols[f*psi+i] = v
		}
		b.idx[i] = int32(i)
	}
	for i := psi - 1; i >= 0; i-- {
		j := b.swaps[i]
		b.perm[i], b.perm[j] = b.perm[j], b.perm[i]
	}

	used := int32(1)
	b.stack = append(b.stack[:0], task{node: 0, lo: 0, hi: int32(psi), depth: 0})
	for len(b.stack) > 0 {
		t := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		rows := b.idx[t.lo:t.hi]
		feat, thr, ok := -1, 0.0, false
		if len(rows) > 1 && int(t.depth) < b.height {
			feat, thr, ok = b.split(rng, rows, psi)
		}
		if !ok {
			nodes[t.node] = node{thr: math.Inf(1), child: uint32(t.node)}
			leafH[t.node] = float64(t.depth) + AveragePathLength(len(rows))
			continue
		}
		col := b.cols[feat*psi : (feat+1)*psi]
		// Partition rows: x <= thr first. Both sides are non-empty because
		// min <= thr < max.
		i, j := 0, len(rows)-1
		for i <= j {
			if col[rows[i]] <= thr {
				i++
			} else {
				rows[i], rows[j] = rows[j], rows[i]
				j--
			}
		}
		mid := t.lo + int32(i)
		nodes[t.node] = node{thr: thr, feat: uint32(feat), child: uint32(used)}
		b.stack = append(b.stack,
			task{node: used + 1, lo: mid, hi: t.hi, depth: t.depth + 1},
			task{node: used, lo: t.lo, hi: mid, depth: t.depth + 1})
		used += 2
	}
}

// split picks the feature and threshold of a node holding rows, or reports
// that the rows are equal on every feature.
func (b *builder) split(rng *rand.Rand, rows []int32, psi int) (feat int, thr float64, ok bool) {
	for f := range b.feats {
		b.feats[f] = uint32(f)
	}
	for m := len(b.feats); m > 0; m-- {
		k := rng.IntN(m)
		f := int(b.feats[k])
		col := b.cols[f*psi : (f+1)*psi]
		lo, hi := col[rows[0]], col[rows[0]]
		for _, r := range rows[1:] {
			v := col[r]
			lo = min(lo, v)
			hi = max(hi, v)
		}
		if lo < hi {
			// The conversion stops a fused multiply-add, so every
			// architecture draws the same threshold.
			thr = lo + float64(rng.Float64()*(hi-lo))
			if !(thr >= lo && thr < hi) { // thr == hi, or hi-lo overflowed
				thr = lo
			}
			return f, thr, true
		}
		b.feats[k] = b.feats[m-1] // constant here: draw again among the others
	}
	return 0, 0, false
}

// Score returns the anomaly score of x, in (0, 1]; higher is more anomalous.
// x must have Cols() values. A NaN value goes to the left (<=) side of
// every split on its feature.
func (f *Forest) Score(x []float64) float64 {
	if len(x) != f.cols {
		panic(fmt.Sprintf("iforest: Score: x has %d values, the forest was fitted on %d features", len(x), f.cols))
	}
	var sum float64
	for t := range f.trees {
		nodes := f.nodes[t*f.stride : (t+1)*f.stride]
		n := uint32(0)
		for range f.height {
			nd := &nodes[n]
			n = nd.child + b2u(x[nd.feat] > nd.thr)
		}
		sum += f.leafH[t*f.stride+int(n)]
	}
	return math.Exp2(-sum / f.norm)
}

// blockRows is the number of rows ScoreAll walks through one tree before
// moving to the next: the block of X stays in cache while the trees stream.
const blockRows = 256

// ScoreAll returns the score of every row of X, in row order; scores[i]
// equals Score(X.Row(i)). X must have Cols() columns.
func (f *Forest) ScoreAll(X Matrix) []float64 {
	if err := X.check(); err != nil {
		panic("iforest: ScoreAll: " + err.Error())
	}
	if X.Cols != f.cols {
		panic(fmt.Sprintf("iforest: ScoreAll: X has %d columns, the forest was fitted on %d", X.Cols, f.cols))
	}
	scores := make([]float64, X.Rows)
	blocks := (X.Rows + blockRows - 1) / blockRows
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(f.workers, blocks) {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= blocks {
					return
				}
				lo, hi := k*blockRows, min((k+1)*blockRows, X.Rows)
				f.scoreBlock(X.Data[lo*X.Cols:hi*X.Cols], scores[lo:hi])
			}
		})
	}
	wg.Wait()
	return scores
}

// scoreBlock scores the rows of the row-major block data into out. Eight
// walks run interleaved so the CPU overlaps their loads.
func (f *Forest) scoreBlock(data []float64, out []float64) {
	d, rows := f.cols, len(out)
	clear(out)
	for t := range f.trees {
		nodes := f.nodes[t*f.stride : (t+1)*f.stride]
		leafH := f.leafH[t*f.stride : (t+1)*f.stride]
		r := 0
		for ; r+8 <= rows; r += 8 {
			x := data[r*d : (r+8)*d]
			x0, x1, x2, x3 := x[0*d:1*d], x[1*d:2*d], x[2*d:3*d], x[3*d:4*d]
			x4, x5, x6, x7 := x[4*d:5*d], x[5*d:6*d], x[6*d:7*d], x[7*d:8*d]
			var n0, n1, n2, n3, n4, n5, n6, n7 uint32
			for range f.height {
				a0, a1, a2, a3 := &nodes[n0], &nodes[n1], &nodes[n2], &nodes[n3]
				a4, a5, a6, a7 := &nodes[n4], &nodes[n5], &nodes[n6], &nodes[n7]
				n0 = a0.child + b2u(x0[a0.feat] > a0.thr)
				n1 = a1.child + b2u(x1[a1.feat] > a1.thr)
				n2 = a2.child + b2u(x2[a2.feat] > a2.thr)
				n3 = a3.child + b2u(x3[a3.feat] > a3.thr)
				n4 = a4.child + b2u(x4[a4.feat] > a4.thr)
				n5 = a5.child + b2u(x5[a5.feat] > a5.thr)
				n6 = a6.child + b2u(x6[a6.feat] > a6.thr)
				n7 = a7.child + b2u(x7[a7.feat] > a7.thr)
			}
			o := out[r : r+8]
			o[0] += leafH[n0]
			o[1] += leafH[n1]
			o[2] += leafH[n2]
			o[3] += leafH[n3]
			o[4] += leafH[n4]
			o[5] += leafH[n5]
			o[6] += leafH[n6]
			o[7] += leafH[n7]
		}
		for ; r < rows; r++ {
			x := data[r*d : (r+1)*d]
			var n uint32
			for range f.height {
				a := &nodes[n]
				n = a.child + b2u(x[a.feat] > a.thr)
			}
			out[r] += leafH[n]
		}
	}
	for r, s := range out {
		out[r] = math.Exp2(-s / f.norm)
	}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
