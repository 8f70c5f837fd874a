package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPartialMergeCLI: analyze --partial --shard and merge from the
// command line give analyze's directory and table; wrong flags are usage
// errors (exit 2) and a missing shard a failure naming it (exit 1).
func TestPartialMergeCLI(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, _, stderr := runCLI("synth", "-o", "spans.parquet", "--days", "0.02", "--rps", "3", "--services", "10", "--seed", "9"); code != 0 {
		t.Fatalf("synth: %s", stderr)
	}
	code, want, stderr := runCLI("analyze", "spans.parquet", "-o", "one", "--top", "3")
	if code != 0 {
		t.Fatalf("analyze: %s", stderr)
	}
	for _, i := range []string{"1", "0"} {
		code, stdout, stderr := runCLI("analyze", "--partial", "--shard", i+"/2", "spans.parquet", "-o", "parts/"+i+".part")
		if code != 0 || !strings.HasPrefix(stdout, "wrote parts/"+i+".part: shard "+i+"/2, ") {
			t.Fatalf("analyze --partial --shard %s/2: exit %d: %s%s", i, code, stdout, stderr)
		}
	}
	code, got, stderr := runCLI("merge", "parts", "-o", "merged", "--top", "3")
	if code != 0 {
		t.Fatalf("merge: %s", stderr)
	}
	if got != strings.ReplaceAll(want, "one/", "merged/") {
		t.Errorf("merge printed\n%s\nanalyze printed\n%s", got, want)
	}
	for _, f := range []string{"summary.json", "edges.parquet", "windows.parquet", "services.parquet"} {
		a, _ := os.ReadFile(filepath.Join("one", f))
		b, _ := os.ReadFile(filepath.Join("merged", f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between analyze and merge", f)
		}
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"analyze", "--shard", "0/2", "spans.parquet", "-o", "x.part"}, 2, "analyze: --shard needs --partial"},
		{[]string{"analyze", "--partial", "--shard", "2/2", "spans.parquet", "-o", "x.part"}, 2, `want i/N with 0 ≤ i < N, such as 0/4, got "2/2"`},
		{[]string{"analyze", "--partial", "--shard", "a", "spans.parquet", "-o", "x.part"}, 2, "want i/N"},
		{[]string{"analyze", "--partial", "--season", "24h", "spans.parquet", "-o", "x.part"}, 2, "analyze: --season does not apply to --partial: give it to chaosgen merge"},
		{[]string{"analyze", "--partial", "spans.parquet", "-o", "parts"}, 2, "-o parts is a directory"},
		{[]string{"merge", "parts/0.part", "-o", "bad"}, 1, "merge: no partial read spans.parquet row group(s) 0 (missing: the partial of shard 1/2)"},
		{[]string{"merge", "spans.parquet", "-o", "bad"}, 1, "merge: spans.parquet: not a chaosgen partial analysis"},
		{[]string{"merge", "parts"}, 2, "merge: -o is required"},
	} {
		code, _, stderr := runCLI(c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", c.args, code, stderr, c.code, c.want)
		}
	}
}
