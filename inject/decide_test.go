package inject

import (
	"fmt"
	"math"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
)

func TestFiresRate(t *testing.T) {
	for _, rate := range []float64{0, 0.001, 0.05, 0.3, 0.5, 0.99, 1} {
		n, hits := 200_000, 0
		for i := 0; i < n; i++ {
			if Fires("p1", rate, 42, fmt.Sprintf("%032x", uint64(i)*2654435761)) {
				hits++
			}
		}
		got := float64(hits) / float64(n)
		// binomial 99.9% interval: 3.29 standard deviations
		tol := 3.29*math.Sqrt(rate*(1-rate)/float64(n)) + 1e-12
		if math.Abs(got-rate) > tol {
			t.Errorf("rate %g: observed %g, outside ±%g", rate, got, tol)
		}
	}
}

func TestDecisionIsPerTraceProfileAndSeed(t *testing.T) {
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	if Uniform("p", 1, trace) != Uniform("p", 1, "4BF92F3577B34DA6A3CE929D0E0E4736") {
		t.Error("trace id case changes the decision")
	}
	if Uniform("p", 1, trace) == Uniform("q", 1, trace) || Uniform("p", 1, trace) == Uniform("p", 2, trace) {
		t.Error("profile id or seed does not change the draw")
	}
	// independence between profiles: the joint firing rate is the product
	n, both := 100_000, 0
	for i := 0; i < n; i++ {
		tr := fmt.Sprintf("%016x", i)
		if Fires("a", 0.5, 7, tr) && Fires("b", 0.5, 7, tr) {
			both++
		}
	}
	if got := float64(both) / float64(n); math.Abs(got-0.25) > 0.01 {
		t.Errorf("P(a and b) = %g, want 0.25", got)
	}
	// pinned values: the hash is part of the bundle format
	if got := Uniform("latency-checkout-payment", 1, trace); fmt.Sprintf("%.12f", got) != "0.501369470061" {
		t.Errorf("Uniform changed: %.12f", got)
	}
}

func TestMatches(t *testing.T) {
	cases := []struct {
		target bundle.Target
		req    Request
		want   bool
	}{
		{bundle.Target{Callee: "pay"}, Request{Callee: "pay", Caller: "x"}, true},
		{bundle.Target{Callee: "pay"}, Request{Callee: "cart"}, false},
		{bundle.Target{Callee: "pay", Caller: "checkout"}, Request{Callee: "pay", Caller: "x"}, false},
		{bundle.Target{Callee: "pay", Caller: "checkout"}, Request{Callee: "pay", Caller: "checkout"}, true},
		{bundle.Target{Callee: "pay", Operation: "GET /items/*"}, Request{Callee: "pay", Method: "GET", Path: "/items/42"}, true},
		{bundle.Target{Callee: "pay", Operation: "GET /items/*"}, Request{Callee: "pay", Method: "POST", Path: "/items/42"}, false},
		{bundle.Target{Callee: "pay", Operation: "GET /items/*"}, Request{Callee: "pay", Method: "GET", Path: "/items/42/x"}, false},
		{bundle.Target{Callee: "pay", Operation: "* /items/**"}, Request{Callee: "pay", Method: "PUT", Path: "/items/42/x"}, true},
		{bundle.Target{Callee: "pay", Operation: "* /items/**"}, Request{Callee: "pay", Method: "PUT", Path: "/items"}, true},
		{bundle.Target{Callee: "pay", Operation: "* /items/**"}, Request{Callee: "pay", Method: "PUT", Path: "/other/1"}, false},
		{bundle.Target{Callee: "pay", Operation: "pay.v1.Pay/Charge"}, Request{Callee: "pay", Method: "POST", Path: "/pay.v1.Pay/Charge"}, true},
		{bundle.Target{Callee: "pay", Operation: "/health"}, Request{Callee: "pay", Method: "GET", Path: "/health"}, true},
	}
	for _, c := range cases {
		if got := Matches(&c.target, c.req); got != c.want {
			t.Errorf("Matches(%+v, %+v) = %v, want %v", c.target, c.req, got, c.want)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	p := &bundle.Profile{ID: "latency-checkout-payment", Rate: 0.05, Target: bundle.Target{Caller: "checkout", Callee: "payment", Operation: "POST /charge"}}
	req := Request{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Caller: "checkout", Callee: "payment", Method: "POST", Path: "/charge"}
	b.ReportAllocs()
	for b.Loop() {
		Decide(p, 1, req)
	}
}
