package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/internal/testkey"
	"golang.org/x/crypto/ssh"
)

type bundleFixture struct {
	dir           string
	alice, malory ssh.Signer
}

// writeTestKey writes the test key of seed as name and name.pub.
func writeTestKey(t *testing.T, dir, name string, seed byte) ssh.Signer {
	return testkey.MustWrite(t, dir, name, name+"@example.com", seed).Signer
}

// writeSigned writes data as dir/name and, when signer is set, its signature.
func writeSigned(t *testing.T, dir, name string, data []byte, signer ssh.Signer) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if signer == nil {
		return
	}
	sig, err := bundle.SignWith(data, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".sig", sig, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newBundleFixture(t *testing.T) bundleFixture {
	t.Helper()
	dir := t.TempDir()
	f := bundleFixture{dir: dir}
	f.alice = writeTestKey(t, dir, "alice", 1)
	f.malory = writeTestKey(t, dir, "mallory", 2)
	good, err := bundle.Encode(bundletest.Example())
	if err != nil {
		t.Fatal(err)
	}
	writeSigned(t, dir, "bundle.json", good, f.alice)
	writeSigned(t, dir, "unsigned.json", good, nil)
	writeSigned(t, dir, "mallory.json", good, f.malory)
	writeSigned(t, dir, "tampered.json", bytes.Replace(good, []byte(`"rate": 0.1,`), []byte(`"rate": 0.9,`), 1), nil)
	sig, _ := os.ReadFile(filepath.Join(dir, "bundle.json.sig"))
	if err := os.Mkdir(filepath.Join(dir, "signatures"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signatures", "bundle.sig"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tampered.json.sig"), sig, 0o644); err != nil {
		t.Fatal(err)
	}
	writeSigned(t, dir, "malformed.json", bytes.Replace(good, []byte(`"rate": 0.1,`), []byte(`"rate": 1.5,`), 1), f.alice)
	exp := bundletest.Example()
	exp.Metadata.NotAfter = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	expired, err := bundle.Encode(exp)
	if err != nil {
		t.Fatal(err)
	}
	writeSigned(t, dir, "expired.json", expired, f.alice)
	alicePub, _ := os.ReadFile(filepath.Join(dir, "alice.pub"))
	allowed := "# signers\n*@ci.example.com,alice@example.com namespaces=\"chaosgen-bundle\" " + string(alicePub)
	if err := os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte(allowed), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// runBundleCLI runs chaosgen in dir (paths in args are relative to it) and
// returns the exit code and both streams.
func runBundleCLI(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestVerifyCLIArgs: a missing bundle argument is a usage error. Its
// message comes from main.go's argument wrapper, so only the exit code and
// the gist are checked here.
func TestVerifyCLIArgs(t *testing.T) {
	f := newBundleFixture(t)
	code, _, stderr := runBundleCLI(t, f.dir, "verify", "--pub", "alice.pub")
	if code != 2 || !strings.Contains(stderr, "verify: accepts 1 arg(s), received 0") {
		t.Errorf("verify without a bundle: exit %d, stderr %q; want 2 and an argument count error", code, stderr)
	}
}

func TestVerifyCLI(t *testing.T) {
	f := newBundleFixture(t)
	at := "--at=2026-06-01T00:00:00Z"
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"ok_pub", []string{"verify", "bundle.json", "--pub", "alice.pub", at}, 0},
		{"ok_allowed_signers", []string{"verify", "bundle.json", "--allowed-signers", "allowed_signers", "--identity", "deploy@ci.example.com", at}, 0},
		{"ok_json", []string{"verify", "bundle.json", "--pub", "alice.pub", "--json", at}, 0},
		{"ok_sig_flag", []string{"verify", "bundle.json", "--sig", "signatures/bundle.sig", "--pub", "alice.pub", at}, 0},
		{"sig_flag_mismatch", []string{"verify", "tampered.json", "--sig", "bundle.json.sig", "--pub", "alice.pub", at}, 3},
		{"unsigned", []string{"verify", "unsigned.json", "--pub", "alice.pub", at}, 3},
		{"tampered", []string{"verify", "tampered.json", "--pub", "alice.pub", at}, 3},
		{"other_key", []string{"verify", "mallory.json", "--pub", "alice.pub", at}, 3},
		{"not_allowed", []string{"verify", "mallory.json", "--allowed-signers", "allowed_signers", "--identity", "alice@example.com", at}, 3},
		{"wrong_identity", []string{"verify", "bundle.json", "--allowed-signers", "allowed_signers", "--identity", "bob@example.com", at}, 3},
		{"malformed", []string{"verify", "malformed.json", "--pub", "alice.pub", at}, 3},
		{"expired", []string{"verify", "expired.json", "--pub", "alice.pub", at}, 3},
		{"no_key_option", []string{"verify", "bundle.json"}, 2},
		{"both_key_options", []string{"verify", "bundle.json", "--pub", "alice.pub", "--allowed-signers", "allowed_signers", "--identity", "x"}, 2},
		{"identity_missing", []string{"verify", "bundle.json", "--allowed-signers", "allowed_signers"}, 2},
		{"bad_at", []string{"verify", "bundle.json", "--pub", "alice.pub", "--at", "tomorrow"}, 2},
		{"missing_bundle", []string{"verify", "nope.json", "--pub", "alice.pub", at}, 1},
		{"missing_key", []string{"verify", "bundle.json", "--pub", "nope.pub", at}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBundleCLI(t, f.dir, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tc.code, stderr)
			}
			golden.Check(t, filepath.Join(testdataDir, "verify", tc.name+".golden"), []byte("$ chaosgen "+strings.Join(tc.args, " ")+"\n-- stdout --\n"+stdout+"-- stderr --\n"+stderr))
		})
	}
}

// TestVerifyCLIKeyTypes: bundles signed by `ssh-keygen -Y sign` with the
// ECDSA and RSA keys git users have verify with `chaosgen verify`, which
// names the key type; the same bundle changed by one byte does not.
func TestVerifyCLIKeyTypes(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		msg := "SKIPPED: ssh-keygen is not on PATH (apt-get install openssh-client): chaosgen verify was not run on ECDSA and RSA signatures"
		if os.Getenv("CHAOSGEN_REQUIRE_SHARED") == "1" {
			t.Fatal(msg)
		}
		fmt.Fprintln(os.Stderr, "!!! "+msg)
		t.Skip(msg)
	}
	dir := t.TempDir()
	data, err := bundle.Encode(bundletest.Example())
	if err != nil {
		t.Fatal(err)
	}
	for _, kt := range []struct{ name, args, keyType string }{
		{"ecdsa", "-t ecdsa -b 384", "ecdsa-sha2-nistp384"},
		{"rsa", "-t rsa -b 3072", "ssh-rsa"},
	} {
		key := filepath.Join(dir, kt.name)
		bundlePath := filepath.Join(dir, kt.name+".json")
		if err := os.WriteFile(bundlePath, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			append(strings.Fields(kt.args), "-q", "-N", "", "-C", kt.name+"@laptop", "-f", key),
			{"-Y", "sign", "-f", key, "-n", bundle.Namespace, bundlePath},
		} {
			if out, err := exec.Command(keygen, args...).CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen %v: %v\n%s", args, err, out)
			}
		}
		code, stdout, stderr := runBundleCLI(t, dir, "verify", kt.name+".json", "--pub", kt.name+".pub", "--at=2026-06-01T00:00:00Z")
		if code != 0 || !strings.Contains(stdout, "good signature") || !strings.Contains(stdout, "key:      "+kt.keyType+" SHA256:") {
			t.Errorf("%s: exit %d\n%s%s", kt.name, code, stdout, stderr)
		}
		changed := bytes.Replace(data, []byte(`"rate": 0.1,`), []byte(`"rate": 0.2,`), 1)
		if err := os.WriteFile(bundlePath, changed, 0o644); err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := runBundleCLI(t, dir, "verify", kt.name+".json", "--pub", kt.name+".pub", "--at=2026-06-01T00:00:00Z"); code != 3 || !strings.Contains(stderr, "does not match the bundle") {
			t.Errorf("%s, changed bundle: exit %d, %s", kt.name, code, stderr)
		}
	}
}
