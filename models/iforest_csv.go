package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strconv"
	"strings"

	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/chaosgen/chaosgen/internal/numcsv"
	"github.com/chaosgen/chaosgen/models/iforest"
	"github.com/chaosgen/chaosgen/models/metrics"
)

// IForestOptions control IForestCSV.
type IForestOptions struct {
	// CSV is the input: a header row, then one row per observation.
	CSV string
	// Label names an optional 0/1 column (1 = anomaly) that is not a
	// feature; with it, IForestCSV reports ROC-AUC and average precision.
	Label string
	// Trees, Samples, Seed and Workers are passed to iforest.Fit.
	Trees   int
	Samples int
	Seed    uint64
	Workers int
	// Out, when set, receives the scores CSV (written atomically).
	Out string
	// JSON prints the summary as one JSON object.
	JSON bool
}

// IForestSummary is what IForestCSV reports besides the scores. AUC and AP
// are set only with a label column. The JSON field order is the key order.
type IForestSummary struct {
	AP       *float64 `json:"ap,omitempty"`
	AUC      *float64 `json:"auc,omitempty"`
	N        int      `json:"n"`
	Features []string `json:"-"`
	Ignored  []string `json:"-"`
}

// scoreDigits is the number of decimals of the written scores and metrics.
const scoreDigits = 6

// IForestCSV fits an isolation forest to the numeric columns of opt.CSV
// (all of them but the label; columns with no numeric cell at all, such as
// ids, are ignored) and scores every row.
//
// The scores CSV has a header "score" (then the label column, when there is
// one) and one line per input row, in input order, with scoreDigits
// decimals. It goes to opt.Out when set, else to stdout unless opt.JSON.
// The summary goes to stdout when the scores do not: with opt.JSON as
// {"ap":..,"auc":..,"n":..} (ap and auc only with a label), else as
// "name value" lines. When the scores go to stdout, a text summary with a
// label's metrics goes to stderr instead, and without a label none is
// printed.
func IForestCSV(stdout, stderr io.Writer, opt IForestOptions) (*IForestSummary, error) {
	X, labels, sum, err := readIForestCSV(opt.CSV, opt.Label)
	if err != nil {
		return nil, err
	}
	f, err := iforest.Fit(X, iforest.Options{Trees: opt.Trees, Samples: opt.Samples, Seed: opt.Seed, Workers: opt.Workers})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", opt.CSV, err)
	}
	scores := f.ScoreAll(X)
	if labels != nil {
		auc, err := metrics.ROCAUC(scores, labels)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", opt.CSV, err)
		}
		ap, err := metrics.AveragePrecision(scores, labels)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", opt.CSV, err)
		}
		auc, ap = round(auc), round(ap)
		sum.AUC, sum.AP = &auc, &ap
	}

	var csv bytes.Buffer
	csv.WriteString("score")
	if labels != nil {
		csv.WriteString("," + csvField(opt.Label))
	}
	csv.WriteByte('\n')
	for i, s := range scores {
		csv.WriteString(strconv.FormatFloat(s, 'f', scoreDigits, 64))
		if labels != nil {
			if labels[i] {
				csv.WriteString(",1")
			} else {
				csv.WriteString(",0")
			}
		}
		csv.WriteByte('\n')
	}

	summaryTo := stdout
	switch {
	case opt.Out != "":
		if err := atomicfile.WriteFile(opt.Out, csv.Bytes()); err != nil {
			return nil, fmt.Errorf("writing scores: %w", err)
		}
	case !opt.JSON:
		if _, err := stdout.Write(csv.Bytes()); err != nil {
			return nil, err
		}
		if labels == nil {
			return sum, nil
		}
		summaryTo = stderr
	}
	if opt.JSON {
		b, err := json.Marshal(sum)
		if err != nil {
			return nil, err
		}
		_, err = fmt.Fprintf(summaryTo, "%s\n", b)
		return sum, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "n         %d\n", sum.N)
	fmt.Fprintf(&b, "features  %s\n", strings.Join(sum.Features, ","))
	if len(sum.Ignored) > 0 {
		fmt.Fprintf(&b, "ignored   %s\n", strings.Join(sum.Ignored, ","))
	}
	if sum.AUC != nil {
		fmt.Fprintf(&b, "roc_auc   %.*f\n", scoreDigits, *sum.AUC)
		fmt.Fprintf(&b, "avg_prec  %.*f\n", scoreDigits, *sum.AP)
	}
	if opt.Out != "" {
		fmt.Fprintf(&b, "scores    %s\n", opt.Out)
	}
	_, err = io.WriteString(summaryTo, b.String())
	return sum, err
}

func round(v float64) float64 {
	const p = 1e6 // 10^scoreDigits
	return math.Round(v*p) / p
}

// csvField quotes s for a CSV header when it needs quoting.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\r\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// readIForestCSV reads the feature matrix and, when label is set, the labels.
func readIForestCSV(path, label string) (iforest.Matrix, []bool, *IForestSummary, error) {
	tab, err := numcsv.ReadFile(path, numcsv.Options{AllowText: true})
	if err != nil {
		var ce *numcsv.CellError
		var pe *fs.PathError
		switch {
		case errors.As(err, &ce):
			return iforest.Matrix{}, nil, nil, fmt.Errorf("reading %w", err)
		case errors.As(err, &pe):
			return iforest.Matrix{}, nil, nil, fmt.Errorf("reading %s: %w", path, pe.Err)
		}
		return iforest.Matrix{}, nil, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	bad := func(row int, col, format string, args ...any) error {
		return fmt.Errorf("reading %w", &numcsv.CellError{File: path, Row: row, Column: col, Msg: fmt.Sprintf(format, args...)})
	}
	sum := &IForestSummary{N: tab.Rows}
	var labels []bool
	if label != "" {
		nums, isNum := tab.Num[label]
		texts, isText := tab.Text[label]
		if !isNum && !isText {
			return iforest.Matrix{}, nil, nil, fmt.Errorf("reading %s: no label column %q (columns: %s)", path, label, strings.Join(tab.Header, ", "))
		}
		labels = make([]bool, tab.Rows)
		for i := range tab.Rows {
			var v float64
			if isNum {
				v = nums[i]
			} else if v, err = strconv.ParseFloat(texts[i], 64); err != nil {
				return iforest.Matrix{}, nil, nil, bad(i+2, label, "label %q is not 0 or 1", texts[i])
			}
			if v != 0 && v != 1 {
				return iforest.Matrix{}, nil, nil, bad(i+2, label, "label %s is not 0 or 1", strconv.FormatFloat(v, 'g', -1, 64))
			}
			labels[i] = v == 1
		}
		pos := 0
		for _, l := range labels {
			if l {
				pos++
			}
		}
		if len(labels) >= 2 && (pos == 0 || pos == len(labels)) {
			return iforest.Matrix{}, nil, nil, fmt.Errorf("reading %s: column %q: every label is %d: ROC-AUC and average precision need both 0 and 1", path, label, min(pos, 1))
		}
	}
	for _, h := range tab.Header {
		if h == label {
			continue
		}
		if texts, ok := tab.Text[h]; ok {
			// A column with some numbers is a feature column with a bad
			// cell; one without any is text (an id, a name) and ignored.
			first, numeric := -1, false
			for i, s := range texts {
				if _, err := strconv.ParseFloat(s, 64); err == nil {
					numeric = true
				} else if first < 0 {
					first = i
				}
			}
			if numeric {
				if texts[first] == "" {
					return iforest.Matrix{}, nil, nil, bad(first+2, h, "empty cell in a numeric column")
				}
				return iforest.Matrix{}, nil, nil, bad(first+2, h, "%q is not a number", texts[first])
			}
			sum.Ignored = append(sum.Ignored, h)
			continue
		}
		sum.Features = append(sum.Features, h)
	}
	if len(sum.Features) == 0 {
		return iforest.Matrix{}, nil, nil, fmt.Errorf("reading %s: no numeric feature columns (columns: %s)", path, strings.Join(tab.Header, ", "))
	}
	d := len(sum.Features)
	X := iforest.Matrix{Data: make([]float64, tab.Rows*d), Rows: tab.Rows, Cols: d}
	for j, h := range sum.Features {
		for i, v := range tab.Num[h] {
			X.Data[i*d+j] = v
		}
	}
	return X, labels, sum, nil
}
