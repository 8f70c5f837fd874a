package iforest_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/chaosgen/chaosgen/models/iforest"
	"github.com/chaosgen/chaosgen/models/metrics"
)

func TestAveragePathLengthMatchesSklearn(t *testing.T) {
	ref := loadReference(t)
	cn := ref.AnomalyDetection.CN
	if len(cn) == 0 {
		t.Fatal("reference_dev.json: average_path_length_c_n_sklearn is empty")
	}
	for key, want := range cn {
		n, err := strconv.Atoi(key)
		if err != nil {
			t.Fatalf("reference key %q: %v", key, err)
		}
		got := iforest.AveragePathLength(n)
		if math.Abs(got-want) > 4e-16*math.Max(1, want) {
			t.Errorf("c(%d) = %.17g, scikit-learn %.17g", n, got, want)
		}
	}
}

// TestAUCMatchesSklearn fits seeds 0..9 on every shared anomaly data set and
// compares the mean ROC-AUC with scikit-learn's mean over its seeds 0..9.
// The random streams differ, so only the means are comparable.
func TestAUCMatchesSklearn(t *testing.T) {
	ref := loadReference(t)
	for _, name := range datasets {
		t.Run(name, func(t *testing.T) {
			ds := loadDataset(t, name)
			r := ref.AnomalyDetection.Datasets[name]
			if ds.X.Rows != r.N || ds.X.Cols != r.D {
				t.Fatalf("%s.csv is %dx%d, the reference says %dx%d", name, ds.X.Rows, ds.X.Cols, r.N, r.D)
			}
			const seeds = 10
			var aucSum, apSum float64
			for seed := range uint64(seeds) {
				f, err := iforest.Fit(ds.X, iforest.Options{Trees: r.Trees, Samples: r.MaxSamples, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				scores := f.ScoreAll(ds.X)
				auc, err := metrics.ROCAUC(scores, ds.labels)
				if err != nil {
					t.Fatal(err)
				}
				ap, err := metrics.AveragePrecision(scores, ds.labels)
				if err != nil {
					t.Fatal(err)
				}
				aucSum += auc
				apSum += ap
			}
			auc, ap := aucSum/seeds, apSum/seeds
			t.Logf("%-12s ROC-AUC %.4f (sklearn %.4f ± %.4f, diff %+.4f)  AP %.4f (sklearn %.4f ± %.4f, diff %+.4f)",
				name, auc, r.AUCMean, r.AUCStd, auc-r.AUCMean, ap, r.APMean, r.APStd, ap-r.APMean)
			if math.Abs(auc-r.AUCMean) > 0.01 {
				t.Errorf("mean ROC-AUC over seeds 0..9 = %.4f, scikit-learn %.4f: differs by more than 0.01", auc, r.AUCMean)
			}
			// Average precision varies more from seed to seed; hold it to
			// 0.01 plus two of scikit-learn's standard deviations.
			if tol := 0.01 + 2*r.APStd; math.Abs(ap-r.APMean) > tol {
				t.Errorf("mean average precision over seeds 0..9 = %.4f, scikit-learn %.4f: differs by more than %.4f", ap, r.APMean, tol)
			}
		})
	}
}
