package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/golden"
)

func TestReportCLI(t *testing.T) {
	t.Chdir(t.TempDir())
	writeDashboardInputs(t)
	// A bundle changed after it was signed: it still decodes.
	data, _ := os.ReadFile("out/bundle.json")
	sig, _ := os.ReadFile("out/bundle.json.sig")
	os.WriteFile("out/tampered.json", bytes.Replace(data, []byte(`"rate": 0.`), []byte(`"rate": 0.0`), 1), 0o644)
	os.WriteFile("out/tampered.json.sig", sig, 0o644)
	var all strings.Builder
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"report", "--analysis", "out/analysis", "--bundle", "out/bundle.json", "--pub", "out/alice.pub", "--at", "2026-06-01T00:00:00Z", "-o", "out/report.html"}, 0},
		{[]string{"report", "--analysis", "out/analysis", "--bundle", "out/bundle.json", "--pub", "out/alice.pub", "--at", "2026-06-01T00:00:00Z", "--html", "out/again.html", "--top", "3"}, 0},
		{[]string{"report", "--analysis", "out/analysis"}, 2},
		{[]string{"report", "-o", "x.html"}, 2},
		{[]string{"report", "--analysis", "out/analysis", "-o", "x.html", "--top", "0"}, 2},
		{[]string{"report", "--analysis", "out/analysis", "-o", "x.html", "--at", "yesterday"}, 2},
		{[]string{"report", "--analysis", "missing", "-o", "x.html"}, 1},
		{[]string{"report", "--analysis", "out/analysis", "--bundle", "missing.json", "-o", "x.html"}, 1},
		{[]string{"report", "--analysis", "out/analysis", "--bundle", "out/tampered.json", "--pub", "out/alice.pub", "--at", "2026-06-01T00:00:00Z", "-o", "out/tampered.html"}, 3},
		{[]string{"report", "--analysis", "out/analysis", "-o", "out"}, 2},
	} {
		code, stdout, stderr := runCLI(c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d: %s", c.args, code, c.code, stderr)
		}
		all.WriteString("$ chaosgen " + strings.Join(c.args, " ") + "\n" + stdout + stderr)
	}
	golden.Check(t, filepath.Join(testdataDir, "report", "report.golden"), []byte(all.String()))
	if _, err := os.Stat("x.html"); !os.IsNotExist(err) {
		t.Error("a failed report wrote its file")
	}
	// deterministic: the same inputs give the same bytes
	a, err := os.ReadFile("out/report.html")
	if err != nil {
		t.Fatal(err)
	}
	runCLI("report", "--analysis", "out/analysis", "--bundle", "out/bundle.json", "--pub", "out/alice.pub", "--at", "2026-06-01T00:00:00Z", "--html", "out/report2.html")
	b, _ := os.ReadFile("out/report2.html")
	if !bytes.Equal(a, b) {
		t.Error("two reports of the same inputs differ")
	}
	for _, w := range []string{"<!doctype html>", "Valid signature", `<svg id="graph"`, "Content-Security-Policy"} {
		if !bytes.Contains(a, []byte(w)) {
			t.Errorf("report lacks %q", w)
		}
	}
	// The tampered bundle's report exists and shows it red.
	tampered, _ := os.ReadFile("out/tampered.html")
	if !bytes.Contains(tampered, []byte(`<div class="status bad">Not valid</div>`)) {
		t.Error("the tampered bundle is not shown as not valid, in red")
	}
}
