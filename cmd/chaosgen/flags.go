package main

import (
	"fmt"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/dashboard"
	"github.com/spf13/cobra"
)

// addVerifyFlags adds the flags that say who must have signed a bundle,
// with the same names and wording in every command that reads one:
// --pub, or --allowed-signers with --identity; with sig, also --sig.
// bundle.VerifyOptions.Check refuses combinations that do not go together.
func addVerifyFlags(cmd *cobra.Command, vo *bundle.VerifyOptions, sig bool) {
	f := cmd.Flags()
	f.StringVar(&vo.PublicKey, "pub", "", "public key file of the signer (KEY.pub)")
	f.StringVar(&vo.AllowedSigners, "allowed-signers", "", "allowed_signers file, as for git's gpg.ssh.allowedSignersFile (with --identity)")
	f.StringVar(&vo.Identity, "identity", "", "signer identity to look up in --allowed-signers")
	if sig {
		f.StringVar(&vo.Signature, "sig", "", "signature file (default: the bundle path + .sig)")
	}
}

// checkVerifyFlags is vo.Check with the command's name in front.
func checkVerifyFlags(name string, vo bundle.VerifyOptions, required bool) error {
	if err := vo.Check(required); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// addOutputFlag adds -o/--output and, when old is set, the deprecated
// alias an earlier version named it.
func addOutputFlag(cmd *cobra.Command, p *string, help, old string) {
	cmd.Flags().StringVarP(p, "output", "o", "", help)
	if old != "" {
		cmd.Flags().StringVar(p, old, "", "")
		cmd.Flags().MarkDeprecated(old, "use -o/--output")
	}
}

// dashboardInputs are the flags dashboard and report share.
type dashboardInputs struct{ dashboard.Inputs }

func (in *dashboardInputs) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&in.Analysis, "analysis", "", "analysis directory (analyze -o DIR); required")
	cmd.Flags().StringVar(&in.Bundle, "bundle", "", "bundle to show (and, in the dashboard, edit)")
	cmd.Flags().StringVar(&in.Replay, "replay", "", "replay directory (replay -o DIR): report.json, spans.parquet, adapt.json, learn.json")
	addVerifyFlags(cmd, &in.Verify, false)
}

func (in *dashboardInputs) check(name string) error {
	switch {
	case in.Analysis == "":
		return usagef("%s: --analysis DIR is required", name)
	case checkVerifyFlags(name, in.Verify, false) != nil:
		return checkVerifyFlags(name, in.Verify, false)
	case in.Verify.Enabled() && in.Bundle == "":
		return usagef("%s: --pub and --allowed-signers need --bundle", name)
	}
	return nil
}

// seasonFlag parses --season: a duration, or "none" (stored as -1).
type seasonFlag struct{ d *time.Duration }

func (s *seasonFlag) String() string {
	switch {
	case s.d == nil || *s.d == 0:
		return "auto"
	case *s.d < 0:
		return "none"
	}
	return s.d.String()
}

func (s *seasonFlag) Set(v string) error {
	switch v {
	case "none", "off", "0":
		*s.d = -1
		return nil
	case "auto":
		*s.d = 0
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return fmt.Errorf("want a positive duration such as 24h, or none")
	}
	*s.d = d
	return nil
}

func (s *seasonFlag) Type() string { return "duration|none" }
