package main

import (
	"github.com/spf13/cobra"
)

// newModelsCmd is the parent of the commands that run one model on any CSV.
func newModelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Run the models (isolation forest, Holt-Winters) on any CSV file",
		Long: `The models that analyze runs on span data, on any CSV file: a header row,
then numbers. Useful to check a model on known data sets and to score data
that does not come from traces.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("models: unknown model %q", args[0])
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newModelsIForestCmd())
	cmd.AddCommand(newModelsHoltWintersCmd())
	return cmd
}
