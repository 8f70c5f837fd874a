package inject_test

import (
	"fmt"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/inject"
)

// Decide is the fault decision, a pure function of the profile, the
// bundle's seed and the request: every hop of one trace decides alike, and
// over many traces the share that fires is the profile's rate.
func ExampleDecide() {
	p := &bundle.Profile{ID: "checkout-payment-abort", Rate: 0.25,
		Target: bundle.Target{Caller: "checkout", Callee: "payment", Operation: "/payment.Payment/Charge"}}
	req := inject.Request{Caller: "checkout", Callee: "payment", Method: "POST", Path: "/payment.Payment/Charge"}
	fired := 0
	for i := range 10000 {
		req.TraceID = fmt.Sprintf("%032x", i)
		if inject.Decide(p, 42, req) {
			fired++
		}
	}
	req.TraceID = fmt.Sprintf("%032x", 7)
	first := inject.Decide(p, 42, req)
	fmt.Println("fired on", fired, "of 10000 traces")
	fmt.Println("same trace, same decision:", inject.Decide(p, 42, req) == first)
	other := req
	other.Callee = "cart"
	fmt.Println("another callee:", inject.Decide(p, 42, other))
	// Output:
	// fired on 2551 of 10000 traces
	// same trace, same decision: true
	// another callee: false
}
