package profilegen

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/usage"
)

// WriteOptions are Write's: Generate's options as chaosgen generate takes
// them, and where the bundle goes. Errors in them match usage.Err and name
// generate's flags.
type WriteOptions struct {
	// Options are Generate's. Name defaults to Output's base name without
	// its extension. MaxRate is taken as given: 0 is refused, not a
	// default. NotAfter and Expiry come from NotAfterFlag.
	Options
	Output   string // the bundle file to replace (required); its signature is Output+".sig"
	Key      string // the key that signs it (see bundle.LoadSigner); empty: unsigned
	Previous string // last run's bundle, for the feedback loop; a missing file starts fresh
	// NotAfterFlag is --not-after: empty for DefaultExpiry after the data,
	// "never", a duration from Now (72h, 7d) or an RFC 3339 time.
	NotAfterFlag string
	Now          time.Time
	// Force lets an unsigned bundle replace a signed one (and its .sig).
	Force bool
	// Warn, when set, is told each notice and warning as it happens
	// ("notice: …", "warning: …"), in the order a reader should see them.
	Warn func(msg string)
}

// Written is what Write generated and wrote.
type Written struct {
	*Result
	bundle.Written
}

// Write is chaosgen generate: it checks o, loads the analysis in dir (with
// its windows, for the feedback loop), reads o.Previous, generates the
// bundle and writes it with bundle.Write: signed with o.Key before anything
// is written, so that a key that cannot sign leaves the old bundle and
// signature as they were; unsigned, a stale Output+".sig" is removed, and
// only with o.Force when it signed the bundle being replaced.
func Write(dir string, o WriteOptions) (*Written, error) {
	warn := o.Warn
	if warn == nil {
		warn = func(string) {}
	}
	if o.Output == "" {
		return nil, usage.Errorf("-o is required")
	}
	if _, err := o.check(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(o.Output); err == nil && fi.IsDir() {
		return nil, usage.Errorf("-o %s is a directory: give a file name, such as %s", o.Output, filepath.Join(o.Output, "bundle.json"))
	}
	sigPath := o.Output + ".sig"
	if _, err := os.Stat(sigPath); err == nil && o.Key == "" && !o.Force {
		return nil, usage.Errorf("%s is signed (%s): an unsigned bundle would replace it and drop the signature; sign the new one with --key, choose another -o, or give --force", o.Output, sigPath)
	}
	opt := o.Options
	if opt.Name == "" {
		opt.Name = strings.TrimSuffix(filepath.Base(o.Output), filepath.Ext(o.Output))
	}
	switch o.NotAfterFlag {
	case "":
		opt.Expiry = DefaultExpiry
	case "never":
	default:
		t, err := ParseNotAfter(o.NotAfterFlag, o.Now)
		if err != nil {
			return nil, usage.Errorf("--not-after: %v", err)
		}
		opt.NotAfter = t
	}
	if o.Previous != "" {
		prev, err := bundle.Open(o.Previous, bundle.VerifyOptions{})
		switch {
		case errors.Is(err, fs.ErrNotExist):
			warn(fmt.Sprintf("notice: --previous %s does not exist: starting fresh (the first night), every profile at its initial rate", o.Previous))
		case errors.Is(err, bundle.ErrInvalid):
			return nil, fmt.Errorf("--previous %w", err)
		case err != nil:
			return nil, err
		default:
			opt.Previous, opt.PreviousDigest = prev.Bundle, prev.Digest
		}
	}
	a, err := Load(dir, true)
	if err != nil {
		return nil, err
	}
	res, err := Generate(a, opt)
	if err != nil {
		return nil, err
	}
	var signer ssh.Signer
	if o.Key != "" {
		if signer, err = bundle.LoadSigner(o.Key); err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
	}
	w, err := bundle.Write(o.Output, res.Bundle, signer)
	if err != nil {
		return nil, err
	}
	for _, m := range res.Warnings {
		warn("warning: " + m)
	}
	switch {
	case a.Summary.NoModels:
		warn(fmt.Sprintf("warning: %s was analysed with --no-models, so it has no findings: no profiles from it (analyze the spans without --no-models)", dir))
	case len(a.Findings) == 0:
		warn(fmt.Sprintf("warning: %s has no findings: no profiles from it", filepath.Join(dir, "summary.json")))
	}
	if w.RemovedSig {
		warn(fmt.Sprintf("warning: removed %s: it signed the previous %s", sigPath, o.Output))
	}
	if signer == nil {
		warn(fmt.Sprintf("warning: no --key: %s is unsigned, and verify and inject refuse it until it is signed (ssh-keygen -Y sign -f KEY -n %s %s)", o.Output, bundle.Namespace, o.Output))
	}
	return &Written{Result: res, Written: *w}, nil
}

// ParseNotAfter reads --not-after: a duration from now (Go syntax, or a
// whole number of days "7d") or an RFC 3339 time after now.
func ParseNotAfter(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.Add(time.Duration(n) * 24 * time.Hour).UTC().Truncate(time.Second), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, fmt.Errorf("duration %s is not positive", s)
		}
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (72h, 7d) nor an RFC 3339 time", s)
	}
	if !t.After(now) {
		return time.Time{}, fmt.Errorf("%s is in the past", s)
	}
	return t, nil
}
