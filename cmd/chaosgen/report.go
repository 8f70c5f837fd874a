package main

import (
	"fmt"
	"time"

	"github.com/chaosgen/chaosgen/dashboard"
	"github.com/spf13/cobra"
)

type reportOptions struct {
	dashboardInputs
	html string
	top  int
	at   string
}

func newReportCmd() *cobra.Command {
	var o reportOptions
	cmd := &cobra.Command{
		Use:   "report --analysis DIR [--bundle B] [--replay DIR] -o report.html",
		Short: "Write a self-contained, read-only HTML report for CI artifacts and pull requests",
		Long: `report writes one HTML file with everything inlined (styles, SVG charts, a
small script for pan and zoom): the overview, the service graph, the findings
and the charts of the --top edges by finding score. It is written atomically
and is deterministic: the same inputs give the same bytes (no clock in it;
--at fixes the time the bundle's expiry is checked at). A bundle whose
signature does not verify is shown in red as not valid, and report exits 3.`,
		Example: `  chaosgen report --analysis demo/analysis --bundle demo/bundle.json --pub demo/key.pub --replay demo/replay -o demo/report.html`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check("report"); err != nil {
				return err
			}
			if o.html == "" {
				return usagef("report: -o FILE is required")
			}
			if err := checkOutputFile("report", o.html, "report.html"); err != nil {
				return err
			}
			if o.top < 1 {
				return usagef("report: --top must be >= 1, got %d", o.top)
			}
			now := time.Now()
			if o.at != "" {
				t, err := time.Parse(time.RFC3339, o.at)
				if err != nil {
					return usagef("report: --at: %v", err)
				}
				now = t
			}
			o.Verify.Now = now
			d, err := dashboard.Open(cmd.Context(), o.Inputs)
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			if err := dashboard.WriteReportFile(o.html, d, dashboard.ReportOptions{TopEdges: o.top}); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d findings, %d edges charted\n", o.html, len(d.Summary.Findings), min(o.top, len(d.Edges)))
			if d.Bundle != nil && d.Bundle.VerifyErr != nil {
				return fmt.Errorf("report: %s shows the bundle as not valid: %w", o.html, d.Bundle.VerifyErr)
			}
			return nil
		},
	}
	o.flags(cmd)
	addOutputFlag(cmd, &o.html, "the HTML file to write (required)", "html")
	cmd.Flags().IntVar(&o.top, "top", 10, "edges with charts, by finding score")
	cmd.Flags().StringVar(&o.at, "at", "", "check the bundle's expiry at this RFC 3339 time instead of now")
	return cmd
}
