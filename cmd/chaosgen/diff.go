package main

import (
	"encoding/json"
	"fmt"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/spf13/cobra"
)

func newDiffCmd() *cobra.Command {
	var asJSON, exitCode bool
	cmd := &cobra.Command{
		Use:   "diff OLD.json NEW.json [--json]",
		Short: "Show what changed between two bundles, for a reviewer",
		Long: `diff decodes two bundles strictly and prints what changed: the profiles added
and removed (whole), and for each changed profile the fields that matter to an
injector (target, fault, rate with its delta, maxRate, perSecond, severity),
the rationale numbers that moved and the new rationale; then metadata and guard
changes. It does not check signatures (run verify for that). It exits 3 when
a bundle is malformed; with --exit-code, 1 when the bundles differ (as git
diff --exit-code), 0 when they do not.`,
		Example: `  chaosgen diff bundles/nightly.json /tmp/nightly.json
  git show HEAD~1:bundles/nightly.json > /tmp/old.json && chaosgen diff /tmp/old.json bundles/nightly.json --json`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var bs [2]*bundle.Opened
			for i, path := range args {
				var err error
				if bs[i], err = bundle.Open(path, bundle.VerifyOptions{}); err != nil {
					return fmt.Errorf("diff: %w", err)
				}
			}
			d := bundle.Compare(bs[0].Bundle, bs[1].Bundle)
			var err error
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				err = enc.Encode(d)
			} else {
				err = d.WriteText(cmd.OutOrStdout())
			}
			if err == nil && exitCode && !d.Empty() {
				return silentExit{1}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the differences as JSON")
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when the bundles differ, 0 when they do not")
	return cmd
}
