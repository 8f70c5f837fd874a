// Package metrics scores a ranking against binary labels the way
// scikit-learn does: ROC-AUC (roc_auc_score) and average precision
// (average_precision_score).
package metrics

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrOneClass is returned when the labels are all positive or all negative:
// neither metric is defined then.
var ErrOneClass = errors.New("labels hold only one class")

// curve is the confusion counts after each distinct score, from the highest
// score down: tp[k] and fp[k] count the rows with a score >= the k-th
// distinct score.
type curve struct {
	tp, fp []float64
	pos    float64
	neg    float64
}

func newCurve(scores []float64, labels []bool) (*curve, error) {
	if len(scores) != len(labels) {
		return nil, fmt.Errorf("%d scores but %d labels", len(scores), len(labels))
	}
	for i, s := range scores {
		if math.IsNaN(s) {
			return nil, fmt.Errorf("score %d is NaN", i)
		}
	}
	order := make([]int, len(scores))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(scores[b], scores[a]), cmp.Compare(a, b))
	})
	c := &curve{}
	var tp, fp float64
	for k, i := range order {
		if labels[i] {
			tp++
		} else {
			fp++
		}
		if k == len(order)-1 || scores[order[k+1]] != scores[i] {
			c.tp = append(c.tp, tp)
			c.fp = append(c.fp, fp)
		}
	}
	c.pos, c.neg = tp, fp
	if c.pos == 0 || c.neg == 0 {
		return nil, ErrOneClass
	}
	return c, nil
}

// ROCAUC returns the area under the ROC curve of scores (higher = more
// likely positive) against labels (true = positive), by the trapezoid rule
// over the distinct scores: a positive and a negative with equal scores count
// one half, as in the Mann-Whitney U statistic.
func ROCAUC(scores []float64, labels []bool) (float64, error) {
	c, err := newCurve(scores, labels)
	if err != nil {
		return 0, err
	}
	var area, tp0, fp0 float64
	for k := range c.tp {
		area += (c.fp[k] - fp0) * (c.tp[k] + tp0) / 2
		tp0, fp0 = c.tp[k], c.fp[k]
	}
	return area / (c.pos * c.neg), nil
}

// AveragePrecision returns the sum over the distinct scores, taken as
// thresholds from the highest down, of (R_n - R_(n-1)) P_n, where P_n and R_n
// are the precision and recall of calling every row with a score >= the n-th
// threshold positive (no interpolation), as scikit-learn's
// average_precision_score.
func AveragePrecision(scores []float64, labels []bool) (float64, error) {
	c, err := newCurve(scores, labels)
	if err != nil {
		return 0, err
	}
	var ap, r0 float64
	for k := range c.tp {
		r := c.tp[k] / c.pos
		ap += (r - r0) * (c.tp[k] / (c.tp[k] + c.fp[k]))
		r0 = r
	}
	return ap, nil
}
