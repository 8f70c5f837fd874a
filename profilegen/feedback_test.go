package profilegen

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/golden"
)

const feedbackWindows = 10

// quietWindows gives every test edge feedbackWindows one-minute windows of
// 100 calls at its p99, no errors except 1% at the root, no injections.
func quietWindows() []analysis.WindowRow {
	var ws []analysis.WindowRow
	for _, e := range testEdges() {
		for i := range feedbackWindows {
			w := analysis.WindowRow{
				Caller:              e.Caller,
				Callee:              e.Callee,
				WindowStartUnixNano: t0.Add(time.Duration(i) * time.Minute).UnixNano(),
				CallStats:           analysis.CallStats{Calls: 100, P50Ms: e.P50Ms, P90Ms: e.P90Ms, P99Ms: e.P99Ms},
			}
			if e.Caller == "" {
				w.Errors, w.ErrorRate = 1, 0.01
			}
			ws = append(ws, w)
		}
	}
	return ws
}

// inWindows applies f to the windows of caller->callee numbered from..to-1.
func inWindows(ws []analysis.WindowRow, caller, callee string, from, to int, f func(w *analysis.WindowRow)) {
	for i := range ws {
		w := &ws[i]
		n := int(time.Duration(w.WindowStartUnixNano-t0.UnixNano()) / time.Minute)
		if w.Caller == caller && w.Callee == callee && n >= from && n < to {
			f(w)
		}
	}
}

// quietOutcomes gives every test edge, in each of its windows, 90 traces
// without injection, one of which failed at the root, with 1.1 calls on
// the edge each.
func quietOutcomes() []analysis.OutcomeRow {
	var os []analysis.OutcomeRow
	for _, e := range testEdges() {
		for i := range feedbackWindows {
			os = append(os, analysis.OutcomeRow{Caller: e.Caller, Callee: e.Callee, WindowStartUnixNano: t0.Add(time.Duration(i) * time.Minute).UnixNano(),
				Traces: 90, Judged: 90, Failed: 1, Calls: 99})
		}
	}
	return os
}

// injectedTraces adds, in windows from..to-1 of caller->callee, n traces
// per window that profile id injected into, failed of them failing, with
// calls calls on the edge each.
func injectedTraces(a *Analysis, id, caller, callee string, from, to int, n, failed, calls int64) {
	for i := from; i < to; i++ {
		a.Outcomes = append(a.Outcomes, analysis.OutcomeRow{Caller: caller, Callee: callee, FaultProfileID: id,
			WindowStartUnixNano: t0.Add(time.Duration(i) * time.Minute).UnixNano(), Traces: n, Judged: n, Failed: failed, Calls: n * calls})
	}
}

func previousBundle(profiles ...bundle.Profile) *bundle.Bundle {
	for i := range profiles {
		p := &profiles[i]
		p.MaxRate = max(p.MaxRate, p.Rate)
		if p.Severity == "" {
			p.Severity = bundle.SeverityMinor
		}
		p.Rationale.Summary = "yesterday"
	}
	return &bundle.Bundle{
		APIVersion: bundle.APIVersion, Kind: bundle.Kind,
		Metadata: bundle.Metadata{Name: "shop-nightly", Source: bundle.Source{Files: []bundle.SourceFile{}}},
		Guards:   bundle.Guards{MaxGlobalRate: 0.1, AbortIf: bundle.AbortIf{RootErrorRate: 0.05, RootP99Ms: 200}},
		Profiles: profiles,
	}
}

var (
	prevLatency = bundle.Profile{ID: "latency-frontend-checkout", Target: bundle.Target{Caller: "frontend", Callee: "checkout"},
		Fault: bundle.Fault{Type: "latency", DelayMs: 32, JitterMs: 7}, Rate: 0.04}
	prevAbort = bundle.Profile{ID: "errors-checkout-payment", Target: bundle.Target{Caller: "checkout", Callee: "payment"},
		Fault: bundle.Fault{Type: "abort", GRPCStatus: 14}, Rate: 0.008, Severity: bundle.SeverityCritical}
)

func injectLatency(w *analysis.WindowRow) { w.InjectedLatency = 10 }
func injectAbort(w *analysis.WindowRow)   { w.InjectedAbort = 10 }

// TestFeedback: each verdict moves the rate (and fault) as documented, and
// the decision is in the rationale.
func TestFeedback(t *testing.T) {
	// 4 traces a window with the injections of windows 0-4: 20 traces
	lat := func(a *Analysis, failed, calls int64) {
		inWindows(a.Windows, "frontend", "checkout", 0, 5, injectLatency)
		injectedTraces(a, prevLatency.ID, "frontend", "checkout", 0, 5, 4, failed, calls)
	}
	abort := func(a *Analysis, failed, calls int64) {
		inWindows(a.Windows, "checkout", "payment", 0, 5, injectAbort)
		injectedTraces(a, prevAbort.ID, "checkout", "payment", 0, 5, 4, failed, calls)
	}
	for _, tc := range []struct {
		name      string
		prev      bundle.Profile
		windows   func(a *Analysis)
		verdict   string
		rate      float64
		faultType string
		summary   string
	}{
		{"handled", prevLatency, func(a *Analysis) { lat(a, 0, 1) }, VerdictHandled, 0.06, "latency",
			"last run handled (0% of the 20 traces it injected into failed, against 1.11% of its edge's traces without injection; calls per trace on its edge 1 against 1.1; root p99 80 ms against 80 ms): rate 4% ×1.5 (handled) = 6%"},
		{"handled capped at maxRate", withRate(prevLatency, 0.08), func(a *Analysis) { lat(a, 0, 1) }, VerdictHandled, 0.1, "latency",
			"rate 8% ×1.5 (handled) = 12%, capped at 10% (today's maxRate: the lower of --max-rate 10% and 5 × its initial rate) → 10%"},
		{"handled: a retry doubles the calls", prevAbort, func(a *Analysis) { abort(a, 0, 2) }, VerdictHandled, 0.012, "abort",
			"calls per trace on its edge 2 against 1.1"},
		{"hurt: the traces it touched failed", prevAbort, func(a *Analysis) {
			abort(a, 3, 1)
		}, VerdictHurt, 0.004, "abort", "last run hurt (75% of the 20 traces it injected into failed, against 1.11% of its edge's traces without injection): rate 0.8% ×0.5 (hurt) = 0.4%"},
		{"hurt: retries multiplied its faults", prevAbort, func(a *Analysis) {
			abort(a, 0, 7)
		}, VerdictHurt, 0.004, "abort", "last run hurt (its traces made 7 calls each on its edge, 6.36× the 1.1 of traces without injection: retries multiplied its faults)"},
		{"hurt: root p99", prevLatency, func(a *Analysis) {
			lat(a, 0, 1)
			inWindows(a.Windows, "", "frontend", 0, 5, func(w *analysis.WindowRow) { w.P99Ms = 130 })
		}, VerdictHurt, 0.02, "latency", "the root p99 rose from 80 to 130 ms during injection"},
		{"severe: a guard would have tripped", prevAbort, func(a *Analysis) {
			abort(a, 4, 1)
			inWindows(a.Windows, "", "frontend", 0, 5, func(w *analysis.WindowRow) { w.Errors = 6 })
		}, VerdictSevere, 0.004, "latency", "milder fault (abort → latency)"},
		{"not severe when its own traces did not fail", prevAbort, func(a *Analysis) {
			abort(a, 0, 1)
			inWindows(a.Windows, "", "frontend", 0, 5, func(w *analysis.WindowRow) { w.Errors = 6 })
		}, VerdictHandled, 0.012, "abort", "last run handled"},
		{"untested: no injections", prevLatency, func(*Analysis) {}, VerdictUntested, 0.04, "latency", "rate kept at 4%"},
		{"inconclusive: too few traces", prevLatency, func(a *Analysis) {
			inWindows(a.Windows, "frontend", "checkout", 0, 1, func(w *analysis.WindowRow) { w.InjectedLatency = 5 })
			injectedTraces(a, prevLatency.ID, "frontend", "checkout", 0, 1, 5, 0, 1)
		}, VerdictInconclusive, 0.04, "latency", "only 5 traces with its injections (fewer than 10)"},
		{"inconclusive: injections in no counted trace", prevLatency, func(a *Analysis) {
			inWindows(a.Windows, "frontend", "checkout", 0, 5, injectLatency)
		}, VerdictInconclusive, 0.04, "latency", "50 injections, but in no trace the analysis counted"},
		{"other fault types do not count", prevLatency, func(a *Analysis) {
			inWindows(a.Windows, "frontend", "checkout", 0, 5, injectAbort)
		}, VerdictUntested, 0.04, "latency", "no injections of its fault type"},
		{"a milder fault from an earlier step stays", bundle.Profile{ID: "errors-checkout-payment", Target: prevAbort.Target,
			Fault: bundle.Fault{Type: "latency", DelayMs: 25, JitterMs: 4}, Rate: 0.01}, func(a *Analysis) {
			inWindows(a.Windows, "checkout", "payment", 0, 5, injectLatency)
			injectedTraces(a, prevAbort.ID, "checkout", "payment", 0, 5, 4, 0, 1)
		}, VerdictHandled, 0.015, "latency", "last run handled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := testAnalysis()
			a.Windows, a.Outcomes = quietWindows(), quietOutcomes()
			tc.windows(a)
			opt := testOptions()
			opt.Previous = previousBundle(tc.prev)
			res := mustGenerate(t, a, opt)
			p := profileByID(t, res.Bundle, tc.prev.ID)
			var d *Decision
			for i := range res.Decisions {
				if res.Decisions[i].ID == tc.prev.ID {
					d = &res.Decisions[i]
				}
			}
			if d == nil || d.Verdict != tc.verdict {
				t.Fatalf("decision %+v, want verdict %s", d, tc.verdict)
			}
			if p.Rate != tc.rate || p.Fault.Type != tc.faultType || d.NewRate != p.Rate || d.OldRate != tc.prev.Rate {
				t.Errorf("rate %v fault %+v (decision %+v); want rate %v, %s", p.Rate, p.Fault, d, tc.rate, tc.faultType)
			}
			if !strings.Contains(p.Rationale.Summary, tc.summary) {
				t.Errorf("summary %q\nwant it to contain %q", p.Rationale.Summary, tc.summary)
			}
			if p.Rationale.Features["feedback.previousRate"] != tc.prev.Rate {
				t.Errorf("features %v lack feedback.previousRate", p.Rationale.Features)
			}
			if p.Severity != severityOf(p.Fault, &testEdges()[2]) && p.Target.Callee == "payment" {
				t.Errorf("severity %s not recomputed for %s", p.Severity, p.Fault.Type)
			}
			if _, err := bundle.Encode(res.Bundle); err != nil {
				t.Fatal(err)
			}
			// Every profile not in the previous bundle is new.
			for _, d := range res.Decisions {
				if d.ID != tc.prev.ID && d.Verdict != VerdictNew {
					t.Errorf("%s: %s, want new", d.ID, d.Verdict)
				}
			}
		})
	}
}

func withRate(p bundle.Profile, r float64) bundle.Profile {
	p.Rate = r
	return p
}

func TestFeedbackSevereFault(t *testing.T) {
	a := testAnalysis()
	a.Windows, a.Outcomes = quietWindows(), quietOutcomes()
	inWindows(a.Windows, "checkout", "payment", 0, 5, injectAbort)
	injectedTraces(a, prevAbort.ID, "checkout", "payment", 0, 5, 4, 4, 1)
	inWindows(a.Windows, "", "frontend", 0, 5, func(w *analysis.WindowRow) { w.Errors = 6 })
	opt := testOptions()
	opt.Previous = previousBundle(prevAbort)
	p := profileByID(t, mustGenerate(t, a, opt).Bundle, prevAbort.ID)
	// abort → the edge's tail latency: 30 − 5 ms, jitter 9 − 5 ms; minor.
	if want := (bundle.Fault{Type: "latency", DelayMs: 25, JitterMs: 4}); p.Fault != want || p.Severity != bundle.SeverityMinor {
		t.Errorf("fault %+v severity %s, want %+v minor", p.Fault, p.Severity, want)
	}
	if f := p.Rationale.Features; f["feedback.rootErrorRate"] != 0.06 || f["feedback.rootErrorRateBaseline"] != 0.01 || f["feedback.injected"] != 50 ||
		f["feedback.traces"] != 20 || f["feedback.traceFailureRate"] != 1 || f["feedback.traceFailureRateBaseline"] != 1.0/90 {
		t.Errorf("feedback features %v", f)
	}
}

// TestFeedbackCarriedAndDropped: a previous profile without a finding today
// is kept while its edge exists; one whose edge is gone is dropped.
func TestFeedbackCarriedAndDropped(t *testing.T) {
	a := testAnalysis()
	a.Windows, a.Outcomes = quietWindows(), quietOutcomes()
	inWindows(a.Windows, "frontend", "recs", 0, 5, injectLatency)
	injectedTraces(a, "latency-frontend-recs", "frontend", "recs", 0, 5, 4, 0, 1)
	opt := testOptions()
	opt.Previous = previousBundle(
		bundle.Profile{ID: "latency-frontend-recs", Target: bundle.Target{Caller: "frontend", Callee: "recs"}, Fault: bundle.Fault{Type: "latency", DelayMs: 40}, Rate: 0.02, MaxRate: 0.05},
		bundle.Profile{ID: "errors-cart-redis", Target: bundle.Target{Caller: "cart", Callee: "redis"}, Fault: bundle.Fault{Type: "drop"}, Rate: 0.01},
	)
	res := mustGenerate(t, a, opt)
	p := profileByID(t, res.Bundle, "latency-frontend-recs")
	if p.Rate != 0.03 || p.MaxRate != 0.05 || p.Fault.DelayMs != 40 {
		t.Errorf("carried profile: rate %v maxRate %v fault %+v; want 0.03, 0.05 (its own), delay 40", p.Rate, p.MaxRate, p.Fault)
	}
	if !strings.HasPrefix(p.Rationale.Summary, "no finding today, kept from the previous bundle; delaying 3% of its calls by 40 ms") {
		t.Errorf("summary %q", p.Rationale.Summary)
	}
	for _, q := range res.Bundle.Profiles {
		if q.ID == "errors-cart-redis" {
			t.Error("a profile on a vanished edge was kept")
		}
	}
	found := false
	for _, d := range res.Decisions {
		if d.ID == "errors-cart-redis" {
			found = d.Verdict == VerdictDropped && strings.Contains(d.Reason, "not in the analysis")
		}
	}
	if !found {
		t.Errorf("no dropped decision: %+v", res.Decisions)
	}
	// Excluding the edge drops the carried profile too.
	opt.Exclude = []string{"*->recs"}
	if b := mustGenerate(t, a, opt).Bundle; len(b.Profiles) == 0 || slicesContains(ids(b), "latency-frontend-recs") {
		t.Errorf("excluded carried profile kept: %v", ids(b))
	}
}

func slicesContains(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// TestFeedbackDeterministic: with a previous bundle the output still does
// not depend on the order of the input, and the previous digest is
// recorded.
func TestFeedbackDeterministic(t *testing.T) {
	a := testAnalysis()
	a.Windows, a.Outcomes = quietWindows(), quietOutcomes()
	inWindows(a.Windows, "frontend", "checkout", 0, 5, injectLatency)
	injectedTraces(a, prevLatency.ID, "frontend", "checkout", 0, 5, 4, 0, 1)
	opt := testOptions()
	opt.Previous = previousBundle(prevLatency, prevAbort)
	opt.PreviousDigest = strings.Repeat("0", 64)
	want := mustEncode(t, mustGenerate(t, a, opt).Bundle)
	b := testAnalysis()
	b.Windows, b.Outcomes = quietWindows(), quietOutcomes()
	inWindows(b.Windows, "frontend", "checkout", 0, 5, injectLatency)
	injectedTraces(b, prevLatency.ID, "frontend", "checkout", 0, 5, 4, 0, 1)
	for i, j := 0, len(b.Windows)-1; i < j; i, j = i+1, j-1 {
		b.Windows[i], b.Windows[j] = b.Windows[j], b.Windows[i]
	}
	slices.Reverse(b.Outcomes)
	for i, j := 0, len(b.Findings)-1; i < j; i, j = i+1, j-1 {
		b.Findings[i], b.Findings[j] = b.Findings[j], b.Findings[i]
	}
	if got := mustEncode(t, mustGenerate(t, b, opt).Bundle); string(got) != string(want) {
		t.Error("reversed windows and findings change the bundle")
	}
	if !strings.Contains(string(want), `"previous": "sha256:0000`) {
		t.Error("previous digest not in params")
	}
	golden.Check(t, filepath.Join("testdata", "shop-feedback.json"), want)
}

// TestFeedbackNeedsCallerEvidence: records of the target edge alone (one
// sidecar's, with no spans of its caller's callers or of the roots) show
// the faults but not how the callers fared: no verdict, the rate kept.
func TestFeedbackNeedsCallerEvidence(t *testing.T) {
	a := testAnalysis()
	for _, w := range quietWindows() {
		if w.Caller == "checkout" && w.Callee == "payment" {
			injectAbort(&w)
			a.Windows = append(a.Windows, w)
		}
	}
	// the traces are there, but neither their roots nor checkout's spans
	injectedTraces(a, prevAbort.ID, "checkout", "payment", 0, 10, 4, 0, 1)
	for i := range a.Outcomes {
		a.Outcomes[i].Judged, a.Outcomes[i].Failed = 0, 0
	}
	opt := testOptions()
	opt.Previous = previousBundle(prevAbort)
	res := mustGenerate(t, a, opt)
	for _, d := range res.Decisions {
		if d.ID != prevAbort.ID {
			continue
		}
		if d.Verdict != VerdictNoEvidence || d.NewRate != prevAbort.Rate || !strings.Contains(d.Change, "rate kept at 0.8% (no caller evidence)") {
			t.Errorf("decision %+v", d)
		}
		return
	}
	t.Fatal("no decision")
}

// TestFeedbackExplainsChanges: the change names the floor and a change of
// severity with its cause; the guards that moved are listed.
func TestFeedbackExplainsChanges(t *testing.T) {
	a := testAnalysis()
	a.Windows, a.Outcomes = quietWindows(), quietOutcomes()
	inWindows(a.Windows, "checkout", "payment", 0, 5, injectAbort)
	injectedTraces(a, prevAbort.ID, "checkout", "payment", 0, 5, 4, 4, 1)
	opt := testOptions()
	prev := withRate(prevAbort, 0.0015)
	prev.Severity = bundle.SeverityModerate
	opt.Previous = previousBundle(prev)
	res := mustGenerate(t, a, opt)
	var d Decision
	for _, x := range res.Decisions {
		if x.ID == prev.ID {
			d = x
		}
	}
	for _, want := range []string{"rate 0.15% ×0.5 (hurt) = 0.075%, held at the floor 0.1% (MinRate 0.1%, or the previous rate when lower)",
		"severity moderate → critical: its edge's criticality is now 0.6 (critical from 0.5)"} {
		if !strings.Contains(d.Change, want) {
			t.Errorf("change %q lacks %q", d.Change, want)
		}
	}
	if d.OldSeverity != "moderate" || d.NewSeverity != "critical" || d.NewRate != MinRate {
		t.Errorf("decision %+v", d)
	}
	if len(res.GuardChanges) == 0 {
		t.Error("the guards changed from the previous bundle's, but no change is listed")
	}
	// below the floor already: lowering never raises
	opt.Previous = previousBundle(withRate(prevAbort, 0.0005))
	for _, x := range mustGenerate(t, a, opt).Decisions {
		if x.ID == prev.ID && (x.Verdict != VerdictHurt || x.NewRate != 0.0005) {
			t.Errorf("hurt at 0.05%%: %+v, want the rate held at 0.05%%", x)
		}
	}
}
