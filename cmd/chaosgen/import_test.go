package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/internal/shared"
)

func TestImportCmd(t *testing.T) {
	yelp := shared.Path(t, "data/traces/zipkin/yelp.json")
	f08 := shared.Path(t, "data/traces/deeptralog/F08-01_ERROR_SpanData2021-07-29_19-15-36.csv")
	root := filepath.Dir(filepath.Dir(filepath.Dir(yelp)))
	out := filepath.Join(t.TempDir(), "spans.parquet")
	clean := func(s string) []byte {
		return []byte(strings.NewReplacer(root, "$SHARED", out, "$OUT").Replace(s))
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"import_auto", []string{"import", yelp, f08, "-o", out}},
		{"import_json", []string{"import", "--json", yelp, "-o", out}},
		{"import_preset", []string{"import", "--from", "csv", "--preset", "deeptralog", f08, "-o", out}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			golden.Check(t, filepath.Join("testdata", tc.name+".golden"), clean(stdout.String()))
			spans, err := ingest.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "import_json" {
				var rep struct {
					Calls int `json:"calls_out"`
				}
				if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.Calls != len(spans) || rep.Calls != 13 {
					t.Errorf("json report calls %d (%v), file has %d rows, want 13", rep.Calls, err, len(spans))
				}
			}
			if len(spans) == 0 {
				t.Error("no rows written")
			}
		})
	}
}

func TestImportCmdErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "x.csv")
	if err := os.WriteFile(bad, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.parquet")
	for _, tc := range []struct {
		args    []string
		code    int
		wantErr string
	}{
		{[]string{"import", bad}, 2, "chaosgen: import: -o is required"},
		{[]string{"import", bad, "-o", out, "--from", "xml"}, 2, `unknown format "xml"`},
		{[]string{"import", bad, "-o", out, "--map", "trace=Foo"}, 2, `unknown field "trace"`},
		{[]string{"import", bad, "-o", out, "--preset", "nope"}, 2, `--preset "nope"`},
		{[]string{"import", bad, "-o", out, "--from", "zipkin-json", "--preset", "nezha"}, 2, "need --from csv"},
		{[]string{"import", bad, "-o", out, "--map", "trace_id=a,span_id=b,service=a,start=b,end=b"}, 0, ""},
		{[]string{"import", bad, "-o", out}, 1, "fits no preset"},
		{[]string{"import", filepath.Join(dir, "missing.json"), "-o", out}, 1, "no such file"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.wantErr) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr.String(), tc.code, tc.wantErr)
		}
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the successful import wrote nothing: %v", err)
	}
}
