package main

import (
	"fmt"
	"io"
	"time"

	"github.com/chaosgen/chaosgen/profilegen"
	"github.com/spf13/cobra"
)

type generateOptions struct {
	profilegen.WriteOptions
	json bool
}

func newGenerateCmd() *cobra.Command {
	var o generateOptions
	cmd := &cobra.Command{
		Use:   "generate ANALYSIS_DIR -o bundle.json [--key KEY] [--previous OLD.json]",
		Short: "Turn an analysis's findings into a bundle of error profiles",
		Long: `generate reads an analysis directory (summary.json with its findings and
edges.parquet) and writes a bundle of error profiles: for each finding a fault
sized from the edge's own numbers (its latency tail, the status codes it has
returned, how it slows down under load), a rate from the severity and the
edge's criticality, and guards derived from the root edges. With --key it
signs the bundle (bundle.json.sig); without, it warns that the bundle is
unsigned, and refuses to replace a signed bundle unless --force is given. With --previous (last run's bundle) and an analysis of spans that
contain its injections, each profile's rate moves: ×1.5 where the system
handled the faults, ×0.5 (or a milder fault) where they hurt. The same
analysis and flags give the same bytes. See docs/generate.md for every rule.`,
		Example: `  chaosgen generate out/analysis -o bundles/nightly.json --key ~/.ssh/id_ed25519
  chaosgen generate out/analysis -o nightly.json --previous nightly.json --exclude '*->payment' --not-after 72h`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGenerate(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Output, "output", "o", "", "bundle file to write (replaced atomically)")
	f.StringVar(&o.Key, "key", "", "key to sign the bundle with: a private key file (Ed25519, ECDSA or RSA, mode 0600), or KEY.pub of a key in ssh-agent (see docs/bundle.md)")
	f.StringVar(&o.Previous, "previous", "", "last run's bundle: adjust its profiles' rates by how the system responded")
	f.StringVar(&o.Name, "name", "", "bundle name (default: the output file name without extension)")
	f.Float64Var(&o.MaxRate, "max-rate", profilegen.DefaultMaxRate, "cap on every profile's rate and maxRate, and the least maxGlobalRate, in (0, 1]")
	f.Float64Var(&o.MinScore, "min-score", 0.5, "leave out findings scored below this, in [0, 1]")
	f.StringSliceVar(&o.Include, "include", nil, "only edges matching these patterns (CALLER->CALLEE globs, e.g. '*->payment'; repeatable)")
	f.StringSliceVar(&o.Exclude, "exclude", nil, "leave out edges matching these patterns (as --include)")
	f.StringVar(&o.NotAfterFlag, "not-after", "", "expiry: a duration from now (72h, 7d), an RFC 3339 time or never; default: a week after the end of the analysed data")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the fault decision hash, recorded in the bundle")
	f.BoolVar(&o.Force, "force", false, "replace a signed -o with an unsigned bundle (dropping its .sig)")
	f.BoolVar(&o.json, "json", false, "print what was written as JSON instead of the table")
	return cmd
}

func runGenerate(stdout, stderr io.Writer, dir string, o generateOptions) error {
	o.Now = time.Now()
	o.Warn = func(msg string) { fmt.Fprintf(stderr, "chaosgen: generate: %s\n", msg) }
	w, err := profilegen.Write(dir, o.WriteOptions)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	if o.json {
		return w.WriteJSON(stdout)
	}
	w.WriteText(stdout)
	return nil
}
