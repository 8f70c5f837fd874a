package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/progress"
	"github.com/chaosgen/chaosgen/sim"
	"github.com/spf13/cobra"
)

func newReplayCmd() *cobra.Command {
	var (
		o          sim.ReplayOptions
		bundlePath string
		meshPath   string
		vo         bundle.VerifyOptions
		asJSON     bool
		gate       bool
	)
	cmd := &cobra.Command{
		Use:   "replay [--bundle B] SPANS... [--mesh M] [--load-factor F] [--seed S] -o DIR",
		Short: "Replay recorded traffic through a simulated mesh, with and without a bundle's faults",
		Long: `replay re-runs the recorded root requests, each with its recorded call tree,
on a virtual clock through a simulated mesh (timeouts, retries with budgets,
circuit breakers, fallbacks, capacity queues: --mesh, see docs/replay.md).
With --bundle it replays twice, without and with the bundle's faults, which
are decided by the same inject.Decide as the deployed injector. It writes
DIR/spans.parquet (the simulated calls, schema v1, injection and response
columns filled), DIR/report.json (per root operation and edge: success rate,
p50/p99, retry amplification, breaker opens, fallbacks; per profile a
resilience score; every guard trip; the guard verdicts) and prints a table.
DIR is replaced atomically. A bundle that breaks its own guards (an injector
tripped, or the root requests reached abortIf) is reported, and the exit code
is 0; with --gate it is 3, for a CI or cron job that must stop there.

The bundle is verified when --pub or --allowed-signers/--identity is given;
otherwise it is only decoded strictly, with a warning. --adapt and --learn
tune the profiles over --rounds replays and write DIR/bundle.json (adaptive
loop, with adapt.json) and DIR/learned.bundle.json (learning agent, with
learn.json comparing both learning curves), signed with --key when given.
A non-empty DIR that chaosgen did not write is refused (--force replaces it).`,
		Example: `  chaosgen replay demo/spans.parquet -o demo/replay
  chaosgen replay --bundle bundle.json --pub ci.pub spans/ --mesh mesh.yaml --load-factor 2 -o out/replay
  chaosgen replay --bundle bundle.json spans.parquet --adapt --learn --rounds 10 --key ~/.ssh/id_ed25519 -o out/tune`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Dir == "" {
				return usagef("replay: -o is required")
			}
			if err := checkOutputDir("replay", o.Dir, o.Force); err != nil {
				return err
			}
			if o.LoadFactor <= 0 || math.IsNaN(o.LoadFactor) || math.IsInf(o.LoadFactor, 0) {
				return usagef("replay: --load-factor must be > 0, got %g", o.LoadFactor)
			}
			if (o.Adapt || o.Learn) && bundlePath == "" {
				return usagef("replay: --adapt and --learn need --bundle")
			}
			if o.Rounds < 1 {
				return usagef("replay: --rounds must be >= 1, got %d", o.Rounds)
			}
			if vo.PublicKey != "" && vo.AllowedSigners != "" {
				return usagef("replay: --pub and --allowed-signers exclude each other")
			}
			if (vo.AllowedSigners == "") != (vo.Identity == "") {
				return usagef("replay: --allowed-signers and --identity go together")
			}
			files, err := ingest.Inputs(args)
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			o.Files = files
			if meshPath != "" {
				if o.Mesh, err = sim.ReadMesh(meshPath); err != nil {
					return fmt.Errorf("replay: %w", err)
				}
				if err := o.Mesh.CheckServices(cmd.Context(), files); err != nil {
					return fmt.Errorf("replay: %s: %w", meshPath, err)
				}
				o.MeshName = meshPath
			}
			if bundlePath != "" {
				if vo.PublicKey != "" || vo.AllowedSigners != "" {
					vo.Now = time.Now()
					b, info, err := bundle.Verify(bundlePath, vo)
					if err != nil {
						return fmt.Errorf("replay: %w", err)
					}
					o.Bundle, o.BundleCheck = b, "verified: signed by "+info.Principal
				} else {
					data, err := os.ReadFile(bundlePath)
					if err != nil {
						return fmt.Errorf("replay: %w", err)
					}
					b, err := bundle.Decode(data)
					if err != nil {
						return fmt.Errorf("replay: %s: %w", bundlePath, err)
					}
					o.Bundle, o.BundleCheck = b, "decoded strictly; signature not checked"
					fmt.Fprintf(cmd.ErrOrStderr(), "chaosgen: replay: warning: %s: signature not checked (give --pub or --allowed-signers and --identity)\n", bundlePath)
				}
			}
			batchGC()
			m := progress.Start(cmd.ErrOrStderr(), 0, "spans")
			o.Progress = m.Counter()
			rep, err := sim.Replay(cmd.Context(), o)
			m.Done()
			if rep != nil {
				if asJSON {
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetIndent("", "  ")
					if werr := enc.Encode(rep); werr != nil {
						return werr
					}
				} else if werr := rep.WriteTable(cmd.OutOrStdout()); werr != nil {
					return werr
				}
			}
			if errors.Is(err, sim.ErrGuardBreached) && !gate {
				fmt.Fprintf(cmd.ErrOrStderr(), "chaosgen: replay: note: %v (reported; --gate exits 3 on this)\n", err)
				return nil
			}
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Dir, "output", "o", "", "output directory (replaced atomically)")
	f.StringVar(&o.Dir, "out", "", "")
	f.MarkDeprecated("out", "use -o/--output")
	f.BoolVar(&o.Force, "force", false, "replace -o even when it is a directory chaosgen did not write")
	f.StringVar(&bundlePath, "bundle", "", "bundle whose faults to replay")
	f.StringVar(&vo.PublicKey, "pub", "", "verify the bundle with this public key")
	f.StringVar(&vo.AllowedSigners, "allowed-signers", "", "verify the bundle with this allowed_signers file")
	f.StringVar(&vo.Identity, "identity", "", "the signer identity to look up in --allowed-signers")
	f.StringVar(&meshPath, "mesh", "", "mesh policy YAML (default: the recorded behaviour, see docs/replay.md)")
	f.Float64Var(&o.LoadFactor, "load-factor", 1, "compress inter-arrival times by this factor (2: twice the traffic)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the jitter and backoff draws")
	f.BoolVar(&o.Adapt, "adapt", false, "tune profile rates with the adaptive loop")
	f.BoolVar(&o.Learn, "learn", false, "tune profiles with the learning agent (UCB bandit)")
	f.IntVar(&o.Rounds, "rounds", 5, "rounds of --adapt and --learn")
	f.StringVar(&o.SignKey, "key", "", "sign the tuned bundles with this key (a private key file, or KEY.pub of a key in ssh-agent)")
	f.BoolVar(&asJSON, "json", false, "print report.json instead of the table")
	f.BoolVar(&gate, "gate", false, "exit 3 when the bundle breaks its own guards (without: report it and exit 0)")
	return cmd
}
