package sim

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/inject"
	"github.com/chaosgen/chaosgen/synth"
)

// synthSpans generates and reads a small synthetic mesh.
func synthSpans(t *testing.T) []ingest.Span {
	t.Helper()
	spans, err := ingest.ReadFile(synthFile(t, synth.Options{Days: 0.01, RPS: 5, Services: 12, Seed: 11}))
	if err != nil {
		t.Fatal(err)
	}
	return spans
}

// decisionBundle has profiles of every fault type on the busiest callees,
// with no cap or guard in the way.
func decisionBundle(spans []ingest.Span) *bundle.Bundle {
	count := map[string]int{}
	for _, s := range spans {
		if s.Depth > 0 {
			count[s.Callee]++
		}
	}
	callees := sortedKeys(count)
	slices.SortStableFunc(callees, func(a, b string) int { return count[b] - count[a] })
	faults := []bundle.Fault{
		{Type: bundle.FaultLatency, DelayMs: 30, JitterMs: 10},
		{Type: bundle.FaultAbort, HTTPStatus: 503, GRPCStatus: 14},
		{Type: bundle.FaultDrop},
		{Type: bundle.FaultCorrupt, Mode: bundle.CorruptBitflip},
	}
	var ps []bundle.Profile
	for i, f := range faults {
		ps = append(ps, bundle.Profile{ID: "p" + string(rune('a'+i)), Target: bundle.Target{Callee: callees[i]}, Rate: 0.3, Fault: f})
	}
	// a second profile on the first callee: the first in id order that fires wins
	ps = append(ps, bundle.Profile{ID: "pz", Target: bundle.Target{Callee: callees[0]}, Rate: 0.5,
		Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 500}})
	return bundletest.Bundle(ps...)
}

func TestDecisionsMatchInjectDecide(t *testing.T) {
	spans := synthSpans(t)
	b := decisionBundle(spans)
	mesh := mustMesh(t, "defaults:\n  timeout: 1s\n  retries: {attempts: 1, perTryTimeout: 200ms}\n")
	_, out := replaySpans(t, spans, Options{Mesh: mesh, Bundle: b, Inject: true, Seed: 3})
	checked, injected := 0, 0
	for _, s := range out {
		if s.CircuitOpen {
			continue // refused by the caller's breaker: never reached the injector
		}
		req := inject.Request{TraceID: s.TraceID, Caller: s.Caller, Callee: s.Callee, Path: s.Operation}
		want := ""
		for i := range b.Profiles {
			if inject.Decide(&b.Profiles[i], b.Metadata.Seed, req) {
				want = b.Profiles[i].ID
				break
			}
		}
		checked++
		if s.Injected {
			injected++
		}
		if s.Injected != (want != "") || s.FaultProfileID != want {
			t.Fatalf("span %s %s→%s %s: injected %v by %q, inject.Decide says %q", s.SpanID, s.Caller, s.Callee, s.Operation, s.Injected, s.FaultProfileID, want)
		}
	}
	if injected == 0 || injected == checked {
		t.Fatalf("%d of %d calls injected: the test checks nothing", injected, checked)
	}
	t.Logf("%d simulated calls compared with inject.Decide, %d injected", checked, injected)
}

func TestDeterministic(t *testing.T) {
	spans := synthSpans(t)
	b := decisionBundle(spans)
	mesh := mustMesh(t, `
defaults:
  timeout: 1s
  retries: {attempts: 2, perTryTimeout: 150ms, budget: {percent: 20, minConcurrency: 2}}
  circuitBreaker: {consecutiveErrors: 5, openTime: 5s}
  fallback: {latency: 3ms, success: true}
  capacity: {concurrency: 4, queueLength: 8}
`)
	run := func(spans []ingest.Span) []byte {
		res, out := replaySpans(t, spans, Options{Mesh: mesh, Bundle: b, Inject: true, Seed: 9, LoadFactor: 3, MaxOpenSpans: len(spans) + 1, ReorderWindow: len(spans)})
		var buf bytes.Buffer
		json.NewEncoder(&buf).Encode(res)
		json.NewEncoder(&buf).Encode(out)
		return buf.Bytes()
	}
	a, b2 := run(spans), run(spans)
	if !bytes.Equal(a, b2) {
		t.Fatal("two runs on the same input differ")
	}
	// rows in another order (traces no longer adjacent) give the same replay
	shuffled := slices.Clone(spans)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if c := run(shuffled); !bytes.Equal(a, c) {
		t.Fatal("shuffled input gives another replay")
	}
}
