package main

import (
	"fmt"

	"github.com/chaosgen/chaosgen/models"
	"github.com/spf13/cobra"
)

type modelsIForestFlags struct {
	csv, label, out string
	trees, samples  int
	seed            uint64
	json            bool
}

func newModelsIForestCmd() *cobra.Command {
	var o modelsIForestFlags
	cmd := &cobra.Command{
		Use:   "iforest --csv FILE [--label COL] [-o scores.csv] [--json]",
		Short: "Score every row of a CSV file with an isolation forest",
		Long: `Fit an isolation forest (Liu, Ting and Zhou 2008; scikit-learn's variant) to
the rows of a CSV file and score every row: 2^(-E[h(x)]/c(samples)), in (0, 1],
higher = more anomalous.

Features are all numeric columns except the --label column; columns without a
single number (ids, names) are ignored. A non-numeric, empty, NaN or infinite
cell in a feature column, a ragged row, or a label that is not 0 or 1 is an
error naming the file, row and column. Rows count from 1 at the header.

Output:
  - the scores CSV has a header "score" (then the label column, with --label)
    and one line per input row, in input order, with 6 decimals;
  - it goes to -o FILE (written atomically), or to stdout when there is no -o
    and no --json;
  - with --label, the summary (rows, features, ROC-AUC, average precision)
    goes to stdout, or to stderr when stdout holds the scores;
  - --json prints the summary to stdout as {"ap":..,"auc":..,"n":..}
    (ap and auc only with --label); without -o, --json writes no scores.

The same --seed gives the same scores, on any number of cores.`,
		Example: `  chaosgen models iforest --csv cardio.csv --label label --json
  chaosgen models iforest --csv features.csv -o scores.csv`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("models iforest: unexpected argument %q (the input is --csv FILE)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case o.csv == "":
				return usagef("models iforest: --csv is required")
			case o.trees < 1:
				return usagef("models iforest: --trees must be at least 1")
			case o.samples < 2:
				return usagef("models iforest: --samples must be at least 2")
			}
			if err := checkOutputFile("models iforest", o.out, "scores.csv"); o.out != "" && err != nil {
				return err
			}
			_, err := models.IForestCSV(cmd.OutOrStdout(), cmd.ErrOrStderr(), models.IForestOptions{
				CSV: o.csv, Label: o.label, Trees: o.trees, Samples: o.samples, Seed: o.seed,
				Out: o.out, JSON: o.json,
			})
			if err != nil {
				return fmt.Errorf("models iforest: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.csv, "csv", "", "input CSV file (header row, then numbers)")
	f.StringVar(&o.label, "label", "", "0/1 column (1 = anomaly): not a feature; report ROC-AUC and average precision")
	f.IntVar(&o.trees, "trees", 100, "number of trees")
	f.IntVar(&o.samples, "samples", 256, "rows drawn for each tree (capped at the number of rows)")
	f.Uint64Var(&o.seed, "seed", 1, "random seed")
	f.StringVarP(&o.out, "output", "o", "", "write the scores CSV to this file")
	f.BoolVar(&o.json, "json", false, "print the summary as JSON")
	return cmd
}
