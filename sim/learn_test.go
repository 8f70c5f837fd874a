package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/synth"
)

// TestLearnFindsWeakSpotsFaster plants three weak spots in a mesh that
// protects everything else (timeouts, budgeted retries, fallbacks) and
// checks that the learning agent finds each of them no later than the
// adaptive loop, and all of them in fewer rounds.
func TestLearnFindsWeakSpotsFaster(t *testing.T) {
	path := synthFile(t, synth.Options{Days: 0.01, RPS: 5, Services: 12, Seed: 11})
	files := []string{path}
	base, err := Run(context.Background(), files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var entries []string
	for _, e := range base.Edges {
		if e.Caller == "" {
			entries = append(entries, e.Callee)
		}
	}
	// busy internal edges with distinct callees; the first is called by an
	// entry service, so a failure without fallback reaches the root
	var picked []EdgeStats
	cands := slices.Clone(base.Edges)
	slices.SortStableFunc(cands, func(a, b EdgeStats) int { return int(b.Calls - a.Calls) })
	used := map[string]bool{}
	for pass := 0; pass < 2; pass++ {
		for _, e := range cands {
			if e.Caller == "" || slices.Contains(entries, e.Callee) || used[e.Callee] || e.Calls < 100 ||
				pass == 0 && (len(picked) > 0 || !slices.Contains(entries, e.Caller)) {
				continue
			}
			picked = append(picked, e)
			used[e.Callee] = true
		}
	}
	if len(picked) < 5 {
		t.Fatalf("synth mesh has %d usable edges, want 5: %+v", len(picked), picked)
	}
	noFallback, noTimeout, noBudget := picked[0], picked[1], picked[2]
	var y strings.Builder
	y.WriteString(`defaults:
  timeout: 300ms
  retries: {attempts: 1, perTryTimeout: 150ms, budget: {percent: 20, minConcurrency: 0}}
  fallback: {latency: 2ms, success: true}
services:
`)
	fmt.Fprintf(&y, "  %s: {fallback: {latency: 0s, success: false}}\nedges:\n", noFallback.Callee)
	for _, en := range entries {
		fmt.Fprintf(&y, "- {caller: \"\", callee: %s, timeout: 10s, retries: {attempts: 0}, fallback: {latency: 0s, success: false}}\n", en)
	}
	fmt.Fprintf(&y, "- {caller: %s, callee: %s, timeout: 0s, retries: {attempts: 0}}\n", noTimeout.Caller, noTimeout.Callee)
	fmt.Fprintf(&y, "- {caller: %s, callee: %s, retries: {attempts: 3, perTryTimeout: 150ms}}\n", noBudget.Caller, noBudget.Callee)
	meshPath := filepath.Join(t.TempDir(), "mesh.yaml")
	os.WriteFile(meshPath, []byte(y.String()), 0o644)
	mesh, err := ReadMesh(meshPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mesh.yaml:\n%s", y.String())

	var profiles []bundle.Profile
	for i, e := range picked[:5] {
		profiles = append(profiles, bundle.Profile{ID: fmt.Sprintf("e%d-%s-%s", i, e.Caller, e.Callee),
			Target: bundle.Target{Caller: e.Caller, Callee: e.Callee}, Rate: 0.05, MaxRate: 0.4,
			Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503, GRPCStatus: 14}})
	}
	b := bundletest.Bundle(profiles...)
	b.Guards.AbortIf = bundle.AbortIf{RootErrorRate: 0.5, RootP99Ms: 20000}
	weak := map[string]string{profiles[0].ID: "no fallback", profiles[1].ID: "no timeout", profiles[2].ID: "retries without budget"}

	dir := filepath.Join(t.TempDir(), "out")
	const rounds = 6
	if _, err := Replay(context.Background(), ReplayOptions{Files: files, Mesh: mesh, Bundle: b, Learn: true, Adapt: true, Rounds: rounds, Seed: 1, Dir: dir}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "learn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var lj struct {
		Learn, Adaptive LoopReport
	}
	if err := json.Unmarshal(data, &lj); err != nil {
		t.Fatal(err)
	}
	curve := func(lr LoopReport) []int {
		var c []int
		for _, r := range lr.Rounds {
			c = append(c, r.FoundSoFar)
		}
		return c
	}
	t.Logf("learning curves (weak spots found so far per round): learn %v, adaptive %v", curve(lj.Learn), curve(lj.Adaptive))
	allRound := func(lr LoopReport) int {
		last := 0
		for id := range weak {
			r, ok := lr.FirstFound[id]
			if !ok {
				return rounds + 1
			}
			last = max(last, r)
		}
		return last
	}
	for _, id := range sortedKeys(weak) {
		rl, ok := lj.Learn.FirstFound[id]
		ad, aok := lj.Adaptive.FirstFound[id]
		t.Logf("%-22s %-40s learn: round %d (found %v), adaptive: round %d (found %v)", weak[id], id, rl, ok, ad, aok)
		if !ok {
			t.Errorf("learning agent never found %s (%s)", weak[id], id)
		}
		if aok && ad < rl {
			t.Errorf("%s: adaptive loop found it in round %d, before the agent (%d)", weak[id], ad, rl)
		}
	}
	for _, rd := range lj.Learn.Rounds[:3] {
		for _, p := range rd.Profiles {
			t.Logf("round %d %s %s rate %g weakness %g verdict %s", rd.Round, p.ID, p.Arm, p.Rate, p.Weakness, p.Verdict)
		}
	}
	for _, p := range profiles[3:] {
		if r, ok := lj.Learn.FirstFound[p.ID]; ok {
			t.Errorf("protected edge %s flagged weak in round %d", p.ID, r)
		}
	}
	if rl, ad := allRound(lj.Learn), allRound(lj.Adaptive); rl >= ad {
		t.Errorf("all weak spots found: learn by round %d, adaptive by %d (%d = never); want learn first", rl, ad, rounds+1)
	}
	for _, f := range []string{"adapt.json", "bundle.json", "learned.bundle.json"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, "bundle.json") {
			if _, err := bundle.Decode(data); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
}
