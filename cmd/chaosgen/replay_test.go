package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/golden"
)

// replayBundle is a bundle with one abort profile on the ingress edge to
// frontend at rate, guarded by abortIf rootErrorRate.
func replayBundle(t *testing.T, path string, rate, rootErrorRate float64) {
	t.Helper()
	b := &bundle.Bundle{
		APIVersion: bundle.APIVersion, Kind: bundle.Kind,
		Metadata: bundle.Metadata{Name: "replay-test", Generator: "test", Seed: 7},
		Guards:   bundle.Guards{MaxGlobalRate: 1, AbortIf: bundle.AbortIf{RootErrorRate: rootErrorRate, RootP99Ms: 60000}},
		Profiles: []bundle.Profile{{
			ID: "frontend-abort", Target: bundle.Target{Callee: "frontend"},
			Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503, GRPCStatus: 14},
			Rate:  rate, MaxRate: 0.5, Severity: bundle.SeverityModerate,
			Rationale: bundle.Rationale{Summary: "test"},
		}},
	}
	data, err := bundle.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReplayCLI(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, _, stderr := runCLI("synth", "-o", "in/spans.parquet", "--days", "0.01", "--rps", "3", "--services", "8", "--seed", "5"); code != 0 {
		t.Fatalf("synth: %s", stderr)
	}
	replayBundle(t, "ok.json", 0.05, 0.5)
	replayBundle(t, "bad.json", 0.5, 0.1)
	os.WriteFile("typo.yaml", []byte("services:\n  nosuch-service: {timeout: 1s}\n"), 0o644)
	os.WriteFile("mesh.yaml", []byte("defaults:\n  timeout: 2s\n  retries: {attempts: 1, perTryTimeout: 1s}\n"), 0o644)
	var all strings.Builder
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"replay", "in/spans.parquet", "-o", "base"}, 0},
		{[]string{"replay", "--bundle", "ok.json", "in/spans.parquet", "--mesh", "mesh.yaml", "-o", "ok"}, 0},
		{[]string{"replay", "--bundle", "bad.json", "in/spans.parquet", "-o", "bad"}, 0},
		{[]string{"replay", "--bundle", "bad.json", "in/spans.parquet", "-o", "bad", "--gate"}, 3},
		{[]string{"replay", "--bundle", "ok.json", "in/spans.parquet", "--mesh", "mesh.yaml", "-o", "ok", "--gate"}, 0},
		{[]string{"replay", "in/spans.parquet"}, 2},
		{[]string{"replay", "in/spans.parquet", "-o", "x", "--load-factor", "0"}, 2},
		{[]string{"replay", "in/spans.parquet", "-o", "x", "--adapt"}, 2},
		{[]string{"replay", "in/spans.parquet", "-o", "x", "--mesh", "ok.json"}, 1},
		{[]string{"replay", "in/spans.parquet", "-o", "x", "--mesh", "typo.yaml"}, 1},
	} {
		code, stdout, stderr := runCLI(c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d: %s", c.args, code, c.code, stderr)
		}
		all.WriteString("$ chaosgen " + strings.Join(c.args, " ") + "\n" + stdout + stderr)
	}
	golden.Check(t, filepath.Join(testdataDir, "replay", "cli.golden"), []byte(all.String()))
	for _, f := range []string{"base/spans.parquet", "base/report.json", "ok/spans.parquet", "ok/report.json", "bad/report.json"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	// the same inputs give the same bytes
	if code, _, stderr := runCLI("replay", "--bundle", "ok.json", "in/spans.parquet", "--mesh", "mesh.yaml", "-o", "ok2"); code != 0 {
		t.Fatal(stderr)
	}
	for _, f := range []string{"spans.parquet", "report.json"} {
		a, _ := os.ReadFile(filepath.Join("ok", f))
		b, _ := os.ReadFile(filepath.Join("ok2", f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two identical replays", f)
		}
	}
}
