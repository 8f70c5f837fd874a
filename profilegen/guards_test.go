package profilegen

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/guard"
)

func TestBinomialQuantile(t *testing.T) {
	for _, tc := range []struct {
		m    int64
		p    float64
		want int64
	}{
		{20, 0.01, 6},     // P(X ≥ 5) = 1.6e-6, P(X ≥ 6) = 3.7e-8
		{20, 0, 1},        // never a failure
		{20, 1, 21},       // always: no k of 20 is rare
		{10000, 0.1, 0},   // normal: 1000 + 4.75 × 30 + 0.5, checked below
		{20, 0.0276, 7},   // fraud→billing's 2.76% at 20 requests
		{1000, 0.0276, 0}, // checked below
	} {
		got := binomialQuantile(tc.m, tc.p, 1e-6)
		if tc.want != 0 && got != tc.want {
			t.Errorf("m %d p %g: %d, want %d", tc.m, tc.p, got, tc.want)
		}
		// the tail at got is at most 1e-6 and at got-1 above it (within
		// the normal approximation's error for large m·p·(1−p))
		if tc.p > 0 && tc.p < 1 {
			tail := func(k int64) float64 {
				s := 0.0
				for j := k; j <= tc.m; j++ {
					lg := func(x int64) float64 { v, _ := math.Lgamma(float64(x) + 1); return v }
					s += math.Exp(lg(tc.m) - lg(j) - lg(tc.m-j) + float64(j)*math.Log(tc.p) + float64(tc.m-j)*math.Log1p(-tc.p))
				}
				return s
			}
			if a, b := tail(got), tail(got-1); a > 1.5e-6 || b < 0.8e-6 {
				t.Errorf("m %d p %g: k %d has tail %g, k-1 %g", tc.m, tc.p, got, a, b)
			}
		}
	}
}

func TestCeil2(t *testing.T) {
	for x, want := range map[float64]float64{0.151: 0.16, 0.15: 0.15, 0.0276: 0.028, 1234: 1300, 0.3: 0.3} {
		if got := ceil2(x); got != want {
			t.Errorf("ceil2(%g) = %g, want %g", x, got, want)
		}
	}
}

// TestCalibratedGuardHoldsOnItsTraffic derives a service's guard from a day
// of its traffic (minute windows, 2% errors, 2 requests a second) and
// replays a new day of the same traffic, with an abort profile's faults,
// through package guard, ticking every second: nothing trips. The same
// traffic failing three times as often trips it.
func TestCalibratedGuardHoldsOnItsTraffic(t *testing.T) {
	const rps, p, rate = 2, 0.02, 0.05
	r := rand.New(rand.NewPCG(5, 6))
	a := &Analysis{Summary: analysis.Summary{Window: "1m0s"}}
	for w := range 1440 {
		n, e := int64(0), int64(0)
		for range 60 * rps {
			n++
			if r.Float64() < p {
				e++
			}
		}
		a.Windows = append(a.Windows, analysis.WindowRow{Caller: "a", Callee: "svc", WindowStartUnixNano: int64(w) * 60e9, CallStats: analysis.CallStats{Calls: n, Errors: e, MaxMs: 50}})
	}
	a.Edges = []analysis.EdgeRow{{Caller: "a", Callee: "svc", Traces: 1440 * 60 * rps, PeakCallsPerS: rps, CallStats: analysis.CallStats{Calls: 1440 * 60 * rps, P99Ms: 40, MaxMs: 50}}}
	c := &candidate{edge: &a.Edges[0], p: bundle.Profile{Rate: rate, Target: bundle.Target{Caller: "a", Callee: "svc"},
		Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}}}
	g, _ := guards(a, []*candidate{c}, 0.1)
	if len(g.Injectors) != 1 || g.Injectors[0].Service != "svc" {
		t.Fatalf("injectors %+v", g.Injectors)
	}
	l := guard.LimitsFor(g, "svc")
	t.Logf("limits %+v", l)
	day := func(p float64) *guard.Trip {
		gd := guard.New(guard.Options{})
		for s := int64(0); s < 86400; s++ {
			for i := range int64(rps) {
				now := s*1e9 + i*(1e9/rps)
				arr := gd.Arrive(now, false)
				failed := r.Float64() < p
				if r.Float64() < rate && gd.Admit(now, &l, nil) == "" {
					failed = true
					gd.Release()
				}
				gd.Observe(arr, now+int64(20*time.Millisecond), failed)
			}
			if tr := gd.Tick(s*1e9+999e6, &l); tr != nil {
				return tr
			}
		}
		return nil
	}
	if tr := day(p); tr != nil {
		t.Errorf("the calibrated guard tripped on its own traffic: %s", tr.Reason())
	}
	if tr := day(3 * (p + rate)); tr == nil {
		t.Error("three times the error rate did not trip it")
	}
}
