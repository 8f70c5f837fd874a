package guard_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/guard"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/inject"
	"github.com/chaosgen/chaosgen/sim"
)

// clock is a settable clock for the injector.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// request is one request of the shared sequence: a root request to "front".
type request struct {
	trace  string
	at     int64 // unix ns
	dur    int64
	status int
}

// sequence is three minutes of root requests to "front", about 5 a second,
// each shorter than the gap to the next: healthy (3% 500s) for the first
// minute, then half of them failing, then healthy again.
func sequence(seed uint64) []request {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []request
	t := int64(1_700_000_000_000_000_000) + 123_456_789
	for i := 0; t < 1_700_000_000_000_000_000+180e9; i++ {
		gap := int64(120e6 + r.Int64N(160e6))
		q := request{trace: fmt.Sprintf("%032x", r.Uint64()|1<<63), at: t, dur: int64(1e6 + r.Int64N(100e6)), status: 200}
		sec := (t - 1_700_000_000_000_000_000) / 1e9
		if (sec >= 60 && sec < 120 && r.IntN(2) == 0) || r.IntN(100) < 3 {
			q.status = 500
		}
		out = append(out, q)
		t += gap
	}
	return out
}

func sharedBundle() *bundle.Bundle {
	return &bundle.Bundle{APIVersion: bundle.APIVersion, Kind: bundle.Kind,
		Metadata: bundle.Metadata{Name: "shared", Seed: 7},
		Guards: bundle.Guards{MaxGlobalRate: 0.2, MaxActiveFaults: 3,
			AbortIf:   bundle.AbortIf{RootErrorRate: 0.6},
			Injectors: []bundle.InjectorGuard{{Service: "front", ErrorRate: 0.45}}},
		Profiles: []bundle.Profile{{ID: "front-abort", Target: bundle.Target{Callee: "front"}, Rate: 0.3, MaxRate: 0.3,
			PerSecond: 1.5, Severity: bundle.SeverityMinor, Rationale: bundle.Rationale{Summary: "test"},
			Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}}}}
}

// TestInjectAndSimDecideAlike drives one request sequence through the
// injector (its HTTP middleware on a settable clock, the guards ticked at
// every whole second as the proxy does) and through the simulator, and
// asserts the same fault, request by request, the same counts of fired,
// injected and suppressed faults, and the same trip.
func TestInjectAndSimDecideAlike(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Logf("seed %d", seed)
			seq := sequence(seed)
			b := sharedBundle()

			// the injector
			clk := &clock{t: time.Unix(0, seq[0].at)}
			inj, err := inject.New(b, inject.Options{Service: "front", Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			var cur request
			h := inj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				clk.Set(time.Unix(0, cur.at+cur.dur))
				w.WriteHeader(cur.status)
			}))
			injected := map[string]bool{}
			tick := seq[0].at/1e9 + 1
			for _, q := range seq {
				for ; tick*1e9 <= q.at; tick++ {
					clk.Set(time.Unix(tick, 0))
					inj.CheckGuards()
				}
				cur = q
				clk.Set(time.Unix(0, q.at))
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("traceparent", "00-"+q.trace+"-00f067aa0ba902b7-01")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				injected[q.trace] = rec.Header().Get(inject.HeaderFault) != ""
			}
			for end := tick + 12; tick <= end; tick++ {
				clk.Set(time.Unix(tick, 0))
				inj.CheckGuards()
			}
			st := inj.Status()

			// the simulator
			var spans []ingest.Span
			for _, q := range seq {
				spans = append(spans, ingest.Span{TraceID: q.trace, SpanID: q.trace[:16], Callee: "front", Operation: "GET /",
					StartUnixNano: q.at, DurationNano: q.dur, StatusCode: int32(q.status), Error: q.status >= 500})
			}
			simInjected := map[string]bool{}
			res, err := sim.RunSpans(spans, sim.Options{Bundle: b, Inject: true,
				Spans: func(s []ingest.Span) error {
					for _, sp := range s {
						simInjected[sp.TraceID] = simInjected[sp.TraceID] || sp.Injected
					}
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}

			n := 0
			for i, q := range seq {
				if injected[q.trace] != simInjected[q.trace] {
					t.Errorf("request %d (trace %s at +%.3fs): injector injected %v, simulator %v", i, q.trace,
						float64(q.at-seq[0].at)/1e9, injected[q.trace], simInjected[q.trace])
					if n++; n > 5 {
						t.FailNow()
					}
				}
			}
			ps, sp := st.Profiles[0], res.Profiles[0]
			t.Logf("%d requests; simulator: fired %d, injected %d, suppressed %+v; trips %+v", len(seq), sp.Fired, sp.Injected, sp.Suppressed, res.GuardTrips)
			simSup := sp.Suppressed.PerSecond + sp.Suppressed.MaxGlobalRate + sp.Suppressed.MaxActiveFaults + sp.Suppressed.Breaker
			if ps.Matched != sp.Matched || ps.Fired != sp.Fired || ps.Injected != sp.Injected || ps.Suppressed != simSup {
				t.Errorf("injector matched/fired/injected/suppressed %d/%d/%d/%d, simulator %d/%d/%d/%d (%+v)", ps.Matched,
					ps.Fired, ps.Injected, ps.Suppressed, sp.Matched, sp.Fired, sp.Injected, simSup, sp.Suppressed)
			}
			// every kind of suppression happened, so the comparison means something
			if sp.Suppressed.PerSecond == 0 || sp.Suppressed.MaxGlobalRate == 0 || sp.Suppressed.Breaker == 0 {
				t.Errorf("the sequence does not exercise every guard: %+v", sp.Suppressed)
			}
			if !st.Guards.Tripped || len(res.GuardTrips) != 1 {
				t.Fatalf("trips: injector %v %q, simulator %+v", st.Guards.Tripped, st.Guards.TripReason, res.GuardTrips)
			}
			it, gt := st.Guards.Trip, res.GuardTrips[0]
			if it.Guard != gt.Guard || it.AtUnixNano != gt.AtUnixNano || it.Value != gt.Value || it.Requests != gt.Requests || it.Reason() != gt.Reason {
				t.Errorf("trip: injector %+v, simulator %+v", *it, gt)
			}
			if gt.Guard != guard.ErrorRate {
				t.Errorf("tripped %s, want the injector's own errorRate", gt.Guard)
			}
		})
	}
}
