package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/progress"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newAnalyzeCmd() *cobra.Command {
	var (
		out     string
		opt     analysis.Options
		asJSON  bool
		top     int
		workers int
		partial bool
		shard   shardFlag
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

--season defaults to one day when the data covers at least two days, and to
no season otherwise (then the forecast is a damped trend); --horizon defaults
to one day.

With --partial, -o names a file that receives the accumulators of the
inputs instead (a partial analysis, docs/scale.md); --shard i/N reads only
shard i of N (0 ≤ i < N) of the inputs' row groups, so N processes given the
same inputs read every row group once. 'chaosgen merge' turns the partials
into the analysis, byte-identical to one analyze of all the inputs; the
model flags (--season, --horizon, --seed, --no-models) go to merge.`,
		Example: `  chaosgen analyze out/spans.parquet -o out/analysis
  chaosgen analyze 'traces/2026-*.parquet' -o analysis --window 5m --json
  chaosgen analyze --partial --shard 0/4 traces/ -o parts/0.part`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("analyze: -o is required")
			}
			if opt.Window < time.Second {
				return usagef("analyze: --window must be at least 1s, got %s", opt.Window)
			}
			if shard.set && !partial {
				return usagef("analyze: --shard needs --partial (merge the shards' partials with chaosgen merge)")
			}
			if partial {
				for _, name := range []string{"season", "horizon", "seed", "no-models", "top", "force"} {
					if cmd.Flags().Changed(name) {
						return usagef("analyze: --%s does not apply to --partial: give it to chaosgen merge", name)
					}
				}
				if err := checkOutputFile("analyze", out, "shard.part"); err != nil {
					return err
				}
				return runPartial(cmd, args, out, analysis.PartialOptions{Window: opt.Window, Workers: workers, Shard: shard.i, Shards: shard.n}, asJSON)
			}
			if err := checkOutputDir("analyze", out, opt.Force); err != nil {
				return err
			}
			if opt.Models.Horizon < opt.Window {
				return usagef("analyze: --horizon must be at least one window (%s), got %s", opt.Window, opt.Models.Horizon)
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
			return printSummary(cmd, out, sum, asJSON, top)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output directory (replaced atomically); with --partial, the partial file")
	f.DurationVar(&opt.Window, "window", time.Minute, "feature window length (must divide a day)")
	f.IntVar(&workers, "workers", 0, "parallel readers (0: one per CPU)")
	f.BoolVar(&partial, "partial", false, "write the accumulators to the file -o, for chaosgen merge")
	f.Var(&shard, "shard", "with --partial: read shard i of N (0 ≤ i < N) of the inputs' row groups, e.g. 0/4")
	addModelFlags(f, &opt, &asJSON, &top)
	return cmd
}

// addModelFlags adds the flags of the models and the output that analyze
// and merge share.
func addModelFlags(f *pflag.FlagSet, opt *analysis.Options, asJSON *bool, top *int) {
	f.BoolVar(asJSON, "json", false, "print summary.json to stdout instead of the table")
	f.IntVar(top, "top", 10, "edges shown in the table")
	f.Var(&seasonFlag{&opt.Models.Season}, "season", "seasonal period of the forecasts, e.g. 24h, or none (default: 24h when the data covers two days, else none)")
	f.DurationVar(&opt.Models.Horizon, "horizon", 24*time.Hour, "how far ahead to forecast")
	f.Uint64Var(&opt.Models.Seed, "seed", 1, "seed of the isolation forest")
	f.BoolVar(&opt.NoModels, "no-models", false, "features only: no forecasts, anomaly scores or findings")
	f.BoolVar(&opt.Force, "force", false, "replace -o even when it is a directory chaosgen did not write")
}

// printSummary prints an analysis: summary.json with --json, else the table.
func printSummary(cmd *cobra.Command, dir string, sum *analysis.Summary, asJSON bool, top int) error {
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	return analysis.WriteText(cmd.OutOrStdout(), dir, sum, top)
}

func runPartial(cmd *cobra.Command, args []string, out string, opt analysis.PartialOptions, asJSON bool) error {
	batchGC()
	m := progress.Start(cmd.ErrOrStderr(), 0, "spans")
	opt.Progress = m.Counter()
	opt.Total = m.SetTotal
	info, err := analysis.RunPartial(cmd.Context(), args, out, opt)
	m.Done()
	if err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	what := "all row groups"
	if info.Shards > 0 {
		what = fmt.Sprintf("shard %d/%d", info.Shard, info.Shards)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, %d row groups, %d rows, %d bytes\n", info.Path, what, info.RowGroups, info.Rows, info.Bytes)
	return err
}

// shardFlag parses --shard i/N.
type shardFlag struct {
	i, n int
	set  bool
}

func (s *shardFlag) String() string {
	if !s.set {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.i, s.n)
}

func (s *shardFlag) Set(v string) error {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return fmt.Errorf("want i/N with 0 ≤ i < N, such as 0/4, got %q", v)
	}
	s.i, s.n, s.set = i, n, true
	return nil
}

func (s *shardFlag) Type() string { return "i/N" }

// seasonFlag parses --season: a duration, or "none" (stored as -1).
type seasonFlag struct{ d *time.Duration }

func (s *seasonFlag) String() string {
	switch {
	case s.d == nil || *s.d == 0:
		return "auto"
	case *s.d < 0:
		return "none"
	}
	return s.d.String()
}

func (s *seasonFlag) Set(v string) error {
	switch v {
	case "none", "off", "0":
		*s.d = -1
		return nil
	case "auto":
		*s.d = 0
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration such as 24h, or none")
	}
	*s.d = d
	return nil
}

func (s *seasonFlag) Type() string { return "duration|none" }
