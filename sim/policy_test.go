package sim

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/ingest"
)

const ms = int64(time.Millisecond)

// t0 is the start of the hand-built traces.
var t0 = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).UnixNano()

// twoHop builds trace n: ingress→a (0..100ms) calling a→b at 10ms for bDur
// (failing with bStatus when bFail), arriving at t0 + n × gap.
func twoHop(n int, gap, bDur int64, bFail bool, bStatus int32) []ingest.Span {
	start := t0 + int64(n)*gap
	id := fmt.Sprintf("%032x", n+1)
	root := ingest.Span{TraceID: id, SpanID: id[16:] + "r", Callee: "a", Operation: "/a", StartUnixNano: start,
		DurationNano: 10*ms + bDur + 40*ms, StatusCode: 200}
	b := ingest.Span{TraceID: id, SpanID: id[16:] + "b", ParentSpanID: root.SpanID, Caller: "a", Callee: "b", Operation: "/b",
		Depth: 1, StartUnixNano: start + 10*ms, DurationNano: bDur, StatusCode: 200}
	if bFail {
		b.Error, b.StatusCode = true, bStatus
	}
	return []ingest.Span{root, b}
}

func mustMesh(t *testing.T, y string) *Mesh {
	t.Helper()
	m, err := ParseMesh([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// replaySpans runs spans and returns the result and the simulated spans.
func replaySpans(t *testing.T, spans []ingest.Span, opt Options) (*Result, []ingest.Span) {
	t.Helper()
	var out []ingest.Span
	opt.Spans = func(s []ingest.Span) error { out = append(out, s...); return nil }
	res, err := RunSpans(spans, opt)
	if err != nil {
		t.Fatal(err)
	}
	return res, out
}

func edge(t *testing.T, r *Result, caller, callee string) Stats {
	t.Helper()
	for _, e := range r.Edges {
		if e.Caller == caller && e.Callee == callee {
			return e.Stats
		}
	}
	t.Fatalf("no edge %s→%s", caller, callee)
	return Stats{}
}

func rootSpans(out []ingest.Span) []ingest.Span {
	var r []ingest.Span
	for _, s := range out {
		if s.Depth == 0 {
			r = append(r, s)
		}
	}
	return r
}

func TestBaselineReproducesRecording(t *testing.T) {
	res, out := replaySpans(t, twoHop(0, 0, 50*ms, false, 0), Options{})
	if len(out) != 2 || rootSpans(out)[0].DurationNano != 100*ms || res.Root.SuccessRate != 1 {
		t.Fatalf("baseline replay: %+v", out)
	}
}

func TestTimeoutCutsSlowCall(t *testing.T) {
	spans := twoHop(0, 0, 500*ms, false, 0)
	res, out := replaySpans(t, spans, Options{Mesh: mustMesh(t, "edges:\n- {caller: a, callee: b, timeout: 100ms}\n")})
	root := rootSpans(out)[0]
	if root.DurationNano != 150*ms || !root.Error {
		t.Errorf("root: %v ms, error %v; want 150 ms (10 + 100 timeout + 40) and an error", root.DurationNano/ms, root.Error)
	}
	if b := edge(t, res, "a", "b"); b.Timeouts != 1 || b.SuccessRate != 0 {
		t.Errorf("a→b: %+v, want one timeout", b)
	}
	// without the timeout the slow call completes
	_, out = replaySpans(t, spans, Options{})
	if d := rootSpans(out)[0].DurationNano; d != 550*ms {
		t.Errorf("no timeout: root %d ms, want 550", d/ms)
	}
}

func TestRetriesFixTransientFailure(t *testing.T) {
	// attempt 0 fails after 10 ms; the recorded retry succeeds after 50 ms
	spans := twoHop(0, 0, 10*ms, true, 503)
	retry := spans[1]
	retry.SpanID += "1"
	retry.RetryCount = 1
	retry.StartUnixNano += 30 * ms
	retry.DurationNano = 50 * ms
	retry.Error, retry.StatusCode = false, 200
	spans = append(spans, retry)
	spans[0].DurationNano = 130 * ms // the root waited for the retry
	res, out := replaySpans(t, spans, Options{Mesh: mustMesh(t, `
defaults:
  retries: {attempts: 2, backoff: {base: 10ms, jitter: 0}}
`)})
	b := edge(t, res, "a", "b")
	if res.Root.SuccessRate != 1 || b.Attempts != 2 || b.RetryAmplification != 2 {
		t.Errorf("with retries: root success %v, a→b %+v; want success and 2 tries", res.Root.SuccessRate, b)
	}
	if d := rootSpans(out)[0].DurationNano; d != (10+10+10+50+40)*ms {
		t.Errorf("root %d ms, want 120 (10 + fail 10 + backoff 10 + 50 + 40)", d/ms)
	}
	res, _ = replaySpans(t, spans, Options{Mesh: mustMesh(t, "defaults:\n  retries: {attempts: 0}\n")})
	if res.Root.SuccessRate != 0 || edge(t, res, "a", "b").Attempts != 1 {
		t.Errorf("without retries the failure should reach the root: %+v", res.Root)
	}
	// the default mesh replays the recorded retry with its recorded backoff
	res, out = replaySpans(t, spans, Options{})
	if res.Root.SuccessRate != 1 || rootSpans(out)[0].DurationNano != (10+10+20+50+40)*ms {
		t.Errorf("recorded retries: %+v", rootSpans(out))
	}
}

func TestBreakerOpensAndShortCircuits(t *testing.T) {
	var spans []ingest.Span
	for n := 0; n < 10; n++ {
		spans = append(spans, twoHop(n, int64(time.Second), 20*ms, true, 500)...)
	}
	m := mustMesh(t, "edges:\n- {caller: a, callee: b, circuitBreaker: {consecutiveErrors: 3, openTime: 30s}}\n")
	res, out := replaySpans(t, spans, Options{Mesh: m})
	b := edge(t, res, "a", "b")
	if b.BreakerOpens != 1 || b.CircuitOpen != 7 {
		t.Errorf("a→b: %d opens, %d short-circuited; want 1 and 7", b.BreakerOpens, b.CircuitOpen)
	}
	open := 0
	for _, s := range out {
		if s.CircuitOpen {
			open++
			if s.DurationNano != 0 || s.StatusCode != 503 {
				t.Errorf("short-circuited call took %d ns with status %d", s.DurationNano, s.StatusCode)
			}
		}
	}
	if open != 7 {
		t.Errorf("%d spans marked circuit_open, want 7", open)
	}
	// after openTime one probe goes through; it fails and the breaker opens again
	m = mustMesh(t, "edges:\n- {caller: a, callee: b, circuitBreaker: {consecutiveErrors: 3, openTime: 2500ms}}\n")
	res, _ = replaySpans(t, spans, Options{Mesh: m})
	if b := edge(t, res, "a", "b"); b.BreakerOpens < 2 {
		t.Errorf("half-open probe: %d opens, want the failed probe to reopen", b.BreakerOpens)
	}
}

func TestFallbackAbsorbsFailure(t *testing.T) {
	// recorded: b failed and so did a (no fallback in the recording)
	spans := twoHop(0, 0, 20*ms, true, 500)
	spans[0].Error, spans[0].StatusCode = true, 500
	res, out := replaySpans(t, spans, Options{Mesh: mustMesh(t, "services:\n  b: {fallback: {latency: 5ms, success: true}}\n")})
	root := rootSpans(out)[0]
	if res.Root.SuccessRate != 1 || root.DurationNano != (10+20+5+40)*ms {
		t.Errorf("fallback: root success %v, %d ms; want success in 75 ms", res.Root.SuccessRate, root.DurationNano/ms)
	}
	var b ingest.Span
	for _, s := range out {
		if s.Callee == "b" {
			b = s
		}
	}
	if !b.Fallback || b.FallbackLatencyNano != 5*ms || edge(t, res, "a", "b").Fallbacks != 1 {
		t.Errorf("b span: %+v", b)
	}
	res, _ = replaySpans(t, spans, Options{})
	if res.Root.SuccessRate != 0 {
		t.Errorf("without fallback the failure should reach the root")
	}
	// recorded: b failed and a still succeeded; a absorbed it (a fallback
	// the spans do not name), so it does in the replay too
	spans = twoHop(0, 0, 20*ms, true, 500)
	if res, _ = replaySpans(t, spans, Options{}); res.Root.SuccessRate != 1 {
		t.Errorf("a recorded success over a failed call replays as a failure: root success %v", res.Root.SuccessRate)
	}
}

func TestCapacityQueuesAndOverflows(t *testing.T) {
	var spans []ingest.Span
	for n := 0; n < 3; n++ {
		spans = append(spans, twoHop(n, ms, 50*ms, false, 0)...)
	}
	res, out := replaySpans(t, spans, Options{Mesh: mustMesh(t, "services:\n  b: {capacity: {concurrency: 1, queueLength: 1}}\n")})
	b := edge(t, res, "a", "b")
	if b.Overflows != 1 || b.Calls != 3 || b.Succeeded != 2 {
		t.Errorf("a→b: %+v; want 3 calls, 1 overflow", b)
	}
	var durs []int64
	for _, s := range out {
		if s.Callee == "b" {
			durs = append(durs, s.DurationNano/ms)
		}
	}
	// the third overflows at once, the first runs, the second waits for it
	// (it came 1 ms later: 49 ms queued)
	want := []int64{0, 50, 99}
	if fmt.Sprint(durs) != fmt.Sprint(want) {
		t.Errorf("b tries took %v ms, want %v (in the order they end)", durs, want)
	}
}

func TestIstioFaultDisablesRetries(t *testing.T) {
	spans := twoHop(0, 0, 20*ms, false, 0)
	b := bundletest.Bundle(bundle.Profile{ID: "b-abort", Target: bundle.Target{Callee: "b"}, Rate: 1,
		Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}})
	mesh := "edges:\n- {caller: a, callee: b, timeout: 5ms, retries: {attempts: 2, backoff: {base: 1ms}}}\n"
	res, _ := replaySpans(t, spans, Options{Mesh: mustMesh(t, mesh), Bundle: b, Inject: true})
	if e := edge(t, res, "a", "b"); e.Attempts != 3 || e.Injected != 3 {
		t.Errorf("retries on: a→b %+v; want 3 tries, all aborted", e)
	}
	res, out := replaySpans(t, spans, Options{Mesh: mustMesh(t, mesh+"istioFaultDisablesRetries: true\n"), Bundle: b, Inject: true})
	if e := edge(t, res, "a", "b"); e.Attempts != 1 {
		t.Errorf("istioFaultDisablesRetries: a→b %+v; want 1 try", e)
	}
	// and the 5ms timeout is gone too: the root takes its recorded own time
	if d := rootSpans(out)[0].DurationNano; d != 50*ms {
		t.Errorf("root %d ms, want 50", d/ms)
	}
}

func TestFaultEffects(t *testing.T) {
	spans := twoHop(0, 0, 20*ms, false, 0)
	run := func(f bundle.Fault, mesh string) (*Result, ingest.Span) {
		b := bundletest.Bundle(bundle.Profile{ID: "p", Target: bundle.Target{Caller: "a", Callee: "b"}, Rate: 1, Fault: f})
		res, out := replaySpans(t, spans, Options{Mesh: mustMesh(t, mesh), Bundle: b, Inject: true})
		return res, rootSpans(out)[0]
	}
	_, root := run(bundle.Fault{Type: bundle.FaultLatency, DelayMs: 100, Factor: 2}, "")
	if root.DurationNano != (10+100+40+40)*ms {
		t.Errorf("latency 100ms, factor 2: root %d ms, want 190", root.DurationNano/ms)
	}
	res, root := run(bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 429}, "")
	if !root.Error || root.DurationNano != 50*ms || res.Root.SuccessRate != 0 {
		t.Errorf("abort: root %+v", root)
	}
	_, root = run(bundle.Fault{Type: bundle.FaultDrop}, "edges:\n- {caller: a, callee: b, timeout: 300ms}\n")
	if !root.Error || root.DurationNano != (10+300+40)*ms {
		t.Errorf("drop with a 300ms timeout: root %d ms, want 350", root.DurationNano/ms)
	}
	_, root = run(bundle.Fault{Type: bundle.FaultDrop}, "dropResetAfter: 2s\n")
	if !root.Error || root.DurationNano != (10+2000+40)*ms {
		t.Errorf("drop without timeout: root %d ms, want 2050 (reset after 2s)", root.DurationNano/ms)
	}
	_, root = run(bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptEmpty}, "")
	if !root.Error {
		t.Errorf("corrupt: a validating caller should fail")
	}
	_, root = run(bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptEmpty}, "defaults: {validateResponses: false}\n")
	if root.Error {
		t.Errorf("corrupt: a caller that does not validate should succeed")
	}
}

func TestGuardsLimitInjection(t *testing.T) {
	var spans []ingest.Span
	for n := 0; n < 100; n++ {
		spans = append(spans, twoHop(n, 10*ms, 20*ms, false, 0)...)
	}
	p := bundle.Profile{ID: "p", Target: bundle.Target{Callee: "b"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultLatency, DelayMs: 100}}
	// one second of traffic, 100 calls: perSecond 10 allows the burst of 10 plus 10 refilled
	ps := p
	ps.PerSecond = 10
	res, _ := replaySpans(t, spans, Options{Bundle: bundletest.Bundle(ps), Inject: true})
	if got := res.Profiles[0].Injected; got < 18 || got > 21 {
		t.Errorf("perSecond 10 over ~1s: %d injected, want about 20", got)
	}
	b := bundletest.Bundle(p)
	b.Guards.MaxGlobalRate = 0.2 // of the 100 requests b's injector sees in its 10 s window
	res, _ = replaySpans(t, spans, Options{Bundle: b, Inject: true})
	if got := res.Profiles[0].Injected; got != 20 || res.Suppressed.MaxGlobalRate != 80 {
		t.Errorf("maxGlobalRate 0.2: %d injected of %d tries, %d suppressed", got, res.Tries, res.Suppressed.MaxGlobalRate)
	}
	b = bundletest.Bundle(p)
	b.Guards.MaxActiveFaults = 5 // each delay lasts 120 ms, calls come every 10 ms
	res, _ = replaySpans(t, spans, Options{Bundle: b, Inject: true})
	if got := res.Profiles[0].Injected; got > 50 || res.Suppressed.MaxActiveFaults == 0 {
		t.Errorf("maxActiveFaults 5: %d injected, %d suppressed", got, res.Suppressed.MaxActiveFaults)
	}
}

func TestParseMeshStrict(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"defaults: {timout: 1s}", `invalid mesh: defaults: unknown field "timout" (want one of capacity, circuitBreaker, fallback, retries, timeout, validateResponses)`},
		{"services:\n  cart:\n    retries: {atempts: 2}", `invalid mesh: services.cart.retries: unknown field "atempts" (want one of attempts,`},
		{"edges:\n- {callee: b, timeout: 2 s}", `invalid mesh: edges[0].timeout: time: unknown unit " s" in duration "2 s" (write durations like 250ms, 2s or 1m30s)`},
		{"defaults: {retries: {attempts: two}}", `invalid mesh: defaults.retries.attempts: want int, got "two"`},
		{"defaults: {retries: {attempts: 1, retryOn: [4xx]}}", `unknown outcome "4xx"`},
		{"edges:\n- {callee: b, capacity: {concurrency: 1}}", "capacity: belongs to a service"},
		{"defaults: {timeout: 5}", "defaults.timeout: a duration must be a string"},
		{"defaults: {timeout: 1s}\ndefaults: {timeout: 2s}", `"defaults"`},
	} {
		_, err := ParseMesh([]byte(c.yaml))
		if err == nil || !contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.yaml, err, c.want)
		}
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}

// TestMeshUnknownServices checks that a mesh naming a service the spans do
// not mention is refused, naming where.
func TestMeshUnknownServices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spans.parquet")
	if err := ingest.WriteFile(path, twoHop(0, 0, 20*ms, false, 0)); err != nil {
		t.Fatal(err)
	}
	m, err := ParseMesh([]byte("services:\n  b: {timeout: 1s}\n  cartt: {timeout: 1s}\nedges:\n- {caller: a, callee: b}\n- {caller: fronted, callee: b}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = m.CheckServices(context.Background(), []string{path})
	want := `invalid mesh: services.cartt: no service "cartt" in the spans; edges[1].caller: no service "fronted" in the spans`
	if err == nil || err.Error() != want {
		t.Errorf("CheckServices: %v, want %s", err, want)
	}
	m, _ = ParseMesh([]byte("services:\n  b: {timeout: 1s}\nedges:\n- {caller: a, callee: b}\n"))
	if err := m.CheckServices(context.Background(), []string{path}); err != nil {
		t.Errorf("known services: %v", err)
	}
}

// TestGuardsSlideAndTrip checks the injector's guards in virtual time: the
// maxGlobalRate window slides, drops free their maxActiveFaults slot at
// once, a suppressed fault does not fall through to the next profile, and
// abortIf trips the injector's breaker, which stops injection.
func TestGuardsSlideAndTrip(t *testing.T) {
	// 300 calls, one every 100 ms: 30 s of traffic
	var spans []ingest.Span
	for n := 0; n < 300; n++ {
		spans = append(spans, twoHop(n, 100*ms, 20*ms, false, 0)...)
	}
	lat := bundle.Profile{ID: "p", Target: bundle.Target{Callee: "b"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultLatency, DelayMs: 1}}
	b := bundletest.Bundle(lat)
	b.Guards.MaxGlobalRate = 0.1
	res, _ := replaySpans(t, spans, Options{Bundle: b, Inject: true})
	// about 10% of every window: ~30, not 10% of the first window only
	if got := res.Profiles[0].Injected; got < 27 || got > 33 {
		t.Errorf("maxGlobalRate 0.1 over 30 s: %d injected, want about 30", got)
	}

	// drops end at once at the injector: one at a time is enough for all
	drop := bundle.Profile{ID: "d", Target: bundle.Target{Callee: "b"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultDrop}}
	b = bundletest.Bundle(drop)
	b.Guards.MaxActiveFaults = 1
	res, _ = replaySpans(t, spans, Options{Mesh: mustMesh(t, "edges:\n- {caller: a, callee: b, timeout: 300ms}\n"), Bundle: b, Inject: true})
	if got := res.Profiles[0].Injected; got != 300 || res.Suppressed.MaxActiveFaults != 0 {
		t.Errorf("drop with maxActiveFaults 1: %d injected, %d suppressed; want 300, 0", got, res.Suppressed.MaxActiveFaults)
	}

	// a fault held back by a guard does not fall through to the next profile
	p1 := lat
	p1.PerSecond = 0.001 // one token, then none
	p2 := drop
	p2.ID = "q"
	res, _ = replaySpans(t, spans, Options{Bundle: bundletest.Bundle(p1, p2), Inject: true})
	if res.Profiles[0].Injected != 1 || res.Profiles[1].Injected != 0 {
		t.Errorf("first profile capped: injected %d and %d, want 1 and 0", res.Profiles[0].Injected, res.Profiles[1].Injected)
	}

	// aborts at rate 1 break b's own errorRate once its window holds 20
	// requests: b's breaker trips and injection stops
	abort := bundle.Profile{ID: "a", Target: bundle.Target{Callee: "b"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}}
	b = bundletest.Bundle(abort)
	b.Guards.Injectors = []bundle.InjectorGuard{{Service: "b", ErrorRate: 0.5}}
	res, _ = replaySpans(t, spans, Options{Bundle: b, Inject: true})
	if len(res.GuardTrips) != 1 || res.GuardTrips[0].Service != "b" || res.GuardTrips[0].Guard != "errorRate" {
		t.Fatalf("abortIf: trips %+v", res.GuardTrips)
	}
	if got := res.Profiles[0].Injected; got < 20 || got > 30 || res.Suppressed.Breaker != 300-got {
		t.Errorf("abortIf: %d injected, %d suppressed by the breaker; want 20-30 then none", got, res.Suppressed.Breaker)
	}
	if ps := res.Profiles[0]; ps.Fired != 300 || ps.Suppressed.Breaker != 300-ps.Injected {
		t.Errorf("profile counts %+v: want 300 fired, the rest suppressed by the breaker", ps)
	}
	// the root condition is judged over root requests: b serves none (its
	// caller is a), so it does not trip b and b keeps injecting; a's
	// sidecar, serving the roots that b's aborts fail, trips (and has no
	// profile to stop), as in a deployment with one sidecar per service
	b.Guards.Injectors = nil
	b.Guards.AbortIf.RootErrorRate = 0.5
	res, _ = replaySpans(t, spans, Options{Bundle: b, Inject: true})
	if len(res.GuardTrips) != 1 || res.GuardTrips[0].Service != "a" || res.GuardTrips[0].Guard != "rootErrorRate" || res.Profiles[0].Injected != 300 {
		t.Errorf("rootErrorRate with faults at b: trips %+v, %d injected; want a's sidecar to trip and b to inject all 300", res.GuardTrips, res.Profiles[0].Injected)
	}
	// at a, which serves the roots, it does
	rootAbort := abort
	rootAbort.Target.Callee = "a"
	b = bundletest.Bundle(rootAbort)
	b.Guards.AbortIf.RootErrorRate = 0.5
	res, _ = replaySpans(t, spans, Options{Bundle: b, Inject: true})
	if len(res.GuardTrips) != 1 || res.GuardTrips[0].Service != "a" || res.GuardTrips[0].Guard != "rootErrorRate" {
		t.Fatalf("rootErrorRate at the ingress injector: trips %+v", res.GuardTrips)
	}
	// without faults nothing trips
	res, _ = replaySpans(t, spans, Options{Bundle: b})
	if len(res.GuardTrips) != 0 {
		t.Errorf("baseline tripped %+v", res.GuardTrips)
	}
}

// TestReportShowsGuards: the report's per-profile counts, the trips and
// the reason an idle profile injected nothing.
func TestReportShowsGuards(t *testing.T) {
	var spans []ingest.Span
	for n := 0; n < 300; n++ {
		spans = append(spans, twoHop(n, 100*ms, 20*ms, false, 0)...)
	}
	abort := bundle.Profile{ID: "a", Target: bundle.Target{Callee: "b"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}}
	never := bundle.Profile{ID: "n", Target: bundle.Target{Callee: "zzz"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultDrop}}
	b := bundletest.Bundle(abort, never)
	b.Guards.Injectors = []bundle.InjectorGuard{{Service: "b", ErrorRate: 0.5}}
	base, _ := replaySpans(t, spans, Options{Bundle: b})
	faults, _ := replaySpans(t, spans, Options{Bundle: b, Inject: true})
	g := guards(b, base, faults)
	if !g.Breached || len(g.Trips) != 1 || len(g.BaselineTrips) != 0 || !strings.Contains(g.Reason(), "b's injector tripped at") {
		t.Errorf("guard report %+v: %s", g, g.Reason())
	}
	prs := compare(b, nil, base, faults)
	if a := prs[0]; a.Matched != 300 || a.Fired != 300 || a.Injected+a.Suppressed.Breaker != 300 || a.Why != "" {
		t.Errorf("profile a: %+v", a)
	}
	if n := prs[1]; n.Verdict != "idle" || n.Why != "no replayed call matches its target" {
		t.Errorf("profile n: verdict %q why %q", n.Verdict, n.Why)
	}
	var out strings.Builder
	rep := &Report{Baseline: base, Faults: faults, Profiles: prs, Guards: g}
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"n idle: no replayed call matches its target", "with faults", "BREACHED: 1 injector trip(s)", "reached the injector's errorRate 0.5"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	// a profile whose faults are all held back says why
	b.Guards.MaxGlobalRate = 0
	faults, _ = replaySpans(t, spans, Options{Bundle: b, Inject: true})
	if a := compare(b, nil, base, faults)[0]; a.Why != "fired 300 times, all suppressed (300 maxGlobalRate)" {
		t.Errorf("why %q", a.Why)
	}
}
