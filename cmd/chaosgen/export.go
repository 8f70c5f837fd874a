package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/bundle/export"
	"github.com/spf13/cobra"
)

func newExportCmd() *cobra.Command {
	var (
		to, out, at string
		asJSON      bool
		opt         export.Options
	)
	cmd := &cobra.Command{
		Use:   "export --to istio|envoy|chaos-mesh|toxiproxy bundle.json [-o FILE] [--port N] [--json]",
		Short: "Convert a bundle into another fault injector's configuration",
		Long: `export writes a bundle's profiles as Istio VirtualService faults (YAML; a patch
to merge into the host's existing VirtualService), Envoy HTTP fault filters
(JSON), Chaos Mesh HTTPChaos and NetworkChaos objects (YAML) or Toxiproxy
toxics (JSON). No target expresses everything a bundle says: what it leaves
out, approximates or broadens is listed on stderr, one line per change and a
summary (with --json, as JSON on stdout; the export then needs -o). See
docs/bundle.md. export does not check the signature; run verify first.`,
		Example: `  chaosgen export --to istio bundles/checkout.json -o checkout-faults.yaml
  chaosgen export --to chaos-mesh --port 8080 bundles/checkout.json -o chaos.yaml --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(export.Targets, to) {
				return usagef("export: --to must be one of %s", strings.Join(export.Targets, ", "))
			}
			if asJSON && out == "" {
				return usagef("export: --json prints the report on standard output: give -o FILE for the export")
			}
			if opt.Port < 0 || opt.Port > 65535 {
				return usagef("export: --port must be in 1..65535")
			}
			if err := checkOutputFile("export", out, to+".yaml"); out != "" && err != nil {
				return err
			}
			opt.Now = time.Now()
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return usagef("export: --at: %v", err)
				}
				opt.Now = t
			}
			var data []byte
			var res *export.Result
			var err error
			if out != "" {
				res, err = export.WriteFile(to, args[0], out, opt)
			} else if data, res, err = export.File(to, args[0], opt); err == nil {
				_, err = cmd.OutOrStdout().Write(data)
			}
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			for _, c := range res.Changes {
				fmt.Fprintf(cmd.ErrOrStderr(), "chaosgen: export: warning: %s\n", c)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "chaosgen: export: %s\n", res.Summary())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "target: "+strings.Join(export.Targets, ", "))
	f.StringVarP(&out, "output", "o", "", "output file (default: standard output)")
	f.IntVar(&opt.Port, "port", 0, "chaos-mesh: the port HTTPChaos intercepts on callees whose name has none (host:port)")
	f.StringSliceVar(&opt.NonHTTP, "non-http", nil, "callees that do not speak HTTP (besides the database and messaging systems export knows): NetworkChaos for chaos-mesh, left out of istio and envoy")
	f.StringVar(&at, "at", "", "chaos-mesh: count duration (up to the bundle's notAfter) from this RFC 3339 time instead of now")
	f.BoolVar(&asJSON, "json", false, "print the list of changes as JSON on standard output (needs -o)")
	return cmd
}
