package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/chaosgen/chaosgen/internal/progress"
	"github.com/chaosgen/chaosgen/synth"
	"github.com/spf13/cobra"
)

// synthMemoryLimit is the soft memory limit of synth (GOMEMLIMIT wins).
const synthMemoryLimit = 512 << 20

func newSynthCmd() *cobra.Command {
	var (
		out   string
		start string
		opt   synth.Options
	)
	cmd := &cobra.Command{
		Use:   "synth -o spans.parquet",
		Short: "Generate a synthetic service mesh's spans with planted incidents",
		Long: `synth writes span records (schema v1) of a synthetic service mesh: a service
DAG behind an ingress, daily and weekly traffic seasonality, heavy-tailed
latency, errors, timeouts and retries. It plants incidents (a latency
regression, an error burst, a capacity-limited service, a retry storm) and
writes their ground truth to truth.json beside the output. The same seed gives
byte-identical files.`,
		Example: `  chaosgen synth -o out/spans.parquet --days 1 --rps 5 --services 20`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usagef("synth: -o is required")
			}
			if err := checkOutputFile("synth", out, "spans.parquet"); err != nil {
				return err
			}
			if err := opt.Check(); err != nil {
				return usagef("synth: %v", err)
			}
			if start != "" {
				t, err := time.Parse(time.RFC3339, start)
				if err != nil {
					return usagef("synth: --start: %v", err)
				}
				opt.Start = t
			}
			est := int64(opt.Days * 86400 * opt.RPS * 8)
			batchGC()
			// The live heap is bounded (chunks stream to the writer); the
			// limit keeps GOGC=400's headroom from multiplying it.
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(synthMemoryLimit)
			}
			m := progress.Start(cmd.ErrOrStderr(), est, "spans")
			opt.Progress = m.Set
			truth, err := synth.Generate(cmd.Context(), out, opt)
			m.Done()
			if err != nil {
				return fmt.Errorf("synth: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d spans, %d traces, %d services, %s to %s\n",
				out, truth.Spans, truth.Traces, truth.Services,
				truth.Start.Format(time.RFC3339), truth.End.Format(time.RFC3339))
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d planted incidents\n",
				filepath.Join(filepath.Dir(out), "truth.json"), len(truth.Incidents))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output Parquet file (truth.json is written beside it)")
	f.Float64Var(&opt.Days, "days", 7, "days of traffic")
	f.Float64Var(&opt.RPS, "rps", 50, "mean root requests per second")
	f.IntVar(&opt.Services, "services", 30, "number of services")
	f.Uint64Var(&opt.Seed, "seed", 1, "random seed")
	f.StringVar(&start, "start", synth.DefaultStart.Format(time.RFC3339), "first instant of the data (RFC 3339)")
	f.BoolVar(&opt.NoIncidents, "no-incidents", false, "plant no incidents: fault-free traffic")
	return cmd
}
