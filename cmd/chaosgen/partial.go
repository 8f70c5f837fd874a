package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/progress"
	"github.com/spf13/cobra"
)

func runPartial(cmd *cobra.Command, args []string, out string, opt analysis.PartialOptions, asJSON bool) error {
	analysisGC()
	m := progress.Start(cmd.ErrOrStderr(), 0, "spans")
	opt.Progress, opt.Total = m.Counter(), m.SetTotal
	info, err := analysis.RunPartial(cmd.Context(), args, out, opt)
	m.Done()
	if err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	if err := opt.Store.WriteReport(cmd.ErrOrStderr()); err != nil {
		return err
	}
	if asJSON {
		return printJSON(cmd.OutOrStdout(), info)
	}
	what := "all row groups"
	if info.Shards > 0 {
		what = fmt.Sprintf("shard %d/%d", info.Shard, info.Shards)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s, %d row groups, %d rows, %d bytes\n", info.Path, what, info.RowGroups, info.Rows, info.Bytes)
	return err
}

// printSummary prints an analysis: summary.json with --json, else the table.
func printSummary(cmd *cobra.Command, dir string, sum *analysis.Summary, asJSON bool, top int) error {
	if asJSON {
		return printJSON(cmd.OutOrStdout(), sum)
	}
	return analysis.WriteText(cmd.OutOrStdout(), dir, sum, top)
}

// printJSON writes v to w as indented JSON, as the commands' --json do.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
