package objstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chaosgen/chaosgen/internal/gcstest"
	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/chaosgen/chaosgen/internal/s3test"
	"github.com/chaosgen/chaosgen/internal/testseed"
	"github.com/chaosgen/chaosgen/internal/testserver"
)

// server is a real object store that a test started: versitygw (S3) or
// fake-gcs-server (GCS).
type server = testserver.Store

// servers start each store for a subtest; they skip loudly (fail in CI)
// without the binary.
var servers = []struct {
	scheme string
	start  func(t *testing.T) server
}{
	{"s3", func(t *testing.T) server { return s3test.Start(t) }},
	{"gs", func(t *testing.T) server { return gcstest.Start(t) }},
}

// put writes data to a local file and uploads it as bucket/key.
func put(t *testing.T, srv server, bucket, key string, data []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "obj")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	srv.Put(t, bucket, key, p)
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestReaderReadsRanges reads an object of each store with ranged
// requests, and checks that a read after the object was replaced fails
// (the pin of pin.go).
func TestReaderReadsRanges(t *testing.T) {
	for _, s := range servers {
		t.Run(s.scheme, func(t *testing.T) { testReaderReadsRanges(t, s.scheme, s.start(t)) })
	}
}

func testReaderReadsRanges(t *testing.T, scheme string, srv server) {
	srv.MakeBucket(t, "data")
	seed := testseed.Seed(t)
	data := randomBytes(rand.New(rand.NewPCG(seed, 0)), 3<<20+12345)
	put(t, srv, "data", "blob.bin", data)

	st := objstore.New(t.Context())
	defer st.Close()
	rd, err := st.Open(srv.URL("data", "blob.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if rd.Size() != int64(len(data)) || rd.Name() != scheme+"://data/blob.bin" {
		t.Fatalf("size %d, name %q; want %d, %s://data/blob.bin", rd.Size(), rd.Name(), len(data), scheme)
	}
	size := int64(len(data))
	fetched := func() objstore.Stat { return st.Stats()[0] }

	// the footer pattern: 8 bytes at the end, then the bytes before them,
	// served from the one tail block
	buf := make([]byte, 8)
	if _, err := rd.ReadAt(buf, size-8); err != nil || !bytes.Equal(buf, data[size-8:]) {
		t.Fatalf("tail: %v", err)
	}
	buf = make([]byte, 5000)
	if _, err := rd.ReadAt(buf, size-8-5000); err != nil || !bytes.Equal(buf, data[size-8-5000:size-8]) {
		t.Fatalf("footer: %v", err)
	}
	if s := fetched(); s.Requests != 1 || s.Fetched != objstore.TailBytes {
		t.Errorf("after the footer reads: %d requests, %d bytes; want 1 request of the %d tail bytes", s.Requests, s.Fetched, objstore.TailBytes)
	}
	// a large read fetches exactly what it asks
	buf = make([]byte, 1<<20)
	if _, err := rd.ReadAt(buf, 100); err != nil || !bytes.Equal(buf, data[100:100+1<<20]) {
		t.Fatalf("large read: %v", err)
	}
	if s := fetched(); s.Requests != 2 || s.Fetched != objstore.TailBytes+1<<20 {
		t.Errorf("after a 1 MiB read: %d requests, %d bytes; want 2, %d", s.Requests, s.Fetched, objstore.TailBytes+1<<20)
	}
	// the file's magic, then the first column chunk: the second read
	// fetches only what the first one's block does not hold
	before := fetched()
	buf = make([]byte, 4)
	if _, err := rd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, data[:4]) {
		t.Fatalf("head: %v", err)
	}
	buf = make([]byte, 1<<20)
	if _, err := rd.ReadAt(buf, 4); err != nil || !bytes.Equal(buf, data[4:4+1<<20]) {
		t.Fatalf("read after the head: %v", err)
	}
	if s := fetched(); s.Requests-before.Requests != 2 || s.Fetched-before.Fetched != 4+1<<20 {
		t.Errorf("head and chunk: %d requests, %d bytes; want 2, %d", s.Requests-before.Requests, s.Fetched-before.Fetched, 4+1<<20)
	}
	// a read past the end returns what there is and io.EOF
	buf = make([]byte, 100)
	n, err := rd.ReadAt(buf, size-10)
	if n != 10 || err != io.EOF || !bytes.Equal(buf[:10], data[size-10:]) {
		t.Errorf("read across the end: %d, %v; want 10, EOF", n, err)
	}
	if n, err := rd.ReadAt(buf, size); n != 0 || err != io.EOF {
		t.Errorf("read at the end: %d, %v; want 0, EOF", n, err)
	}

	// concurrent reads of random ranges all return the object's bytes
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for w := range errs {
		wg.Go(func() {
			rr := rand.New(rand.NewPCG(seed, uint64(w)+1))
			for range 40 {
				n := 1 + rr.IntN(200<<10)
				off := rr.Int64N(size - int64(n))
				b := make([]byte, n)
				if _, err := rd.ReadAt(b, off); err != nil {
					errs[w] = err
					return
				}
				if !bytes.Equal(b, data[off:off+int64(n)]) {
					errs[w] = errors.New("bytes differ at " + filepath.Base(rd.Name()))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	// an object replaced after Open fails the next read instead of
	// returning the new object's bytes at the old offsets
	data[2<<20] ^= 1
	put(t, srv, "data", "blob.bin", data)
	// (the range fetched is shorter when blocks kept from the random
	// reads above hold its start or end: at most 8 of 64 KiB)
	_, err = rd.ReadAt(make([]byte, 1<<20), 2<<20)
	if err == nil || !regexp.MustCompile(scheme+`://data/blob\.bin: reading bytes \d+-\d+: the object changed while it was read \(.+\): run again$`).MatchString(err.Error()) {
		t.Errorf("read after the object was replaced: %v", err)
	} else {
		t.Logf("read after the object was replaced: %v", err)
	}
}

// TestGCSVersionedBucketReadsTheOpenedGeneration replaces an object of a
// GCS bucket with object versioning while it is read: the pinned reads go
// on returning the opened generation's bytes (the old generation is kept),
// never the new object's; a new Open reads the new one.
func TestGCSVersionedBucketReadsTheOpenedGeneration(t *testing.T) {
	srv := gcstest.StartInMemory(t)
	srv.MakeVersionedBucket(t, "data")
	old := randomBytes(rand.New(rand.NewPCG(testseed.Seed(t), 0)), 1<<20)
	put(t, srv, "data", "blob.bin", old)
	st := objstore.New(t.Context())
	defer st.Close()
	rd, err := st.Open(srv.URL("data", "blob.bin"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100<<10)
	if _, err := rd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf, old[:len(buf)]) {
		t.Fatalf("first read: %v", err)
	}
	replaced := bytes.Clone(old)
	for i := range replaced {
		replaced[i] ^= 0xff
	}
	put(t, srv, "data", "blob.bin", replaced)
	// a range no kept block holds: fetched after the replacement
	if _, err := rd.ReadAt(buf, 512<<10); err != nil || !bytes.Equal(buf, old[512<<10:512<<10+len(buf)]) {
		t.Errorf("read after the replacement: %v (want the opened generation's bytes)", err)
	}
	rd2, err := st.Open(srv.URL("data", "blob.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd2.ReadAt(buf, 512<<10); err != nil || !bytes.Equal(buf, replaced[512<<10:512<<10+len(buf)]) {
		t.Errorf("read of the object opened again: %v (want the new generation's bytes)", err)
	}
}

// TestReadFileStats reads objects whole (as merge reads partials) and
// uploads one: WriteReport reports each read object's bytes, in one
// request, then the uploaded object's bytes; local files are not reported.
func TestReadFileStats(t *testing.T) {
	for _, s := range servers {
		t.Run(s.scheme, func(t *testing.T) {
			srv := s.start(t)
			srv.MakeBucket(t, "parts")
			a, b := bytes.Repeat([]byte("partial a "), 1000), []byte("partial b")
			put(t, srv, "parts", "run/a.part", a)
			put(t, srv, "parts", "run/b.part", b)
			local := filepath.Join(t.TempDir(), "c.part")
			if err := os.WriteFile(local, []byte("local"), 0o644); err != nil {
				t.Fatal(err)
			}
			st := objstore.New(t.Context())
			defer st.Close()
			names, err := st.ListExt(srv.URL("parts", "run/"), ".part")
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range append([]string{local}, names...) {
				got, err := st.ReadFile(n)
				if err != nil {
					t.Fatal(err)
				}
				if n != local && !bytes.Equal(got, map[string][]byte{"a.part": a, "b.part": b}[filepath.Base(n)]) {
					t.Errorf("%s: read %d bytes that differ from the object's", n, len(got))
				}
			}
			// an upload is reported after the reads, with the bytes it sent
			if err := st.WriteFile(srv.URL("parts", "merged/out.part"), func(p string) error {
				return os.WriteFile(p, append(a, b...), 0o644)
			}); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			if err := st.WriteReport(&out); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("fetched %[1]s://parts/run/a.part: 10000 of 10000 bytes (100.0%%) in 1 request for the whole object\n"+
				"fetched %[1]s://parts/run/b.part: 9 of 9 bytes (100.0%%) in 1 request for the whole object\n"+
				"uploaded %[1]s://parts/merged/out.part: 10009 bytes\n", s.scheme)
			if out.String() != want {
				t.Errorf("stats:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}

func TestListPrefix(t *testing.T) {
	for _, s := range servers {
		t.Run(s.scheme, func(t *testing.T) { testListPrefix(t, s.scheme, s.start(t)) })
	}
}

func testListPrefix(t *testing.T, scheme string, srv server) {
	srv.MakeBucket(t, "spans")
	for _, k := range []string{"day/b.parquet", "day/a.parquet", "day/sub/c.parquet", "day/.tmp.parquet",
		"day/.hidden/d.parquet", "day/notes.txt", "dayz/e.parquet", "other.parquet"} {
		put(t, srv, "spans", k, []byte("x"))
	}
	st := objstore.New(t.Context())
	defer st.Close()
	want := []string{scheme + "://spans/day/a.parquet", scheme + "://spans/day/b.parquet", scheme + "://spans/day/sub/c.parquet"}
	for _, arg := range []string{"day/", "day"} {
		got, err := st.List(srv.URL("spans", arg))
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%s) = %v, want %v", arg, got, want)
		}
	}
	got, err := st.List(srv.URL("spans", "day/b.parquet"))
	if err != nil || !slices.Equal(got, []string{scheme + "://spans/day/b.parquet"}) {
		t.Errorf("one object: %v, %v", got, err)
	}
	got, err = st.List(srv.URL("spans", ""))
	if err != nil || len(got) != 5 {
		t.Errorf("whole bucket: %v, %v; want the 5 visible .parquet objects", got, err)
	}
	// the endpoint from the SDK's environment instead of the URL
	for _, env := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"} {
		srv, ok := srv.(*s3test.Server)
		if !ok {
			break
		}
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, srv.Endpoint)
			st := objstore.New(t.Context())
			defer st.Close()
			got, err := st.List("s3://spans/day/?use_path_style=true")
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("List with %s: %v, %v; want %v", env, got, err, want)
			}
		})
	}
	if _, err := st.List(srv.URL("spans", "empty/")); err == nil || !strings.Contains(err.Error(), scheme+"://spans/empty/: no .parquet objects") {
		t.Errorf("empty prefix: %v", err)
	}
}

func TestErrorsNameTheURL(t *testing.T) {
	for _, s := range servers {
		t.Run(s.scheme, func(t *testing.T) { testErrorsNameTheURL(t, s.scheme, s.start(t)) })
	}
}

func testErrorsNameTheURL(t *testing.T, scheme string, srv server) {
	srv.MakeBucket(t, "spans")
	put(t, srv, "spans", "day/a.parquet", []byte("PAR1"))
	for _, c := range []struct {
		name, bucket, key string
		secret            string
		want              []string
		is                error
	}{
		{"missing bucket", "nosuchbucket", "day/a.parquet", "", []string{scheme + "://nosuchbucket/day/a.parquet: bucket " + scheme + "://nosuchbucket not found"}, objstore.ErrNotFound},
		{"missing object", "spans", "day/zzz.parquet", "", []string{scheme + "://spans/day/zzz.parquet: object not found"}, objstore.ErrNotFound},
		{"missing prefix", "spans", "night/", "", []string{scheme + "://spans/night/: no .parquet objects under the prefix"}, nil},
		{"wrong secret", "spans", "day/a.parquet", "not-the-secret", []string{"s3://spans/day/a.parquet: access denied", "AWS_SECRET_ACCESS_KEY"}, objstore.ErrDenied},
	} {
		if c.secret != "" && scheme != "s3" {
			continue // the emulator checks no credentials
		}
		t.Run(c.name, func(t *testing.T) {
			if c.secret != "" {
				t.Setenv("AWS_SECRET_ACCESS_KEY", c.secret)
			}
			st := objstore.New(t.Context())
			defer st.Close()
			for _, op := range []string{"list", "open"} {
				var err error
				if op == "list" {
					_, err = st.List(srv.URL(c.bucket, c.key))
				} else if !strings.HasSuffix(c.key, "/") {
					_, err = st.Open(srv.URL(c.bucket, c.key))
				} else {
					continue
				}
				if err == nil {
					t.Fatalf("%s: no error", op)
				}
				t.Logf("%s: %v", op, err)
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %v\nwant it to contain %q", op, err, w)
					}
				}
				if c.is != nil && !errors.Is(err, c.is) {
					t.Errorf("%s: %v is not %v", op, err, c.is)
				}
			}
		})
	}
}
