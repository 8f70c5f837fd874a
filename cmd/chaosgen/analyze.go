package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/progress"
	"github.com/spf13/cobra"
)

func newAnalyzeCmd() *cobra.Command {
	var (
		out     string
		opt     analysis.Options
		asJSON  bool
		top     int
		workers int
	)
	cmd := &cobra.Command{
		Use:   "analyze SPANS... -o DIR",
		Short: "Build the edge feature table from span files and rank fragile edges",
		Long: `analyze reads span records (Parquet, schema v1) from files, directories or
globs, builds the caller→callee edge graph with per-edge and per-window
features, and writes DIR/edges.parquet, DIR/windows.parquet and
DIR/summary.json. DIR is replaced atomically: it never holds a half-written
analysis. Bad rows are counted by reason and left out.`,
		Example: `  chaosgen analyze out/spans.parquet -o out/analysis
  chaosgen analyze 'traces/2026-*.parquet' -o analysis --window 5m --json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("analyze: -o is required")
			}
			if opt.Window < time.Second {
				return usagef("analyze: --window must be at least 1s, got %s", opt.Window)
			}
			opt.Workers = workers
			batchGC()
			m := progress.Start(cmd.ErrOrStderr(), 0, "spans")
			opt.Progress = m.Counter()
			opt.Total = m.SetTotal
			sum, err := analysis.Run(cmd.Context(), args, out, opt)
			m.Done()
			if err != nil {
				return fmt.Errorf("analyze: %w", err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(sum)
			}
			return analysis.WriteText(cmd.OutOrStdout(), out, sum, top)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output directory (replaced atomically)")
	f.DurationVar(&opt.Window, "window", time.Minute, "feature window length (must divide a day)")
	f.BoolVar(&asJSON, "json", false, "print summary.json to stdout instead of the table")
	f.IntVar(&top, "top", 10, "edges shown in the table")
	f.IntVar(&workers, "workers", 0, "parallel readers (0: one per CPU)")
	return cmd
}
