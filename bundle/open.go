package bundle

import (
	"fmt"
	"os"

	"github.com/chaosgen/chaosgen/internal/usage"
)

// Enabled reports whether o names a signer to verify with: a public key or
// an allowed_signers file.
func (o VerifyOptions) Enabled() bool { return o.PublicKey != "" || o.AllowedSigners != "" }

// Check reports, as an error matching usage.Err, options that cannot be
// verified with: a public key and an allowed_signers file together, or one
// of an allowed_signers file and an identity without the other. With
// required, options that name no signer at all are refused too. The flag
// names are those every command gives these options (--pub,
// --allowed-signers, --identity).
func (o VerifyOptions) Check(required bool) error {
	switch {
	case required && !o.Enabled():
		return usage.Errorf("give --pub KEY.pub or --allowed-signers FILE --identity ID")
	case o.PublicKey != "" && o.AllowedSigners != "":
		return usage.Errorf("--pub and --allowed-signers exclude each other")
	case o.AllowedSigners != "" && o.Identity == "":
		return usage.Errorf("--allowed-signers needs --identity")
	case o.Identity != "" && o.AllowedSigners == "":
		return usage.Errorf("--identity needs --allowed-signers")
	}
	return nil
}

// NotCheckedWarning is what a command that read a bundle without checking
// its signature (Open with options that name no signer) warns.
const NotCheckedWarning = "signature not checked (give --pub or --allowed-signers and --identity)"

// Opened is a bundle read by Open.
type Opened struct {
	*Bundle
	Path   string
	Raw    []byte         // the file's bytes
	Digest string         // their SHA-256, hex
	Sig    *SignatureInfo // the signature that was verified; nil when o named no signer
}

// Open reads the bundle at path. When o names a signer (o.Enabled) it
// verifies the bundle as Verify does, signature before parsing, and fails
// on anything Verify refuses; otherwise it only decodes the bytes strictly
// (schema and validation, no expiry), and the caller says that the
// signature was not checked (NotCheckedWarning). Read errors come back as
// the os package gives them; every other failure wraps ErrInvalid and names
// path.
func Open(path string, o VerifyOptions) (*Opened, error) {
	if err := o.Check(false); err != nil {
		return nil, err
	}
	if o.Enabled() {
		raw, b, info, err := verify(path, o)
		if err != nil {
			return nil, err
		}
		return &Opened{Bundle: b, Path: path, Raw: raw, Digest: Digest(raw), Sig: info}, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, err := Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Opened{Bundle: b, Path: path, Raw: raw, Digest: Digest(raw)}, nil
}
