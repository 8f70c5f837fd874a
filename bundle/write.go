package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"golang.org/x/crypto/ssh"

	"github.com/chaosgen/chaosgen/internal/atomicfile"
)

// EncodeSigned encodes b canonically (Encode) and, when signer is not nil,
// signs the bytes (SignWith). It writes nothing, so a key that cannot sign
// fails before any file changes.
func EncodeSigned(b *Bundle, signer ssh.Signer) (data, sig []byte, err error) {
	if data, err = Encode(b); err != nil {
		return nil, nil, err
	}
	if signer != nil {
		if sig, err = SignWith(data, signer); err != nil {
			return nil, nil, fmt.Errorf("signing: %w", err)
		}
	}
	return data, sig, nil
}

// Written says what Write wrote.
type Written struct {
	Path    string
	SigPath string // Path+".sig" when signed; empty when not
	Digest  string // SHA-256 of the bundle bytes, lowercase hex
	Size    int
	// RemovedSig is set when an unsigned bundle replaced one whose .sig
	// was there: the stale signature was removed.
	RemovedSig bool
}

// Write encodes and signs b (EncodeSigned), then replaces path atomically
// and, when signed, path+".sig"; unsigned, it removes a path+".sig" left
// by an earlier bundle, which would no longer match. The signature is made
// before anything is written, so a key that cannot sign leaves the old
// bundle and signature as they were. Between the two renames a reader may
// see the new bundle with the old signature, which fails verification (a
// verifying reader keeps what it had); it never sees a signature of bytes
// other than the ones it signs.
func Write(path string, b *Bundle, signer ssh.Signer) (*Written, error) {
	data, sig, err := EncodeSigned(b, signer)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, data); err != nil {
		return nil, err
	}
	w := &Written{Path: path, Digest: Digest(data), Size: len(data)}
	sigPath := path + ".sig"
	if sig != nil {
		if err := atomicfile.WriteFile(sigPath, sig); err != nil {
			return nil, err
		}
		w.SigPath = sigPath
		return w, nil
	}
	switch err := os.Remove(sigPath); {
	case err == nil:
		w.RemovedSig = true
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("removing the stale %s: %w", sigPath, err)
	}
	return w, nil
}
