package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/golden"
)

// testdataDir is this package's testdata, absolute so tests may chdir.
var testdataDir, _ = filepath.Abs("testdata")

// runCLI runs chaosgen with args and returns its exit code and streams.
func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestSynthAnalyzeCLI runs the main job on a small synthetic mesh, as
// `make demo` does, and checks both streams against golden files.
func TestSynthAnalyzeCLI(t *testing.T) {
	t.Chdir(t.TempDir())
	var all strings.Builder
	for _, args := range [][]string{
		{"synth", "-o", "out/spans.parquet", "--days", "0.02", "--rps", "3", "--services", "10", "--seed", "9"},
		{"analyze", "out/spans.parquet", "-o", "out/analysis", "--top", "5"},
	} {
		code, stdout, stderr := runCLI(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		all.WriteString("$ chaosgen " + strings.Join(args, " ") + "\n" + stdout + stderr)
	}
	golden.Check(t, filepath.Join(testdataDir, "synth_analyze.golden"), []byte(all.String()))
	code, stdout, _ := runCLI("analyze", "out/spans.parquet", "-o", "out/analysis", "--json")
	if code != 0 || !strings.HasPrefix(stdout, "{\n  \"schema\": \"chaosgen.analysis/v1\"") {
		t.Errorf("--json: exit %d, stdout %.80q", code, stdout)
	}
}

func TestCLIErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	os.WriteFile("notparquet.parquet", []byte("hello"), 0o644)
	os.WriteFile("traces.csv", []byte("TraceID,SpanID,ParentID,Service\n1,2,,front\n"), 0o644)
	os.MkdirAll("home/src", 0o755)
	os.WriteFile("home/src/main.go", []byte("package main\n"), 0o644)
	os.WriteFile("file.txt", []byte("x"), 0o644)
	var all strings.Builder
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"synth"}, 2},
		{[]string{"synth", "-o", "x.parquet", "--days", "-1"}, 2},
		{[]string{"synth", "-o", "x.parquet", "--rps", "0"}, 2},
		{[]string{"synth", "-o", "x.parquet", "--services", "two"}, 2},
		{[]string{"analyze"}, 2},
		{[]string{"analyze", "missing.parquet"}, 2},
		{[]string{"analyze", "missing.parquet", "-o", "out"}, 1},
		{[]string{"analyze", "*.nothing", "-o", "out"}, 1},
		{[]string{"analyze", "notparquet.parquet", "-o", "out"}, 1},
		{[]string{"analyze", "notparquet.parquet", "-o", "out", "--window", "10ms"}, 2},
		{[]string{"analyze", "traces.csv", "-o", "out"}, 1},
		{[]string{"analyze", "traces.csv", "-o", "home"}, 2},
		{[]string{"analyze", "traces.csv", "-o", "file.txt"}, 2},
		{[]string{"replay", "traces.csv", "-o", "home"}, 2},
		{[]string{"replay", "missing.parquet", "-o", "out"}, 1},
		{[]string{"replay", "traces.csv", "--out", "out"}, 1},
		{[]string{"synth", "-o", "home"}, 2},
		{[]string{"nosuchcommand"}, 2},
	} {
		code, stdout, stderr := runCLI(c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d", c.args, code, c.code)
		}
		all.WriteString("$ chaosgen " + strings.Join(c.args, " ") + "\n" + stdout + stderr)
	}
	golden.Check(t, filepath.Join(testdataDir, "cli_errors.golden"), []byte(all.String()))
	if _, err := os.Stat("out"); !os.IsNotExist(err) {
		t.Error("a failed analyze created its output directory")
	}
	if _, err := os.Stat("home/src/main.go"); err != nil {
		t.Errorf("-o onto a directory chaosgen did not write: %v", err)
	}
	if strings.Contains(all.String(), ".tmp-") {
		t.Error("an error names a temporary file")
	}
}
