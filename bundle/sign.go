package bundle

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/chaosgen/chaosgen/internal/atomicfile"
)

// Namespace is the SSHSIG namespace of bundle signatures: a signature made
// for git commits or another purpose never verifies as a bundle signature.
const Namespace = "chaosgen-bundle"

// HashAlgorithm is the SSHSIG hash that Sign uses (ssh-keygen's default).
// Verification accepts sha256 too.
const HashAlgorithm = "sha512"

const (
	armorBegin = "-----BEGIN SSH SIGNATURE-----"
	armorEnd   = "-----END SSH SIGNATURE-----"
	armorWidth = 70 // ssh-keygen's line width, so both tools write identical files
)

// LoadSigner reads an unencrypted Ed25519 private key in OpenSSH format. Like
// ssh, it refuses a key file that its group or others can read or write.
func LoadSigner(keyPath string) (ssh.Signer, error) {
	fi, err := os.Stat(keyPath)
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%s: permissions %04o are too open: UNPROTECTED PRIVATE KEY FILE, it must not be accessible by others (chmod 600 %s)", keyPath, perm, keyPath)
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, fmt.Errorf("%s: the private key is encrypted with a passphrase, which chaosgen cannot ask for: use an unencrypted key with permissions 0600, or sign with `ssh-keygen -Y sign -f %s -n %s bundle.json`", keyPath, keyPath, Namespace)
		}
		return nil, fmt.Errorf("%s: reading private key: %w", keyPath, err)
	}
	var key ed25519.PrivateKey
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		key = k
	case *ed25519.PrivateKey:
		key = *k
	default:
		return nil, fmt.Errorf("%s: a %T key cannot sign bundles: chaosgen uses Ed25519 keys (ssh-keygen -t ed25519)", keyPath, raw)
	}
	return ssh.NewSignerFromKey(key)
}

// SignWith returns the armored SSHSIG signature of data by an Ed25519 signer,
// in the namespace chaosgen-bundle with hash sha512: the same bytes that
// `ssh-keygen -Y sign -n chaosgen-bundle` writes for the same key, since
// Ed25519 signatures are deterministic.
func SignWith(data []byte, s ssh.Signer) ([]byte, error) {
	if t := s.PublicKey().Type(); t != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("a %s key cannot sign bundles: chaosgen uses Ed25519 keys", t)
	}
	sig, err := sshsig.Sign(bytes.NewReader(data), s, sshsig.HashSHA512, Namespace)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return armor(sig.Marshal()), nil
}

// Sign signs data with the private key at keyPath (see LoadSigner).
func Sign(data []byte, keyPath string) ([]byte, error) {
	s, err := LoadSigner(keyPath)
	if err != nil {
		return nil, err
	}
	return SignWith(data, s)
}

// SignFile signs the bundle file at bundlePath with the key at keyPath and
// writes the signature to bundlePath+".sig" atomically. It returns the
// signature's path.
func SignFile(bundlePath, keyPath string) (string, error) {
	data, err := os.ReadFile(bundlePath)
	if err != nil {
		return "", err
	}
	sig, err := Sign(data, keyPath)
	if err != nil {
		return "", err
	}
	sigPath := bundlePath + ".sig"
	if err := atomicfile.WriteFile(sigPath, sig); err != nil {
		return "", fmt.Errorf("writing %s: %w", sigPath, err)
	}
	return sigPath, nil
}

// armor wraps an SSHSIG blob as ssh-keygen does.
func armor(blob []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString(blob)
	var buf bytes.Buffer
	buf.WriteString(armorBegin + "\n")
	for len(b64) > armorWidth {
		buf.WriteString(b64[:armorWidth] + "\n")
		b64 = b64[armorWidth:]
	}
	buf.WriteString(b64 + "\n" + armorEnd + "\n")
	return buf.Bytes()
}

// unarmor returns the SSHSIG blob of an armored signature. Like ssh-keygen,
// it accepts any line width.
func unarmor(data []byte) ([]byte, error) {
	s := strings.TrimSpace(string(data))
	body, ok := strings.CutPrefix(s, armorBegin)
	if !ok {
		return nil, errors.New("does not start with " + armorBegin)
	}
	body, ok = strings.CutSuffix(body, armorEnd)
	if !ok {
		return nil, errors.New("does not end with " + armorEnd)
	}
	body = strings.Join(strings.Fields(body), "")
	blob, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("bad base64: %w", err)
	}
	return blob, nil
}
