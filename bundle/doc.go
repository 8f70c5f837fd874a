// Package bundle defines the signed bundle of error profiles that chaosgen
// writes and every injector reads: its schema, its canonical JSON encoding,
// and its detached OpenSSH signatures.
//
// A bundle travels as two files committed side by side: bundle.json, in the
// canonical encoding of [Encode] (the same bundle always gives the same
// bytes), and bundle.json.sig, an SSHSIG signature over those exact bytes in
// the namespace "chaosgen-bundle", which `ssh-keygen -Y verify` checks as
// well as [VerifyFile] does. Readers verify the bytes before parsing them,
// then [Decode] parses strictly and validates, and [Bundle.CheckExpiry]
// compares notAfter with a time the caller passes in.
//
// Every validation failure wraps [ErrInvalid]. docs/bundle.md describes the
// format and docs/bundle.schema.json is its JSON Schema.
package bundle
