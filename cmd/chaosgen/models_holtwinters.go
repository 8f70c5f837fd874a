package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chaosgen/chaosgen/models"
)

func newModelsHoltWintersCmd() *cobra.Command {
	var o models.HoltWintersOptions
	var alpha, beta, gamma float64
	cmd := &cobra.Command{
		Use:   "holtwinters --csv FILE --period P",
		Short: "Fit Holt-Winters (as R's HoltWinters) to a time,value CSV and forecast",
		Long: `holtwinters fits Holt-Winters exponential smoothing with a trend and an
additive or multiplicative season to the series in a time,value CSV (the
column named value, or else the second column), with the start values,
recursion and SSE of R's stats::HoltWinters. Without --alpha, --beta and
--gamma it chooses them by minimising the SSE in [0, 1]; given all three it
fits nothing. It prints the parameters, final level, trend and seasonal
terms, and the forecasts with prediction intervals (R's predict.HoltWinters).`,
		Example: `  chaosgen models holtwinters --csv co2.csv --period 12 --seasonal multiplicative --horizon 24 --json`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("models holtwinters: unexpected argument %q (the input is --csv FILE)", args[0])
			}
			return nil
		},
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		if o.CSV == "" {
			return usagef("models holtwinters: --csv is required")
		}
		if !f.Changed("period") {
			return usagef("models holtwinters: --period is required")
		}
		// Zero is the library's default for these two; given explicitly it
		// is out of range (the rest is checked by HoltWintersCSV).
		if f.Changed("horizon") && o.Horizon == 0 {
			return usagef("models holtwinters: --horizon must be at least 1, got 0")
		}
		if f.Changed("level") && o.Level == 0 {
			return usagef("models holtwinters: --level must be in (0, 1), got 0")
		}
		for _, p := range []struct {
			name string
			v    *float64
			dst  **float64
		}{{"alpha", &alpha, &o.Alpha}, {"beta", &beta, &o.Beta}, {"gamma", &gamma, &o.Gamma}} {
			if f.Changed(p.name) {
				*p.dst = p.v
			}
		}
		if err := models.HoltWintersCSV(cmd.OutOrStdout(), o); err != nil {
			return fmt.Errorf("models holtwinters: %w", err)
		}
		return nil
	}
	f := cmd.Flags()
	f.StringVar(&o.CSV, "csv", "", "time,value CSV file with the series")
	f.IntVar(&o.Period, "period", 0, "season length in observations (12 for monthly data with a yearly cycle)")
	f.StringVar(&o.Seasonal, "seasonal", "additive", "seasonal component: additive or multiplicative")
	f.IntVar(&o.Horizon, "horizon", 0, "forecast horizon in observations (default: one period)")
	f.Float64Var(&o.Level, "level", 0.95, "coverage of the prediction intervals")
	f.Float64Var(&alpha, "alpha", 0, "level smoothing parameter in (0, 1] (with --beta and --gamma: fit nothing)")
	f.Float64Var(&beta, "beta", 0, "trend smoothing parameter in [0, 1]")
	f.Float64Var(&gamma, "gamma", 0, "seasonal smoothing parameter in [0, 1]")
	f.BoolVar(&o.JSON, "json", false, "print JSON")
	return cmd
}
