package guard

import (
	"testing"
	"time"
)

const s0 = int64(1_700_000_000) * 1e9 // a whole second

// serve arrives n requests at t, each ending d later, failed or not.
func serve(g *Guard, t int64, n int, root, failed bool, d time.Duration) {
	for range n {
		a := g.Arrive(t, root)
		g.Observe(a, t+int64(d), failed)
	}
}

func TestLatBucket(t *testing.T) {
	for _, d := range []time.Duration{time.Microsecond, 7 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 2500 * time.Millisecond, time.Hour} {
		i := latBucket(int64(d))
		if up := time.Duration(latUpper(i)); i < latBuckets-1 && (up < d*80/100 || up > d*125/100+time.Microsecond) {
			t.Errorf("%v: bucket %d, upper %v", d, i, up)
		}
	}
}

// The abort conditions judge only once the window holds MinRequests (20)
// requests; the root ones count root requests only.
func TestMinRequests(t *testing.T) {
	own := &Limits{MaxGlobalRate: 1, ErrorRate: 0.5}
	g := New(Options{})
	serve(g, s0, 19, false, true, time.Millisecond)
	if tr := g.Tick(s0+5e8, own); tr != nil {
		t.Fatalf("tripped on 19 requests: %+v", tr)
	}
	serve(g, s0+6e8, 1, false, true, time.Millisecond)
	if tr := g.Tick(s0+7e8, own); tr == nil || tr.Guard != ErrorRate || tr.Requests != 20 {
		t.Fatalf("20 failed requests: trip %+v, want errorRate over 20", tr)
	}

	root := &Limits{MaxGlobalRate: 1, RootErrorRate: 0.5}
	g = New(Options{})
	serve(g, s0, 100, false, true, time.Millisecond) // not root: the root condition ignores them
	serve(g, s0, 19, true, true, time.Millisecond)
	if tr := g.Tick(s0+5e8, root); tr != nil {
		t.Fatalf("tripped on 19 root requests: %+v", tr)
	}
	serve(g, s0+6e8, 1, true, true, time.Millisecond)
	if tr := g.Tick(s0+7e8, root); tr == nil || tr.Guard != RootErrorRate || tr.Requests != 20 {
		t.Fatalf("20 failed root requests: trip %+v", tr)
	}

	// MinRequests is an option
	g = New(Options{MinRequests: 5})
	serve(g, s0, 5, false, true, time.Millisecond)
	if tr := g.Tick(s0+5e8, own); tr == nil {
		t.Fatal("MinRequests 5: no trip on 5 failed requests")
	}
}

// The window is the last 10 one-second slots up to and including the
// current second.
func TestWindowLength(t *testing.T) {
	l := &Limits{MaxGlobalRate: 1, ErrorRate: 1}
	for _, tc := range []struct {
		at   int64
		trip bool
	}{{s0 + 9e9 + 999e6, true}, {s0 + 10e9, false}} {
		g := New(Options{})
		serve(g, s0+1e6, 20, false, true, time.Millisecond)
		if tr := g.Tick(tc.at, l); (tr != nil) != tc.trip {
			t.Errorf("20 failures at +0s, tick at +%.3fs: trip %+v, want %v", float64(tc.at-s0)/1e9, tr, tc.trip)
		}
	}
	g := New(Options{Window: 3 * time.Second})
	serve(g, s0, 20, false, true, time.Millisecond)
	if g.Tick(s0+3e9, l) != nil || g.Stats(s0+2e9).Requests != 20 {
		t.Error("a 3 s window holds seconds 0..2 only")
	}
}

// A value that reaches its limit trips: ≥, not >.
func TestReachedMeansAtLeast(t *testing.T) {
	for _, tc := range []struct {
		limit float64
		trip  bool
	}{{0.25, true}, {0.2501, false}} {
		g := New(Options{})
		serve(g, s0, 15, true, false, time.Millisecond)
		serve(g, s0, 5, true, true, time.Millisecond)
		if tr := g.Tick(s0+5e8, &Limits{RootErrorRate: tc.limit}); (tr != nil) != tc.trip {
			t.Errorf("error rate 0.25, limit %g: trip %+v, want %v", tc.limit, tr, tc.trip)
		}
	}
	// the p99 is the upper bound of its bucket: 3 ms falls in [2.5, 3) ms... or the next
	g := New(Options{})
	serve(g, s0, 20, false, false, 3*time.Millisecond)
	p99 := g.Stats(s0).P99Ms
	if p99 < 3 || p99 > 3.75 {
		t.Fatalf("p99 of 3 ms calls reads %g ms", p99)
	}
	if g.Tick(s0, &Limits{P99Ms: p99 + 0.001}) != nil {
		t.Error("tripped below the p99 limit")
	}
	if tr := g.Tick(s0, &Limits{P99Ms: p99}); tr == nil || tr.Guard != P99Ms || tr.Value != p99 {
		t.Errorf("p99 equal to the limit: trip %+v", tr)
	}
}

// maxGlobalRate is a fraction of max(requests in the window, MinRequests),
// so the first faults after a quiet spell are not suppressed.
func TestMaxGlobalRateFloor(t *testing.T) {
	l := &Limits{MaxGlobalRate: 0.1}
	g := New(Options{})
	var got []string
	for i := range 3 {
		g.Arrive(s0+int64(i), false)
		got = append(got, g.Admit(s0+int64(i), l, nil))
	}
	if got[0] != "" || got[1] != "" || got[2] != MaxGlobalRate {
		t.Errorf("3 fired faults on an empty window under 0.1: %q, want 2 admitted (0.1 × 20), then suppressed", got)
	}
	for i := range 37 {
		g.Arrive(s0+int64(10+i), false)
	}
	if r := g.Admit(s0+100, l, nil); r != "" {
		t.Errorf("40 requests, 2 injected: %q, want admitted (3 ≤ 4)", r)
	}
	if r := g.Admit(s0+101, l, nil); r != "" {
		t.Errorf("4th of 40: %q, want admitted", r)
	}
	if r := g.Admit(s0+102, l, nil); r != MaxGlobalRate {
		t.Errorf("5th of 40: %q, want %s", r, MaxGlobalRate)
	}
	if r := New(Options{}).Admit(s0, &Limits{}, nil); r != MaxGlobalRate {
		t.Errorf("maxGlobalRate 0: %q, want no injection at all", r)
	}
}

// Admission checks the breaker, then the perSecond bucket (whose token is
// spent even if a later check suppresses), then maxGlobalRate, then
// maxActiveFaults; Release frees the slot.
func TestAdmitOrder(t *testing.T) {
	g := New(Options{})
	serve(g, s0, 20, false, true, time.Millisecond)
	g.Tick(s0, &Limits{ErrorRate: 0.5})
	b := NewBucket(1)
	if r := g.Admit(s0, &Limits{MaxGlobalRate: 1}, b); r != Breaker {
		t.Fatalf("tripped: %q", r)
	}
	if !b.Take(s0) {
		t.Error("the breaker took the bucket's token")
	}
	if tr := g.Reset(); tr == nil || tr.Guard != ErrorRate {
		t.Errorf("reset returned %+v", tr)
	}

	g = New(Options{})
	b = NewBucket(1)
	if r := g.Admit(s0, &Limits{MaxGlobalRate: 0}, b); r != MaxGlobalRate {
		t.Fatalf("%q", r)
	}
	if r := g.Admit(s0, &Limits{MaxGlobalRate: 1}, b); r != PerSecond {
		t.Errorf("the token was not spent by the suppressed fault: %q", r)
	}
	if r := g.Admit(s0+1e9, &Limits{MaxGlobalRate: 1}, b); r != "" {
		t.Errorf("a second later: %q", r)
	}

	l := &Limits{MaxGlobalRate: 1, MaxActiveFaults: 2}
	g = New(Options{})
	serve(g, s0, 20, false, false, time.Millisecond)
	r1, r2, r3 := g.Admit(s0, l, nil), g.Admit(s0, l, nil), g.Admit(s0, l, nil)
	if r1 != "" || r2 != "" || r3 != MaxActiveFaults || g.Active() != 2 {
		t.Errorf("maxActiveFaults 2: %q %q %q, active %d", r1, r2, r3, g.Active())
	}
	g.Release()
	if r := g.Admit(s0, l, nil); r != "" {
		t.Errorf("after a release: %q", r)
	}
}

// An outcome goes into the slot its request arrived in, and is lost when
// that slot has moved on to a later second.
func TestObserveArrivalSlot(t *testing.T) {
	g := New(Options{Window: 2 * time.Second})
	a := g.Arrive(s0, false)
	g.Arrive(s0+2e9, false) // the same slot, two seconds on
	g.Observe(a, s0+2e9, true)
	if st := g.Stats(s0 + 2e9); st.Failures != 0 || st.Requests != 1 {
		t.Errorf("a late outcome went into a later second: %+v", st)
	}
	b := g.Arrive(s0+2e9+5e8, false)
	g.Arrive(s0+3e9, false)
	g.Observe(b, s0+3e9+1e8, true) // ends in the next second: counted in its arrival second
	if st := g.Stats(s0 + 3e9); st.Failures != 1 || st.Requests != 3 {
		t.Errorf("%+v", st)
	}
}

func TestBucket(t *testing.T) {
	if NewBucket(0) != nil {
		t.Error("perSecond 0 has a bucket")
	}
	b := NewBucket(5)
	n := 0
	for range 100 {
		if b.Take(s0) {
			n++
		}
	}
	for range 100 {
		if b.Take(s0 + 2e8) {
			n++
		}
	}
	if n != 6 {
		t.Errorf("burst 5 then 200 ms at 5/s: %d tokens, want 6", n)
	}
}
