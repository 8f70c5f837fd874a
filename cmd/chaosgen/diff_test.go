package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
)

var regexpDigest = regexp.MustCompile(`sha256:[0-9a-f]{64}`)

// diffBundles returns bundletest.Example and a changed copy: one profile added,
// one removed, one with a new rate and fault, one with a new rationale only,
// and changed guards and seed.
func diffBundles() (old, new *bundle.Bundle) {
	old = bundletest.Example()
	new = bundletest.Example()
	new.Metadata.Seed = 8
	new.Guards.MaxGlobalRate = 0.1
	var ps []bundle.Profile
	for _, p := range new.Profiles {
		switch p.ID {
		case "cart-redis-drop":
			continue // removed
		case "frontend-cart-latency":
			p.Rate, p.Fault.DelayMs = 0.15, 300
			p.Rationale.Summary = "cart p99 grew; last run handled: rate ×1.5"
		case "search-slow-calls":
			p.Rationale.Features = map[string]float64{"p99Ms": 80}
		}
		ps = append(ps, p)
	}
	ps = append(ps, bundle.Profile{ID: "errors-checkout-payment", Target: bundle.Target{Caller: "checkout", Callee: "payment"},
		Fault: bundle.Fault{Type: bundle.FaultAbort, GRPCStatus: 14}, Rate: 0.007, MaxRate: 0.035, PerSecond: 2,
		Severity: bundle.SeverityCritical, Rationale: bundle.Rationale{Summary: "payment fails with UNAVAILABLE"}})
	new.Profiles = ps
	return old, new
}

func TestDiffCLI(t *testing.T) {
	dir := t.TempDir()
	old, new := diffBundles()
	for name, b := range map[string]*bundle.Bundle{"old.json": old, "new.json": new} {
		data, err := bundle.Encode(b)
		if err != nil {
			t.Fatal(err)
		}
		writeSigned(t, dir, name, data, nil)
	}
	data, _ := bundle.Encode(old)
	writeSigned(t, dir, "bad.json", []byte(strings.Replace(string(data), `"rate": 0.1,`, `"rate": 1.5,`, 1)), nil)

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"text.golden", []string{"diff", "old.json", "new.json"}, 0},
		{"json.golden", []string{"diff", "old.json", "new.json", "--json"}, 0},
		{"same.golden", []string{"diff", "old.json", "old.json"}, 0},
		{"invalid.golden", []string{"diff", "old.json", "bad.json"}, 3},
		{"missing.golden", []string{"diff", "old.json", "nothing.json"}, 1},
		{"args.golden", []string{"diff", "old.json"}, 2},
		{"exit_code_differ.golden", []string{"diff", "old.json", "new.json", "--exit-code", "--json"}, 1},
		{"exit_code_same.golden", []string{"diff", "old.json", "old.json", "--exit-code"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBundleCLI(t, dir, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			goldenGenerate(t, "diff_"+tc.name, streams(tc.args, stdout, stderr))
		})
	}

	_, stdout, _ := runBundleCLI(t, dir, "diff", "old.json", "new.json", "--json")
	var d bundle.Diff
	if err := json.Unmarshal([]byte(stdout), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Added) != 1 || d.Added[0].ID != "errors-checkout-payment" || len(d.Removed) != 1 || d.Removed[0].ID != "cart-redis-drop" {
		t.Errorf("added %v removed %v", d.Added, d.Removed)
	}
	if len(d.Changed) != 2 || d.Changed[0].ID != "frontend-cart-latency" || d.Changed[0].RateDelta != 0.05 || d.Changed[1].ID != "search-slow-calls" || !d.Changed[1].RationaleOnly() {
		t.Errorf("changed %+v", d.Changed)
	}
	if d.Unchanged != 3 || len(d.Guards) != 1 || len(d.Metadata) != 1 {
		t.Errorf("unchanged %d guards %v metadata %v", d.Unchanged, d.Guards, d.Metadata)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing.json")); !os.IsNotExist(err) {
		t.Fatal("fixture")
	}
}
