package iforest_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/models/iforest"
)

// blobs returns n rows of a d-dimensional standard normal cloud, then the
// given outliers, drawn from a generator seeded with seed.
func blobs(seed uint64, n, d int, outliers ...[]float64) iforest.Matrix {
	rng := rand.New(rand.NewPCG(seed, 99))
	m := iforest.Matrix{Rows: n + len(outliers), Cols: d}
	for range n * d {
		m.Data = append(m.Data, rng.NormFloat64())
	}
	for _, o := range outliers {
		m.Data = append(m.Data, o...)
	}
	return m
}

func mustFit(t testing.TB, X iforest.Matrix, opt iforest.Options) *iforest.Forest {
	t.Helper()
	f, err := iforest.Fit(X, opt)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestDeterminism(t *testing.T) {
	X := blobs(3, 3000, 5, []float64{6, 6, 6, 6, 6})
	base := mustFit(t, X, iforest.Options{Seed: 42, Workers: 1}).ScoreAll(X)
	for _, workers := range []int{1, 2, 3, 8, 0} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			f := mustFit(t, X, iforest.Options{Seed: 42, Workers: workers})
			got := f.ScoreAll(X)
			if i := firstDiff(base, got); i >= 0 {
				t.Fatalf("row %d: score %v, with 1 worker %v", i, got[i], base[i])
			}
			for i := range X.Rows {
				if s := f.Score(X.Row(i)); s != got[i] {
					t.Fatalf("row %d: Score = %v, ScoreAll = %v", i, s, got[i])
				}
			}
		})
	}
	other := mustFit(t, X, iforest.Options{Seed: 43}).ScoreAll(X)
	if firstDiff(base, other) < 0 {
		t.Error("seeds 42 and 43 give identical scores")
	}
}

func firstDiff(a, b []float64) int {
	if len(a) != len(b) {
		return 0
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestScoreAllBlocks scores row counts around the block and the eight-row
// interleave boundaries against Score.
func TestScoreAllBlocks(t *testing.T) {
	X := blobs(5, 1030, 3)
	f := mustFit(t, X, iforest.Options{Trees: 20, Seed: 1, Workers: 3})
	for _, rows := range []int{0, 1, 7, 8, 9, 17, 255, 256, 257, 263, 515, 1030} {
		sub := iforest.Matrix{Data: X.Data[:rows*X.Cols], Rows: rows, Cols: X.Cols}
		got := f.ScoreAll(sub)
		if len(got) != rows {
			t.Fatalf("%d rows: %d scores", rows, len(got))
		}
		for i := range rows {
			if s := f.Score(X.Row(i)); s != got[i] {
				t.Fatalf("%d rows: row %d: ScoreAll %v, Score %v", rows, i, got[i], s)
			}
		}
	}
}

func TestOutlierScoresHighest(t *testing.T) {
	for _, seed := range []uint64{0, 1, 2, 3, 4} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			X := blobs(seed, 1000, 4, []float64{8, -8, 8, -8})
			scores := mustFit(t, X, iforest.Options{Seed: seed}).ScoreAll(X)
			for i, s := range scores {
				if !(s > 0 && s <= 1) {
					t.Fatalf("row %d: score %v is outside (0, 1]", i, s)
				}
			}
			out := scores[len(scores)-1]
			inMax := slices.Max(scores[:len(scores)-1])
			if out <= inMax {
				t.Errorf("outlier scores %.4f, an inlier %.4f", out, inMax)
			}
			if out < 0.7 {
				t.Errorf("outlier scores %.4f, want > 0.7", out)
			}
		})
	}
}

// TestExactScores checks cases whose scores follow from the definition.
func TestExactScores(t *testing.T) {
	c3 := iforest.AveragePathLength(3)
	for _, tc := range []struct {
		name string
		X    iforest.Matrix
		opt  iforest.Options
		row  []float64
		want float64
	}{
		// All rows equal: every tree is a single leaf of psi rows, so
		// E[h] = c(psi) and the score is 2^-1.
		{"constant", iforest.Matrix{Data: slices.Repeat([]float64{1, 2}, 50), Rows: 50, Cols: 2}, iforest.Options{Seed: 1}, []float64{1, 2}, 0.5},
		{"constant far query", iforest.Matrix{Data: slices.Repeat([]float64{1, 2}, 50), Rows: 50, Cols: 2}, iforest.Options{Seed: 1}, []float64{-1e9, 1e9}, 0.5},
		// Two rows: the root splits them; each is a leaf at depth 1 of size 1.
		{"two rows", iforest.Matrix{Data: []float64{0, 1}, Rows: 2, Cols: 1}, iforest.Options{Seed: 1}, []float64{0}, math.Exp2(-1 / iforest.AveragePathLength(2))},
		// 0, 1, 2: the middle row is always isolated at depth 2 (the height
		// limit ceil(log2 3)).
		{"middle of three", iforest.Matrix{Data: []float64{0, 1, 2}, Rows: 3, Cols: 1}, iforest.Options{Seed: 5}, []float64{1}, math.Exp2(-2 / c3)},
		// The second feature is constant: splits only ever use the first.
		{"constant second feature", iforest.Matrix{Data: []float64{0, 7, 1, 7, 2, 7}, Rows: 3, Cols: 2}, iforest.Options{Seed: 5}, []float64{1, 7}, math.Exp2(-2 / c3)},
		// Samples is capped at the number of rows.
		{"samples capped", iforest.Matrix{Data: []float64{0, 1, 2}, Rows: 3, Cols: 1}, iforest.Options{Samples: 1000, Seed: 6}, []float64{1}, math.Exp2(-2 / c3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustFit(t, tc.X, tc.opt)
			if got := f.Score(tc.row); math.Abs(got-tc.want) > 1e-15 {
				t.Errorf("Score(%v) = %.17g, want %.17g", tc.row, got, tc.want)
			}
		})
	}
}

// TestThreeRowsExpectation: the end rows of 0, 1, 2 are isolated at depth 1
// when the root threshold falls on their side (probability 1/2) and at depth
// 2 otherwise, so E[h] = 1.5.
func TestThreeRowsExpectation(t *testing.T) {
	X := iforest.Matrix{Data: []float64{0, 1, 2}, Rows: 3, Cols: 1}
	f := mustFit(t, X, iforest.Options{Trees: 4000, Seed: 9})
	if f.Samples() != 3 || f.Trees() != 4000 || f.Cols() != 1 {
		t.Fatalf("Samples, Trees, Cols = %d, %d, %d", f.Samples(), f.Trees(), f.Cols())
	}
	c3 := iforest.AveragePathLength(3)
	for _, x := range []float64{0, 2} {
		eh := -math.Log2(f.Score([]float64{x})) * c3
		// The standard deviation of the mean of 4000 fair coin flips is 0.0079.
		if math.Abs(eh-1.5) > 0.04 {
			t.Errorf("E[h(%v)] = %.4f, want 1.5", x, eh)
		}
	}
}

func TestFitErrors(t *testing.T) {
	ok := iforest.Matrix{Data: []float64{0, 1, 2, 3}, Rows: 2, Cols: 2}
	for _, tc := range []struct {
		name string
		X    iforest.Matrix
		opt  iforest.Options
		want string
	}{
		{"one row", iforest.Matrix{Data: []float64{1, 2}, Rows: 1, Cols: 2}, iforest.Options{}, "an isolation forest needs at least 2 rows, have 1"},
		{"no rows", iforest.Matrix{}, iforest.Options{}, "an isolation forest needs at least 2 rows, have 0"},
		{"no columns", iforest.Matrix{Rows: 3}, iforest.Options{}, "an isolation forest needs at least 1 feature"},
		{"short data", iforest.Matrix{Data: []float64{1, 2, 3}, Rows: 2, Cols: 2}, iforest.Options{}, "matrix of 2 rows and 2 columns has 3 values"},
		{"nan", iforest.Matrix{Data: []float64{0, 1, 2, math.NaN()}, Rows: 2, Cols: 2}, iforest.Options{}, "row 1, column 1: NaN is not a finite number"},
		{"inf", iforest.Matrix{Data: []float64{0, math.Inf(-1), 2, 3}, Rows: 2, Cols: 2}, iforest.Options{}, "row 0, column 1: -Inf is not a finite number"},
		{"negative trees", ok, iforest.Options{Trees: -1}, "trees must be positive, not -1"},
		{"negative samples", ok, iforest.Options{Samples: -2}, "samples must be at least 2, not -2"},
		{"one sample", ok, iforest.Options{Samples: 1}, "samples must be at least 2, not 1"},
		{"negative workers", ok, iforest.Options{Workers: -3}, "workers must not be negative, not -3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := iforest.Fit(tc.X, tc.opt)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
	_, err := iforest.Fit(iforest.Matrix{Data: []float64{1}, Rows: 1, Cols: 1}, iforest.Options{})
	if !errors.Is(err, iforest.ErrTooFewRows) {
		t.Errorf("one row: error %v is not ErrTooFewRows", err)
	}
}

func TestFromRows(t *testing.T) {
	m, err := iforest.FromRows([][]float64{{1, 2}, {3, 4}, {5, 6}})
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 3 || m.Cols != 2 || !slices.Equal(m.Row(1), []float64{3, 4}) || !slices.Equal(m.Data, []float64{1, 2, 3, 4, 5, 6}) {
		t.Errorf("FromRows = %+v", m)
	}
	if _, err := iforest.FromRows([][]float64{{1, 2}, {3}}); err == nil || err.Error() != "row 1 has 1 values, row 0 has 2" {
		t.Errorf("ragged rows: error %v", err)
	}
}

func TestScorePanicsOnWrongWidth(t *testing.T) {
	f := mustFit(t, blobs(1, 10, 2), iforest.Options{Trees: 3})
	for name, fn := range map[string]func(){
		"Score":    func() { f.Score([]float64{1, 2, 3}) },
		"ScoreAll": func() { f.ScoreAll(iforest.Matrix{Data: []float64{1, 2, 3}, Rows: 1, Cols: 3}) },
	} {
		func() {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, "the forest was fitted on 2") {
					t.Errorf("%s: panic %v", name, r)
				}
			}()
			fn()
		}()
	}
}

// TestGolden pins the scores of a small data set, so that a change to the
// random draws (which would change committed outputs) shows up in review.
func TestGolden(t *testing.T) {
	X := blobs(11, 40, 2, []float64{5, 5}, []float64{-4, 0})
	scores := mustFit(t, X, iforest.Options{Trees: 50, Samples: 32, Seed: 7}).ScoreAll(X)
	var b strings.Builder
	b.WriteString("x0,x1,score\n")
	for i, s := range scores {
		fmt.Fprintf(&b, "%.4f,%.4f,%.6f\n", X.Row(i)[0], X.Row(i)[1], s)
	}
	golden.Check(t, filepath.Join("testdata", "blobs_seed7.csv"), []byte(b.String()))
}

func ExampleFit() {
	X, _ := iforest.FromRows([][]float64{
		{1.0, 2.0}, {1.1, 2.1}, {0.9, 1.9}, {1.0, 2.2}, {1.2, 1.8},
		{0.8, 2.0}, {1.1, 1.9}, {0.9, 2.1}, {9.0, -4.0}, {1.0, 2.0},
	})
	f, err := iforest.Fit(X, iforest.Options{Seed: 1})
	if err != nil {
		panic(err)
	}
	scores := f.ScoreAll(X)
	top := 0
	for i, s := range scores {
		if s > scores[top] {
			top = i
		}
	}
	fmt.Printf("most anomalous: row %d %v\n", top, X.Row(top))
	// Output: most anomalous: row 8 [9 -4]
}

// TestShuffledRows: row order only changes which rows each tree samples, so
// scores of shuffled input agree with the original up to sampling noise.
func TestShuffledRows(t *testing.T) {
	const seed = 21
	t.Logf("seed %d", seed)
	X := blobs(seed, 2000, 3, []float64{5, 5, -5})
	rng := rand.New(rand.NewPCG(seed, 1))
	perm := rng.Perm(X.Rows)
	Y := iforest.Matrix{Rows: X.Rows, Cols: X.Cols}
	for _, i := range perm {
		Y.Data = append(Y.Data, X.Row(i)...)
	}
	opt := iforest.Options{Trees: 400, Seed: seed}
	a := mustFit(t, X, opt).ScoreAll(X)
	b := mustFit(t, Y, opt).ScoreAll(Y)
	var maxDiff float64
	for k, i := range perm {
		maxDiff = max(maxDiff, math.Abs(a[i]-b[k]))
	}
	t.Logf("largest score difference %.4f", maxDiff)
	if maxDiff > 0.04 {
		t.Errorf("largest score difference between original and shuffled rows %.4f, want <= 0.04", maxDiff)
	}
	if firstDiff(a, b) < 0 {
		t.Error("shuffled rows give identical scores in the same positions")
	}
}

// TestRandomData checks invariants on random small data sets with ties.
func TestRandomData(t *testing.T) {
	const seed = 5
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for trial := range 40 {
		n, d := 2+rng.IntN(400), 1+rng.IntN(6)
		X := iforest.Matrix{Rows: n, Cols: d}
		for range n * d {
			X.Data = append(X.Data, float64(rng.IntN(1+rng.IntN(20))))
		}
		opt := iforest.Options{Trees: 1 + rng.IntN(60), Samples: 2 + rng.IntN(300), Seed: rng.Uint64(), Workers: 1 + rng.IntN(4)}
		f := mustFit(t, X, opt)
		if want := min(opt.Samples, n); f.Samples() != want {
			t.Fatalf("trial %d: Samples() = %d, want %d", trial, f.Samples(), want)
		}
		scores := f.ScoreAll(X)
		for i, s := range scores {
			if !(s > 0 && s <= 1) || s != f.Score(X.Row(i)) {
				t.Fatalf("trial %d (n %d, d %d, %+v): row %d: ScoreAll %v, Score %v", trial, n, d, opt, i, s, f.Score(X.Row(i)))
			}
		}
	}
}
