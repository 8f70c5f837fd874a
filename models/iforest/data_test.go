package iforest_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chaosgen/chaosgen/internal/numcsv"
	"github.com/chaosgen/chaosgen/internal/shared"
	"github.com/chaosgen/chaosgen/models/iforest"
)

// datasets are the labelled anomaly data sets in shared/data/ml/anomaly.
var datasets = []string{"cardio", "shuttle", "mammography", "breastw", "ionosphere", "satellite"}

type dataset struct {
	X      iforest.Matrix
	labels []bool
}

var (
	datasetMu    sync.Mutex
	datasetCache = map[string]*dataset{}
)

// loadDataset reads shared/data/ml/anomaly/<name>.csv: features f0..f(d-1)
// and a 0/1 label column.
func loadDataset(tb testing.TB, name string) *dataset {
	tb.Helper()
	datasetMu.Lock()
	defer datasetMu.Unlock()
	if ds, ok := datasetCache[name]; ok {
		return ds
	}
	path := shared.Path(tb, "data/ml/anomaly/"+name+".csv")
	tab, err := numcsv.ReadFile(path, numcsv.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	var feats []string
	for _, h := range tab.Header {
		if strings.HasPrefix(h, "f") {
			feats = append(feats, h)
		}
	}
	lab, ok := tab.Num["label"]
	if !ok || len(feats) == 0 {
		tb.Fatalf("%s: want columns f0.. and label, have %v", path, tab.Header)
	}
	ds := &dataset{X: iforest.Matrix{Rows: tab.Rows, Cols: len(feats), Data: make([]float64, tab.Rows*len(feats))}}
	for j, h := range feats {
		for i, v := range tab.Num[h] {
			ds.X.Data[i*len(feats)+j] = v
		}
	}
	for i, v := range lab {
		if v != 0 && v != 1 {
			tb.Fatalf("%s: row %d: label %v", path, i+2, v)
		}
		ds.labels = append(ds.labels, v == 1)
	}
	datasetCache[name] = ds
	return ds
}

// reference is the part of shared/data/ml/reference_dev.json these tests use.
type reference struct {
	AnomalyDetection struct {
		CN       map[string]float64 `json:"average_path_length_c_n_sklearn"`
		Datasets map[string]struct {
			N           int       `json:"n"`
			D           int       `json:"d"`
			MaxSamples  int       `json:"max_samples"`
			Trees       int       `json:"n_estimators"`
			AUCMean     float64   `json:"roc_auc_mean"`
			AUCStd      float64   `json:"roc_auc_std"`
			AUCPerSeed  []float64 `json:"roc_auc_per_seed"`
			APMean      float64   `json:"ap_mean"`
			APStd       float64   `json:"ap_std"`
			FitScoreSec float64   `json:"fit_plus_score_seconds_median3"`
		} `json:"datasets"`
	} `json:"anomaly_detection"`
}

func loadReference(tb testing.TB) *reference {
	tb.Helper()
	b, err := os.ReadFile(shared.Path(tb, "data/ml/reference_dev.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		tb.Fatalf("reference_dev.json: %v", err)
	}
	for _, name := range datasets {
		if _, ok := ref.AnomalyDetection.Datasets[name]; !ok {
			tb.Fatalf("reference_dev.json has no anomaly_detection.datasets.%s (has %v)", name,
				slices.Sorted(func(yield func(string) bool) {
					for k := range ref.AnomalyDetection.Datasets {
						if !yield(k) {
							return
						}
					}
				}))
		}
	}
	return &ref
}
