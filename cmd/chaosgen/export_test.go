package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/internal/golden"
)

func TestExportCLI(t *testing.T) {
	dir := t.TempDir()
	data, err := bundle.Encode(bundletest.Example())
	if err != nil {
		t.Fatal(err)
	}
	writeSigned(t, dir, "bundle.json", data, nil)
	bad := strings.Replace(string(data), `"rate": 0.1,`, `"rate": 1.5,`, 1)
	writeSigned(t, dir, "bad.json", []byte(bad), nil)

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"istio", []string{"export", "--to", "istio", "bundle.json"}, 0},
		{"toxiproxy", []string{"export", "--to", "toxiproxy", "bundle.json"}, 0},
		{"no_target", []string{"export", "bundle.json"}, 2},
		{"unknown_target", []string{"export", "--to", "linkerd", "bundle.json"}, 2},
		{"invalid_bundle", []string{"export", "--to", "envoy", "bad.json"}, 3},
		{"chaos_mesh_json", []string{"export", "--to", "chaos-mesh", "--port", "8080", "bundle.json", "-o", "cm.yaml", "--json"}, 0},
		{"json_needs_output", []string{"export", "--to", "istio", "bundle.json", "--json"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBundleCLI(t, dir, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tc.code, stderr)
			}
			golden.Check(t, filepath.Join(testdataDir, "export", tc.name+".golden"), []byte("$ chaosgen "+strings.Join(tc.args, " ")+"\n-- stdout --\n"+stdout+"-- stderr --\n"+stderr))
		})
	}

	// -o writes the same bytes as standard output, atomically.
	_, stdout, _ := runBundleCLI(t, dir, "export", "--to", "chaos-mesh", "--port", "8080", "--at", "2029-12-31T00:00:00Z", "bundle.json")
	code, out2, stderr := runBundleCLI(t, dir, "export", "--to", "chaos-mesh", "--port", "8080", "--at", "2029-12-31T00:00:00Z", "bundle.json", "-o", "faults.yaml")
	if code != 0 || out2 != "" {
		t.Fatalf("export -o: exit %d, stdout %q, stderr %s", code, out2, stderr)
	}
	got, err := os.ReadFile(filepath.Join(dir, "faults.yaml"))
	if err != nil || string(got) != stdout || !strings.Contains(stdout, "kind: HTTPChaos") || !strings.Contains(stdout, "duration: 24h0m0s") {
		t.Errorf("faults.yaml = %q (%v), want the stdout export %q", got, err, stdout)
	}
	if !strings.Contains(stderr, "chaosgen: export: warning: profile \"catalog-corrupt\": left out") {
		t.Errorf("warnings not on stderr: %s", stderr)
	}
}
