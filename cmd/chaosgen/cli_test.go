package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
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
	// -o onto a directory chaosgen did not write: refused, then replaced
	// with --force.
	os.MkdirAll("mine", 0o755)
	os.WriteFile("mine/notes.txt", []byte("keep"), 0o644)
	if code, _, stderr := runCLI("analyze", "out/spans.parquet", "-o", "mine"); code != 2 || !strings.Contains(stderr, "--force") {
		t.Errorf("analyze -o onto a foreign directory: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile("mine/notes.txt"); string(b) != "keep" {
		t.Error("the refused analyze changed the directory")
	}
	if code, _, stderr := runCLI("analyze", "out/spans.parquet", "-o", "mine", "--force"); code != 0 {
		t.Errorf("analyze --force: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat("mine/notes.txt"); !os.IsNotExist(err) {
		t.Error("--force kept the old content")
	}
	code, stdout, _ := runCLI("analyze", "out/spans.parquet", "-o", "out/analysis", "--json")
	if code != 0 || !strings.HasPrefix(stdout, "{\n  \"schema\": \"chaosgen.analysis/v1\"") {
		t.Errorf("--json: exit %d, stdout %.80q", code, stdout)
	}
}

// TestTerminalEscapes analyzes spans whose service names hold terminal
// escape sequences: what chaosgen prints shows them escaped, never raw.
func TestTerminalEscapes(t *testing.T) {
	t.Chdir(t.TempDir())
	evil := "\x1b]0;pwned\x07\x1b[2Jcart\u202e"
	var spans []ingest.Span
	for i := range 200 {
		id := fmt.Sprintf("%032x", i+1)
		start := int64(1767225600e9) + int64(i)*1e9
		spans = append(spans,
			ingest.Span{TraceID: id, SpanID: id[:16], Callee: "frontend", Operation: "/", StartUnixNano: start, DurationNano: 30e6, StatusCode: 200},
			ingest.Span{TraceID: id, SpanID: id[16:], ParentSpanID: id[:16], Caller: "frontend", Callee: evil, Operation: "\x1b[31mGET", Depth: 1,
				StartUnixNano: start + 1e6, DurationNano: 20e6, StatusCode: 500, Error: i%3 == 0})
	}
	if err := ingest.WriteFile("spans.parquet", spans); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI("analyze", "spans.parquet", "-o", "an", "--no-models")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	out := stdout + stderr
	if strings.ContainsAny(out, "\x1b\x07\u202e") {
		t.Errorf("raw control characters reached the terminal:\n%q", out)
	}
	if !strings.Contains(out, `\u001b]0;pwned\u0007\u001b[2Jcart\u202e`) {
		t.Errorf("the service name is not shown escaped:\n%s", out)
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
		{[]string{"export", "--to", "istio", "bundle.json", "-o", "home"}, 2},
		{[]string{"models", "iforest", "--csv", "traces.csv", "-o", "home"}, 2},
		{[]string{"import", "home", "-o", "x.parquet"}, 2},
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
