package importer

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
)

// chain returns one trace of n SERVER spans, each the child of the one
// before and in the other of two services: n calls, the last at depth n-1.
func chain(n int) []rawSpan {
	spans := make([]rawSpan, n)
	for i := range spans {
		spans[i] = rawSpan{traceID: "t1", spanID: fmt.Sprintf("%016x", i+1), service: []string{"a", "b"}[i%2],
			kind: kindServer, name: "op", start: int64(1e9 + i), dur: 1e6}
		if i > 0 {
			spans[i].parentID = spans[i-1].spanID
		}
	}
	return spans
}

// allocated returns the bytes allocated by resolving a chain of n spans.
func allocated(t *testing.T, n int) (uint64, []ingest.Span, *Report) {
	spans := chain(n)
	rep := newReport()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	calls := resolve(spans, rep)
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, calls, rep
}

// TestDeepChainLinear resolves chains of 20,000 and 40,000 spans, one hop
// each: the bytes allocated must grow linearly with the spans (copying
// each parent's stack, as before, allocated n²/2 strings: 3.2 GB at
// 20,000), every call is kept with its depth, and the stack column stops at
// MaxStack services.
func TestDeepChainLinear(t *testing.T) {
	small, calls, rep := allocated(t, 20_000)
	big, _, _ := allocated(t, 40_000)
	t.Logf("allocated %d bytes for 20,000 spans (%d per span), %d for 40,000", small, small/20_000, big)
	if ratio := float64(big) / float64(small); ratio > 2.5 {
		t.Errorf("twice the spans allocate %.2fx the bytes: not linear", ratio)
	}
	if per := small / 20_000; per > 4096 {
		t.Errorf("%d bytes allocated per span, want at most 4096", per)
	}
	if len(calls) != 20_000 {
		t.Fatalf("%d calls, want 20000", len(calls))
	}
	if got := rep.Counts[IssueDeepStack]; got != 20_000-MaxStack {
		t.Errorf("deep_stack %d, want %d", got, 20_000-MaxStack)
	}
	checkCalls(t, calls)
	for i, c := range calls {
		if c.Depth != int32(i) {
			t.Fatalf("call %d at depth %d", i, c.Depth)
		}
		if i == MaxStack-1 && (len(c.Stack) != MaxStack || c.Stack[0] != "a" || c.Stack[MaxStack-1] != "b") {
			t.Errorf("call %d: stack of %d from %q to %q", i, len(c.Stack), c.Stack[0], c.Stack[len(c.Stack)-1])
		}
	}
}
