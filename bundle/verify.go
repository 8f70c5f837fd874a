package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Verifier decides whose signatures a reader accepts: one public key
// (LoadPublicKey) or the entries of a git-style allowed_signers file for one
// identity (LoadAllowedSigners).
type Verifier struct {
	source   string          // the file it came from, for messages
	identity string          // the principal to look up; empty for a single key
	signers  []AllowedSigner // a single key is an entry that matches any identity
	comment  string          // the comment of a single public key
}

// SignatureInfo describes a signature that verified.
type SignatureInfo struct {
	Principal     string // the identity the signer was accepted as, or the public key's comment
	KeyType       string // e.g. "ssh-ed25519"
	Fingerprint   string // e.g. "SHA256:ZmDl..."
	Namespace     string
	HashAlgorithm string
	Digest        string // SHA-256 of the signed bytes, lowercase hex
}

// NewKeyVerifier accepts signatures by key alone. comment names the key in
// SignatureInfo.Principal.
func NewKeyVerifier(key ssh.PublicKey, comment string) *Verifier {
	return &Verifier{
		source:  ssh.FingerprintSHA256(key),
		signers: []AllowedSigner{{Principals: []string{"*"}, Key: key}},
		comment: comment,
	}
}

// LoadPublicKey reads a public key file (one "ssh-ed25519 AAAA... comment"
// line, as ssh-keygen writes to KEY.pub) and accepts signatures by that key.
func LoadPublicKey(path string) (*Verifier, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, comment, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: reading public key: %w", path, err)
	}
	v := NewKeyVerifier(key, comment)
	v.source = path
	return v, nil
}

// LoadAllowedSigners reads an allowed_signers file (see ParseAllowedSigners)
// and accepts the signatures that `ssh-keygen -Y verify -f path -I identity`
// would accept.
func LoadAllowedSigners(path, identity string) (*Verifier, error) {
	if identity == "" {
		return nil, errors.New("an allowed_signers file needs an identity to look up")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	signers, err := ParseAllowedSigners(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Verifier{source: path, identity: identity, signers: signers}, nil
}

// Verify checks an armored SSHSIG signature over data: well-formed, in the
// chaosgen-bundle namespace, made by the key it carries over these exact
// bytes, and that key accepted by v at time now. Errors wrap ErrBadSignature
// or ErrUntrusted, and so ErrInvalid.
func (v *Verifier) Verify(data, armored []byte, now time.Time) (*SignatureInfo, error) {
	blob, err := unarmor(armored)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed signature: %v", ErrBadSignature, err)
	}
	sig, err := sshsig.ParseSignature(blob)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed signature: %v", ErrBadSignature, err)
	}
	if sig.Namespace != Namespace {
		return nil, fmt.Errorf("%w: the signature is for namespace %q, not %q", ErrBadSignature, sig.Namespace, Namespace)
	}
	if err := sig.HashAlgorithm.Supported(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	key := sig.PublicKey
	fp := ssh.FingerprintSHA256(key)
	if err := checkSigningKey(key); err != nil {
		return nil, fmt.Errorf("%w: signed by %s: %v", ErrBadSignature, fp, err)
	}
	if err := sshsig.Verify(bytes.NewReader(data), sig, key, sig.HashAlgorithm, Namespace); err != nil {
		return nil, fmt.Errorf("%w: the signature by %s does not match the bundle: the bundle or its signature changed after signing", ErrBadSignature, fp)
	}
	principal, err := v.accept(key, now)
	if err != nil {
		return nil, err
	}
	return &SignatureInfo{
		Principal:     principal,
		KeyType:       key.Type(),
		Fingerprint:   fp,
		Namespace:     sig.Namespace,
		HashAlgorithm: sig.HashAlgorithm.String(),
		Digest:        Digest(data),
	}, nil
}

// accept returns the principal key is accepted as, or an ErrUntrusted error
// saying why not.
func (v *Verifier) accept(key ssh.PublicKey, now time.Time) (string, error) {
	fp := ssh.FingerprintSHA256(key)
	if v.identity == "" {
		if len(v.signers) == 1 && bytes.Equal(v.signers[0].Key.Marshal(), key.Marshal()) {
			return v.comment, nil
		}
		return "", fmt.Errorf("%w: signed by %s, not by the key in %s", ErrUntrusted, fp, v.source)
	}
	var reasons []string
	for _, s := range v.signers {
		if !bytes.Equal(s.Key.Marshal(), key.Marshal()) || matchPatternList(v.identity, s.Principals) != 1 {
			continue
		}
		if err := s.check(Namespace, now); err != nil {
			reasons = append(reasons, fmt.Sprintf("line %d: %v", s.Line, err))
			continue
		}
		return v.identity, nil
	}
	if len(reasons) > 0 {
		return "", fmt.Errorf("%w: %s is listed for %q in %s but not valid now: %s", ErrUntrusted, fp, v.identity, v.source, reasons[0])
	}
	return "", fmt.Errorf("%w: %s is not an allowed signer for %q in %s", ErrUntrusted, fp, v.identity, v.source)
}

// VerifyFile reads a bundle and its signature, verifies the signature over
// the bundle's bytes before parsing them, then decodes and validates the
// bundle and checks that it has not expired at now. sigPath defaults to
// bundlePath+".sig". A missing signature wraps ErrUnsigned; every failure of
// the bundle or its signature wraps ErrInvalid, while I/O errors on the
// bundle file itself do not.
func VerifyFile(bundlePath, sigPath string, v *Verifier, now time.Time) (*Bundle, *SignatureInfo, error) {
	_, b, info, err := verifyFile(bundlePath, sigPath, v, now)
	return b, info, err
}

// verifyFile is VerifyFile, also returning the bytes it verified.
func verifyFile(bundlePath, sigPath string, v *Verifier, now time.Time) ([]byte, *Bundle, *SignatureInfo, error) {
	if sigPath == "" {
		sigPath = bundlePath + ".sig"
	}
	data, err := os.ReadFile(bundlePath)
	if err != nil {
		return nil, nil, nil, err
	}
	sig, err := os.ReadFile(sigPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, fmt.Errorf("%s: %w: no signature file %s", bundlePath, ErrUnsigned, sigPath)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	info, err := v.Verify(data, sig, now)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", sigPath, err)
	}
	b, err := Decode(data)
	if err != nil {
		return nil, nil, info, fmt.Errorf("%s: malformed: %w", bundlePath, err)
	}
	if err := b.CheckExpiry(now); err != nil {
		return data, b, info, fmt.Errorf("%s: %w", bundlePath, err)
	}
	return data, b, info, nil
}

// VerifyOptions says which signers Verify accepts and at what time.
type VerifyOptions struct {
	PublicKey      string    // a public key file; or
	AllowedSigners string    // an allowed_signers file, with
	Identity       string    // the identity to look up in it
	Signature      string    // the signature file; default bundle path + ".sig"
	Now            time.Time // the time to check expiry and key validity at
}

// Verify loads the verifier that o names and runs VerifyFile: the one call
// behind `chaosgen verify`. Exactly one of PublicKey and AllowedSigners must
// be set.
func Verify(bundlePath string, o VerifyOptions) (*Bundle, *SignatureInfo, error) {
	_, b, info, err := verify(bundlePath, o)
	return b, info, err
}

// verify is Verify, also returning the bytes it verified.
func verify(bundlePath string, o VerifyOptions) ([]byte, *Bundle, *SignatureInfo, error) {
	var (
		v   *Verifier
		err error
	)
	switch {
	case (o.PublicKey == "") == (o.AllowedSigners == ""):
		return nil, nil, nil, errors.New("exactly one of a public key and an allowed_signers file is needed")
	case o.PublicKey != "":
		v, err = LoadPublicKey(o.PublicKey)
	default:
		v, err = LoadAllowedSigners(o.AllowedSigners, o.Identity)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return verifyFile(bundlePath, o.Signature, v, o.Now)
}
