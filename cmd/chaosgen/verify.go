package main

import (
	"fmt"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/spf13/cobra"
)

type verifyOptions struct {
	bundle.VerifyOptions
	at     string
	asJSON bool
}

// verifyReport is what `verify --json` prints.
type verifyReport struct {
	Bundle      string `json:"bundle"`
	Name        string `json:"name"`
	Signer      string `json:"signer"`
	KeyType     string `json:"keyType"`
	Fingerprint string `json:"fingerprint"`
	Digest      string `json:"digest"`
	Profiles    int    `json:"profiles"`
	NotAfter    string `json:"notAfter,omitempty"`
}

func newVerifyCmd() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify bundle.json (--pub KEY.pub | --allowed-signers FILE --identity ID) [--sig bundle.json.sig]",
		Short: "Check a bundle's signature, schema and expiry",
		Long: `verify checks a bundle before anything uses it: its detached OpenSSH signature
(bundle.json.sig, namespace chaosgen-bundle) over the exact bytes, by the key in
--pub or by a key that --allowed-signers lists for --identity (the git
allowed_signers format); then its schema; then its notAfter time. It exits 0
when all hold, and 3 when the bundle is unsigned, tampered, signed by another
key, malformed or expired, saying which. The same check without chaosgen:

  ssh-keygen -Y verify -f allowed_signers -I ID -n chaosgen-bundle -s bundle.json.sig < bundle.json`,
		Example: `  chaosgen verify bundles/checkout.json --pub ~/.ssh/id_ed25519.pub
  chaosgen verify bundles/checkout.json --allowed-signers .allowed_signers --identity ci@example.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkVerifyFlags("verify", o.VerifyOptions, true); err != nil {
				return err
			}
			o.Now = time.Now()
			if o.at != "" {
				t, err := time.Parse(time.RFC3339, o.at)
				if err != nil {
					return usagef("verify: --at: %v", err)
				}
				o.Now = t
			}
			op, err := bundle.Open(args[0], o.VerifyOptions)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			b, sig := op.Bundle, op.Sig
			r := verifyReport{
				Bundle: args[0], Name: b.Metadata.Name, Signer: sig.Principal,
				KeyType: sig.KeyType, Fingerprint: sig.Fingerprint, Digest: "sha256:" + sig.Digest,
				Profiles: len(b.Profiles),
			}
			if !b.Metadata.NotAfter.IsZero() {
				r.NotAfter = b.Metadata.NotAfter.UTC().Format(time.RFC3339)
			}
			w := cmd.OutOrStdout()
			if o.asJSON {
				return printJSON(w, r)
			}
			expires := r.NotAfter
			if expires == "" {
				expires = "never"
			}
			signer := r.Signer
			if signer == "" {
				signer = "(no comment in the key file)"
			}
			fmt.Fprintf(w, "%s: good signature, valid bundle %q\n", r.Bundle, r.Name)
			fmt.Fprintf(w, "  signer:   %s\n", signer)
			fmt.Fprintf(w, "  key:      %s %s\n", r.KeyType, r.Fingerprint)
			fmt.Fprintf(w, "  digest:   %s\n", r.Digest)
			fmt.Fprintf(w, "  profiles: %d\n", r.Profiles)
			fmt.Fprintf(w, "  expires:  %s\n", expires)
			return nil
		},
	}
	addVerifyFlags(cmd, &o.VerifyOptions, true)
	f := cmd.Flags()
	f.StringVar(&o.at, "at", "", "check expiry and key validity at this RFC 3339 time instead of now")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	return cmd
}
