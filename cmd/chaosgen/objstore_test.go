package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/gcstest"
	"github.com/chaosgen/chaosgen/internal/s3test"
	"github.com/chaosgen/chaosgen/synth"
	"github.com/parquet-go/parquet-go"
)

// TestAnalyzeObjectStorage runs analyze on span files in a real
// S3-compatible server (versitygw) and on the same files on disk: the
// analysis directories are byte-identical but for the inputs' names in
// summary.json, the objects are read with ranged requests that fetch well
// under their size, and missing buckets, objects and wrong credentials are
// errors naming the URL.
func TestAnalyzeObjectStorage(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, "spans")
	srv.MakeBucket(t, "results")
	t.Chdir(t.TempDir())
	for i, seed := range []string{"4", "5"} {
		name := filepath.Join("day", []string{"a.parquet", "b.parquet"}[i])
		code, _, stderr := runCLI("synth", "-o", name, "--days", "0.05", "--rps", "4", "--services", "12", "--seed", seed)
		if code != 0 {
			t.Fatalf("synth: %s", stderr)
		}
		if i == 0 {
			widen(t, name)
		}
		srv.Put(t, "spans", filepath.ToSlash(name), name)
	}
	// an object that is no .parquet file is not an input of the prefix
	if err := os.WriteFile("notes.txt", []byte("not spans"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.Put(t, "spans", "day/notes.txt", "notes.txt")

	analyze := func(args ...string) string {
		t.Helper()
		code, _, stderr := runCLI(append([]string{"analyze", "--season", "none"}, args...)...)
		if code != 0 {
			t.Fatalf("analyze %v: exit %d: %s", args, code, stderr)
		}
		return stderr
	}
	// the columns analyze skips are never fetched: a.parquet's attributes
	// are most of it; b.parquet is chaosgen's own file, of which analyze
	// reads 18 of 21 columns
	limits := map[string]float64{"s3://spans/day/a.parquet": 0.6, "s3://spans/day/b.parquet": 1}

	// one object, output to a local directory
	analyze("day/a.parquet", "-o", "local-a")
	stderr := analyze(srv.URL("spans", "day/a.parquet"), "-o", "s3-a")
	checkFetched(t, stderr, "s3://spans/", limits, []string{"s3://spans/day/a.parquet"})
	sameAnalysis(t, "local-a", "s3-a", "s3://spans/", "")

	// a prefix, output to a prefix in the store
	analyze("day", "-o", "local-day")
	stderr = analyze(srv.URL("spans", "day/"), "-o", srv.URL("results", "nightly/day/"))
	checkFetched(t, stderr, "s3://spans/", limits, []string{"s3://spans/day/a.parquet", "s3://spans/day/b.parquet"})
	sameAnalysis(t, "local-day", filepath.Join(srv.Root, "results", "nightly", "day"), "s3://spans/", "")

	// writing the prefix again replaces it: files the new analysis lacks go
	analyze(srv.URL("spans", "day"), "--no-models", "-o", srv.URL("results", "nightly/day"))
	analyze("day", "--no-models", "-o", "local-day-nomodels")
	sameAnalysis(t, "local-day-nomodels", filepath.Join(srv.Root, "results", "nightly", "day"), "s3://spans/", "")

	// a prefix chaosgen did not write is refused
	srv.Put(t, "results", "theirs/data.csv", "notes.txt")
	code, _, stderr := runCLI("analyze", srv.URL("spans", "day/a.parquet"), "-o", srv.URL("results", "theirs/"))
	if code == 0 || !strings.Contains(stderr, "s3://results/theirs/ is a non-empty prefix that chaosgen did not write") {
		t.Errorf("foreign prefix: exit %d: %s", code, stderr)
	}

	for _, c := range []struct {
		name, url, secret, want string
	}{
		{"missing bucket", srv.URL("nosuchbucket", "day/a.parquet"), "", "chaosgen: analyze: s3://nosuchbucket/day/a.parquet: bucket s3://nosuchbucket not found\n"},
		{"missing object", srv.URL("spans", "day/c.parquet"), "", "chaosgen: analyze: s3://spans/day/c.parquet: object not found\n"},
		{"empty prefix", srv.URL("spans", "night/"), "", "chaosgen: analyze: s3://spans/night/: no .parquet objects under the prefix\n"},
		{"wrong secret", srv.URL("spans", "day/a.parquet"), "wrong-secret", "chaosgen: analyze: s3://spans/day/a.parquet: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.secret != "" {
				t.Setenv("AWS_SECRET_ACCESS_KEY", c.secret)
			}
			code, _, stderr := runCLI("analyze", c.url, "-o", "never")
			if code != 1 || !strings.HasPrefix(stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and it to start with:\n%s", code, stderr, c.want)
			}
			if _, err := os.Stat("never"); err == nil {
				t.Error("the output directory was written")
			}
		})
	}
}

// TestAnalyzeGCS runs analyze on a span object in a real Google Cloud
// Storage server (fake-gcs-server) and on the same file on disk: the same
// analysis, the object read with ranged requests that fetch well under its
// size (its attributes column is never fetched), and a missing bucket or
// object is an error naming the URL.
func TestAnalyzeGCS(t *testing.T) {
	srv := gcstest.Start(t)
	srv.MakeBucket(t, "spans")
	t.Chdir(t.TempDir())
	name := filepath.Join("day", "a.parquet")
	if code, _, stderr := runCLI("synth", "-o", name, "--days", "0.05", "--rps", "4", "--services", "12", "--seed", "4"); code != 0 {
		t.Fatalf("synth: %s", stderr)
	}
	widen(t, name)
	srv.Put(t, "spans", "day/a.parquet", name)
	for _, args := range [][]string{{name, "-o", "local"}, {srv.URL("spans", "day/"), "-o", "gs"}} {
		code, _, stderr := runCLI(append([]string{"analyze", "--season", "none"}, args...)...)
		if code != 0 {
			t.Fatalf("analyze %v: exit %d: %s", args, code, stderr)
		}
		if args[2] == "gs" {
			checkFetched(t, stderr, "gs://spans/", map[string]float64{"gs://spans/day/a.parquet": 0.6}, []string{"gs://spans/day/a.parquet"})
		}
	}
	sameAnalysis(t, "local", "gs", "gs://spans/", "")

	for _, c := range []struct{ name, url, want string }{
		{"missing bucket", srv.URL("nosuchbucket", "day/a.parquet"), "chaosgen: analyze: gs://nosuchbucket/day/a.parquet: bucket gs://nosuchbucket not found\n"},
		{"missing object", srv.URL("spans", "day/c.parquet"), "chaosgen: analyze: gs://spans/day/c.parquet: object not found\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI("analyze", c.url, "-o", "never")
			if code != 1 || stderr != c.want {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and:\n%s", code, stderr, c.want)
			}
			if _, err := os.Stat("never"); err == nil {
				t.Error("the output directory was written")
			}
		})
	}
}

// wideSpan is a span with the attributes that exports from tracing
// backends carry and analyze never reads.
type wideSpan struct {
	ingest.Span
	Attributes string `parquet:"attributes"`
}

// widen rewrites a span file with an attributes column of about 200 bytes
// a span that compresses no better than real URLs and user agents.
func widen(t *testing.T, path string) {
	t.Helper()
	spans, err := ingest.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]wideSpan, len(spans))
	for i, s := range spans {
		h := sha256.Sum256([]byte(s.SpanID))
		rows[i] = wideSpan{Span: s, Attributes: fmt.Sprintf("http.url=https://%s.internal/api/v1/items/%x;user_agent=client/%x;peer=%s",
			s.Callee, h[:16], h[16:], s.Caller)}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[wideSpan](f, parquet.Compression(&parquet.Zstd))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

var fetchRe = regexp.MustCompile(`(?m)^fetched ((?:s3|gs|azblob)://\S+): (\d+) of (\d+) bytes \([0-9.]+%\) in (\d+) ranged requests$`)

// checkFetched checks analyze's report of what it fetched: a line for each
// object of want, in order, giving the size of the local file that the
// object (under prefix) is a copy of, and fetched bytes above zero and at
// most the object's limit (a fraction of its size).
func checkFetched(t *testing.T, stderr, prefix string, limits map[string]float64, want []string) {
	t.Helper()
	var names []string
	for _, m := range fetchRe.FindAllStringSubmatch(stderr, -1) {
		names = append(names, m[1])
		fetched, _ := strconv.ParseInt(m[2], 10, 64)
		size, _ := strconv.ParseInt(m[3], 10, 64)
		local, err := os.Stat(strings.TrimPrefix(m[1], prefix))
		if err != nil || local.Size() != size {
			t.Errorf("%s: size %d, want the local file's (%v)", m[1], size, err)
		}
		limit := limits[m[1]]
		if fetched <= 0 || float64(fetched) > limit*float64(size) {
			t.Errorf("%s: fetched %d of %d bytes (%.1f%%), want under %.0f%%", m[1], fetched, size, 100*float64(fetched)/float64(size), 100*limit)
		}
		t.Logf("%s", m[0])
	}
	if !slices.Equal(names, want) {
		t.Errorf("fetch report for %v, want %v; stderr:\n%s", names, want, stderr)
	}
}

// sameAnalysis compares two analysis directories file by file: every file
// byte-identical, summary.json after replacing prefix by to in the input
// names (which say where each input was read).
func sameAnalysis(t *testing.T, want, got, prefix, to string) {
	t.Helper()
	list := func(dir string) []string {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	wn, gn := list(want), list(got)
	if !slices.Equal(wn, gn) {
		t.Fatalf("%s holds %v, %s holds %v", want, wn, got, gn)
	}
	for _, n := range wn {
		w, err := os.ReadFile(filepath.Join(want, n))
		if err != nil {
			t.Fatal(err)
		}
		g, err := os.ReadFile(filepath.Join(got, n))
		if err != nil {
			t.Fatal(err)
		}
		if n == "summary.json" {
			if !bytes.Contains(g, []byte(`"path": "`+prefix)) {
				t.Errorf("%s/%s names no input under %s", got, n, prefix)
			}
			g = bytes.ReplaceAll(g, []byte(prefix), []byte(to))
		}
		if !bytes.Equal(w, g) {
			t.Errorf("%s/%s differs from %s/%s", got, n, want, n)
		}
	}
}

// TestPartialObjectStorage runs the sharded analysis through a real
// S3-compatible server (versitygw): analyze --partial writes each shard's
// partial as an object, merge reads the prefix and writes the analysis to
// a local directory or a bucket prefix, both identical to analyze of the
// local files; merge's refusals (a missing shard, a doubled shard, a
// changed input) and the store's errors name the objects.
func TestPartialObjectStorage(t *testing.T) {
	srv := s3test.Start(t)
	for _, b := range []string{"spans", "parts", "results"} {
		srv.MakeBucket(t, b)
	}
	duckdb, err := filepath.Abs(filepath.Join("..", "..", "analysis", "testdata", "synth-seed7-duckdb.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	// chaosgen's file in small row groups, so every shard has some, and
	// the DuckDB-written fixture
	if _, err := synth.Generate(t.Context(), filepath.Join("day", "a.parquet"),
		synth.Options{Days: 0.02, RPS: 4, Services: 10, Seed: 3, RowGroupRows: 1000}); err != nil {
		t.Fatal(err)
	}
	copyFile(t, duckdb, filepath.Join("day", "b.parquet"))
	for _, f := range []string{"a.parquet", "b.parquet"} {
		srv.Put(t, "spans", "day/"+f, filepath.Join("day", f))
	}
	run := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		code, stdout, stderr := runCLI(args...)
		if code != wantCode {
			t.Fatalf("%v: exit %d, want %d: %s", args, code, wantCode, stderr)
		}
		return stdout, stderr
	}
	run(0, "analyze", "--season", "none", "day", "-o", "local")

	const n = 3
	for i := range n {
		name := fmt.Sprintf("run/%d-of-%d.part", i, n)
		stdout, _ := run(0, "analyze", "--partial", fmt.Sprintf("--shard=%d/%d", i, n), srv.URL("spans", "day/"), "-o", srv.URL("parts", name))
		if want := fmt.Sprintf("wrote s3://parts/%s: shard %d/%d, ", name, i, n); !strings.HasPrefix(stdout, want) {
			t.Errorf("analyze --partial printed %q, want it to start with %q", stdout, want)
		}
	}
	_, stderr := run(0, "merge", "--season", "none", srv.URL("parts", "run/"), "-o", "merged")
	sameAnalysis(t, "local", "merged", "s3://spans/", "")
	// merge reports what it fetched of each partial: all of it, in one
	// request
	var fetched []string
	for i := range n {
		name := fmt.Sprintf("%d-of-%d.part", i, n)
		fi, err := os.Stat(filepath.Join(srv.Root, "parts", "run", name))
		if err != nil {
			t.Fatal(err)
		}
		fetched = append(fetched, fmt.Sprintf("fetched s3://parts/run/%s: %d of %[2]d bytes (100.0%%) in 1 request for the whole object", name, fi.Size()))
	}
	t.Logf("merge's stderr:\n%s", stderr)
	if got := strings.Split(strings.TrimSpace(stderr), "\n"); !slices.Equal(got, fetched) {
		t.Errorf("merge printed to stderr:\n%s\nwant:\n%s", stderr, strings.Join(fetched, "\n"))
	}
	run(0, "merge", "--season", "none", srv.URL("parts", "run"), "-o", srv.URL("results", "merged/"))
	sameAnalysis(t, "local", filepath.Join(srv.Root, "results", "merged"), "s3://spans/", "")

	// partials laid out for merge's refusals: copies of the run's objects
	part := func(i int) string { return filepath.Join(srv.Root, "parts", "run", fmt.Sprintf("%d-of-%d.part", i, n)) }
	srv.Put(t, "parts", "missing/0-of-3.part", part(0))
	srv.Put(t, "parts", "missing/2-of-3.part", part(2))
	for i := range n {
		srv.Put(t, "parts", fmt.Sprintf("double/%d-of-3.part", i), part(i))
	}
	srv.Put(t, "parts", "double/again.part", part(1))
	srv.Put(t, "parts", "changed/0-of-3.part", part(0))
	srv.Put(t, "parts", "changed/1-of-3.part", part(1))
	// b.parquet changes before shard 2 reads it
	if _, err := synth.Generate(t.Context(), filepath.Join("day", "b.parquet"), synth.Options{Days: 0.01, RPS: 4, Services: 10, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	srv.Put(t, "spans", "day/b.parquet", filepath.Join("day", "b.parquet"))
	run(0, "analyze", "--partial", "--shard=2/3", srv.URL("spans", "day/"), "-o", srv.URL("parts", "changed/2-of-3.part"))

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing shard", []string{"merge", srv.URL("parts", "missing/"), "-o", "never"},
			"chaosgen: merge: no partial read s3://spans/day/a.parquet row group(s) "},
		{"doubled shard", []string{"merge", srv.URL("parts", "double/"), "-o", "never"},
			"chaosgen: merge: row group N of s3://spans/day/a.parquet is in both s3://parts/double/1-of-3.part (shard 1/3) and s3://parts/double/again.part (shard 1/3)"},
		{"changed input", []string{"merge", srv.URL("parts", "changed/"), "-o", "never"},
			"chaosgen: merge: s3://spans/day/b.parquet differs between s3://parts/changed/0-of-3.part and s3://parts/changed/2-of-3.part"},
		{"missing bucket", []string{"merge", srv.URL("nosuchbucket", "run/"), "-o", "never"},
			"chaosgen: merge: s3://nosuchbucket/run/: bucket s3://nosuchbucket not found\n"},
		{"missing object", []string{"merge", srv.URL("parts", "run/0-of-3.part"), srv.URL("parts", "run/7-of-3.part"), "-o", "never"},
			"chaosgen: merge: s3://parts/run/7-of-3.part: object not found\n"},
		{"empty prefix", []string{"merge", srv.URL("parts", "night/"), "-o", "never"},
			"chaosgen: merge: s3://parts/night/: no .part objects under the prefix\n"},
		{"partial to a missing bucket", []string{"analyze", "--partial", srv.URL("spans", "day/"), "-o", srv.URL("nosuchbucket", "0.part")},
			"chaosgen: analyze: s3://nosuchbucket/0.part: bucket s3://nosuchbucket not found\n"},
		{"partial to a prefix", []string{"analyze", "--partial", srv.URL("spans", "day/"), "-o", srv.URL("parts", "run/")},
			"chaosgen: analyze: s3://parts/run/: names a prefix: give an object name, such as s3://parts/run/NAME\n"},
		{"wrong secret", []string{"merge", srv.URL("parts", "run/"), "-o", "never"},
			"chaosgen: merge: s3://parts/run/: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
		{"wrong secret, partial", []string{"analyze", "--partial", "day", "-o", srv.URL("parts", "x.part")},
			"chaosgen: analyze: s3://parts/x.part: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if strings.HasPrefix(c.name, "wrong secret") {
				t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
			}
			code, _, stderr := runCLI(c.args...)
			t.Logf("%s", stderr)
			// N stands for a row group number
			want := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(c.want), "row group N ", `row group \d+ `))
			if c.name == "missing shard" && !strings.Contains(stderr, "(missing: the partial of shard 1/3)") {
				t.Errorf("the missing shard is not named: %s", stderr)
			}
			if code != 1 || !want.MatchString(stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and it to start with:\n%s", code, stderr, c.want)
			}
			if _, err := os.Stat("never"); err == nil {
				t.Error("the output directory was written")
			}
		})
	}
	for _, k := range []string{"0.part", "x.part"} {
		if _, err := os.Stat(filepath.Join(srv.Root, "parts", k)); err == nil {
			t.Errorf("a refused partial was written: s3://parts/%s", k)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestImportObjectStorage imports trace objects (OTLP JSON, and Tempo's
// JSON gzipped) from a real S3-compatible server (versitygw) into a span
// object: the same report and the same span file, byte for byte, as the
// import of the local files; a prefix, a missing object or bucket and
// refused credentials are errors naming the URL, and nothing is written.
func TestImportObjectStorage(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, "traces")
	testdata, err := filepath.Abs(filepath.Join("..", "..", "ingest", "importer", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	copyFile(t, filepath.Join(testdata, "conventions.otlp.json"), filepath.Join("traces", "otlp.json"))
	tempo := readFile(t, filepath.Join(testdata, "conventions.tempo.json"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(tempo); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("traces", "tempo.json.gz"), gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"otlp.json", "tempo.json.gz"} {
		srv.Put(t, "traces", f, filepath.Join("traces", f))
	}
	code, want, stderr := runCLI("import", filepath.Join("traces", "otlp.json"), filepath.Join("traces", "tempo.json.gz"), "-o", filepath.Join("traces", "spans", "day.parquet"))
	if code != 0 {
		t.Fatalf("local import: %s", stderr)
	}
	code, got, stderr := runCLI("import", srv.URL("traces", "otlp.json"), srv.URL("traces", "tempo.json.gz"), "-o", srv.URL("traces", "spans/day.parquet"))
	if code != 0 {
		t.Fatalf("import from and to the bucket: %s", stderr)
	}
	t.Logf("%s", got)
	if !strings.Contains(got, "s3://traces/tempo.json.gz") || strings.ReplaceAll(got, "s3://", "") != want {
		t.Errorf("import from the bucket printed\n%s\nthe local import\n%s", got, want)
	}
	if !bytes.Equal(readFile(t, filepath.Join("traces", "spans", "day.parquet")), readFile(t, filepath.Join(srv.Root, "traces", "spans", "day.parquet"))) {
		t.Error("the span object differs from the local import's span file")
	}
	if spans, err := ingest.ReadFile(filepath.Join(srv.Root, "traces", "spans", "day.parquet")); err != nil || len(spans) == 0 {
		t.Errorf("the span object holds %d spans: %v", len(spans), err)
	}
	// import reports what it fetched of each object (all of it, in one
	// request) and what it uploaded (the span file)
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var report []string
	for _, f := range []string{"otlp.json", "tempo.json.gz"} {
		report = append(report, fmt.Sprintf("fetched s3://traces/%s: %d of %[2]d bytes (100.0%%) in 1 request for the whole object", f, size(filepath.Join("traces", f))))
	}
	report = append(report, fmt.Sprintf("uploaded s3://traces/spans/day.parquet: %d bytes", size(filepath.Join("traces", "spans", "day.parquet"))))
	t.Logf("import's stderr:\n%s", stderr)
	if got := strings.Split(strings.TrimSpace(stderr), "\n"); !slices.Equal(got, report) {
		t.Errorf("import printed to stderr:\n%s\nwant:\n%s", stderr, strings.Join(report, "\n"))
	}

	for _, c := range []struct {
		name, in, out, want string
	}{
		{"prefix", srv.URL("traces", "spans/"), "never.parquet", "chaosgen: import: s3://traces/spans/: names a prefix, not an object: give the objects in it\n"},
		{"missing object", srv.URL("traces", "zipkin.json"), "never.parquet", "chaosgen: import: s3://traces/zipkin.json: object not found\n"},
		{"missing bucket", srv.URL("nosuchbucket", "otlp.json"), "never.parquet", "chaosgen: import: s3://nosuchbucket/otlp.json: bucket s3://nosuchbucket not found\n"},
		{"output to a missing bucket", srv.URL("traces", "otlp.json"), srv.URL("nosuchbucket", "never.parquet"), "chaosgen: import: s3://nosuchbucket/never.parquet: bucket s3://nosuchbucket not found\n"},
		{"wrong secret", srv.URL("traces", "otlp.json"), "never.parquet", "chaosgen: import: s3://traces/otlp.json: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
		{"wrong secret, output", filepath.Join("traces", "otlp.json"), srv.URL("traces", "never.parquet"), "chaosgen: import: s3://traces/never.parquet: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if strings.HasPrefix(c.name, "wrong secret") {
				t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
			}
			code, _, stderr := runCLI("import", c.in, "-o", c.out)
			if code != 1 || !strings.HasPrefix(stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and it to start with:\n%s", code, stderr, c.want)
			}
		})
	}
	for _, p := range []string{"never.parquet", filepath.Join(srv.Root, "traces", "never.parquet")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("a refused import wrote %s", p)
		}
	}
}
