package metrics

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestROCAUCAndAP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		scores  []float64
		labels  []bool
		auc, ap float64
	}{
		// scikit-learn's documentation examples.
		{"sklearn doc", []float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, 0.75, 0.8333333333333333},
		{"perfect", []float64{0.9, 0.8, 0.2, 0.1}, []bool{true, true, false, false}, 1, 1},
		// AP: thresholds 0.2 (P 1/3, R 1/2) and 0.1 (P 1/2, R 1).
		{"reversed", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0, 0.5/3 + 0.25},
		{"all tied", []float64{0.5, 0.5, 0.5}, []bool{true, false, false}, 0.5, 1.0 / 3},
		// Pairs (1,1) tie, (1,0) win, (0,1) loss, (0,0) tie: 2/4. AP: thresholds
		// 1 (P 1/2, R 1/2) and 0 (P 1/2, R 1): 1/4 + 1/4.
		{"ties across classes", []float64{1, 1, 0, 0}, []bool{true, false, true, false}, 0.5, 0.5},
		// Thresholds 3 (tp 1, fp 0), 2 (tp 2, fp 1), 1 (tp 2, fp 2).
		// AUC: negatives at 2 and 1; positives at 3 and 2: (1 + 0.5 + 1 + 1)/4.
		// AP: 1/2*1 + 1/2*2/3.
		{"mixed", []float64{3, 2, 2, 1}, []bool{true, true, false, false}, 0.875, 0.5 + 1.0/3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auc, err := ROCAUC(tc.scores, tc.labels)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(auc-tc.auc) > 1e-12 {
				t.Errorf("ROCAUC = %v, want %v", auc, tc.auc)
			}
			ap, err := AveragePrecision(tc.scores, tc.labels)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(ap-tc.ap) > 1e-12 {
				t.Errorf("AveragePrecision = %v, want %v", ap, tc.ap)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []bool
		want   string
	}{
		{"one class", []float64{1, 2}, []bool{true, true}, "labels hold only one class"},
		{"no rows", nil, nil, "labels hold only one class"},
		{"length", []float64{1, 2}, []bool{true}, "2 scores but 1 labels"},
		{"nan", []float64{1, math.NaN()}, []bool{true, false}, "score 1 is NaN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, fn := range map[string]func([]float64, []bool) (float64, error){"ROCAUC": ROCAUC, "AveragePrecision": AveragePrecision} {
				_, err := fn(tc.scores, tc.labels)
				if err == nil || err.Error() != tc.want {
					t.Errorf("%s: error %v, want %q", name, err, tc.want)
				}
			}
		})
	}
	if _, err := ROCAUC([]float64{1}, []bool{false}); !errors.Is(err, ErrOneClass) {
		t.Errorf("error %v is not ErrOneClass", err)
	}
}

// TestROCAUCMannWhitney checks the trapezoid against the pair count on data
// with many ties.
func TestROCAUCMannWhitney(t *testing.T) {
	const seed = 7
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for trial := range 50 {
		n := 2 + rng.IntN(60)
		scores := make([]float64, n)
		labels := make([]bool, n)
		for i := range n {
			scores[i] = float64(rng.IntN(5))
			labels[i] = rng.IntN(3) == 0
		}
		labels[0], labels[1] = true, false
		var pairs, wins float64
		for i := range n {
			for j := range n {
				if labels[i] && !labels[j] {
					pairs++
					switch {
					case scores[i] > scores[j]:
						wins++
					case scores[i] == scores[j]:
						wins += 0.5
					}
				}
			}
		}
		auc, err := ROCAUC(scores, labels)
		if err != nil {
			t.Fatal(err)
		}
		if want := wins / pairs; math.Abs(auc-want) > 1e-12 {
			t.Fatalf("trial %d: ROCAUC = %v, Mann-Whitney gives %v", trial, auc, want)
		}
	}
}
