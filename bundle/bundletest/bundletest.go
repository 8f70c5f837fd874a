// Package bundletest holds the bundles that chaosgen's tests build on: a
// valid bundle around the profiles a test names, and a small example with
// one profile of each fault type. Keys to sign them with come from
// internal/testkey.
package bundletest

import (
	"time"

	"github.com/chaosgen/chaosgen/bundle"
)

// Bundle returns a valid bundle holding profiles, with no guard in the way
// (maxGlobalRate 1, no abortIf), seed 42 and an expiry in 2030. A profile
// without a severity gets moderate, one without a rationale summary
// "test", and a maxRate below its rate is raised to the rate.
func Bundle(profiles ...bundle.Profile) *bundle.Bundle {
	for i := range profiles {
		p := &profiles[i]
		if p.MaxRate < p.Rate {
			p.MaxRate = p.Rate
		}
		if p.Severity == "" {
			p.Severity = bundle.SeverityModerate
		}
		if p.Rationale.Summary == "" {
			p.Rationale.Summary = "test"
		}
	}
	return &bundle.Bundle{
		APIVersion: bundle.APIVersion, Kind: bundle.Kind,
		Metadata: bundle.Metadata{Name: "test", Generator: "bundletest", Seed: 42,
			NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
			Source: bundle.Source{Files: []bundle.SourceFile{}, TimeRange: bundle.TimeRange{
				Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}}},
		Guards:   bundle.Guards{MaxGlobalRate: 1},
		Profiles: profiles,
	}
}

// Example is a small valid bundle named "shop" with one profile of each
// fault type (latency as a delay and as a factor) and guards.
func Example() *bundle.Bundle {
	return &bundle.Bundle{
		APIVersion: bundle.APIVersion,
		Kind:       bundle.Kind,
		Metadata: bundle.Metadata{
			Name:      "shop",
			Generator: "chaosgen test",
			NotAfter:  time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
			Seed:      7,
			Source: bundle.Source{TimeRange: bundle.TimeRange{
				Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
				End:   time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC),
			}},
		},
		Guards: bundle.Guards{MaxGlobalRate: 0.05, MaxActiveFaults: 10, AbortIf: bundle.AbortIf{RootErrorRate: 0.1, RootP99Ms: 2000}},
		Profiles: []bundle.Profile{
			{ID: "frontend-cart-latency", Target: bundle.Target{Caller: "frontend", Callee: "cart", Operation: "GET /cart"},
				Fault: bundle.Fault{Type: bundle.FaultLatency, DelayMs: 250, JitterMs: 50}, Rate: 0.1, MaxRate: 0.2,
				Severity: bundle.SeverityModerate, Rationale: bundle.Rationale{Summary: "cart p99 grew"}},
			{ID: "frontend-cart-abort", Target: bundle.Target{Caller: "frontend", Callee: "cart", Operation: "GET /cart"},
				Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}, Rate: 0.05, MaxRate: 0.1,
				Severity: bundle.SeverityCritical, Rationale: bundle.Rationale{Summary: "cart errors break checkout"}},
			{ID: "checkout-payment-abort", Target: bundle.Target{Caller: "checkout", Callee: "payment", Operation: "/payment.Payment/Charge"},
				Fault: bundle.Fault{Type: bundle.FaultAbort, GRPCStatus: 14}, Rate: 0.01, MaxRate: 0.05, PerSecond: 2,
				Severity: bundle.SeverityCritical, Rationale: bundle.Rationale{Summary: "no fallback for payment"}},
			{ID: "cart-redis-drop", Target: bundle.Target{Caller: "cart", Callee: "redis"},
				Fault: bundle.Fault{Type: bundle.FaultDrop}, Rate: 0.001, MaxRate: 0.001,
				Severity: bundle.SeverityMinor, Rationale: bundle.Rationale{Summary: "redis never times out"}},
			{ID: "catalog-corrupt", Target: bundle.Target{Callee: "catalog", Operation: "/products"},
				Fault: bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptTruncate}, Rate: 0.02, MaxRate: 0.1,
				Severity: bundle.SeverityModerate, Rationale: bundle.Rationale{Summary: "callers parse the body"}},
			{ID: "search-slow-calls", Target: bundle.Target{Callee: "search", Operation: "Search"},
				Fault: bundle.Fault{Type: bundle.FaultLatency, Factor: 3}, Rate: 0.3, MaxRate: 0.5,
				Severity: bundle.SeverityMinor, Rationale: bundle.Rationale{Summary: "search latency multiplies"}},
		},
	}
}
