package bundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
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

// LoadSigner returns the signer of the key at keyPath as `ssh-keygen -Y
// sign -f keyPath` finds it: when SSH_AUTH_SOCK names a running ssh-agent
// that holds the key (its public half is keyPath itself when that is a
// public key file, else keyPath.pub), the agent signs, so the private key
// may be encrypted or stored only in the agent; otherwise the private key
// is read from keyPath: unencrypted, in OpenSSH or PEM format, Ed25519,
// ECDSA or RSA. Like ssh, it refuses a private key file that its group or
// others can read or write.
func LoadSigner(keyPath string) (ssh.Signer, error) {
	pub, isPub, err := publicHalf(keyPath)
	if err != nil {
		return nil, err
	}
	if pub != nil {
		s, err := agentSigner(pub)
		if s != nil || err != nil {
			return s, err
		}
	}
	if isPub {
		if os.Getenv("SSH_AUTH_SOCK") == "" {
			return nil, fmt.Errorf("%s is a public key: its private half must be in an ssh-agent, and SSH_AUTH_SOCK is not set", keyPath)
		}
		return nil, fmt.Errorf("%s: the ssh-agent at SSH_AUTH_SOCK does not hold this key (%s): ssh-add it, or give the private key file", keyPath, ssh.FingerprintSHA256(pub))
	}
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
			return nil, fmt.Errorf("%s: the private key is encrypted with a passphrase, which chaosgen cannot ask for: add it to your ssh-agent (ssh-add %s; chaosgen then signs through SSH_AUTH_SOCK), or sign with `ssh-keygen -Y sign -f %s -n %s bundle.json`", keyPath, keyPath, keyPath, Namespace)
		}
		return nil, fmt.Errorf("%s: reading private key: %w", keyPath, err)
	}
	switch k := raw.(type) {
	case *ed25519.PrivateKey:
		raw = *k
	case ed25519.PrivateKey, *ecdsa.PrivateKey, *rsa.PrivateKey:
	default:
		return nil, fmt.Errorf("%s: a %T key cannot sign bundles: use an Ed25519, ECDSA or RSA key (ssh-keygen -t ed25519), or a FIDO key through ssh-agent", keyPath, raw)
	}
	s, err := ssh.NewSignerFromKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	return s, checkSigningKey(s.PublicKey())
}

// publicHalf reads the public key of keyPath: the file itself when it is a
// public key (isPub), else keyPath.pub when it exists; nil when neither is.
func publicHalf(keyPath string) (pub ssh.PublicKey, isPub bool, err error) {
	data, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, false, err
	}
	if k, _, _, _, err := ssh.ParseAuthorizedKey(data); err == nil {
		return k, true, nil
	}
	data, err = os.ReadFile(keyPath + ".pub")
	if err != nil {
		return nil, false, nil // no public half: the private key alone
	}
	k, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, false, fmt.Errorf("%s.pub: reading public key: %w", keyPath, err)
	}
	return k, false, nil
}

// agentSigner returns a signer for pub through the ssh-agent at
// SSH_AUTH_SOCK, or nil when there is no agent or it does not hold pub.
// The signer dials the agent for each signature, so it holds no connection
// open between them.
func agentSigner(pub ssh.PublicKey) (ssh.Signer, error) {
	sock := os.Getenv("SSH_AUTH_SOCK")
	if sock == "" {
		return nil, nil
	}
	keys, err := withAgent(sock, func(a agent.ExtendedAgent) ([]*agent.Key, error) { return a.List() })
	if err != nil {
		return nil, nil // no agent listening: fall back to the key file, as ssh-keygen does
	}
	for _, k := range keys {
		if bytes.Equal(k.Marshal(), pub.Marshal()) {
			return &viaAgent{sock: sock, pub: pub}, checkSigningKey(pub)
		}
	}
	return nil, nil
}

func withAgent[T any](sock string, f func(agent.ExtendedAgent) (T, error)) (T, error) {
	var zero T
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return zero, fmt.Errorf("ssh-agent at %s: %w", sock, err)
	}
	defer conn.Close()
	return f(agent.NewClient(conn))
}

// viaAgent signs with a key held by an ssh-agent.
type viaAgent struct {
	sock string
	pub  ssh.PublicKey
}

func (v *viaAgent) PublicKey() ssh.PublicKey { return v.pub }

func (v *viaAgent) Sign(_ io.Reader, data []byte) (*ssh.Signature, error) {
	return v.SignWithAlgorithm(nil, data, "")
}

// SignWithAlgorithm asks the agent for an rsa-sha2-256/512 signature where
// algorithm names one (SSHSIG requires SHA-2 for RSA).
func (v *viaAgent) SignWithAlgorithm(_ io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	var flags agent.SignatureFlags
	switch algorithm {
	case ssh.KeyAlgoRSASHA256:
		flags = agent.SignatureFlagRsaSha256
	case ssh.KeyAlgoRSASHA512:
		flags = agent.SignatureFlagRsaSha512
	}
	return withAgent(v.sock, func(a agent.ExtendedAgent) (*ssh.Signature, error) {
		sig, err := a.SignWithFlags(v.pub, data, flags)
		if err != nil {
			return nil, fmt.Errorf("ssh-agent signing with %s: %w", ssh.FingerprintSHA256(v.pub), err)
		}
		return sig, nil
	})
}

// signingKeyTypes are the key types that sign bundles: the ones
// `ssh-keygen -Y` signs and verifies with.
var signingKeyTypes = []string{
	ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSA,
	ssh.KeyAlgoSKED25519, ssh.KeyAlgoSKECDSA256,
}

// minRSABits is OpenSSH's smallest RSA modulus (SSH_RSA_MINIMUM_MODULUS_SIZE).
const minRSABits = 1024

// checkSigningKey refuses key types and sizes that ssh-keygen refuses.
func checkSigningKey(pub ssh.PublicKey) error {
	if !slices.Contains(signingKeyTypes, pub.Type()) {
		return fmt.Errorf("a %s key cannot sign bundles: use Ed25519, ECDSA, RSA or a FIDO key (sk-ssh-ed25519, sk-ecdsa)", pub.Type())
	}
	if ck, ok := pub.(ssh.CryptoPublicKey); ok {
		if k, ok := ck.CryptoPublicKey().(*rsa.PublicKey); ok && k.N.BitLen() < minRSABits {
			return fmt.Errorf("a %d-bit RSA key is too small: OpenSSH needs at least %d bits", k.N.BitLen(), minRSABits)
		}
	}
	return nil
}

// SignWith returns the armored SSHSIG signature of data by signer, in the
// namespace chaosgen-bundle with hash sha512 (RSA keys sign with
// rsa-sha2-512): what `ssh-keygen -Y sign -n chaosgen-bundle` writes. With
// an Ed25519 key the bytes are the same as ssh-keygen's, since Ed25519
// signatures are deterministic; ECDSA signatures differ on every run.
func SignWith(data []byte, s ssh.Signer) ([]byte, error) {
	if err := checkSigningKey(s.PublicKey()); err != nil {
		return nil, err
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
