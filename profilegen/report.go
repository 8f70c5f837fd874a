package profilegen

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/chaosgen/chaosgen/bundle"
)

// feedbackDecision is a Decision in generate --json.
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

// JSONReport is what generate --json prints (Written.WriteJSON).
type JSONReport struct {
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

// WriteJSON prints what was written as generate --json does.
func (wr *Written) WriteJSON(w io.Writer) error {
	res, out, signed := wr.Result, wr.Path, wr.SigPath != ""
	r := JSONReport{Output: out, Digest: "sha256:" + wr.Digest, Findings: res.Findings, BelowScore: res.BelowScore,
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

// WriteText prints what was written as generate does: counts, digest,
// guards, the profiles and the feedback loop's decisions.
func (wr *Written) WriteText(w io.Writer) {
	res, out, signed, digest := wr.Result, wr.Path, wr.SigPath != "", wr.Digest
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
			case VerdictNew:
				fmt.Fprintf(tw, "  %s\tnew\t%s %s\t\n", d.ID, d.NewFault, fnum(d.NewRate))
			case VerdictDropped:
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
