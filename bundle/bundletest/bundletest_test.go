package bundletest

import (
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
)

func TestBundlesAreValid(t *testing.T) {
	b := Bundle(bundle.Profile{ID: "a", Target: bundle.Target{Callee: "a"}, Rate: 0.5, Fault: bundle.Fault{Type: bundle.FaultDrop}})
	for name, b := range map[string]*bundle.Bundle{"Bundle": b, "Example": Example()} {
		if err := b.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := bundle.Encode(b); err != nil {
			t.Errorf("%s: Encode: %v", name, err)
		}
	}
	if p := b.Profiles[0]; p.MaxRate != 0.5 || p.Severity != bundle.SeverityModerate || p.Rationale.Summary != "test" {
		t.Errorf("Bundle filled the profile as %+v; want maxRate 0.5, severity moderate, summary test", p)
	}
	seen := map[string]bool{}
	for _, p := range Example().Profiles {
		seen[p.Fault.Type] = true
	}
	for _, ft := range []string{bundle.FaultLatency, bundle.FaultAbort, bundle.FaultDrop, bundle.FaultCorrupt} {
		if !seen[ft] {
			t.Errorf("Example has no %s profile", ft)
		}
	}
}
