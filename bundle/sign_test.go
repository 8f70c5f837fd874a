package bundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/internal/testkey"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

func writeKey(t *testing.T, dir, name string, seed byte) testkey.Key {
	return testkey.MustWrite(t, dir, name, name+"@test", seed)
}

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestSignDeterministic(t *testing.T) {
	dir := t.TempDir()
	k := writeKey(t, dir, "alice", 1)
	data := mustEncode(t, testBundle())
	first, err := Sign(data, k.Priv)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Sign(data, k.Priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("re-signing the same bytes changed the signature:\n%s\n%s", first, second)
	}
	golden.Check(t, filepath.Join("testdata", "bundle.golden.json.sig"), first)
	// The golden signature must verify over the golden bundle with the
	// fixed test key, so a stale golden file fails here too.
	if _, err := NewKeyVerifier(k.Signer.PublicKey(), "").Verify(data, first, testNow); err != nil {
		t.Errorf("Verify(golden): %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(first), "\n"), "\n")
	if lines[0] != "-----BEGIN SSH SIGNATURE-----" || lines[len(lines)-1] != "-----END SSH SIGNATURE-----" {
		t.Errorf("not an armored SSH signature:\n%s", first)
	}
	for _, l := range lines[1 : len(lines)-1] {
		if len(l) > 70 {
			t.Errorf("line of %d characters, ssh-keygen wraps at 70: %s", len(l), l)
		}
	}
	other, err := Sign(append(bytes.Clone(data), ' '), k.Priv)
	if err != nil || bytes.Equal(other, first) {
		t.Errorf("different bytes gave the same signature (err %v)", err)
	}
}

func TestVerifyFileRejects(t *testing.T) {
	dir := t.TempDir()
	alice := writeKey(t, dir, "alice", 1)
	mallory := writeKey(t, dir, "mallory", 2)
	good := mustEncode(t, testBundle())
	sign := func(data []byte, k testkey.Key) []byte {
		s, err := SignWith(data, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	otherNamespace := func(data []byte) []byte {
		s, err := sshsig.Sign(bytes.NewReader(data), alice.Signer, sshsig.HashSHA512, "git")
		if err != nil {
			t.Fatal(err)
		}
		return armor(s.Marshal())
	}
	expired := testBundle()
	expired.Metadata.NotAfter = testNow.Add(-time.Hour)
	expiredData := mustEncode(t, expired)
	malformed := []byte(strings.Replace(string(good), `"rate": 0.001,`, `"rate": 2,`, 1))
	tampered := []byte(strings.Replace(string(good), `"rate": 0.001,`, `"rate": 0.002,`, 1))
	goodSig := sign(good, alice)
	flipped := bytes.Clone(goodSig)
	flipped[len(flipped)-40] ^= 0x01 // inside the Ed25519 signature bytes

	for _, tc := range []struct {
		name   string
		bundle []byte
		sig    []byte // nil: no signature file
		kind   error
		want   string
	}{
		{"unsigned", good, nil, ErrUnsigned, "unsigned: no signature file"},
		{"tampered bundle", tampered, goodSig, ErrBadSignature, "does not match the bundle: the bundle or its signature changed after signing"},
		{"tampered signature", good, flipped, ErrBadSignature, "bad signature"},
		{"garbage signature", good, []byte("not a signature\n"), ErrBadSignature, "malformed signature: does not start with -----BEGIN SSH SIGNATURE-----"},
		{"other namespace", good, otherNamespace(good), ErrBadSignature, `the signature is for namespace "git", not "chaosgen-bundle"`},
		{"other key", good, sign(good, mallory), ErrUntrusted, "not by the key in"},
		{"expired", expiredData, sign(expiredData, alice), ErrExpired, "expired: metadata.notAfter 2026-06-01T11:00:00Z is before now (2026-06-01T12:00:00Z)"},
		{"malformed but signed", malformed, sign(malformed, alice), ErrInvalid, `malformed: profile "cart-redis-drop": rate: 2 is outside [0, 1]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := t.TempDir()
			path := filepath.Join(sub, "bundle.json")
			if err := os.WriteFile(path, tc.bundle, 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.sig != nil {
				if err := os.WriteFile(path+".sig", tc.sig, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			v, err := LoadPublicKey(alice.Pub)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = VerifyFile(path, "", v, testNow)
			if !errors.Is(err, tc.kind) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("VerifyFile error = %v, want %v (and ErrInvalid)", err, tc.kind)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
		})
	}

	// I/O errors on the bundle itself are not validation failures.
	v, _ := LoadPublicKey(alice.Pub)
	if _, _, err := VerifyFile(filepath.Join(dir, "missing.json"), "", v, testNow); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("missing bundle file: %v, want a plain I/O error", err)
	}
}

// TestVerifyBeforeParse: a tampered bundle is reported as tampered even when
// the change also breaks the JSON, because the bytes are verified first.
func TestVerifyBeforeParse(t *testing.T) {
	k := writeKey(t, t.TempDir(), "alice", 1)
	data := mustEncode(t, testBundle())
	sig, err := SignWith(data, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	broken := append(bytes.Clone(data), []byte("{{{")...)
	_, err = NewKeyVerifier(k.Signer.PublicKey(), "").Verify(broken, sig, testNow)
	if !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify(broken JSON, old signature) = %v, want ErrBadSignature", err)
	}
}

func TestLoadSigner(t *testing.T) {
	dir := t.TempDir()
	k := writeKey(t, dir, "alice", 1)
	for _, tc := range []struct {
		perm os.FileMode
		ok   bool
	}{{0o600, true}, {0o400, true}, {0o640, false}, {0o644, false}, {0o604, false}} {
		if err := os.Chmod(k.Priv, tc.perm); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSigner(k.Priv)
		if tc.ok && err != nil {
			t.Errorf("mode %04o: %v", tc.perm, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "UNPROTECTED PRIVATE KEY FILE") || !strings.Contains(err.Error(), "chmod 600")) {
			t.Errorf("mode %04o: error %v, want UNPROTECTED PRIVATE KEY FILE with a chmod hint", tc.perm, err)
		}
	}

	priv := testkey.Private(3)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "enc@test", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	enc := filepath.Join(dir, "encrypted")
	if err := os.WriteFile(enc, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigner(enc); err == nil || !strings.Contains(err.Error(), "encrypted with a passphrase") {
		t.Errorf("encrypted key: %v, want an error saying it is encrypted", err)
	}

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err = ssh.MarshalPrivateKey(ec, "ec@test")
	if err != nil {
		t.Fatal(err)
	}
	ecPath := filepath.Join(dir, "ecdsa")
	if err := os.WriteFile(ecPath, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	ecSigner, err := LoadSigner(ecPath)
	if err != nil {
		t.Fatalf("ECDSA key: %v", err)
	}
	data := mustEncode(t, testBundle())
	sig, err := SignWith(data, ecSigner)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := NewKeyVerifier(ecSigner.PublicKey(), "ec@test").Verify(data, sig, testNow); err != nil || info.KeyType != "ecdsa-sha2-nistp256" {
		t.Errorf("ECDSA signature: %+v, %v", info, err)
	}
	if _, err := LoadSigner(filepath.Join(dir, "nope")); err == nil {
		t.Error("missing key file: no error")
	}
}

func TestAllowedSigners(t *testing.T) {
	dir := t.TempDir()
	alice := writeKey(t, dir, "alice", 1)
	bob := writeKey(t, dir, "bob", 2)
	carol := writeKey(t, dir, "carol", 3)
	dave := writeKey(t, dir, "dave", 4)
	file := strings.Join([]string{
		"# team signers",
		"",
		"alice@example.com,*@ci.example.com " + alice.AuthLine,
		`"bob@example.com" namespaces="git,chaosgen-*" ` + bob.AuthLine,
		`carol@example.com namespaces="git" ` + carol.AuthLine,
		`*@example.com,!mallory@example.com valid-after="20260101",valid-before="20261231235959Z" ` + dave.AuthLine,
	}, "\n") + "\n"
	path := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	data := mustEncode(t, testBundle())
	for _, tc := range []struct {
		identity string
		key      testkey.Key
		now      time.Time
		want     string // "" for accepted
	}{
		{"alice@example.com", alice, testNow, ""},
		{"deploy@ci.example.com", alice, testNow, ""},
		{"bob@example.com", alice, testNow, "is not an allowed signer for \"bob@example.com\""},
		{"bob@example.com", bob, testNow, ""},
		{"carol@example.com", carol, testNow, `not valid now: line 5: namespace "chaosgen-bundle" is not in namespaces="git"`},
		{"erin@example.com", dave, testNow, ""},
		{"mallory@example.com", dave, testNow, "is not an allowed signer"},
		{"erin@example.com", dave, time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC), "the key is valid only after"},
		{"erin@example.com", dave, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "the key was valid only before 2026-12-31T23:59:59Z"},
	} {
		v, err := LoadAllowedSigners(path, tc.identity)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := SignWith(data, tc.key.Signer)
		if err != nil {
			t.Fatal(err)
		}
		info, err := v.Verify(data, sig, tc.now)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s signed by %s: %v", tc.identity, tc.key.Priv, err)
		case tc.want == "" && info.Principal != tc.identity:
			t.Errorf("%s: principal %q", tc.identity, info.Principal)
		case tc.want != "" && (!errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s signed by %s at %s: error %v, want ErrUntrusted with %q", tc.identity, tc.key.Priv, tc.now, err, tc.want)
		}
	}
}

func TestParseAllowedSignersErrors(t *testing.T) {
	k := writeKey(t, t.TempDir(), "alice", 1)
	for _, tc := range []struct{ line, want string }{
		{"ca@example.com cert-authority " + k.AuthLine, "line 1: cert-authority lines are not supported"},
		{"a@example.com nope=\"x\" " + k.AuthLine, `line 1: unknown option "nope"`},
		{"a@example.com namespaces=git " + k.AuthLine, "line 1: option namespaces: the value must be in double quotes"},
		{"a@example.com valid-after=\"2026\" " + k.AuthLine, `line 1: option valid-after: "2026" is not YYYYMMDD[HHMM[SS]][Z]`},
		{"a@example.com", "line 1: missing key"},
		{"a@example.com ssh-ed25519 notbase64", "line 1: reading key"},
	} {
		_, err := ParseAllowedSigners([]byte("# comment\n" + tc.line + "\n"))
		if err == nil || !strings.Contains(err.Error(), strings.Replace(tc.want, "line 1", "line 2", 1)) {
			t.Errorf("%q: error %v, want %q (at line 2)", tc.line, err, tc.want)
		}
	}
	if _, err := LoadAllowedSigners("allowed_signers", ""); err == nil {
		t.Error("LoadAllowedSigners without identity: no error")
	}
}

func TestParseSSHTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"20260102Z", time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"202601021504Z", time.Date(2026, 1, 2, 15, 4, 0, 0, time.UTC)},
		{"20260102150405Z", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)},
		{"20260102", time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local)},
	} {
		got, err := parseSSHTime(tc.in)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSSHTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "2026010", "2026-01-02", "20261302Z", "+0260102"} {
		if _, err := parseSSHTime(bad); err == nil {
			t.Errorf("parseSSHTime(%q): no error", bad)
		}
	}
}

func TestMatchPatternList(t *testing.T) {
	for _, tc := range []struct {
		s, list string
		want    int
	}{
		{"alice@example.com", "alice@example.com", 1},
		{"alice@example.com", "*@example.com", 1},
		{"alice@example.com", "?lice@*", 1},
		{"alice@example.com", "*@example.org", 0},
		{"alice@example.com", "bob,*", 1},
		{"mallory@example.com", "*@example.com,!mallory@*", -1},
		{"a", "**", 1},
		{"", "*", 1},
		{"", "?", 0},
		{"abc", "a*c*", 1},
		{"abc", "a*b", 0},
	} {
		if got := matchPatternList(tc.s, strings.Split(tc.list, ",")); got != tc.want {
			t.Errorf("matchPatternList(%q, %q) = %d, want %d", tc.s, tc.list, got, tc.want)
		}
	}
}
