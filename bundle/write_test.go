package bundle

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/chaosgen/chaosgen/internal/usage"
)

func TestWriteVerifyFile(t *testing.T) {
	dir := t.TempDir()
	k := writeKey(t, dir, "alice", 1)
	path := filepath.Join(dir, "bundle.json")
	w, err := Write(path, testBundle(), k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	data := mustEncode(t, testBundle())
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Error("Write did not write the canonical encoding")
	}
	if w.SigPath != path+".sig" || w.Digest != Digest(data) || w.Size != len(data) || w.RemovedSig {
		t.Errorf("Write returned %+v", w)
	}
	v, err := LoadPublicKey(k.Pub)
	if err != nil {
		t.Fatal(err)
	}
	b, info, err := VerifyFile(path, "", v, testNow)
	if err != nil {
		t.Fatalf("VerifyFile: %v", err)
	}
	if len(b.Profiles) != 4 {
		t.Errorf("got %d profiles, want 4", len(b.Profiles))
	}
	want := SignatureInfo{
		Principal:     "alice@test",
		KeyType:       "ssh-ed25519",
		Fingerprint:   ssh.FingerprintSHA256(k.Signer.PublicKey()),
		Namespace:     "chaosgen-bundle",
		HashAlgorithm: "sha512",
		Digest:        Digest(data),
	}
	if *info != want {
		t.Errorf("SignatureInfo = %+v, want %+v", *info, want)
	}
}

func TestWriteKeepsTheOldPair(t *testing.T) {
	dir := t.TempDir()
	k := writeKey(t, dir, "alice", 1)
	path := filepath.Join(dir, "bundle.json")
	if _, err := Write(path, testBundle(), k.Signer); err != nil {
		t.Fatal(err)
	}
	oldData, _ := os.ReadFile(path)
	oldSig, _ := os.ReadFile(path + ".sig")
	changed := testBundle()
	changed.Profiles[0].Rate = 0.2
	// A key that cannot sign: an agent that refuses.
	bad := &refusingSigner{k.Signer}
	if _, err := Write(path, changed, bad); err == nil || !strings.Contains(err.Error(), "signing") {
		t.Fatalf("Write with a signer that fails: %v, want a signing error", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, oldData) {
		t.Error("a failed signature replaced the bundle")
	}
	if got, _ := os.ReadFile(path + ".sig"); !bytes.Equal(got, oldSig) {
		t.Error("a failed signature replaced the signature")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 { // alice, alice.pub, bundle.json, bundle.json.sig
		t.Errorf("left %d files in the directory, want 4 (no temporaries)", len(entries))
	}

	// Unsigned over signed: the stale signature goes.
	w, err := Write(path, changed, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !w.RemovedSig || w.SigPath != "" {
		t.Errorf("unsigned Write over a signed bundle returned %+v, want RemovedSig", w)
	}
	if _, err := os.Stat(path + ".sig"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the stale signature is still there: %v", err)
	}
	if w, err := Write(path, changed, nil); err != nil || w.RemovedSig {
		t.Errorf("unsigned Write over an unsigned bundle: %+v, %v; want nothing removed", w, err)
	}
}

// refusingSigner has a good public key but refuses to sign.
type refusingSigner struct{ ssh.Signer }

func (s *refusingSigner) Sign(_ io.Reader, _ []byte) (*ssh.Signature, error) {
	return nil, errors.New("agent refused to sign")
}

func (s *refusingSigner) SignWithAlgorithm(_ io.Reader, _ []byte, _ string) (*ssh.Signature, error) {
	return nil, errors.New("agent refused to sign")
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	alice := writeKey(t, dir, "alice", 1)
	writeKey(t, dir, "bob", 2)
	path := filepath.Join(dir, "bundle.json")
	if _, err := Write(path, testBundle(), alice.Signer); err != nil {
		t.Fatal(err)
	}
	data := mustEncode(t, testBundle())

	op, err := Open(path, VerifyOptions{PublicKey: alice.Pub, Now: testNow})
	if err != nil {
		t.Fatalf("Open, verifying: %v", err)
	}
	if op.Sig == nil || op.Sig.Principal != "alice@test" || !bytes.Equal(op.Raw, data) || op.Digest != Digest(data) || len(op.Profiles) != 4 {
		t.Errorf("Open, verifying: %+v", op)
	}
	if _, err := Open(path, VerifyOptions{PublicKey: filepath.Join(dir, "bob.pub"), Now: testNow}); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Open with another signer's key: %v, want ErrUntrusted", err)
	}

	// Without a signer: decoded only, whatever the signature says.
	os.WriteFile(path+".sig", []byte("not a signature"), 0o644)
	op, err = Open(path, VerifyOptions{})
	if err != nil || op.Sig != nil || len(op.Profiles) != 4 {
		t.Errorf("Open without a signer: %+v, %v; want the bundle, Sig nil", op, err)
	}
	os.WriteFile(path, []byte(`{"kind": "x"}`), 0o644)
	if _, err := Open(path, VerifyOptions{}); !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), path+": ") {
		t.Errorf("Open of a malformed bundle: %v, want ErrInvalid naming %s", err, path)
	}
	if _, err := Open(filepath.Join(dir, "missing.json"), VerifyOptions{}); !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("Open of a missing file: %v, want a not-exist error", err)
	}
}

func TestVerifyOptionsCheck(t *testing.T) {
	for _, tc := range []struct {
		o        VerifyOptions
		required bool
		want     string
	}{
		{VerifyOptions{}, false, ""},
		{VerifyOptions{}, true, "give --pub KEY.pub or --allowed-signers FILE --identity ID"},
		{VerifyOptions{PublicKey: "k.pub"}, true, ""},
		{VerifyOptions{AllowedSigners: "a", Identity: "i"}, true, ""},
		{VerifyOptions{PublicKey: "k.pub", AllowedSigners: "a", Identity: "i"}, false, "--pub and --allowed-signers exclude each other"},
		{VerifyOptions{AllowedSigners: "a"}, false, "--allowed-signers needs --identity"},
		{VerifyOptions{Identity: "i"}, false, "--identity needs --allowed-signers"},
		{VerifyOptions{PublicKey: "k.pub", Identity: "i"}, false, "--identity needs --allowed-signers"},
	} {
		err := tc.o.Check(tc.required)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v, want nil", tc.o, err)
			}
			continue
		}
		if err == nil || err.Error() != tc.want || !errors.Is(err, usage.Err) {
			t.Errorf("%+v (required %v): %v, want usage error %q", tc.o, tc.required, err, tc.want)
		}
		if _, oerr := Open("bundle.json", tc.o); !tc.required && !errors.Is(oerr, usage.Err) {
			t.Errorf("Open with %+v: %v, want the usage error", tc.o, oerr)
		}
	}
}
