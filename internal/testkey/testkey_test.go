package testkey

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	k := MustWrite(t, dir, "alice", "alice@test", 1)
	again := MustWrite(t, t.TempDir(), "alice", "alice@test", 1)
	if !bytes.Equal(k.Signer.PublicKey().Marshal(), again.Signer.PublicKey().Marshal()) {
		t.Error("the same seed gave two keys")
	}
	if bytes.Equal(k.Signer.PublicKey().Marshal(), Signer(2).PublicKey().Marshal()) {
		t.Error("seeds 1 and 2 gave the same key")
	}
	fi, err := os.Stat(k.Priv)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(k.Priv)
	parsed, err := ssh.ParsePrivateKey(raw)
	if err != nil || !bytes.Equal(parsed.PublicKey().Marshal(), k.Signer.PublicKey().Marshal()) {
		t.Errorf("the private key file does not parse back to the key: %v", err)
	}
	pub, _ := os.ReadFile(k.Pub)
	if string(pub) != k.AuthLine+"\n" || !strings.HasPrefix(k.AuthLine, "ssh-ed25519 ") || !strings.HasSuffix(k.AuthLine, " alice@test") {
		t.Errorf("public key file %q, AuthLine %q", pub, k.AuthLine)
	}
}
