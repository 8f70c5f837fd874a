package metrics_test

import (
	"fmt"

	"github.com/chaosgen/chaosgen/models/metrics"
)

func Example() {
	scores := []float64{0.1, 0.4, 0.35, 0.8}
	labels := []bool{false, false, true, true}
	auc, _ := metrics.ROCAUC(scores, labels)
	ap, _ := metrics.AveragePrecision(scores, labels)
	fmt.Printf("ROC-AUC %.4f, average precision %.4f\n", auc, ap)
	// Output: ROC-AUC 0.7500, average precision 0.8333
}
