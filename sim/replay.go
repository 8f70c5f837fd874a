package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
)

// ErrGuardBreached says a bundle's faults broke its own guards (abortIf) in
// the replay. It matches bundle.ErrInvalid under errors.Is, so the CLI exits
// with code 3 and CI can gate a bundle on it.
var ErrGuardBreached error = guardError{}

type guardError struct{}

func (guardError) Error() string        { return "bundle breaks its own guards" }
func (guardError) Is(target error) bool { return target == bundle.ErrInvalid }

// ReplayOptions configure Replay.
type ReplayOptions struct {
	Files       []string
	Mesh        *Mesh  // nil: the default mesh
	MeshName    string // shown in the report; "default" when empty
	Bundle      *bundle.Bundle
	BundleCheck string // how the bundle was checked, for the report
	LoadFactor  float64
	Seed        uint64
	Dir         string // output directory, written atomically
	Force       bool   // replace Dir even when chaosgen did not write it
	// Adapt runs the adaptive loop and Learn the learning agent, for
	// Rounds rounds each; both write a tuned bundle.
	Adapt, Learn bool
	Rounds       int
	// SignKey, when set, signs the tuned bundle (bundle.json.sig).
	SignKey  string
	Progress *atomic.Int64
}

// Report is report.json.
type Report struct {
	Schema      string          `json:"schema"`
	Inputs      []string        `json:"inputs"`
	Mesh        string          `json:"mesh"`
	LoadFactor  float64         `json:"loadFactor"`
	Seed        uint64          `json:"seed"`
	Bundle      string          `json:"bundle,omitempty"`
	BundleCheck string          `json:"bundleCheck,omitempty"`
	Baseline    *Result         `json:"baseline"`
	Faults      *Result         `json:"faults,omitempty"`
	Profiles    []ProfileReport `json:"profiles,omitempty"`
	Guards      *GuardReport    `json:"guards,omitempty"`
}

// ProfileReport compares, for one profile, the root requests of the traces
// it fires on with and without faults.
type ProfileReport struct {
	ID        string  `json:"id"`
	Caller    string  `json:"caller"`
	Callee    string  `json:"callee"`
	Operation string  `json:"operation"`
	FaultType string  `json:"faultType"`
	Rate      float64 `json:"rate"`
	// Matched, Fired, Injected and Suppressed count tries at the profile's
	// injector: its target matched, inject.Decide fired, the fault was
	// applied, a guard held it back (by reason).
	Matched      int64      `json:"matched"`
	Fired        int64      `json:"fired"`
	Injected     int64      `json:"injected"`
	Suppressed   Suppressed `json:"suppressed"`
	FaultedCalls int64      `json:"faultedCalls"`
	ExposedRoots int64      `json:"exposedRoots"`
	// success rate and p99 of the exposed roots without and with faults
	BaselineSuccess float64 `json:"baselineSuccessRate"`
	FaultSuccess    float64 `json:"faultSuccessRate"`
	BaselineP99Ms   float64 `json:"baselineP99Ms"`
	FaultP99Ms      float64 `json:"faultP99Ms"`
	// RetryAmplification is tries per faulted logical call.
	RetryAmplification float64 `json:"retryAmplification"`
	// Score is the resilience score in [0, 100] (docs/replay.md); null
	// when the profile fired on no root request.
	Score *float64 `json:"score"`
	// Weakness in [0, 1] is how far the degradation went beyond what the
	// mesh's protections promise (docs/replay.md); the learning agent's
	// reward.
	Weakness float64 `json:"weakness"`
	Verdict  string  `json:"verdict"` // graceful, struggling or idle
	// Why says why an idle profile injected nothing, or reached no root.
	Why string `json:"why,omitempty"`
}

// GuardReport says whether the faulted replay broke the bundle's guards:
// an injector's breaker tripped, or the whole run's root requests reached
// abortIf. BaselineTrips are trips on the fault-free replay: guards that do
// not fit the traffic (they do not count as a breach by the faults).
type GuardReport struct {
	RootErrorRate GuardCheck  `json:"rootErrorRate"`
	RootP99Ms     GuardCheck  `json:"rootP99Ms"`
	Trips         []GuardTrip `json:"trips"`
	BaselineTrips []GuardTrip `json:"baselineTrips"`
	Breached      bool        `json:"breached"`
}

// GuardCheck is one abortIf condition; a zero limit is disabled.
type GuardCheck struct {
	Limit    float64 `json:"limit"`
	Baseline float64 `json:"baseline"`
	Value    float64 `json:"value"`
	Breached bool    `json:"breached"`
}

// Replay runs the baseline and, with a bundle, the faulted replay (and the
// loops), and writes Dir.
func Replay(ctx context.Context, o ReplayOptions) (*Report, error) {
	dir, err := atomicfile.CreateDir(o.Dir, o.Force)
	if err != nil {
		return nil, err
	}
	defer dir.Abort()
	rep := &Report{Schema: "chaosgen.replay/v1", Inputs: o.Files, Mesh: o.MeshName, LoadFactor: o.LoadFactor, Seed: o.Seed, BundleCheck: o.BundleCheck}
	if rep.Mesh == "" {
		rep.Mesh = "default"
	}
	if rep.LoadFactor == 0 {
		rep.LoadFactor = 1
	}
	base := Options{Mesh: o.Mesh, Bundle: o.Bundle, LoadFactor: o.LoadFactor, Seed: o.Seed, Progress: o.Progress}
	spansPath := filepath.Join(dir.Tmp, "spans.parquet")
	w, err := ingest.Create(spansPath, ingest.WriterOptions{})
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	if o.Bundle == nil {
		base.Spans = w.Write
	}
	if rep.Baseline, err = Run(ctx, o.Files, base); err != nil {
		return nil, err
	}
	if o.Bundle != nil {
		rep.Bundle = o.Bundle.Metadata.Name
		f := base
		f.Inject, f.Spans = true, w.Write
		if rep.Faults, err = Run(ctx, o.Files, f); err != nil {
			return nil, err
		}
		rep.Profiles = compare(o.Bundle, o.Mesh, rep.Baseline, rep.Faults)
		rep.Guards = guards(o.Bundle, rep.Baseline, rep.Faults)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(dir.Tmp, "report.json"), rep); err != nil {
		return nil, err
	}
	if o.Bundle != nil && (o.Adapt || o.Learn) {
		if err := runLoops(ctx, o, dir.Tmp); err != nil {
			return nil, err
		}
	}
	if err := dir.Commit(); err != nil {
		return nil, err
	}
	if rep.Guards != nil && rep.Guards.Breached {
		return rep, fmt.Errorf("%w: %s", ErrGuardBreached, rep.Guards.Reason())
	}
	return rep, nil
}

// Reason says in words why the guards were breached.
func (g *GuardReport) Reason() string {
	var parts []string
	for _, t := range g.Trips {
		parts = append(parts, fmt.Sprintf("%s's injector tripped at %s: %s", t.Service, time.Unix(0, t.AtUnixNano).UTC().Format(time.RFC3339), t.Reason))
	}
	if c := g.RootErrorRate; c.Breached {
		parts = append(parts, fmt.Sprintf("root error rate %g reaches abortIf.rootErrorRate %g", c.Value, c.Limit))
	}
	if c := g.RootP99Ms; c.Breached {
		parts = append(parts, fmt.Sprintf("root p99 %g ms reaches abortIf.rootP99Ms %g", c.Value, c.Limit))
	}
	return strings.Join(parts, "; ")
}

func guards(b *bundle.Bundle, base, faults *Result) *GuardReport {
	a := b.Guards.AbortIf
	g := &GuardReport{
		RootErrorRate: GuardCheck{Limit: a.RootErrorRate, Baseline: bundle.Round(1 - base.Root.SuccessRate), Value: bundle.Round(1 - faults.Root.SuccessRate)},
		RootP99Ms:     GuardCheck{Limit: a.RootP99Ms, Baseline: base.Root.P99Ms, Value: faults.Root.P99Ms},
	}
	g.RootErrorRate.Breached = a.RootErrorRate > 0 && g.RootErrorRate.Value >= a.RootErrorRate
	g.RootP99Ms.Breached = a.RootP99Ms > 0 && g.RootP99Ms.Value >= a.RootP99Ms
	g.Trips = append([]GuardTrip{}, faults.GuardTrips...)
	g.BaselineTrips = append([]GuardTrip{}, base.GuardTrips...)
	g.Breached = g.RootErrorRate.Breached || g.RootP99Ms.Breached || len(g.Trips) > 0
	return g
}

// Score returns the resilience score of a profile from the success rate
// and p99 latency of the root requests it fires on, without (b) and with
// (f) faults: 100 × (0.6 × min(1, f success / b success) + 0.4 × min(1, b p99
// / f p99)).
func Score(bSuccess, fSuccess, bP99, fP99 float64) float64 {
	s := 1.0
	if bSuccess > 0 {
		s = min(1, fSuccess/bSuccess)
	} else if fSuccess == 0 {
		s = 1
	}
	l := 1.0
	if fP99 > 0 {
		l = min(1, bP99/fP99)
	}
	return math.Round(100*(0.6*s+0.4*l)*100) / 100
}

// compare builds the per-profile report.
func compare(b *bundle.Bundle, m *Mesh, base, faults *Result) []ProfileReport {
	if m == nil {
		m = &Mesh{}
	}
	out := make([]ProfileReport, len(b.Profiles))
	for i := range b.Profiles {
		p := &b.Profiles[i]
		bs, fs := base.Profiles[i].Exposed, faults.Profiles[i].Exposed
		fp := &faults.Profiles[i]
		pr := ProfileReport{ID: p.ID, Caller: p.Target.Caller, Callee: p.Target.Callee, Operation: p.Target.Operation,
			FaultType: p.Fault.Type, Rate: p.Rate, Matched: fp.Matched, Fired: fp.Fired, Injected: fp.Injected,
			Suppressed: fp.Suppressed, FaultedCalls: fp.FaultedCalls,
			ExposedRoots: fs.Calls, BaselineSuccess: bs.SuccessRate, FaultSuccess: fs.SuccessRate,
			BaselineP99Ms: bs.P99Ms, FaultP99Ms: fs.P99Ms, Verdict: "idle"}
		if pr.FaultedCalls > 0 {
			pr.RetryAmplification = bundle.Round(float64(pr.Injected) / float64(pr.FaultedCalls))
		}
		if fs.Calls > 0 && pr.Injected > 0 {
			sc := Score(bs.SuccessRate, fs.SuccessRate, bs.P99Ms, fs.P99Ms)
			pr.Score = &sc
			pr.Weakness = bundle.Round(weakness(&pr, m.bound(p.Target.Caller, p.Target.Callee)))
			pr.Verdict = verdict(b, &pr)
		}
		pr.Why = idleWhy(&pr, faults.GuardTrips)
		out[i] = pr
	}
	return out
}

// idleWhy says why a profile injected nothing or reached no root request,
// "" when it did both.
func idleWhy(pr *ProfileReport, trips []GuardTrip) string {
	switch {
	case pr.Verdict != "idle":
		return ""
	case pr.Matched == 0:
		return "no replayed call matches its target"
	case pr.Fired == 0:
		return fmt.Sprintf("its target matched %d calls, and at rate %g the decision fired on none", pr.Matched, pr.Rate)
	case pr.Injected == 0:
		why := fmt.Sprintf("fired %d times, all suppressed (%s)", pr.Fired, pr.Suppressed.String())
		for _, t := range trips {
			if t.Service == pr.Callee {
				why += fmt.Sprintf("; %s's injector tripped at %s: %s", t.Service, time.Unix(0, t.AtUnixNano).UTC().Format(time.RFC3339), t.Reason)
			}
		}
		return why
	}
	return fmt.Sprintf("injected %d faults, but none of the traces it fired on has a root request in the replay", pr.Injected)
}

// String lists the nonzero counts, "none" without any.
func (s Suppressed) String() string {
	var parts []string
	for _, c := range []struct {
		n    int64
		name string
	}{{s.Breaker, "breaker"}, {s.PerSecond, "perSecond"}, {s.MaxGlobalRate, "maxGlobalRate"}, {s.MaxActiveFaults, "maxActiveFaults"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.name))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Total is the sum of the counts.
func (s Suppressed) Total() int64 {
	return s.PerSecond + s.MaxGlobalRate + s.MaxActiveFaults + s.Breaker
}

// weakness is the degradation beyond the mesh's protections: the largest of
// the success lost at the root, the root p99 growth beyond the latency bound
// the target's timeouts promise (as a fraction of the faulted p99), and the
// extra tries per faulted call beyond one (halved, capped at 1).
func weakness(pr *ProfileReport, boundMs float64) float64 {
	werr := max(0, pr.BaselineSuccess-pr.FaultSuccess)
	wlat := 0.0
	if d := pr.FaultP99Ms - pr.BaselineP99Ms - boundMs; d > 0 && pr.FaultP99Ms > 0 {
		wlat = d / pr.FaultP99Ms
	}
	wamp := 0.0
	if pr.RetryAmplification > 1 {
		wamp = min(1, (pr.RetryAmplification-1)/2)
	}
	return min(1, max(werr, wlat, wamp))
}

// bound is the most a call on the edge can take as its caller sees it,
// in ms: its route timeout, else its per-try timeouts and backoffs; 0
// when it has none (any growth is beyond protection).
func (m *Mesh) bound(caller, callee string) float64 {
	r := m.resolve(caller, callee)
	if r.timeoutSet && r.timeout > 0 {
		return float64(r.timeout) / 1e6
	}
	if rp := r.retries; rp != nil && rp.PerTryTimeout > 0 {
		mx := float64(rp.Backoff.Max)
		if mx == 0 {
			mx = 10 * float64(max(rp.Backoff.Base, Duration(25e6)))
		}
		return (float64(rp.PerTryTimeout)*float64(rp.Attempts+1) + mx*float64(rp.Attempts)) / 1e6
	}
	return 0
}

// verdict says whether the roots a profile fires on stayed within the
// guards (graceful) or not (struggling). A disabled guard falls back to
// the baseline error rate + 0.05 and 2 × the baseline p99.
func verdict(b *bundle.Bundle, pr *ProfileReport) string {
	errLimit := b.Guards.AbortIf.RootErrorRate
	if errLimit == 0 {
		errLimit = 1 - pr.BaselineSuccess + 0.05
	}
	p99Limit := b.Guards.AbortIf.RootP99Ms
	if p99Limit == 0 {
		p99Limit = 2 * pr.BaselineP99Ms
	}
	if 1-pr.FaultSuccess < errLimit && pr.FaultP99Ms < p99Limit {
		return "graceful"
	}
	return "struggling"
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'))
}

// WriteTable prints the short summary of a report.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "root\tcalls\tsuccess\tp50 ms\tp99 ms\tretry amp\n")
	row := func(name string, s Stats) {
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.1f\t%.1f\t%.3f\n", name, s.Calls, s.SuccessRate, s.P50Ms, s.P99Ms, s.RetryAmplification)
	}
	row("recorded", r.Baseline.Recorded)
	row("baseline", r.Baseline.Root)
	if r.Faults != nil {
		row("faults", r.Faults.Root)
	}
	if len(r.Profiles) > 0 {
		fmt.Fprintf(tw, "\nprofile\tfault\tfired\tinjected\tsuppressed\troots\tsuccess\tp99 ms\tscore\n")
		for _, p := range r.Profiles {
			score := "-"
			if p.Score != nil {
				score = fmt.Sprintf("%.1f", *p.Score)
			}
			sup := "0"
			if p.Suppressed.Total() > 0 {
				sup = p.Suppressed.String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%.4f→%.4f\t%.1f→%.1f\t%s\n", p.ID, p.FaultType, p.Fired, p.Injected, sup, p.ExposedRoots,
				p.BaselineSuccess, p.FaultSuccess, p.BaselineP99Ms, p.FaultP99Ms, score)
		}
		for _, p := range r.Profiles {
			if p.Why != "" {
				fmt.Fprintf(tw, "  %s idle: %s\n", p.ID, p.Why)
			}
		}
	}
	if g := r.Guards; g != nil {
		trips := func(what string, ts []GuardTrip) {
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", what, time.Unix(0, t.AtUnixNano).UTC().Format(time.RFC3339), t.Service, t.Reason)
			}
		}
		if len(g.Trips)+len(g.BaselineTrips) > 0 {
			fmt.Fprintf(tw, "\ntrip\tat\tinjector\treason\n")
			trips("with faults", g.Trips)
			trips("fault-free", g.BaselineTrips)
		}
		verdict := "hold"
		switch {
		case len(g.Trips) > 0:
			verdict = fmt.Sprintf("BREACHED: %d injector trip(s) with faults (above)", len(g.Trips))
		case g.Breached:
			verdict = "BREACHED: " + g.Reason()
		}
		fmt.Fprintf(tw, "\nguards\t%s\n", verdict)
		if len(g.BaselineTrips) > 0 {
			fmt.Fprintf(tw, "\t%d trips on fault-free traffic: the guards do not fit it (regenerate the bundle from this traffic)\n", len(g.BaselineTrips))
		}
	}
	return tw.Flush()
}

// Print prints r as the table of WriteTable or, with asJSON, as
// report.json holds it, indented.
func (r *Report) Print(w io.Writer, asJSON bool) error {
	if !asJSON {
		return r.WriteTable(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
