package profilegen

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/ingest"
)

// traceBuilder writes hand-built traces: each call a span whose parent is
// the call into its caller.
type traceBuilder struct {
	spans []ingest.Span
	n     int
}

// call adds a call from the service parent called into callee, starting
// at off after start, and returns it; parent nil makes a root call.
func (b *traceBuilder) call(trace string, start time.Time, parent *ingest.Span, callee string, failed bool) *ingest.Span {
	b.n++
	s := ingest.Span{TraceID: trace, SpanID: fmt.Sprintf("%016x", b.n), Callee: callee, Operation: "GET /",
		StartUnixNano: start.UnixNano() + int64(b.n%7)*1000, DurationNano: int64(5 * time.Millisecond), StatusCode: 200}
	if parent != nil {
		s.ParentSpanID, s.Caller, s.Depth = parent.SpanID, parent.Callee, parent.Depth+1
	}
	if failed {
		s.Error, s.StatusCode = true, 500
	}
	b.spans = append(b.spans, s)
	return &b.spans[len(b.spans)-1]
}

// inject marks the last call as injected by profile id.
func (b *traceBuilder) inject(id string) {
	s := &b.spans[len(b.spans)-1]
	s.Injected, s.FaultType, s.FaultProfileID, s.InjectedAtUnixNano = true, bundle.FaultAbort, id, s.StartUnixNano
}

// analyse writes the spans, analyses them (one-minute windows, no models)
// and loads the analysis as generate --previous does.
func (b *traceBuilder) analyse(t *testing.T) *Analysis {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "spans.parquet")
	w, err := ingest.Create(path, ingest.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(b.spans); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "analysis")
	if _, err := analysis.Run(context.Background(), []string{path}, out, analysis.Options{Window: time.Minute, NoModels: true}); err != nil {
		t.Fatal(err)
	}
	a, err := Load(out, true)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// judgeAll runs the feedback on a with the previous profiles (no guard
// conditions: the verdicts come from the traces) and returns the
// decisions by id.
func judgeAll(t *testing.T, a *Analysis, prev ...bundle.Profile) map[string]Decision {
	t.Helper()
	opt := testOptions()
	opt.Previous = previousBundle(prev...)
	opt.Previous.Guards.AbortIf = bundle.AbortIf{}
	out := map[string]Decision{}
	for _, d := range mustGenerate(t, a, opt).Decisions {
		out[d.ID] = d
	}
	return out
}

// injectedCalls sums an analysis' injections of profile id.
func injectedCalls(a *Analysis, id string) (n int64) {
	for _, r := range a.Injections {
		if r.FaultProfileID == id {
			n += r.Injected
		}
	}
	return n
}

// TestFeedbackRetryStorm: checkout retries its call to payment four times
// without backoff, and one trace in ten gets the abort, decided per trace,
// so every try of it is injected. Counted per try, the faults look
// absorbed: 100 injections, at most 20 errors upstream (a 0.2 share, under
// HurtPropagation). Counted per trace, every trace the profile touched
// failed at the root; and when a guard suppressed the last try (it
// succeeded, so did the request) the traces still made 5 calls on the edge
// where traces without injection made about one: a retry storm.
func TestFeedbackRetryStorm(t *testing.T) {
	const id = "errors-checkout-payment"
	for _, tc := range []struct {
		name       string
		suppressed bool // the last try was not injected, and succeeded
		reason     string
	}{
		{"every try injected", false, "100% of the 20 traces it injected into failed, against 0% of its edge's traces without injection"},
		{"a guard suppressed the last try", true, "its traces made 5 calls each on its edge, 4.81× the 1.04 of traces without injection: retries multiplied its faults"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b traceBuilder
			for i := range 200 {
				trace := fmt.Sprintf("%032x", i+1)
				start := t0.Add(time.Duration(i) * 3 * time.Second)
				injected := i%10 == 0
				failed := injected && !tc.suppressed
				root := b.call(trace, start, nil, "frontend", failed)
				co := b.call(trace, start, root, "checkout", failed)
				switch {
				case injected:
					for try := range 5 {
						last := try == 4
						b.call(trace, start, co, "payment", !(last && tc.suppressed))
						if !(last && tc.suppressed) {
							b.inject(id)
						}
					}
				case i%30 == 1: // payment's own failure, retried
					b.call(trace, start, co, "payment", true)
					b.call(trace, start, co, "payment", false)
				default:
					b.call(trace, start, co, "payment", false)
				}
			}
			a := b.analyse(t)
			// the premise: per try, the faults are diluted
			var upErrors int64
			for _, w := range a.Windows {
				if w.Callee == "checkout" {
					upErrors += w.Errors
				}
			}
			if n := injectedCalls(a, id); float64(upErrors)/float64(n) > HurtPropagation {
				t.Fatalf("%d injections, %d errors upstream: the per-try share is not under %v", n, upErrors, HurtPropagation)
			}
			d := judgeAll(t, a, bundle.Profile{ID: id, Target: bundle.Target{Caller: "checkout", Callee: "payment"},
				Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 500}, Rate: 0.1, MaxRate: 0.2})[id]
			if d.Verdict != VerdictHurt || d.NewRate != 0.05 || d.Reason != tc.reason {
				t.Errorf("decision %+v\nwant hurt, rate 5%%, reason %q", d, tc.reason)
			}
		})
	}
}

// TestFeedbackConcurrentProfiles: two profiles inject in the same windows.
// Inventory's abort reaches the clients (cart has no fallback); recommend's
// is answered by frontend's fallback. Per window, the root errors of the
// first would be blamed on the second as well (as many extra root errors
// as it has injections); per trace, each is judged by its own traces.
func TestFeedbackConcurrentProfiles(t *testing.T) {
	const inv, rec = "errors-cart-inventory", "errors-frontend-recommend"
	var b traceBuilder
	for i := range 400 {
		trace := fmt.Sprintf("%032x", i+1)
		start := t0.Add(time.Duration(i) * 1500 * time.Millisecond)
		injected := i%20 < 2 // one /cart and one /home trace in twenty
		if i%2 == 0 {
			root := b.call(trace, start, nil, "frontend", injected)
			cart := b.call(trace, start, root, "cart", injected)
			b.call(trace, start, cart, "inventory", injected)
			if injected {
				b.inject(inv)
			}
		} else {
			root := b.call(trace, start, nil, "frontend", false)
			b.call(trace, start, root, "recommend", injected) // failed, then the fallback
			if injected {
				b.inject(rec)
			}
		}
	}
	a := b.analyse(t)
	// the premise: in recommend's injection windows, the root errors
	// (inventory's) are as many as its injections
	var rootErrors int64
	for _, w := range a.Windows {
		if w.Caller == "" {
			rootErrors += w.Errors
		}
	}
	if n := injectedCalls(a, rec); n == 0 || float64(rootErrors)/float64(n) <= HurtPropagation {
		t.Fatalf("%d root errors against %d injections of %s: the premise does not hold", rootErrors, n, rec)
	}
	ds := judgeAll(t, a,
		bundle.Profile{ID: inv, Target: bundle.Target{Caller: "cart", Callee: "inventory"}, Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 500}, Rate: 0.1, MaxRate: 0.2},
		bundle.Profile{ID: rec, Target: bundle.Target{Caller: "frontend", Callee: "recommend"}, Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 500}, Rate: 0.05, MaxRate: 0.2})
	if d := ds[inv]; d.Verdict != VerdictHurt || d.Reason != "100% of the 20 traces it injected into failed, against 0% of its edge's traces without injection" {
		t.Errorf("%s: %+v, want hurt by its own traces", inv, d)
	}
	if d := ds[rec]; d.Verdict != VerdictHandled || d.NewRate != 0.075 ||
		d.Reason != "0% of the 20 traces it injected into failed, against 0% of its edge's traces without injection; calls per trace on its edge 1 against 1" {
		t.Errorf("%s: %+v, want handled (its own traces did not fail)", rec, d)
	}
}
