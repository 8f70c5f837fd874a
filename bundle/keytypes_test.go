package bundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestSSHKeygenKeyTypes signs a bundle with `ssh-keygen -Y sign` and keys
// that ssh-keygen generated, of each type people sign git commits with:
// chaosgen must accept the signature (by the public key and by an
// allowed_signers line) and reject it on a changed bundle; and ssh-keygen
// must accept what chaosgen signs with the same key file.
func TestSSHKeygenKeyTypes(t *testing.T) {
	keygen := sshKeygen(t)
	data := mustEncode(t, testBundle())
	for _, kt := range []struct{ args, keyType string }{
		{"-t ecdsa -b 256", "ecdsa-sha2-nistp256"},
		{"-t ecdsa -b 384", "ecdsa-sha2-nistp384"},
		{"-t ecdsa -b 521", "ecdsa-sha2-nistp521"},
		{"-t rsa -b 2048", "ssh-rsa"},
	} { // Ed25519: TestChaosgenVerifiesSSHKeygen
		t.Run(kt.keyType, func(t *testing.T) {
			dir := t.TempDir()
			key, _, theirs := keygenSign(t, keygen, dir, kt.args, "dev@laptop", data)
			v, err := LoadPublicKey(key + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			info, err := v.Verify(data, theirs, testNow)
			if err != nil {
				t.Fatalf("chaosgen rejects ssh-keygen's %s signature: %v", kt.keyType, err)
			}
			if info.KeyType != kt.keyType || info.Principal != "dev@laptop" {
				t.Errorf("info %+v", info)
			}
			allowed, av := allowedSigners(t, dir, "dev@example.com", key, "dev@example.com")
			if _, err := av.Verify(data, theirs, testNow); err != nil {
				t.Errorf("allowed_signers: %v", err)
			}
			tampered := bytes.Replace(data, []byte(`"rate": 0.001,`), []byte(`"rate": 0.002,`), 1)
			if _, err := v.Verify(tampered, theirs, testNow); err == nil {
				t.Error("a changed bundle verifies")
			}

			ours, err := Sign(data, key)
			if err != nil {
				t.Fatalf("chaosgen cannot sign with the %s key: %v", kt.keyType, err)
			}
			sigPath := filepath.Join(dir, "ours.sig")
			if err := os.WriteFile(sigPath, ours, 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := runKeygen(t, keygen, data, "-Y", "verify", "-f", allowed, "-I", "dev@example.com", "-n", Namespace, "-s", sigPath); err != nil {
				t.Errorf("ssh-keygen -Y verify rejects chaosgen's %s signature: %v\n%s", kt.keyType, err, out)
			}
		})
	}
}

// skSigner signs as a FIDO authenticator does for the OpenSSH key types
// sk-ssh-ed25519@openssh.com and sk-ecdsa-sha2-nistp256@openssh.com
// (OpenSSH PROTOCOL.u2f): the key signs SHA-256(application) || flags ||
// counter || SHA-256(message), and the signature carries flags and counter.
// ssh-keygen cannot make FIDO keys without an authenticator, so the test
// builds the key and its signatures from the protocol, and ssh-keygen
// checks them.
type skSigner struct {
	app     string
	flags   byte
	counter uint32
	ed      ed25519.PrivateKey
	ec      *ecdsa.PrivateKey
	pub     ssh.PublicKey
}

func newSKSigner(t *testing.T, ec bool, flags byte) *skSigner {
	t.Helper()
	s := &skSigner{app: "ssh:", flags: flags, counter: 7}
	var wire []byte
	str := func(b []byte) { wire = binary.BigEndian.AppendUint32(wire, uint32(len(b))); wire = append(wire, b...) }
	if ec {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s.ec = k
		str([]byte(ssh.KeyAlgoSKECDSA256))
		str([]byte("nistp256"))
		point, err := k.PublicKey.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		str(point.Bytes()) // the uncompressed point, as SSH writes it
	} else {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s.ed = k
		str([]byte(ssh.KeyAlgoSKED25519))
		str(k.Public().(ed25519.PublicKey))
	}
	str([]byte(s.app))
	pub, err := ssh.ParsePublicKey(wire)
	if err != nil {
		t.Fatal(err)
	}
	s.pub = pub
	return s
}

func (s *skSigner) PublicKey() ssh.PublicKey { return s.pub }

func (s *skSigner) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	appHash, msgHash := sha256.Sum256([]byte(s.app)), sha256.Sum256(data)
	signed := append(appHash[:], s.flags)
	signed = binary.BigEndian.AppendUint32(signed, s.counter)
	signed = append(signed, msgHash[:]...)
	rest := binary.BigEndian.AppendUint32([]byte{s.flags}, s.counter)
	if s.ed != nil {
		return &ssh.Signature{Format: ssh.KeyAlgoSKED25519, Blob: ed25519.Sign(s.ed, signed), Rest: rest}, nil
	}
	h := sha256.Sum256(signed)
	r, ss, err := ecdsa.Sign(rand.Reader, s.ec, h[:])
	if err != nil {
		return nil, err
	}
	blob := ssh.Marshal(struct{ R, S *big.Int }{r, ss})
	return &ssh.Signature{Format: ssh.KeyAlgoSKECDSA256, Blob: blob, Rest: rest}, nil
}

// TestFIDOSignatures: FIDO (security key) signatures verify with chaosgen
// as with `ssh-keygen -Y verify`. One made without the user-presence flag
// (a key created with no-touch-required) is refused, as sshd refuses it by
// default; ssh-keygen 9.2's -Y verify does not check the flag, and accepts
// it (docs/bundle.md).
func TestFIDOSignatures(t *testing.T) {
	keygen := sshKeygen(t)
	data := mustEncode(t, testBundle())
	for _, ec := range []bool{false, true} {
		s := newSKSigner(t, ec, 0x01) // user present
		t.Run(s.pub.Type(), func(t *testing.T) {
			dir := t.TempDir()
			sig, err := SignWith(data, s)
			if err != nil {
				t.Fatal(err)
			}
			sigPath := filepath.Join(dir, "bundle.json.sig")
			allowed := filepath.Join(dir, "allowed_signers")
			if err := os.WriteFile(sigPath, sig, 0o644); err != nil {
				t.Fatal(err)
			}
			line := "dev@example.com " + string(ssh.MarshalAuthorizedKey(s.pub))
			if err := os.WriteFile(allowed, []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := runKeygen(t, keygen, data, "-Y", "verify", "-f", allowed, "-I", "dev@example.com", "-n", Namespace, "-s", sigPath); err != nil {
				t.Fatalf("ssh-keygen -Y verify rejects the %s signature (the test's FIDO signer is wrong): %v\n%s", s.pub.Type(), err, out)
			}
			v, err := LoadAllowedSigners(allowed, "dev@example.com")
			if err != nil {
				t.Fatal(err)
			}
			info, err := v.Verify(data, sig, testNow)
			if err != nil || info.KeyType != s.pub.Type() {
				t.Fatalf("chaosgen: %+v, %v", info, err)
			}
			if _, err := v.Verify(append(bytes.Clone(data), ' '), sig, testNow); err == nil {
				t.Error("a changed bundle verifies")
			}
			noTouch := *s
			noTouch.flags = 0
			sig, err = SignWith(data, &noTouch)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(data, sig, testNow); err == nil {
				t.Error("a FIDO signature without user presence verifies")
			}
		})
	}
}

// startAgent starts an ssh-agent of the test's own on a socket in dir and
// points SSH_AUTH_SOCK at it; the agent is killed when the test ends.
func startAgent(t *testing.T, dir string) string {
	t.Helper()
	path, err := exec.LookPath("ssh-agent")
	if err != nil {
		msg := "SKIPPED: ssh-agent is not on PATH (apt-get install openssh-client); signing through an agent was not tested"
		if os.Getenv("CHAOSGEN_REQUIRE_SHARED") == "1" {
			t.Fatalf("%s, and CHAOSGEN_REQUIRE_SHARED=1 forbids skipping", msg)
		}
		fmt.Fprintln(os.Stderr, "!!! "+msg)
		t.Skip(msg)
	}
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(path, "-D", "-a", sock)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 500 {
			t.Fatal("ssh-agent did not create its socket in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Setenv("SSH_AUTH_SOCK", sock)
	return sock
}

// sshAdd adds a key to the agent at SSH_AUTH_SOCK; passphrase is given
// through SSH_ASKPASS, as a desktop would.
func sshAdd(t *testing.T, dir, key, passphrase string) {
	t.Helper()
	cmd := exec.Command("ssh-add", key)
	cmd.Env = os.Environ()
	if passphrase != "" {
		askpass := filepath.Join(dir, "askpass")
		if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho '"+passphrase+"'\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add %s: %v\n%s", key, err, out)
	}
}

// TestSignThroughAgent signs through a running ssh-agent, as ssh-keygen -Y
// sign does when the agent holds the key: given the public key file (the
// private key only in the agent), or a passphrase-protected private key
// (never decrypted by chaosgen). ssh-keygen -Y verify must accept each
// signature; RSA must sign with SHA-2.
func TestSignThroughAgent(t *testing.T) {
	keygen := sshKeygen(t)
	dir := t.TempDir()
	startAgent(t, dir)
	data := mustEncode(t, testBundle())
	bundlePath := filepath.Join(dir, "bundle.json")
	var allowed bytes.Buffer
	for _, kt := range []struct{ name, args, pass string }{
		{"ed25519", "-t ed25519", ""},
		{"ecdsa", "-t ecdsa", ""},
		{"rsa", "-t rsa -b 2048", ""},
		{"locked", "-t ed25519", "correct horse"},
	} {
		key := filepath.Join(dir, kt.name)
		args := append(strings.Fields(kt.args), "-q", "-N", kt.pass, "-C", kt.name, "-f", key)
		if out, err := runKeygen(t, keygen, nil, args...); err != nil {
			t.Fatalf("ssh-keygen %s: %v\n%s", kt.args, err, out)
		}
		sshAdd(t, dir, key, kt.pass)
		pub, _ := os.ReadFile(key + ".pub")
		allowed.WriteString("ci@example.com " + string(pub))
	}
	allowedPath := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(allowedPath, allowed.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, keyArg string }{
		{"ed25519 by its public key", "ed25519.pub"},
		{"ecdsa by its public key", "ecdsa.pub"},
		{"rsa by its public key", "rsa.pub"},
		{"an encrypted private key held by the agent", "locked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keyArg := filepath.Join(dir, tc.keyArg)
			if strings.HasSuffix(keyArg, ".pub") {
				// the private key exists only in the agent
				if err := os.Remove(strings.TrimSuffix(keyArg, ".pub")); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
			}
			signer, err := LoadSigner(keyArg)
			if err != nil {
				t.Fatalf("LoadSigner through the agent: %v", err)
			}
			w, err := Write(bundlePath, testBundle(), signer)
			if err != nil {
				t.Fatalf("Write through the agent: %v", err)
			}
			sigPath := w.SigPath
			out, err := runKeygen(t, keygen, data, "-Y", "verify", "-f", allowedPath, "-I", "ci@example.com", "-n", Namespace, "-s", sigPath)
			if err != nil {
				t.Fatalf("ssh-keygen -Y verify rejects the agent's signature: %v\n%s", err, out)
			}
			sig, _ := os.ReadFile(sigPath)
			v, err := LoadAllowedSigners(allowedPath, "ci@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(data, sig, testNow); err != nil {
				t.Errorf("chaosgen rejects it: %v", err)
			}
		})
	}

	// Without the agent, a public key alone cannot sign, and says why.
	t.Setenv("SSH_AUTH_SOCK", "")
	if _, err := LoadSigner(filepath.Join(dir, "ecdsa.pub")); err == nil || !strings.Contains(err.Error(), "SSH_AUTH_SOCK is not set") {
		t.Errorf("public key without an agent: %v", err)
	}
	if _, err := LoadSigner(filepath.Join(dir, "locked")); err == nil || !strings.Contains(err.Error(), "ssh-add") {
		t.Errorf("encrypted key without an agent: %v, want a hint to ssh-add it", err)
	}
}
