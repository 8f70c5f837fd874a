package profilegen

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/testkey"
	"github.com/chaosgen/chaosgen/internal/usage"
)

func TestParseNotAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 30, 15, 999, time.UTC)
	for in, want := range map[string]time.Time{
		"72h":                  time.Date(2026, 3, 4, 12, 30, 15, 0, time.UTC),
		"7d":                   time.Date(2026, 3, 8, 12, 30, 15, 0, time.UTC),
		"2027-01-02T03:04:05Z": time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC),
	} {
		got, err := ParseNotAfter(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseNotAfter(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1h", "0s", "tomorrow", "2020-01-01T00:00:00Z"} {
		if _, err := ParseNotAfter(bad, now); err == nil {
			t.Errorf("ParseNotAfter(%q) accepted", bad)
		}
	}
}

func TestWrite(t *testing.T) {
	dir := writeAnalysisDir(t, testAnalysis())
	out := filepath.Join(t.TempDir(), "shop-nightly.json")
	keyDir := t.TempDir()
	key := testkey.MustWrite(t, keyDir, "ci", "ci@test", 1)
	now := time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	var warnings []string
	o := WriteOptions{Options: Options{MaxRate: DefaultMaxRate, MinScore: 0.3, Seed: 7}, Output: out, Key: key.Priv, Now: now,
		Previous: filepath.Join(keyDir, "none.json"), Warn: func(m string) { warnings = append(warnings, m) }}
	w, err := Write(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	// The same bytes as Generate + Encode with the options Write derives.
	opt := testOptions()
	opt.Expiry = DefaultExpiry
	want := mustEncode(t, mustGenerate(t, testAnalysis(), opt).Bundle)
	if got, _ := os.ReadFile(out); !bytes.Equal(got, want) {
		t.Error("Write wrote other bytes than Generate and Encode give")
	}
	if w.SigPath != out+".sig" || w.Digest != bundle.Digest(want) || len(w.Bundle.Profiles) == 0 {
		t.Errorf("Written %+v", w.Written)
	}
	if _, err := bundle.Open(out, bundle.VerifyOptions{PublicKey: key.Pub, Now: now}); err != nil {
		t.Errorf("the written pair does not verify: %v", err)
	}
	if len(warnings) != 2 || !strings.HasPrefix(warnings[0], "notice: --previous ") || !strings.Contains(warnings[1], "ghost → payment") {
		t.Errorf("warnings %q, want the notice of the missing --previous, then the finding without an edge", warnings)
	}
	oldData, _ := os.ReadFile(out)
	oldSig, _ := os.ReadFile(out + ".sig")

	for _, tc := range []struct {
		name  string
		edit  func(*WriteOptions)
		usage bool
		want  string
	}{
		{"no output", func(o *WriteOptions) { o.Output = "" }, true, "-o is required"},
		{"max rate 0", func(o *WriteOptions) { o.MaxRate = 0 }, true, "--max-rate must be in (0, 1], got 0"},
		{"pattern", func(o *WriteOptions) { o.Exclude = []string{"payment"} }, true, `edge pattern "payment"`},
		{"not after", func(o *WriteOptions) { o.NotAfterFlag = "2001-01-01T00:00:00Z" }, true, "--not-after: 2001-01-01T00:00:00Z is in the past"},
		{"unsigned over signed", func(o *WriteOptions) { o.Key = "" }, true, "is signed"},
		{"output is a directory", func(o *WriteOptions) { o.Output = keyDir }, true, "is a directory"},
		{"key that cannot sign", func(o *WriteOptions) { o.Key = key.Pub }, false, "signing: "},
		{"previous malformed", func(o *WriteOptions) { o.Previous = key.Pub }, false, "--previous " + key.Pub + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := o
			o.MinScore = 0.1 // would change the bundle, were it written
			tc.edit(&o)
			_, err := Write(dir, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, usage.Err) != tc.usage {
				t.Fatalf("error %v; want %q, usage error %v", err, tc.want, tc.usage)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, oldData) {
				t.Error("a failed Write changed the bundle")
			}
			if got, _ := os.ReadFile(out + ".sig"); !bytes.Equal(got, oldSig) {
				t.Error("a failed Write changed the signature")
			}
		})
	}

	// Unsigned with Force: the stale signature is removed, with a warning.
	warnings = nil
	o.Key, o.Force = "", true
	w, err = Write(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if !w.RemovedSig || w.SigPath != "" {
		t.Errorf("Written %+v, want the stale signature removed", w.Written)
	}
	if _, err := os.Stat(out + ".sig"); !os.IsNotExist(err) {
		t.Error("the stale signature is still there")
	}
	if n := len(warnings); n < 2 || !strings.Contains(warnings[n-2], "removed "+out+".sig") || !strings.Contains(warnings[n-1], "no --key") {
		t.Errorf("warnings %q, want the removed signature and the unsigned bundle", warnings)
	}
}
