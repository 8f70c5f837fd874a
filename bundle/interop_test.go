package bundle

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshKeygen returns the path of ssh-keygen. Without it the test skips
// loudly, or fails when CHAOSGEN_REQUIRE_SHARED=1 (as in CI, which installs
// openssh-client).
func sshKeygen(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ssh-keygen")
	if err == nil {
		return p
	}
	msg := "SKIPPED: ssh-keygen is not on PATH (apt-get install openssh-client); the OpenSSH interoperability tests did not run"
	if os.Getenv("CHAOSGEN_REQUIRE_SHARED") == "1" {
		t.Fatalf("%s, and CHAOSGEN_REQUIRE_SHARED=1 forbids skipping", msg)
	}
	fmt.Fprintln(os.Stderr, "!!! "+msg)
	t.Skip(msg)
	return ""
}

func runKeygen(t *testing.T, keygen string, stdin []byte, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(keygen, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSSHKeygenVerifiesChaosgen: ssh-keygen -Y verify accepts what Sign
// writes, and rejects it once the bundle changes.
func TestSSHKeygenVerifiesChaosgen(t *testing.T) {
	keygen := sshKeygen(t)
	dir := t.TempDir()
	k := writeKey(t, dir, "alice", 1)
	data := mustEncode(t, testBundle())
	sig, err := Sign(data, k.Priv)
	if err != nil {
		t.Fatal(err)
	}
	sigPath := filepath.Join(dir, "bundle.json.sig")
	if err := os.WriteFile(sigPath, sig, 0o644); err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(allowed, []byte(`alice@example.com namespaces="chaosgen-bundle" `+k.AuthLine+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runKeygen(t, keygen, data, "-Y", "verify", "-f", allowed, "-I", "alice@example.com", "-n", Namespace, "-s", sigPath)
	if err != nil {
		t.Fatalf("ssh-keygen -Y verify rejected chaosgen's signature: %v\n%s", err, out)
	}
	if !strings.Contains(out, `Good "chaosgen-bundle" signature for alice@example.com`) {
		t.Errorf("unexpected ssh-keygen output: %s", out)
	}
	tampered := bytes.Replace(data, []byte(`"rate": 0.001,`), []byte(`"rate": 0.002,`), 1)
	if out, err := runKeygen(t, keygen, tampered, "-Y", "verify", "-f", allowed, "-I", "alice@example.com", "-n", Namespace, "-s", sigPath); err == nil {
		t.Errorf("ssh-keygen accepted a tampered bundle: %s", out)
	}
	if out, err := runKeygen(t, keygen, data, "-Y", "verify", "-f", allowed, "-I", "alice@example.com", "-n", "git", "-s", sigPath); err == nil {
		t.Errorf("ssh-keygen accepted the signature in namespace git: %s", out)
	}
}

// TestChaosgenVerifiesSSHKeygen: Verify accepts what ssh-keygen -Y sign
// writes, with a key ssh-keygen generated, and the bytes are identical to
// chaosgen's own signature (Ed25519 is deterministic and both armor at 70
// columns), so either tool can re-sign a bundle without a git diff.
func TestChaosgenVerifiesSSHKeygen(t *testing.T) {
	keygen := sshKeygen(t)
	dir := t.TempDir()
	data := mustEncode(t, testBundle())
	key, bundlePath, theirs := keygenSign(t, keygen, dir, "-t ed25519", "bob@laptop", data)

	v, err := LoadPublicKey(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	b, info, err := VerifyFile(bundlePath, "", v, testNow)
	if err != nil {
		t.Fatalf("VerifyFile rejected ssh-keygen's signature: %v", err)
	}
	if info.Principal != "bob@laptop" || info.HashAlgorithm != "sha512" || len(b.Profiles) != 4 {
		t.Errorf("info %+v, %d profiles", info, len(b.Profiles))
	}
	_, av := allowedSigners(t, dir, "*@laptop", key, "bob@laptop")
	if _, _, err := VerifyFile(bundlePath, "", av, testNow); err != nil {
		t.Errorf("VerifyFile with allowed_signers: %v", err)
	}

	ours, err := Sign(data, key)
	if err != nil {
		t.Fatalf("Sign with ssh-keygen's key: %v", err)
	}
	if !bytes.Equal(ours, theirs) {
		t.Errorf("chaosgen and ssh-keygen signatures differ:\nchaosgen:\n%s\nssh-keygen:\n%s", ours, theirs)
	}
}

// keygenSign makes a key with ssh-keygen (keyArgs such as "-t ecdsa -b
// 384", no passphrase) as dir/id, writes data to dir/bundle.json and signs
// it with `ssh-keygen -Y sign`. It returns the key's path, the bundle's and
// the signature.
func keygenSign(t *testing.T, keygen, dir, keyArgs, comment string, data []byte) (key, bundlePath string, sig []byte) {
	t.Helper()
	key = filepath.Join(dir, "id")
	args := append(strings.Fields(keyArgs), "-q", "-N", "", "-C", comment, "-f", key)
	if out, err := runKeygen(t, keygen, nil, args...); err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", keyArgs, err, out)
	}
	bundlePath = filepath.Join(dir, "bundle.json")
	if err := os.WriteFile(bundlePath, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := runKeygen(t, keygen, nil, "-Y", "sign", "-f", key, "-n", Namespace, bundlePath); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
	}
	sig, err := os.ReadFile(bundlePath + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return key, bundlePath, sig
}

// allowedSigners writes dir/allowed_signers with one line, principals and
// the public key key.pub, and loads it for identity.
func allowedSigners(t *testing.T, dir, principals, key, identity string) (string, *Verifier) {
	t.Helper()
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(path, append([]byte(principals+" "), pub...), 0o644); err != nil {
		t.Fatal(err)
	}
	v, err := LoadAllowedSigners(path, identity)
	if err != nil {
		t.Fatal(err)
	}
	return path, v
}

// TestAllowedSignersMatchSSHKeygen checks that chaosgen accepts and refuses
// the same identities as ssh-keygen for the same allowed_signers lines.
func TestAllowedSignersMatchSSHKeygen(t *testing.T) {
	keygen := sshKeygen(t)
	dir := t.TempDir()
	k := writeKey(t, dir, "alice", 1)
	data := mustEncode(t, testBundle())
	sig, err := Sign(data, k.Priv)
	if err != nil {
		t.Fatal(err)
	}
	sigPath := filepath.Join(dir, "bundle.json.sig")
	if err := os.WriteFile(sigPath, sig, 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now() // ssh-keygen checks validity against the real clock
	for i, tc := range []struct {
		principals, options, identity string
		accept                        bool
	}{
		{"alice@example.com", "", "alice@example.com", true},
		{"alice@example.com", "", "bob@example.com", false},
		{"*@example.com,!mallory@example.com", "", "alice@example.com", true},
		{"*@example.com,!mallory@example.com", "", "mallory@example.com", false},
		{"a?ice@*", "", "alice@example.com", true},
		{"alice@example.com", `namespaces="git"`, "alice@example.com", false},
		{"alice@example.com", `namespaces="git,chaosgen-*"`, "alice@example.com", true},
		{"alice@example.com", `valid-before="20000101"`, "alice@example.com", false},
		{"alice@example.com", `valid-after="29990101"`, "alice@example.com", false},
		{"alice@example.com", `valid-after="20000101Z",valid-before="29990101Z"`, "alice@example.com", true},
	} {
		line := tc.principals + " "
		if tc.options != "" {
			line += tc.options + " "
		}
		line += k.AuthLine + "\n"
		allowed := filepath.Join(dir, fmt.Sprintf("allowed_signers.%d", i))
		if err := os.WriteFile(allowed, []byte(line), 0o644); err != nil {
			t.Fatal(err)
		}
		out, sshErr := runKeygen(t, keygen, data, "-Y", "verify", "-f", allowed, "-I", tc.identity, "-n", Namespace, "-s", sigPath)
		v, err := LoadAllowedSigners(allowed, tc.identity)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		_, ourErr := v.Verify(data, sig, now)
		if (sshErr == nil) != tc.accept || (ourErr == nil) != tc.accept {
			t.Errorf("line %q, identity %s: want accepted=%v; ssh-keygen: %v (%s), chaosgen: %v", strings.TrimSpace(line), tc.identity, tc.accept, sshErr, strings.TrimSpace(out), ourErr)
		}
	}
}
