package main

import (
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
		out, top, asJSON = "", 0, false
		opt              analysis.Options
		workers          int
		partial          bool
		shard            shardFlag
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
to one day.

With --partial, -o names a file or an object URL that receives the
accumulators of the inputs instead (a partial analysis, docs/scale.md; an
object is uploaded whole once written); --shard i/N reads only
shard i of N (0 ≤ i < N) of the inputs' row groups, so N processes given the
same inputs read every row group once. 'chaosgen merge' turns the partials
into the analysis, byte-identical to one analyze of all the inputs; the
model flags (--season, --horizon, --seed, --no-models) go to merge.`,
		Example: `  chaosgen analyze out/spans.parquet -o out/analysis
  chaosgen analyze 'traces/2026-*.parquet' -o analysis --window 5m --json
  chaosgen analyze s3://traces/2026-01-05/ -o s3://traces/analysis/2026-01-05/
  chaosgen analyze --partial --shard 0/4 traces/ -o parts/0.part
  chaosgen analyze --partial --shard 0/4 s3://traces/2026-01-05/ -o s3://traces/parts/2026-01-05/0.part`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkAnalyzeFlags(cmd, out, opt, partial, shard); err != nil {
				return err
			}
			store := objstore.New(cmd.Context())
			defer store.Close()
			if partial {
				return runPartial(cmd, args, out, analysis.PartialOptions{Window: opt.Window, Workers: workers, Shard: shard.i, Shards: shard.n, Store: store}, asJSON)
			}
			opt.Workers, opt.Store = workers, store
			analysisGC()
			m := progress.Start(cmd.ErrOrStderr(), 0, "spans")
			opt.Progress, opt.Total = m.Counter(), m.SetTotal
			var sum *analysis.Summary
			err := store.WriteDir(out, atomicfile.Marker, analysis.SummaryFile, opt.Force, func(dir string) (err error) {
				sum, err = analysis.Run(cmd.Context(), args, dir, opt)
				return err
			})
			m.Done()
			if err != nil {
				return fmt.Errorf("analyze: %w", err)
			}
			if err := store.WriteReport(cmd.ErrOrStderr()); err != nil {
				return err
			}
			return printSummary(cmd, out, sum, asJSON, top)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output directory (replaced atomically) or bucket prefix URL; with --partial, the partial file or object URL")
	f.DurationVar(&opt.Window, "window", time.Minute, "feature window length (must divide a day)")
	f.IntVar(&workers, "workers", 0, "parallel readers (0: one per CPU)")
	f.BoolVar(&partial, "partial", false, "write the accumulators to the file -o, for chaosgen merge")
	f.Var(&shard, "shard", "with --partial: read shard i of N (0 ≤ i < N) of the inputs' row groups, e.g. 0/4")
	addModelFlags(f, &opt, &asJSON, &top)
	return cmd
}
