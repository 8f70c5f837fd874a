package iforest_test

import (
	"testing"

	"github.com/chaosgen/chaosgen/models/iforest"
)

// BenchmarkFitScore fits a default forest (seed 0) on every shared anomaly
// data set and scores all its rows: the protocol of scikit-learn's timing in
// shared/data/ml/README.md.
func BenchmarkFitScore(b *testing.B) {
	for _, name := range datasets {
		b.Run(name, func(b *testing.B) {
			ds := loadDataset(b, name)
			b.ReportAllocs()
			for b.Loop() {
				f, err := iforest.Fit(ds.X, iforest.Options{Seed: 0})
				if err != nil {
					b.Fatal(err)
				}
				f.ScoreAll(ds.X)
			}
			b.ReportMetric(float64(ds.X.Rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkFit and BenchmarkScoreAll split BenchmarkFitScore on shuttle, the
// largest data set.
func BenchmarkFit(b *testing.B) {
	ds := loadDataset(b, "shuttle")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := iforest.Fit(ds.X, iforest.Options{Seed: 0}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "trees/s")
}

func BenchmarkScoreAll(b *testing.B) {
	ds := loadDataset(b, "shuttle")
	f, err := iforest.Fit(ds.X, iforest.Options{Seed: 0})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f.ScoreAll(ds.X)
	}
	b.ReportMetric(float64(ds.X.Rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
