package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/chaosgen/chaosgen/internal/progress"
	"github.com/chaosgen/chaosgen/sim"
	"github.com/spf13/cobra"
)

type replayOptions struct {
	sim.ReplayOptions
	files        sim.ReplayFiles
	asJSON, gate bool
}

func newReplayCmd() *cobra.Command {
	var o replayOptions
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
			o.files.Inputs = args
			return runReplay(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	addOutputFlag(cmd, &o.Dir, "output directory (replaced atomically)", "out")
	f.BoolVar(&o.Force, "force", false, "replace -o even when it is a directory chaosgen did not write")
	f.StringVar(&o.files.BundlePath, "bundle", "", "bundle whose faults to replay")
	addVerifyFlags(cmd, &o.files.Verify, false)
	f.StringVar(&o.files.MeshPath, "mesh", "", "mesh policy YAML (default: the recorded behaviour, see docs/replay.md)")
	f.Float64Var(&o.LoadFactor, "load-factor", 1, "compress inter-arrival times by this factor (2: twice the traffic)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the jitter and backoff draws")
	f.BoolVar(&o.Adapt, "adapt", false, "tune profile rates with the adaptive loop")
	f.BoolVar(&o.Learn, "learn", false, "tune profiles with the learning agent (UCB bandit)")
	f.IntVar(&o.Rounds, "rounds", 5, "rounds of --adapt and --learn")
	f.StringVar(&o.SignKey, "key", "", "sign the tuned bundles with this key (a private key file, or KEY.pub of a key in ssh-agent)")
	f.BoolVar(&o.asJSON, "json", false, "print report.json instead of the table")
	f.BoolVar(&o.gate, "gate", false, "exit 3 when the bundle breaks its own guards (without: report it and exit 0)")
	return cmd
}

func runReplay(ctx context.Context, stdout, stderr io.Writer, o replayOptions) error {
	if err := checkOutputDir("replay", o.Dir, o.Force); o.Dir != "" && err != nil {
		return err
	}
	o.files.Warn = func(msg string) { fmt.Fprintf(stderr, "chaosgen: replay: %s\n", msg) }
	if err := o.Open(ctx, o.files); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	batchGC()
	m := progress.Start(stderr, 0, "spans")
	o.Progress = m.Counter()
	rep, err := sim.Replay(ctx, o.ReplayOptions)
	m.Done()
	if rep != nil {
		if werr := rep.Print(stdout, o.asJSON); werr != nil {
			return werr
		}
	}
	if errors.Is(err, sim.ErrGuardBreached) && !o.gate {
		fmt.Fprintf(stderr, "chaosgen: replay: note: %v (reported; --gate exits 3 on this)\n", err)
		return nil
	}
	if err != nil {
		err = fmt.Errorf("replay: %w", err)
	}
	return err
}
