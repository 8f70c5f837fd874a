package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// checkAnalyzeFlags checks analyze's flags before any input is read.
func checkAnalyzeFlags(cmd *cobra.Command, out string, opt analysis.Options, partial bool, shard shardFlag) error {
	switch {
	case out == "":
		return usagef("analyze: -o is required")
	case opt.Window < time.Second:
		return usagef("analyze: --window must be at least 1s, got %s", opt.Window)
	case shard.set && !partial:
		return usagef("analyze: --shard needs --partial (merge the shards' partials with chaosgen merge)")
	case partial:
		for _, name := range []string{"season", "horizon", "seed", "no-models", "top", "force"} {
			if cmd.Flags().Changed(name) {
				return usagef("analyze: --%s does not apply to --partial: give it to chaosgen merge", name)
			}
		}
		if objstore.IsURL(out) {
			return nil // the bucket is checked before the inputs are read
		}
		return checkOutputFile("analyze", out, "shard.part")
	case opt.Models.Horizon < opt.Window:
		return usagef("analyze: --horizon must be at least one window (%s), got %s", opt.Window, opt.Models.Horizon)
	case !objstore.IsURL(out):
		return checkOutputDir("analyze", out, opt.Force)
	}
	return nil
}

// addModelFlags adds the flags of the models and the output that analyze
// and merge share.
func addModelFlags(f *pflag.FlagSet, opt *analysis.Options, asJSON *bool, top *int) {
	f.BoolVar(asJSON, "json", false, "print summary.json to stdout instead of the table")
	f.IntVar(top, "top", 10, "edges shown in the table")
	f.Var(&seasonFlag{&opt.Models.Season}, "season", "seasonal period of the forecasts, e.g. 24h, or none (default: 24h when the data covers two days, else none)")
	f.DurationVar(&opt.Models.Horizon, "horizon", 24*time.Hour, "how far ahead to forecast")
	f.Uint64Var(&opt.Models.Seed, "seed", 1, "seed of the isolation forest")
	f.BoolVar(&opt.NoModels, "no-models", false, "features only: no forecasts, anomaly scores, findings or services' ranking (and, over spans without injected calls, no trace pass)")
	f.BoolVar(&opt.Force, "force", false, "replace -o even when it is a directory chaosgen did not write")
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
