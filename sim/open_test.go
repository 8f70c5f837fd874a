package sim

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/internal/testkey"
	"github.com/chaosgen/chaosgen/internal/usage"
	"github.com/chaosgen/chaosgen/synth"
)

// TestReplayWritesSignedBundles: --adapt --key writes a tuned bundle with
// a signature that verifies; a key that cannot sign fails the replay and
// leaves no output directory (nothing half-written).
func TestReplayWritesSignedBundles(t *testing.T) {
	path := synthFile(t, synth.Options{Days: 0.002, RPS: 5, Services: 6, Seed: 3})
	base, err := Run(context.Background(), []string{path}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var callee string
	for _, e := range base.Edges {
		if e.Caller != "" {
			callee = e.Callee
			break
		}
	}
	b := bundletest.Bundle(bundle.Profile{ID: "p", Target: bundle.Target{Callee: callee}, Rate: 0.1,
		Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}})
	keys := t.TempDir()
	key := testkey.MustWrite(t, keys, "ci", "ci@test", 5)
	o := ReplayOptions{Files: []string{path}, Bundle: b, Adapt: true, Rounds: 1, Seed: 1, SignKey: key.Priv, Dir: filepath.Join(t.TempDir(), "out")}
	if _, err := Replay(context.Background(), o); err != nil && !errors.Is(err, ErrGuardBreached) {
		t.Fatal(err)
	}
	if _, err := bundle.Open(filepath.Join(o.Dir, "bundle.json"), bundle.VerifyOptions{PublicKey: key.Pub}); err != nil {
		t.Errorf("the tuned bundle does not verify: %v", err)
	}

	if err := os.Chmod(key.Priv, 0o644); err != nil { // a key ssh-keygen would refuse
		t.Fatal(err)
	}
	o.Dir = filepath.Join(t.TempDir(), "bad")
	_, err = Replay(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "signing: ") {
		t.Fatalf("a key that cannot sign: %v, want a signing error", err)
	}
	if _, serr := os.Stat(o.Dir); !os.IsNotExist(serr) {
		t.Errorf("a failed replay left %s: %v", o.Dir, serr)
	}
}

func TestReplayOptionsOpen(t *testing.T) {
	path := synthFile(t, synth.Options{Days: 0.002, RPS: 2, Services: 4, Seed: 3})
	dir := t.TempDir()
	bpath := filepath.Join(dir, "b.json")
	if _, err := bundle.Write(bpath, bundletest.Example(), nil); err != nil {
		t.Fatal(err)
	}
	ok := func() ReplayOptions { return ReplayOptions{Dir: "out", LoadFactor: 1, Rounds: 1} }
	for _, tc := range []struct {
		name string
		o    func(*ReplayOptions, *ReplayFiles)
		want string
	}{
		{"no output", func(o *ReplayOptions, _ *ReplayFiles) { o.Dir = "" }, "-o is required"},
		{"load factor", func(o *ReplayOptions, _ *ReplayFiles) { o.LoadFactor = 0 }, "--load-factor must be > 0, got 0"},
		{"adapt without bundle", func(o *ReplayOptions, f *ReplayFiles) { o.Adapt, f.BundlePath = true, "" }, "--adapt and --learn need --bundle"},
		{"rounds", func(o *ReplayOptions, _ *ReplayFiles) { o.Rounds = 0 }, "--rounds must be >= 1, got 0"},
		{"verify flags", func(_ *ReplayOptions, f *ReplayFiles) { f.Verify.Identity = "x" }, "--identity needs --allowed-signers"},
	} {
		o, f := ok(), ReplayFiles{Inputs: []string{path}, BundlePath: bpath}
		tc.o(&o, &f)
		if err := o.Open(context.Background(), f); err == nil || err.Error() != tc.want || !errors.Is(err, usage.Err) {
			t.Errorf("%s: %v, want usage error %q", tc.name, err, tc.want)
		}
	}
	var warned []string
	o := ok()
	if err := o.Open(context.Background(), ReplayFiles{Inputs: []string{path}, BundlePath: bpath, Warn: func(m string) { warned = append(warned, m) }}); err != nil {
		t.Fatal(err)
	}
	if len(o.Files) != 1 || o.Bundle == nil || o.Bundle.Metadata.Name != "shop" || o.BundleCheck != "decoded strictly; signature not checked" ||
		len(warned) != 1 || warned[0] != "warning: "+bpath+": "+bundle.NotCheckedWarning {
		t.Errorf("Open without a signer: files %v, check %q, warnings %q", o.Files, o.BundleCheck, warned)
	}
	o = ok()
	err := o.Open(context.Background(), ReplayFiles{Inputs: []string{path}, BundlePath: bpath, Verify: bundle.VerifyOptions{PublicKey: filepath.Join(dir, "none.pub")}})
	if err == nil || o.Bundle != nil {
		t.Errorf("Open with a missing public key: %v, bundle %v; want an error and no bundle", err, o.Bundle)
	}
}

func TestMilder(t *testing.T) {
	for _, tc := range []struct {
		from, want bundle.Profile
	}{
		{bundle.Profile{Fault: bundle.Fault{Type: bundle.FaultDrop}, Rate: 0.2, Severity: bundle.SeverityCritical},
			bundle.Profile{Fault: replayAbort, Rate: 0.2, Severity: bundle.SeverityCritical}},
		{bundle.Profile{Fault: bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptTruncate}, Rate: 0.2, Severity: bundle.SeverityModerate},
			bundle.Profile{Fault: replayAbort, Rate: 0.2, Severity: bundle.SeverityModerate}},
		{bundle.Profile{Fault: replayAbort, Rate: 0.2, Severity: bundle.SeverityCritical},
			bundle.Profile{Fault: replayAbort, Rate: 0.1, Severity: bundle.SeverityModerate}},
		{bundle.Profile{Fault: bundle.Fault{Type: bundle.FaultLatency, DelayMs: 100}, Rate: 0.3, Severity: bundle.SeverityModerate},
			bundle.Profile{Fault: bundle.Fault{Type: bundle.FaultLatency, DelayMs: 100}, Rate: 0.15, Severity: bundle.SeverityMinor}},
	} {
		p := tc.from
		milder(&p)
		if p.Fault != tc.want.Fault || p.Rate != tc.want.Rate || p.Severity != tc.want.Severity {
			t.Errorf("milder(%+v) = %+v, want %+v", tc.from, p, tc.want)
		}
	}
}
