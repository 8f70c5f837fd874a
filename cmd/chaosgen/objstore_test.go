package main

import (
	"bytes"
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
	"github.com/chaosgen/chaosgen/internal/s3test"
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
	fetchRe := regexp.MustCompile(`(?m)^fetched (s3://\S+): (\d+) of (\d+) bytes \([0-9.]+%\) in (\d+) ranged requests$`)
	checkFetched := func(stderr string, want []string) {
		t.Helper()
		ms := fetchRe.FindAllStringSubmatch(stderr, -1)
		var names []string
		for _, m := range ms {
			names = append(names, m[1])
			fetched, _ := strconv.ParseInt(m[2], 10, 64)
			size, _ := strconv.ParseInt(m[3], 10, 64)
			local, err := os.Stat(strings.TrimPrefix(m[1], "s3://spans/"))
			if err != nil || local.Size() != size {
				t.Errorf("%s: size %d, want the local file's (%v)", m[1], size, err)
			}
			// the columns analyze skips are never fetched: a.parquet's
			// attributes are most of it; b.parquet is chaosgen's own
			// file, of which analyze reads 18 of 21 columns
			limit := map[string]float64{"s3://spans/day/a.parquet": 0.6, "s3://spans/day/b.parquet": 1}[m[1]]
			if fetched <= 0 || float64(fetched) > limit*float64(size) {
				t.Errorf("%s: fetched %d of %d bytes (%.1f%%), want under %.0f%%", m[1], fetched, size, 100*float64(fetched)/float64(size), 100*limit)
			}
			t.Logf("%s", m[0])
		}
		if !slices.Equal(names, want) {
			t.Errorf("fetch report for %v, want %v; stderr:\n%s", names, want, stderr)
		}
	}

	// one object, output to a local directory
	analyze("day/a.parquet", "-o", "local-a")
	stderr := analyze(srv.URL("spans", "day/a.parquet"), "-o", "s3-a")
	checkFetched(stderr, []string{"s3://spans/day/a.parquet"})
	sameAnalysis(t, "local-a", "s3-a", "s3://spans/")

	// a prefix, output to a prefix in the store
	analyze("day", "-o", "local-day")
	stderr = analyze(srv.URL("spans", "day/"), "-o", srv.URL("results", "nightly/day/"))
	checkFetched(stderr, []string{"s3://spans/day/a.parquet", "s3://spans/day/b.parquet"})
	sameAnalysis(t, "local-day", filepath.Join(srv.Root, "results", "nightly", "day"), "s3://spans/")

	// writing the prefix again replaces it: files the new analysis lacks go
	analyze(srv.URL("spans", "day"), "--no-models", "-o", srv.URL("results", "nightly/day"))
	analyze("day", "--no-models", "-o", "local-day-nomodels")
	sameAnalysis(t, "local-day-nomodels", filepath.Join(srv.Root, "results", "nightly", "day"), "s3://spans/")

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

// sameAnalysis compares two analysis directories file by file: every file
// byte-identical, summary.json after removing prefix from the input names
// (which say where each input was read).
func sameAnalysis(t *testing.T, want, got, prefix string) {
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
			g = bytes.ReplaceAll(g, []byte(prefix), nil)
		}
		if !bytes.Equal(w, g) {
			t.Errorf("%s/%s differs from %s/%s", got, n, want, n)
		}
	}
}
