package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/chaosgen/chaosgen/internal/objstore"
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
features, forecasts every edge with Holt-Winters, scores every edge-window
with an isolation forest, and ranks findings (latency regressions, error
bursts, capacity limits, anomalies) with one sentence each. It writes
DIR/edges.parquet, DIR/windows.parquet, DIR/forecast.parquet and
DIR/summary.json. DIR is replaced atomically: it never holds a half-written
analysis. A non-empty DIR that chaosgen did not write is refused (--force
replaces it). Bad rows are counted by reason and left out.

SPANS and DIR may be s3://, gs:// or azblob:// URLs: an object, or a prefix
standing for every .parquet object under it (see docs/storage.md). Objects
are read with ranged requests (the footer, then the column chunks analyze
decodes); the bytes fetched per object are printed to stderr. A DIR prefix
is written locally first, then uploaded, summary.json last.

--season defaults to one day when the data covers at least two days, and to
no season otherwise (then the forecast is a damped trend); --horizon defaults
to one day.`,
		Example: `  chaosgen analyze out/spans.parquet -o out/analysis
  chaosgen analyze 'traces/2026-*.parquet' -o analysis --window 5m --json
  chaosgen analyze s3://traces/2026-01-05/ -o s3://traces/analysis/2026-01-05/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("analyze: -o is required")
			}
			if !objstore.IsURL(out) {
				if err := checkOutputDir("analyze", out, opt.Force); err != nil {
					return err
				}
			}
			if opt.Window < time.Second {
				return usagef("analyze: --window must be at least 1s, got %s", opt.Window)
			}
			if opt.Models.Horizon < opt.Window {
				return usagef("analyze: --horizon must be at least one window (%s), got %s", opt.Window, opt.Models.Horizon)
			}
			opt.Workers = workers
			batchGC()
			m := progress.Start(cmd.ErrOrStderr(), 0, "spans")
			opt.Progress = m.Counter()
			opt.Total = m.SetTotal
			store := objstore.New(cmd.Context())
			defer store.Close()
			opt.Store = store
			var sum *analysis.Summary
			err := store.WriteDir(out, atomicfile.Marker, analysis.SummaryFile, opt.Force, func(dir string) (err error) {
				sum, err = analysis.Run(cmd.Context(), args, dir, opt)
				return err
			})
			m.Done()
			if err != nil {
				return fmt.Errorf("analyze: %w", err)
			}
			if err := objstore.WriteStats(cmd.ErrOrStderr(), store.Stats()); err != nil {
				return err
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
	f.StringVarP(&out, "output", "o", "", "output directory (replaced atomically), or a bucket prefix URL")
	f.DurationVar(&opt.Window, "window", time.Minute, "feature window length (must divide a day)")
	f.BoolVar(&asJSON, "json", false, "print summary.json to stdout instead of the table")
	f.IntVar(&top, "top", 10, "edges shown in the table")
	f.IntVar(&workers, "workers", 0, "parallel readers (0: one per CPU)")
	f.Var(&seasonFlag{&opt.Models.Season}, "season", "seasonal period of the forecasts, e.g. 24h, or none (default: 24h when the data covers two days, else none)")
	f.DurationVar(&opt.Models.Horizon, "horizon", 24*time.Hour, "how far ahead to forecast")
	f.Uint64Var(&opt.Models.Seed, "seed", 1, "seed of the isolation forest")
	f.BoolVar(&opt.NoModels, "no-models", false, "features only: no forecasts, anomaly scores or findings")
	f.BoolVar(&opt.Force, "force", false, "replace -o even when it is a directory chaosgen did not write")
	return cmd
}
