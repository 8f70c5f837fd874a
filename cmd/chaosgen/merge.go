package main

import (
	"fmt"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/spf13/cobra"
)

func newMergeCmd() *cobra.Command {
	var (
		out     string
		opt     analysis.Options
		asJSON  bool
		top     int
		workers int
	)
	cmd := &cobra.Command{
		Use:   "merge PART|DIR... -o DIR",
		Short: "Merge partial analyses (analyze --partial) into an analysis",
		Long: `merge reads partial analyses written by 'chaosgen analyze --partial' (files,
or directories of *.part files), in any order, merges their accumulators, runs the models and findings, and writes the
analysis directory DIR as analyze does: byte-identical to one analyze of all
the partials' inputs. Every row group of every input must be in exactly one
partial, and the partials must share one format version and one --window;
anything else is refused with the files and row groups at fault.

PART and DIR may be s3://, gs:// or azblob:// URLs (docs/storage.md): a
partial object, or a prefix standing for every .part object under it; each
partial is read whole, in one request. A DIR prefix is written locally
first, then uploaded, summary.json last.`,
		Example: `  chaosgen merge parts/*.part -o out/analysis
  chaosgen merge parts/0.part parts/1.part --season 24h --json -o out/analysis
  chaosgen merge parts/ -o out/analysis
  chaosgen merge s3://traces/parts/2026-01-05/ -o s3://traces/analysis/2026-01-05/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("merge: -o is required")
			}
			if !objstore.IsURL(out) {
				if err := checkOutputDir("merge", out, opt.Force); err != nil {
					return err
				}
			}
			store := objstore.New(cmd.Context())
			defer store.Close()
			opt.Workers, opt.Store = workers, store
			analysisGC()
			var sum *analysis.Summary
			err := store.WriteDir(out, atomicfile.Marker, analysis.SummaryFile, opt.Force, func(dir string) (err error) {
				sum, err = analysis.Merge(cmd.Context(), args, dir, opt)
				return err
			})
			if err != nil {
				return fmt.Errorf("merge: %w", err)
			}
			if err := store.WriteReport(cmd.ErrOrStderr()); err != nil {
				return err
			}
			return printSummary(cmd, out, sum, asJSON, top)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "output", "o", "", "output directory (replaced atomically) or bucket prefix URL")
	f.IntVar(&workers, "workers", 0, "parallel model workers (0: one per CPU)")
	addModelFlags(f, &opt, &asJSON, &top)
	return cmd
}
