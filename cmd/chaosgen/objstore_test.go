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
	"github.com/chaosgen/chaosgen/internal/testserver"
	"github.com/chaosgen/chaosgen/synth"
	"github.com/parquet-go/parquet-go"
)

// objectStore is a real object store server that a test started, and
// how to make its credentials wrong.
type objectStore struct {
	testserver.Store
	scheme string // s3 or gs
	// deny sets credentials that the server refuses; nil for a server
	// that checks none (fake-gcs-server, as GCS emulators do), whose
	// tests leave the wrong-credential cases out
	deny func(t *testing.T)
}

// objectStores start each server for a subtest: versitygw for S3,
// fake-gcs-server for GCS. Without the binary they skip saying SKIPPED
// (fail under CI).
var objectStores = []struct {
	scheme string
	start  func(t *testing.T) objectStore
}{
	{"s3", func(t *testing.T) objectStore {
		return objectStore{s3test.Start(t), "s3", func(t *testing.T) { t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret") }}
	}},
	{"gs", func(t *testing.T) objectStore { return objectStore{gcstest.Start(t), "gs", nil} }},
}

// forEachStore runs test as a subtest against each server.
func forEachStore(t *testing.T, test func(t *testing.T, st objectStore)) {
	for _, s := range objectStores {
		t.Run(s.scheme, func(t *testing.T) { test(t, s.start(t)) })
	}
}

// msg returns a message written for S3 (naming s3:// URLs) as the store's
// scheme names them.
func (st objectStore) msg(s string) string { return strings.ReplaceAll(s, "s3://", st.scheme+"://") }

// download copies the objects under bucket/prefix into a new local
// directory, through the store's API, and returns the directory.
func (st objectStore) download(t *testing.T, bucket, prefix string) string {
	t.Helper()
	dir := t.TempDir()
	testserver.Download(t, st.URL(bucket, prefix), dir)
	return dir
}

// TestAnalyzeObjectStorage runs analyze on span files in a real
// S3-compatible server (versitygw) and a real GCS server
// (fake-gcs-server), and on the same files on disk: the analysis
// directories are byte-identical but for the inputs' names in
// summary.json, whether written locally or to a prefix in the store (and
// read back), the objects are read with ranged requests that fetch well
// under their size, and missing buckets, objects and (on S3) wrong
// credentials are errors naming the URL.
func TestAnalyzeObjectStorage(t *testing.T) { forEachStore(t, testAnalyzeObjectStorage) }

func testAnalyzeObjectStorage(t *testing.T, st objectStore) {
	st.MakeBucket(t, "spans")
	st.MakeBucket(t, "results")
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
		st.Put(t, "spans", filepath.ToSlash(name), name)
	}
	// an object that is no .parquet file is not an input of the prefix
	if err := os.WriteFile("notes.txt", []byte("not spans"), 0o644); err != nil {
		t.Fatal(err)
	}
	st.Put(t, "spans", "day/notes.txt", "notes.txt")

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
	spans, a, b := st.msg("s3://spans/"), st.msg("s3://spans/day/a.parquet"), st.msg("s3://spans/day/b.parquet")
	limits := map[string]float64{a: 0.6, b: 1}

	// one object, output to a local directory
	analyze("day/a.parquet", "-o", "local-a")
	stderr := analyze(st.URL("spans", "day/a.parquet"), "-o", "store-a")
	checkFetched(t, stderr, spans, limits, []string{a})
	sameAnalysis(t, "local-a", "store-a", spans, "")

	// a prefix, output to a prefix in the store
	analyze("day", "-o", "local-day")
	stderr = analyze(st.URL("spans", "day/"), "-o", st.URL("results", "nightly/day/"))
	checkFetched(t, stderr, spans, limits, []string{a, b})
	out := st.download(t, "results", "nightly/day/")
	checkUploaded(t, stderr, st.msg("s3://results/nightly/day/"), out)
	sameAnalysis(t, "local-day", out, spans, "")

	// writing the prefix again replaces it: files the new analysis lacks go
	analyze(st.URL("spans", "day"), "--no-models", "-o", st.URL("results", "nightly/day"))
	analyze("day", "--no-models", "-o", "local-day-nomodels")
	sameAnalysis(t, "local-day-nomodels", st.download(t, "results", "nightly/day/"), spans, "")

	// a prefix chaosgen did not write is refused
	st.Put(t, "results", "theirs/data.csv", "notes.txt")
	code, _, stderr := runCLI("analyze", st.URL("spans", "day/a.parquet"), "-o", st.URL("results", "theirs/"))
	if want := st.msg("s3://results/theirs/ is a non-empty prefix that chaosgen did not write"); code == 0 || !strings.Contains(stderr, want) {
		t.Errorf("foreign prefix: exit %d: %s", code, stderr)
	}

	cases := []struct {
		name, url string
		deny      bool
		want      string
	}{
		{"missing bucket", st.URL("nosuchbucket", "day/a.parquet"), false, "chaosgen: analyze: s3://nosuchbucket/day/a.parquet: bucket s3://nosuchbucket not found\n"},
		{"missing object", st.URL("spans", "day/c.parquet"), false, "chaosgen: analyze: s3://spans/day/c.parquet: object not found\n"},
		{"empty prefix", st.URL("spans", "night/"), false, "chaosgen: analyze: s3://spans/night/: no .parquet objects under the prefix\n"},
		{"wrong secret", st.URL("spans", "day/a.parquet"), true, "chaosgen: analyze: s3://spans/day/a.parquet: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
	}
	for _, c := range cases {
		if c.deny && st.deny == nil {
			continue // the server checks no credentials (docs/storage.md, Tests)
		}
		t.Run(c.name, func(t *testing.T) {
			if c.deny {
				st.deny(t)
			}
			code, _, stderr := runCLI("analyze", c.url, "-o", "never")
			if want := st.msg(c.want); code != 1 || !strings.HasPrefix(stderr, want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and it to start with:\n%s", code, stderr, want)
			}
			if _, err := os.Stat("never"); err == nil {
				t.Error("the output directory was written")
			}
		})
	}
}

// checkUploaded checks the report of an upload to a prefix: a line for
// each file of dir (the prefix's objects, downloaded), in name order but
// summary.json last, with its size.
func checkUploaded(t *testing.T, stderr, prefix, dir string) {
	t.Helper()
	var want []string
	var last string // summary.json's line
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("uploaded %s%s: %d bytes", prefix, filepath.ToSlash(rel), fi.Size())
		if rel == "summary.json" {
			last = line
		} else {
			want = append(want, line)
		}
		return nil
	})
	if err != nil || last == "" {
		t.Fatalf("%s holds no summary.json: %v", dir, err)
	}
	want = append(want, last)
	var got []string
	for line := range strings.Lines(stderr) {
		if strings.HasPrefix(line, "uploaded ") {
			got = append(got, strings.TrimSuffix(line, "\n"))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("upload report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// wideSpan is a span with the attributes that exports from tracing
// backends carry and analyze never reads.
type wideSpan struct {
	ingest.Span
	Attributes string `parquet:"attributes"`
}

// widen rewrites a span file with an attributes column of about 200 bytes
// a span that compresses no better than real URLs and user agents, in row
// groups of 10,000 spans, as exporters write them (so that a scan from the
// store fetches each row group's chunks ahead of decoding it, and the
// workers share several row groups).
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
	w := parquet.NewGenericWriter[wideSpan](f, parquet.Compression(&parquet.Zstd), parquet.MaxRowsPerRowGroup(10_000))
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
// S3-compatible server (versitygw) and a real GCS server
// (fake-gcs-server): analyze --partial writes each shard's partial as an
// object, merge reads the prefix and writes the analysis to a local
// directory or a bucket prefix, both identical to analyze of the local
// files; merge's refusals (a missing shard, a doubled shard, a changed
// input) and the store's errors name the objects.
func TestPartialObjectStorage(t *testing.T) { forEachStore(t, testPartialObjectStorage) }

func testPartialObjectStorage(t *testing.T, st objectStore) {
	for _, b := range []string{"spans", "parts", "results"} {
		st.MakeBucket(t, b)
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
		st.Put(t, "spans", "day/"+f, filepath.Join("day", f))
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
	spans := st.msg("s3://spans/")

	const n = 3
	reports := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("run/%d-of-%d.part", i, n)
		var stdout string
		stdout, reports[i] = run(0, "analyze", "--partial", fmt.Sprintf("--shard=%d/%d", i, n), st.URL("spans", "day/"), "-o", st.URL("parts", name))
		if want := st.msg(fmt.Sprintf("wrote s3://parts/%s: shard %d/%d, ", name, i, n)); !strings.HasPrefix(stdout, want) {
			t.Errorf("analyze --partial printed %q, want it to start with %q", stdout, want)
		}
	}
	parts := st.download(t, "parts", "run/")
	// each shard's report ends with its upload: the partial object's size
	for i, stderr := range reports {
		name := fmt.Sprintf("%d-of-%d.part", i, n)
		if want := st.msg(fmt.Sprintf("uploaded s3://parts/run/%s: %d bytes\n", name, fileSize(t, filepath.Join(parts, name)))); !strings.HasSuffix(stderr, want) {
			t.Errorf("analyze --partial printed to stderr:\n%s\nwant it to end with:\n%s", stderr, want)
		}
	}
	_, stderr := run(0, "merge", "--season", "none", st.URL("parts", "run/"), "-o", "merged")
	sameAnalysis(t, "local", "merged", spans, "")
	// merge reports what it fetched of each partial: all of it, in one
	// request
	var fetched []string
	for i := range n {
		name := fmt.Sprintf("%d-of-%d.part", i, n)
		fetched = append(fetched, st.msg(fmt.Sprintf("fetched s3://parts/run/%s: %d of %[2]d bytes (100.0%%) in 1 request for the whole object", name, fileSize(t, filepath.Join(parts, name)))))
	}
	t.Logf("merge's stderr:\n%s", stderr)
	if got := strings.Split(strings.TrimSpace(stderr), "\n"); !slices.Equal(got, fetched) {
		t.Errorf("merge printed to stderr:\n%s\nwant:\n%s", stderr, strings.Join(fetched, "\n"))
	}
	run(0, "merge", "--season", "none", st.URL("parts", "run"), "-o", st.URL("results", "merged/"))
	sameAnalysis(t, "local", st.download(t, "results", "merged/"), spans, "")

	// partials laid out for merge's refusals: copies of the run's objects
	part := func(i int) string { return filepath.Join(parts, fmt.Sprintf("%d-of-%d.part", i, n)) }
	st.Put(t, "parts", "missing/0-of-3.part", part(0))
	st.Put(t, "parts", "missing/2-of-3.part", part(2))
	for i := range n {
		st.Put(t, "parts", fmt.Sprintf("double/%d-of-3.part", i), part(i))
	}
	st.Put(t, "parts", "double/again.part", part(1))
	st.Put(t, "parts", "changed/0-of-3.part", part(0))
	st.Put(t, "parts", "changed/1-of-3.part", part(1))
	// b.parquet changes before shard 2 reads it
	if _, err := synth.Generate(t.Context(), filepath.Join("day", "b.parquet"), synth.Options{Days: 0.01, RPS: 4, Services: 10, Seed: 4}); err != nil {
		t.Fatal(err)
	}
	st.Put(t, "spans", "day/b.parquet", filepath.Join("day", "b.parquet"))
	run(0, "analyze", "--partial", "--shard=2/3", st.URL("spans", "day/"), "-o", st.URL("parts", "changed/2-of-3.part"))

	for _, c := range []struct {
		name string
		deny bool
		args []string
		want string
	}{
		{"missing shard", false, []string{"merge", st.URL("parts", "missing/"), "-o", "never"},
			"chaosgen: merge: no partial read s3://spans/day/a.parquet row group(s) "},
		{"doubled shard", false, []string{"merge", st.URL("parts", "double/"), "-o", "never"},
			"chaosgen: merge: row group N of s3://spans/day/a.parquet is in both s3://parts/double/1-of-3.part (shard 1/3) and s3://parts/double/again.part (shard 1/3)"},
		{"changed input", false, []string{"merge", st.URL("parts", "changed/"), "-o", "never"},
			"chaosgen: merge: s3://spans/day/b.parquet differs between s3://parts/changed/0-of-3.part and s3://parts/changed/2-of-3.part"},
		{"missing bucket", false, []string{"merge", st.URL("nosuchbucket", "run/"), "-o", "never"},
			"chaosgen: merge: s3://nosuchbucket/run/: bucket s3://nosuchbucket not found\n"},
		{"missing object", false, []string{"merge", st.URL("parts", "run/0-of-3.part"), st.URL("parts", "run/7-of-3.part"), "-o", "never"},
			"chaosgen: merge: s3://parts/run/7-of-3.part: object not found\n"},
		{"empty prefix", false, []string{"merge", st.URL("parts", "night/"), "-o", "never"},
			"chaosgen: merge: s3://parts/night/: no .part objects under the prefix\n"},
		{"partial to a missing bucket", false, []string{"analyze", "--partial", st.URL("spans", "day/"), "-o", st.URL("nosuchbucket", "0.part")},
			"chaosgen: analyze: s3://nosuchbucket/0.part: bucket s3://nosuchbucket not found\n"},
		{"partial to a prefix", false, []string{"analyze", "--partial", st.URL("spans", "day/"), "-o", st.URL("parts", "run/")},
			"chaosgen: analyze: s3://parts/run/: names a prefix: give an object name, such as s3://parts/run/NAME\n"},
		{"wrong secret", true, []string{"merge", st.URL("parts", "run/"), "-o", "never"},
			"chaosgen: merge: s3://parts/run/: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
		{"wrong secret, partial", true, []string{"analyze", "--partial", "day", "-o", st.URL("parts", "x.part")},
			"chaosgen: analyze: s3://parts/x.part: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
	} {
		if c.deny && st.deny == nil {
			continue // the server checks no credentials (docs/storage.md, Tests)
		}
		t.Run(c.name, func(t *testing.T) {
			if c.deny {
				st.deny(t)
			}
			code, _, stderr := runCLI(c.args...)
			t.Logf("%s", stderr)
			// N stands for a row group number
			want := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(st.msg(c.want)), "row group N ", `row group \d+ `))
			if c.name == "missing shard" && !strings.Contains(stderr, "(missing: the partial of shard 1/3)") {
				t.Errorf("the missing shard is not named: %s", stderr)
			}
			if code != 1 || !want.MatchString(stderr) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and it to start with:\n%s", code, stderr, st.msg(c.want))
			}
			if _, err := os.Stat("never"); err == nil {
				t.Error("the output directory was written")
			}
		})
	}
	keys := testserver.Download(t, st.URL("parts", ""), t.TempDir())
	for _, k := range []string{"0.part", "x.part"} {
		if slices.Contains(keys, k) {
			t.Errorf("a refused partial was written: %s", st.msg("s3://parts/"+k))
		}
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
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
// JSON gzipped) from a real S3-compatible server (versitygw) and a real
// GCS server (fake-gcs-server) into a span object: the same report and
// the same span file, byte for byte, as the import of the local files,
// and a report on stderr of each object fetched (whole) and the span
// object uploaded; a prefix, a missing object or bucket and (on S3)
// refused credentials are errors naming the URL, and nothing is written.
func TestImportObjectStorage(t *testing.T) { forEachStore(t, testImportObjectStorage) }

func testImportObjectStorage(t *testing.T, st objectStore) {
	st.MakeBucket(t, "traces")
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
		st.Put(t, "traces", f, filepath.Join("traces", f))
	}
	local := filepath.Join("traces", "spans", "day.parquet")
	code, want, stderr := runCLI("import", filepath.Join("traces", "otlp.json"), filepath.Join("traces", "tempo.json.gz"), "-o", local)
	if code != 0 {
		t.Fatalf("local import: %s", stderr)
	}
	code, got, stderr := runCLI("import", st.URL("traces", "otlp.json"), st.URL("traces", "tempo.json.gz"), "-o", st.URL("traces", "spans/day.parquet"))
	if code != 0 {
		t.Fatalf("import from and to the bucket: %s", stderr)
	}
	t.Logf("%s", got)
	scheme := st.scheme + "://"
	if !strings.Contains(got, scheme+"traces/tempo.json.gz") || strings.ReplaceAll(got, scheme, "") != want {
		t.Errorf("import from the bucket printed\n%s\nthe local import\n%s", got, want)
	}
	object := filepath.Join(st.download(t, "traces", "spans/"), "day.parquet")
	if !bytes.Equal(readFile(t, local), readFile(t, object)) {
		t.Error("the span object differs from the local import's span file")
	}
	if spans, err := ingest.ReadFile(object); err != nil || len(spans) == 0 {
		t.Errorf("the span object holds %d spans: %v", len(spans), err)
	}
	// import reports what it fetched of each object (all of it, in one
	// request) and what it uploaded (the span file)
	var report []string
	for _, f := range []string{"otlp.json", "tempo.json.gz"} {
		report = append(report, fmt.Sprintf("fetched %straces/%s: %d of %[3]d bytes (100.0%%) in 1 request for the whole object", scheme, f, fileSize(t, filepath.Join("traces", f))))
	}
	report = append(report, fmt.Sprintf("uploaded %straces/spans/day.parquet: %d bytes", scheme, fileSize(t, object)))
	t.Logf("import's stderr:\n%s", stderr)
	if got := strings.Split(strings.TrimSpace(stderr), "\n"); !slices.Equal(got, report) {
		t.Errorf("import printed to stderr:\n%s\nwant:\n%s", stderr, strings.Join(report, "\n"))
	}

	for _, c := range []struct {
		name, in, out string
		deny          bool
		want          string
	}{
		{"prefix", st.URL("traces", "spans/"), "never.parquet", false, "chaosgen: import: s3://traces/spans/: names a prefix, not an object: give the objects in it\n"},
		{"missing object", st.URL("traces", "zipkin.json"), "never.parquet", false, "chaosgen: import: s3://traces/zipkin.json: object not found\n"},
		{"missing bucket", st.URL("nosuchbucket", "otlp.json"), "never.parquet", false, "chaosgen: import: s3://nosuchbucket/otlp.json: bucket s3://nosuchbucket not found\n"},
		{"output to a missing bucket", st.URL("traces", "otlp.json"), st.URL("nosuchbucket", "never.parquet"), false, "chaosgen: import: s3://nosuchbucket/never.parquet: bucket s3://nosuchbucket not found\n"},
		{"wrong secret", st.URL("traces", "otlp.json"), "never.parquet", true, "chaosgen: import: s3://traces/otlp.json: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
		{"wrong secret, output", filepath.Join("traces", "otlp.json"), st.URL("traces", "never.parquet"), true, "chaosgen: import: s3://traces/never.parquet: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
	} {
		if c.deny && st.deny == nil {
			continue // the server checks no credentials (docs/storage.md, Tests)
		}
		t.Run(c.name, func(t *testing.T) {
			if c.deny {
				st.deny(t)
			}
			code, _, stderr := runCLI("import", c.in, "-o", c.out)
			if want := st.msg(c.want); code != 1 || !strings.HasPrefix(stderr, want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and it to start with:\n%s", code, stderr, want)
			}
		})
	}
	if _, err := os.Stat("never.parquet"); err == nil {
		t.Error("a refused import wrote never.parquet")
	}
	if keys := testserver.Download(t, st.URL("traces", ""), t.TempDir()); slices.Contains(keys, "never.parquet") {
		t.Errorf("a refused import wrote %s", st.msg("s3://traces/never.parquet"))
	}
}
