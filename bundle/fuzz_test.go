package bundle

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// FuzzRoundTrip checks that Decode never panics, that everything it rejects
// wraps ErrInvalid, and that on whatever it accepts, encode → decode →
// encode gives the same bytes: decoding then encoding is the identity on
// canonical bytes. The seed corpus is testdata/*.json and
// testdata/fuzz/FuzzRoundTrip.
func FuzzRoundTrip(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed bundles in testdata: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"apiVersion":"chaosgen/v1","kind":"ProfileBundle","metadata":{"name":"x","generator":"","seed":0,"source":{"files":[],"timeRange":{"start":"2026-01-01T00:00:00+02:00","end":"2026-01-01T00:00:00Z"}}},"guards":{"maxGlobalRate":0.5,"maxActiveFaults":0,"abortIf":{"rootErrorRate":0,"rootP99Ms":0}},"profiles":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		first, err := Encode(b)
		if err != nil {
			// A decoded bundle can still fail in canonical form, when
			// rounding to 6 decimals breaks a rule (delayMs 1e-9).
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Encode error %v does not wrap ErrInvalid", err)
			}
			return
		}
		b2, err := Decode(first)
		if err != nil {
			t.Fatalf("Decode rejects Encode's output: %v\n%s", err, first)
		}
		second, err := Encode(b2)
		if err != nil {
			t.Fatalf("Encode fails on decoded canonical bytes: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("not a fixed point:\nfirst:\n%s\nsecond:\n%s", first, second)
		}
	})
}

// TestSeedCorpus makes sure the fuzz seeds exercise the accepting path:
// every seed but the one meant to fail decodes and round-trips.
func TestSeedCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRoundTrip")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := bytes.CutPrefix(raw, []byte("go test fuzz v1\n[]byte("))
		if !ok {
			t.Fatalf("%s: not a fuzz corpus file", e.Name())
		}
		s, err := strconv.Unquote(string(bytes.TrimSuffix(bytes.TrimSpace(lit), []byte(")"))))
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		b, err := Decode([]byte(s))
		if e.Name() == "duplicate-keys" {
			if err == nil {
				t.Errorf("%s: decoded, want a duplicate key error", e.Name())
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		if _, err := Encode(b); err != nil {
			t.Errorf("%s: Encode: %v", e.Name(), err)
			continue
		}
		accepted++
	}
	if accepted < 4 {
		t.Errorf("%d seeds decode and encode, want at least 4", accepted)
	}
}
