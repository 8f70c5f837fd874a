// Command chaosgen turns tracing data into fault-injection experiments.
//
// See the README for the pipeline: synth/import → analyze → generate →
// verify/export → replay → inject, and dashboard/report to look at it all.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/chaosgen/chaosgen/internal/prefault"
	"github.com/chaosgen/chaosgen/internal/termtext"
	"github.com/chaosgen/chaosgen/internal/usage"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=..."; a
// binary built by `go install module@version` reports its module version.
var version = "dev"

func init() {
	if version != "dev" {
		return
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
}

// usagef returns an error in how the command was called (exit code 2).
// Library entry points mark theirs the same way (internal/usage).
func usagef(format string, args ...any) error { return usage.Errorf(format, args...) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "chaosgen",
		Short: "Turn tracing data into fault-injection experiments worth running",
		Long: `chaosgen reads the span records a service mesh already produces, finds the
caller→callee edges that are fragile or anomalous, and writes signed bundles of
error profiles that an injector applies to live traffic and a simulator replays
before they touch production.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if c.HasParent() {
			err = fmt.Errorf("%s: %w", subcommandPath(c), err)
		}
		return usage.Wrap(err)
	})
	synth, analyze, imp, replay, merge, evaluate := newSynthCmd(), newAnalyzeCmd(), newImportCmd(), newReplayCmd(), newMergeCmd(), newEvaluateCmd()
	for _, c := range []*cobra.Command{synth, analyze, imp, replay, merge, evaluate} {
		hugeHeap(c)
	}
	// Batch commands that write files stop on SIGINT and SIGTERM and leave
	// no temporary files; inject and dashboard drain on signals themselves.
	for _, c := range []*cobra.Command{synth, analyze, newModelsCmd(), newVerifyCmd(), newExportCmd(),
		imp, replay, newGenerateCmd(), newDiffCmd(), newReportCmd(), merge} {
		stopOnSignal(c)
		root.AddCommand(c)
	}
	root.AddCommand(newInjectCmd())
	root.AddCommand(newDashboardCmd())
	root.AddCommand(evaluate)
	// Without a subcommand, print help; with an unknown one, a usage error.
	root.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	usageArgs(root)
	return root
}

// usageArgs makes argument-count errors and unknown commands usage errors
// (exit code 2), for root and every subcommand.
func usageArgs(c *cobra.Command) {
	orig := c.Args
	if orig == nil {
		orig = func(cmd *cobra.Command, args []string) error {
			if cmd.HasSubCommands() && len(args) > 0 {
				return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return nil
		}
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		err := orig(cmd, args)
		if err != nil && !errors.Is(err, usage.Err) {
			if cmd.HasParent() {
				err = fmt.Errorf("%s: %w", subcommandPath(cmd), err)
			}
			return usage.Wrap(err)
		}
		return err
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// silentExit ends a command with an exit code and no message: diff
// --exit-code's 1 when the bundles differ.
type silentExit struct{ code int }

func (e silentExit) Error() string { return fmt.Sprintf("exit %d", e.code) }

// checkOutputDir refuses, before any work, an -o that would replace a
// directory chaosgen did not write (atomicfile checks again on commit).
func checkOutputDir(name, dir string, force bool) error {
	err := atomicfile.CheckDir(dir, force)
	if errors.Is(err, atomicfile.ErrNotOutput) {
		return usagef("%s: -o %v: choose another directory, or give --force to replace all of it", name, err)
	}
	if err != nil {
		return usagef("%s: -o: %v", name, err)
	}
	return nil
}

// checkOutputFile refuses, before any work, an -o naming a directory;
// example is a file name to suggest in it.
func checkOutputFile(name, path, example string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return usagef("%s: -o %s is a directory: give a file name, such as %s", name, path, filepath.Join(path, example))
	}
	return nil
}

// signalGrace is how long a command has to stop by itself after a signal
// before its temporary files are removed for it and the process exits.
const signalGrace = 3 * time.Second

// interrupted is the error of a command stopped by a signal (exit 130, as
// a shell reports SIGINT).
type interrupted struct{ sig os.Signal }

func (e interrupted) Error() string {
	return fmt.Sprintf("stopped by %v; partial output removed", e.sig)
}

// stopOnSignal makes SIGINT and SIGTERM cancel the context of c, after
// which its writers abort and remove their temporary files. A command that
// has not returned signalGrace after the signal (or at a second signal)
// has its temporary files removed here, and the process exits 130.
func stopOnSignal(c *cobra.Command) {
	for _, sub := range c.Commands() {
		stopOnSignal(sub)
	}
	run := c.RunE
	if run == nil {
		return
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, cancel := context.WithCancel(cmd.Context())
		defer cancel()
		sigs := make(chan os.Signal, 2)
		signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(sigs)
		done, caught := make(chan struct{}), make(chan os.Signal, 1)
		defer close(done)
		go func() {
			select {
			case <-done:
				return
			case s := <-sigs:
				caught <- s
				cancel()
			}
			select {
			case <-done:
				return
			case <-sigs:
			case <-time.After(signalGrace):
			}
			atomicfile.Cleanup()
			fmt.Fprintf(os.Stderr, "chaosgen: %s: stopped; partial output removed\n", subcommandPath(cmd))
			os.Exit(130)
		}()
		cmd.SetContext(ctx)
		err := run(cmd, args)
		select {
		case s := <-caught:
			atomicfile.Cleanup()
			return fmt.Errorf("%s: %w", subcommandPath(cmd), interrupted{s})
		default:
		}
		return err
	}
}

// subcommandPath is the command's path without "chaosgen ": "models iforest".
func subcommandPath(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

// exitCode maps an error to the exit codes of DESIGN.md: 1 failure, 2 usage,
// 3 a bundle that failed validation, 130 stopped by a signal.
func exitCode(err error) int {
	var se silentExit
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se):
		return se.code
	case errors.Is(err, usage.Err):
		return 2
	case errors.As(err, new(interrupted)):
		return 130
	case isInvalidBundle(err):
		return 3
	}
	return 1
}

// isInvalidBundle reports whether err says a bundle failed validation.
func isInvalidBundle(err error) bool { return errors.Is(err, bundle.ErrInvalid) }

// batchGC raises the GC target for batch commands, which allocate a lot of
// short-lived memory while their live heap stays small (GOGC=400 measured
// 1.3-1.9x faster on analyze). An explicit GOGC in the environment wins.
func batchGC() { setGCPercent(400) }

// setGCPercent sets the GC target unless GOGC is set in the environment.
func setGCPercent(p int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(p)
	}
}

// analysisGC is batchGC for analyze, partial analyses and merge. Their live
// heap is the accumulators (77 MiB for an 11M-span day), so a collection is
// cheap, while every page the heap grows by is a page fault (about 10 µs on
// a VM). With two or more processors GOGC=200 faulted 15-20% fewer pages
// than 400 and took 0-12% less CPU (analyze --no-models of 11M spans on 2
// cores, three rounds of 5-8 alternating runs: CPU medians -12%, -10%, 0%,
// wall -15%, -9%, -2%; with the models -7%); on one processor, where the
// collector's work comes out of the only core, 400 stayed 6-7% cheaper (a
// shard and a merge of a 40M-span day, 5 runs each). An explicit GOGC wins.
func analysisGC() {
	if runtime.GOMAXPROCS(0) > 1 {
		setGCPercent(200)
	} else {
		setGCPercent(400)
	}
}

// run runs chaosgen with args. Everything it prints goes through
// termtext, so names from the data cannot drive the terminal.
func run(args []string, stdout, stderr io.Writer) int {
	stdout, stderr = termtext.NewWriter(stdout), termtext.NewWriter(stderr)
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	c, err := root.ExecuteC()
	if err != nil && !errors.As(err, new(silentExit)) {
		fmt.Fprintf(stderr, "chaosgen: %v\n", err)
		if errors.Is(err, usage.Err) {
			fmt.Fprintf(stderr, "see '%s --help'\n", c.CommandPath())
		}
	}
	return exitCode(err)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// hugeHeapBytes is how much of the heap hugeHeap advises: more than the
// peak of an analysis of 10M spans (about 260 MiB), of a 40M-span day (350
// MiB) or of a partial analysis of an 80M-span day (470 MiB). Memory never
// touched costs no RSS; mapping it costs the runtime's bookkeeping for it,
// about 5 ms for the gigabyte (HugeHeap takes about 10 ms in all).
const hugeHeapBytes = 1 << 30

// hugeHeap wraps the RunE of c, a batch command that reads spans or
// traces and grows its heap to hundreds of megabytes, to ask for
// transparent huge pages for that heap first (prefault.HugeHeap: one page
// fault per 2 MiB instead of per 4 KiB). inject and dashboard, which run
// for days, are left as the runtime maps them.
func hugeHeap(c *cobra.Command) {
	run := c.RunE
	if run == nil {
		return
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		prefault.HugeHeap(hugeHeapBytes)
		return run(cmd, args)
	}
}
