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
	var all strings.Builder
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"report", "--analysis", "out/analysis", "--bundle", "out/bundle.json", "--pub", "out/alice.pub", "--at", "2026-06-01T00:00:00Z", "--html", "out/report.html"}, 0},
		{[]string{"report", "--analysis", "out/analysis", "--bundle", "out/bundle.json", "--pub", "out/alice.pub", "--at", "2026-06-01T00:00:00Z", "--html", "out/again.html", "--top", "3"}, 0},
		{[]string{"report", "--analysis", "out/analysis"}, 2},
		{[]string{"report", "--html", "x.html"}, 2},
		{[]string{"report", "--analysis", "out/analysis", "--html", "x.html", "--top", "0"}, 2},
		{[]string{"report", "--analysis", "out/analysis", "--html", "x.html", "--at", "yesterday"}, 2},
		{[]string{"report", "--analysis", "missing", "--html", "x.html"}, 1},
		{[]string{"report", "--analysis", "out/analysis", "--bundle", "missing.json", "--html", "x.html"}, 1},
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
}
