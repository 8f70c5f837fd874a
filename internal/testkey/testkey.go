// Package testkey makes the Ed25519 keys that chaosgen's tests sign
// bundles with: the same seed gives the same key (and so the same
// fingerprints and signatures in golden files) in every package.
package testkey

import (
	"bytes"
	"crypto/ed25519"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Private returns the Ed25519 private key whose seed is 32 copies of seed.
func Private(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// Signer returns the signer of Private(seed).
func Signer(seed byte) ssh.Signer {
	s, err := ssh.NewSignerFromKey(Private(seed))
	if err != nil {
		panic(err) // an Ed25519 key always makes a signer
	}
	return s
}

// AuthorizedLine is the public half of s as a line of a .pub file:
// "ssh-ed25519 AAAA... comment", without a newline.
func AuthorizedLine(s ssh.Signer, comment string) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(s.PublicKey()))) + " " + comment
}

// Key is a key pair written by Write.
type Key struct {
	Priv, Pub string // the file paths: dir/name (mode 0600) and dir/name.pub
	Signer    ssh.Signer
	AuthLine  string // the line of the .pub file, without its newline
}

// Write writes the key of seed as dir/name (OpenSSH private key format,
// mode 0600) and dir/name.pub, both with comment.
func Write(dir, name, comment string, seed byte) (Key, error) {
	block, err := ssh.MarshalPrivateKey(Private(seed), comment)
	if err != nil {
		return Key{}, err
	}
	s := Signer(seed)
	k := Key{Priv: filepath.Join(dir, name), Pub: filepath.Join(dir, name+".pub"), Signer: s, AuthLine: AuthorizedLine(s, comment)}
	if err := os.WriteFile(k.Priv, pem.EncodeToMemory(block), 0o600); err != nil {
		return Key{}, err
	}
	if err := os.WriteFile(k.Pub, []byte(k.AuthLine+"\n"), 0o644); err != nil {
		return Key{}, err
	}
	return k, nil
}

// MustWrite is Write that fails t on an error.
func MustWrite(t testing.TB, dir, name, comment string, seed byte) Key {
	t.Helper()
	k, err := Write(dir, name, comment, seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
