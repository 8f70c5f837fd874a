package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/chaosgen/chaosgen/bundle/export"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/spf13/cobra"
)

func newExportCmd() *cobra.Command {
	var to, out string
	cmd := &cobra.Command{
		Use:   "export --to istio|envoy|chaos-mesh|toxiproxy bundle.json [-o FILE]",
		Short: "Convert a bundle into another fault injector's configuration",
		Long: `export writes a bundle's profiles as Istio VirtualService faults (YAML), Envoy
HTTP fault filters (JSON), Chaos Mesh HTTPChaos objects (YAML) or Toxiproxy
toxics (JSON). No target expresses everything a bundle says: what it cannot
express is left out or approximated, with a warning on stderr for each case
(see docs/bundle.md). export does not check the signature; run verify first.`,
		Example: `  chaosgen export --to istio bundles/checkout.json -o checkout-faults.yaml`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(export.Targets, to) {
				return usagef("export: --to must be one of %s", strings.Join(export.Targets, ", "))
			}
			if err := checkOutputFile("export", out, to+".yaml"); out != "" && err != nil {
				return err
			}
			data, warnings, err := export.File(to, args[0])
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			for _, w := range warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "chaosgen: export: warning: %s\n", w)
			}
			if out == "" {
				_, err := cmd.OutOrStdout().Write(data)
				return err
			}
			if err := atomicfile.WriteFile(out, data); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "target: "+strings.Join(export.Targets, ", "))
	cmd.Flags().StringVarP(&out, "output", "o", "", "output file (default: standard output)")
	return cmd
}
