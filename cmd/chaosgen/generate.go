package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/chaosgen/chaosgen/profilegen"
	"github.com/spf13/cobra"
)

type generateOptions struct {
	out, key, previous, notAfter, name string
	maxRate, minScore                  float64
	include, exclude                   []string
	seed                               uint64
	force, json                        bool
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
			return runGenerate(cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.out, "output", "o", "", "bundle file to write (replaced atomically)")
	f.StringVar(&o.key, "key", "", "key to sign the bundle with: a private key file (Ed25519, ECDSA or RSA, mode 0600), or KEY.pub of a key in ssh-agent (see docs/bundle.md)")
	f.StringVar(&o.previous, "previous", "", "last run's bundle: adjust its profiles' rates by how the system responded")
	f.StringVar(&o.name, "name", "", "bundle name (default: the output file name without extension)")
	f.Float64Var(&o.maxRate, "max-rate", profilegen.DefaultMaxRate, "cap on every profile's rate and maxRate, and the least maxGlobalRate, in (0, 1]")
	f.Float64Var(&o.minScore, "min-score", 0.5, "leave out findings scored below this, in [0, 1]")
	f.StringSliceVar(&o.include, "include", nil, "only edges matching these patterns (CALLER->CALLEE globs, e.g. '*->payment'; repeatable)")
	f.StringSliceVar(&o.exclude, "exclude", nil, "leave out edges matching these patterns (as --include)")
	f.StringVar(&o.notAfter, "not-after", "", "expiry: a duration from now (72h, 7d), an RFC 3339 time or never; default: a week after the end of the analysed data")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the fault decision hash, recorded in the bundle")
	f.BoolVar(&o.force, "force", false, "replace a signed -o with an unsigned bundle (dropping its .sig)")
	f.BoolVar(&o.json, "json", false, "print what was written as JSON instead of the table")
	return cmd
}

// parseNotAfter reads --not-after: a duration from now (Go syntax, or a
// whole number of days "7d") or an RFC 3339 time.
func parseNotAfter(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.Add(time.Duration(n) * 24 * time.Hour).UTC().Truncate(time.Second), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("duration %s is not positive", s)
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (72h, 7d) nor an RFC 3339 time", s)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("%s is in the past", s)
	}
	return t, nil
}

func runGenerate(stdout, stderr io.Writer, dir string, o generateOptions, now time.Time) error {
	switch {
	case o.out == "":
		return usagef("generate: -o is required")
	case !(o.maxRate > 0 && o.maxRate <= 1):
		return usagef("generate: --max-rate must be in (0, 1], got %v", o.maxRate)
	case !(o.minScore >= 0 && o.minScore <= 1):
		return usagef("generate: --min-score must be in [0, 1], got %v", o.minScore)
	}
	if err := checkOutputFile("generate", o.out, "bundle.json"); err != nil {
		return err
	}
	sigPath := o.out + ".sig"
	if _, err := os.Stat(sigPath); err == nil && o.key == "" && !o.force {
		return usagef("generate: %s is signed (%s): an unsigned bundle would replace it and drop the signature; sign the new one with --key, choose another -o, or give --force", o.out, sigPath)
	}
	for _, p := range append(append([]string{}, o.include...), o.exclude...) {
		if _, err := profilegen.ParseEdgePattern(p); err != nil {
			return usagef("generate: %v", err)
		}
	}
	opt := profilegen.Options{
		Name: o.name, MaxRate: o.maxRate, MinScore: o.minScore,
		Include: o.include, Exclude: o.exclude, Seed: o.seed,
	}
	if opt.Name == "" {
		opt.Name = strings.TrimSuffix(filepath.Base(o.out), filepath.Ext(o.out))
	}
	switch o.notAfter {
	case "":
		opt.Expiry = profilegen.DefaultExpiry
	case "never":
	default:
		t, err := parseNotAfter(o.notAfter, now)
		if err != nil {
			return usagef("generate: --not-after: %v", err)
		}
		opt.NotAfter = t
	}
	if o.previous != "" {
		data, err := os.ReadFile(o.previous)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fmt.Fprintf(stderr, "chaosgen: generate: notice: --previous %s does not exist: starting fresh (the first night), every profile at its initial rate\n", o.previous)
		case err != nil:
			return fmt.Errorf("generate: %w", err)
		default:
			prev, err := bundle.Decode(data)
			if err != nil {
				return fmt.Errorf("generate: --previous %s: %w", o.previous, err)
			}
			opt.Previous, opt.PreviousDigest = prev, bundle.Digest(data)
		}
	}
	a, err := profilegen.Load(dir, true)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	res, err := profilegen.Generate(a, opt)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	data, err := bundle.Encode(res.Bundle)
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	// Sign before writing anything, so that a bad key leaves the old pair.
	var sig []byte
	if o.key != "" {
		if sig, err = bundle.Sign(data, o.key); err != nil {
			return fmt.Errorf("generate: signing: %w", err)
		}
	}
	if err := atomicfile.WriteFile(o.out, data); err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "chaosgen: generate: warning: %s\n", w)
	}
	if len(a.Findings) == 0 {
		fmt.Fprintf(stderr, "chaosgen: generate: warning: %s has no findings: no profiles from it\n", filepath.Join(dir, "summary.json"))
	}
	if sig != nil {
		if err := atomicfile.WriteFile(sigPath, sig); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
	} else {
		err := os.Remove(sigPath)
		switch {
		case err == nil:
			fmt.Fprintf(stderr, "chaosgen: generate: warning: removed %s: it signed the previous %s\n", sigPath, o.out)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("generate: removing the stale %s: %w", sigPath, err)
		}
		fmt.Fprintf(stderr, "chaosgen: generate: warning: no --key: %s is unsigned, and verify and inject refuse it until it is signed (ssh-keygen -Y sign -f KEY -n %s %s)\n", o.out, bundle.Namespace, o.out)
	}
	if o.json {
		return writeGenerateJSON(stdout, o.out, res, sig != nil, bundle.Digest(data))
	}
	writeGenerateReport(stdout, o.out, res, sig != nil, bundle.Digest(data))
	return nil
}

// feedbackDecision is a profilegen.Decision in generate --json.
type feedbackDecision struct {
	ID       string  `json:"id"`
	Verdict  string  `json:"verdict"`
	Injected int64   `json:"injected"`
	OldFault string  `json:"oldFault,omitempty"`
	OldRate  float64 `json:"oldRate"`
	NewFault string  `json:"newFault,omitempty"`
	NewRate  float64 `json:"newRate"`
	Reason   string  `json:"reason,omitempty"`
}

// generateReport is what generate --json prints.
type generateReport struct {
	Output     string             `json:"output"`
	Digest     string             `json:"digest"`
	Signature  string             `json:"signature,omitempty"`
	Findings   int                `json:"findings"`
	BelowScore int                `json:"belowMinScore"`
	Filtered   int                `json:"filtered"`
	NoEdge     int                `json:"withoutEdge"`
	Merged     int                `json:"merged"`
	Guards     bundle.Guards      `json:"guards"`
	Profiles   []bundle.Profile   `json:"profiles"`
	Feedback   []feedbackDecision `json:"feedback,omitempty"`
	Warnings   []string           `json:"warnings,omitempty"`
}

func writeGenerateJSON(w io.Writer, out string, res *profilegen.Result, signed bool, digest string) error {
	r := generateReport{Output: out, Digest: "sha256:" + digest, Findings: res.Findings, BelowScore: res.BelowScore,
		Filtered: res.Filtered, NoEdge: res.NoEdge, Merged: res.Merged, Guards: res.Bundle.Guards,
		Profiles: res.Bundle.Profiles, Warnings: res.Warnings}
	for _, d := range res.Decisions {
		r.Feedback = append(r.Feedback, feedbackDecision{d.ID, d.Verdict, d.Injected, d.OldFault, bundle.Round(d.OldRate), d.NewFault, bundle.Round(d.NewRate), d.Reason})
	}
	if signed {
		r.Signature = out + ".sig"
	}
	if r.Profiles == nil {
		r.Profiles = []bundle.Profile{}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeGenerateReport(w io.Writer, out string, res *profilegen.Result, signed bool, digest string) {
	b := res.Bundle
	fmt.Fprintf(w, "wrote %s: %d profiles from %d findings (%d below --min-score, %d filtered by --include/--exclude, %d without an edge, %d merged into another episode)\n",
		out, len(b.Profiles), res.Findings, res.BelowScore, res.Filtered, res.NoEdge, res.Merged)
	fmt.Fprintf(w, "  digest sha256:%s\n", digest)
	if signed {
		fmt.Fprintf(w, "  signed: %s.sig\n", out)
	}
	g := b.Guards
	var abort []string
	if g.AbortIf.RootErrorRate > 0 {
		abort = append(abort, "root error rate ≥ "+fnum(g.AbortIf.RootErrorRate))
	}
	if g.AbortIf.RootP99Ms > 0 {
		abort = append(abort, "root p99 ≥ "+fnum(g.AbortIf.RootP99Ms)+" ms")
	}
	abortText := "no abortIf (the analysis has no root edges)"
	if len(abort) > 0 {
		abortText = "abort if " + strings.Join(abort, " or ") + " (where root requests pass)"
	}
	fmt.Fprintf(w, "  guards: maxGlobalRate %s, maxActiveFaults %d, %s\n", fnum(g.MaxGlobalRate), g.MaxActiveFaults, abortText)
	for _, ig := range g.Injectors {
		var c []string
		if ig.ErrorRate > 0 {
			c = append(c, "its error rate ≥ "+fnum(ig.ErrorRate))
		}
		if ig.P99Ms > 0 {
			c = append(c, "its p99 ≥ "+fnum(ig.P99Ms)+" ms")
		}
		if len(c) > 0 {
			fmt.Fprintf(w, "    %s's injector: abort if %s\n", ig.Service, strings.Join(c, " or "))
		}
	}
	if len(b.Profiles) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "\n  id\ttarget\tfault\trate\tmaxRate\tperSecond\tseverity")
		for _, p := range b.Profiles {
			ps := "-"
			if p.PerSecond > 0 {
				ps = fnum(p.PerSecond)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, bundle.TargetString(p.Target), bundle.FaultString(p.Fault), fnum(p.Rate), fnum(p.MaxRate), ps, p.Severity)
		}
		tw.Flush()
	}
	if len(res.Decisions) > 0 {
		fmt.Fprintln(w, "\nfeedback from the previous bundle:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, d := range res.Decisions {
			switch d.Verdict {
			case profilegen.VerdictNew:
				fmt.Fprintf(tw, "  %s\tnew\t%s %s\t\n", d.ID, d.NewFault, fnum(d.NewRate))
			case profilegen.VerdictDropped:
				fmt.Fprintf(tw, "  %s\tdropped\t\t%s\n", d.ID, d.Reason)
			default:
				fmt.Fprintf(tw, "  %s\t%s\t%s %s → %s %s\t%s\n", d.ID, d.Verdict, d.OldFault, fnum(d.OldRate), d.NewFault, fnum(d.NewRate), d.Reason)
				fmt.Fprintf(tw, "  \t\t\t%s\n", d.Change)
			}
		}
		tw.Flush()
	}
	if len(res.GuardChanges) > 0 {
		fmt.Fprintln(w, "\nguards derived from this analysis, changed from the previous bundle's (docs/generate.md, Guards):")
		for _, c := range res.GuardChanges {
			fmt.Fprintf(w, "  %s: %s → %s\n", c.Field, orNone(c.Old), orNone(c.New))
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func fnum(x float64) string { return strconv.FormatFloat(bundle.Round(x), 'f', -1, 64) }
