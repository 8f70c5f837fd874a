package main

import (
	"fmt"
	"time"

	"github.com/chaosgen/chaosgen/evaluate"
	"github.com/spf13/cobra"
)

func newEvaluateCmd() *cobra.Command {
	var (
		truth, format string
		after         time.Duration
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "evaluate DIR --truth FILE [--truth-format auto] [--after 3m] [--json]",
		Short: "Score an analysis against labelled incidents: did chaosgen find what you broke?",
		Long: `evaluate reads an analysis directory (written by chaosgen analyze) and a truth
file of labelled incidents, and prints for each incident the rank at which
chaosgen's service ranking (services.parquet), its edge ranking
(windows.parquet) and a naive baseline (window median latency over the edge's
own median) put the service at fault, their top-k accuracy AC@1/AC@3/AC@5,
and the precision and recall of the findings.

Each incident starting at t is scored over the windows that overlap
[t, t+--after). Truth formats (detected from the content by default):
  synth    synth's truth.json (the service at fault is the incident edge's callee)
  records  span files of chaosgen inject --records or chaosgen replay (a file,
           directory or glob): injected calls of one edge and profile less than
           --after apart form one incident
  labels   a CSV with a header: start, end (optional), service or caller and
           callee, kind (optional); times RFC 3339 or Unix seconds or nanoseconds
  nezha    a Nezha fault list ({"HH": [{"inject_time", "inject_pod", ...}]})
Warnings (such as a missing services.parquet) go to stderr. See docs/evaluate.md.`,
		Example: `  chaosgen evaluate demo/analysis --truth demo/truth.json
  chaosgen evaluate analysis --truth gameday.csv --after 5m --json
  chaosgen evaluate analysis --truth 2022-08-22-fault_list.json --truth-format nezha`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if truth == "" {
				return usagef("evaluate: --truth is required")
			}
			f, err := evaluate.ParseFormat(format)
			if err != nil {
				return usagef("evaluate: --truth-format: %v", err)
			}
			if after <= 0 {
				return usagef("evaluate: --after must be positive, got %s", after)
			}
			res, err := evaluate.Run(args[0], truth, evaluate.Options{After: after, TruthFormat: f})
			if err != nil {
				return fmt.Errorf("evaluate: %w", err)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "chaosgen: evaluate: warning: %s\n", w)
			}
			if asJSON {
				return res.WriteJSON(cmd.OutOrStdout())
			}
			return res.WriteText(cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&truth, "truth", "", "the labelled incidents (truth.json, injection records, a labels CSV or a Nezha fault list)")
	fl.StringVar(&format, "truth-format", "auto", "auto, synth, records, labels or nezha")
	fl.DurationVar(&after, "after", evaluate.DefaultAfter, "score the windows overlapping [start, start+after) of each incident")
	fl.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
