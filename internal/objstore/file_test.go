package objstore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/chaosgen/chaosgen/internal/s3test"
)

// TestWholeObjects: objects named by URL are listed by extension, checked,
// read whole and written whole (through a local file) against a real
// versitygw; a failed write leaves no object, and a missing bucket or
// refused credentials fail before the work.
func TestWholeObjects(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, "parts")
	for _, k := range []string{"day/1-of-2.part", "day/0-of-2.part", "day/.0-of-2.part.tmp", "day/notes.txt", "dayz/9.part"} {
		put(t, srv, "parts", k, []byte("content of "+k))
	}
	st := objstore.New(t.Context())
	defer st.Close()

	got, err := st.ListExt(srv.URL("parts", "day/"), ".part")
	if want := []string{"s3://parts/day/0-of-2.part", "s3://parts/day/1-of-2.part"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("ListExt = %v, %v; want %v", got, err, want)
	}
	if _, err := st.ListExt(srv.URL("parts", "night/"), ".part"); err == nil || err.Error() != "s3://parts/night/: no .part objects under the prefix" {
		t.Errorf("empty prefix: %v", err)
	}

	// read whole: by a name that List returned, by URL, and a local file
	for _, name := range append(got, srv.URL("parts", "day/notes.txt")) {
		b, err := st.ReadFile(name)
		key := strings.TrimPrefix(objstore.Name(name), "s3://parts/")
		if want := "content of " + key; err != nil || string(b) != want {
			t.Errorf("ReadFile(%s) = %q, %v; want %q", name, b, err, want)
		}
	}
	local := filepath.Join(t.TempDir(), "local.part")
	if err := os.WriteFile(local, []byte("local"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := st.ReadFile(local); err != nil || string(b) != "local" {
		t.Errorf("ReadFile(local) = %q, %v", b, err)
	}
	if n, err := st.Object(srv.URL("parts", "day/notes.txt")); err != nil || n != "s3://parts/day/notes.txt" {
		t.Errorf("Object = %q, %v", n, err)
	}
	if objstore.Name(srv.URL("parts", "a/b.part")) != "s3://parts/a/b.part" || objstore.Name("a/b.part") != "a/b.part" {
		t.Error("Name keeps the query, or changes a local path")
	}

	// write whole: the object appears once write is done, with what it wrote
	out := srv.URL("parts", "out/0-of-1.part")
	var seen bool
	err = st.WriteFile(out, func(path string) error {
		if _, err := os.Stat(filepath.Join(srv.Root, "parts", "out", "0-of-1.part")); err == nil {
			seen = true
		}
		return os.WriteFile(path, []byte("partial 0"), 0o644)
	})
	if err != nil || seen {
		t.Fatalf("WriteFile: %v (object visible during the write: %v)", err, seen)
	}
	if b, err := st.ReadFile(out); err != nil || string(b) != "partial 0" {
		t.Errorf("read back %q, %v", b, err)
	}
	// a write that fails leaves the old object as it was
	boom := errors.New("boom")
	err = st.WriteFile(out, func(path string) error {
		if err := os.WriteFile(path, []byte("half"), 0o644); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("failed write: %v", err)
	}
	if b, err := st.ReadFile(out); err != nil || string(b) != "partial 0" {
		t.Errorf("after a failed write the object holds %q, %v", b, err)
	}
	// a local out is written by write itself
	lout := filepath.Join(t.TempDir(), "x.part")
	if err := st.WriteFile(lout, func(path string) error {
		if path != lout {
			t.Errorf("local write got %s, want %s", path, lout)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

func TestWholeObjectErrors(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, "parts")
	put(t, srv, "parts", "day/0.part", []byte("x"))
	for _, c := range []struct {
		name, bucket, key, secret string
		want                      string // every operation's error starts with it
		is                        error
	}{
		{"missing bucket", "nosuchbucket", "day/0.part", "", "s3://nosuchbucket/day/0.part: bucket s3://nosuchbucket not found", objstore.ErrNotFound},
		{"missing object", "parts", "day/9.part", "", "s3://parts/day/9.part: object not found", objstore.ErrNotFound},
		{"a prefix", "parts", "day/", "", "s3://parts/day/: names a prefix", nil},
		{"wrong secret", "parts", "day/0.part", "not-the-secret", "s3://parts/day/0.part: access denied (check the credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY", objstore.ErrDenied},
		{"no credentials", "parts", "day/0.part", "none", "s3://parts/day/0.part: access denied: no credentials found (set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY", objstore.ErrDenied},
	} {
		t.Run(c.name, func(t *testing.T) {
			switch c.secret {
			case "":
			case "none":
				t.Setenv("AWS_ACCESS_KEY_ID", "")
				t.Setenv("AWS_SECRET_ACCESS_KEY", "")
				t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // no instance role
			default:
				t.Setenv("AWS_SECRET_ACCESS_KEY", c.secret)
			}
			st := objstore.New(t.Context())
			defer st.Close()
			url := srv.URL(c.bucket, c.key)
			ops := map[string]func() error{
				"Object":   func() error { _, err := st.Object(url); return err },
				"ReadFile": func() error { _, err := st.ReadFile(url); return err },
				"WriteFile": func() error {
					return st.WriteFile(url, func(string) error {
						t.Error("WriteFile ran write")
						return nil
					})
				},
			}
			for _, op := range []string{"Object", "ReadFile", "WriteFile"} {
				if op == "WriteFile" && c.name == "missing object" {
					continue // writing a new object is what WriteFile is for
				}
				err := ops[op]()
				t.Logf("%s: %v", op, err)
				if err == nil || !strings.HasPrefix(err.Error(), c.want) {
					t.Errorf("%s: %v\nwant it to start with %q", op, err, c.want)
				}
				if c.is != nil && !errors.Is(err, c.is) {
					t.Errorf("%s: %v is not %v", op, err, c.is)
				}
			}
		})
	}
	// nothing was written by the refused writes
	var keys []string
	filepath.WalkDir(srv.Root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !bytes.Contains([]byte(p), []byte("/.")) {
			keys = append(keys, p)
		}
		return err
	})
	if len(keys) != 1 {
		t.Errorf("the store holds %v, want only day/0.part", keys)
	}
}
