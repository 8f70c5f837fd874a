package bundle

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AllowedSigner is one line of an allowed_signers file, the format of
// ssh-keygen(1) "ALLOWED SIGNERS" that git uses for gpg.ssh.allowedSignersFile:
//
//	principals [options] keytype base64-key [comment]
//
// Principals are comma-separated patterns with * and ? wildcards, and !
// negates a pattern. The options are namespaces="pattern-list",
// valid-after="time" and valid-before="time" (YYYYMMDD[HHMM[SS]], with a
// trailing Z for UTC, otherwise local time). cert-authority lines are
// rejected: chaosgen verifies plain keys, not SSH certificates.
type AllowedSigner struct {
	Line        int      // 1-based line number in the file
	Principals  []string // patterns
	Namespaces  []string // patterns; nil allows every namespace
	ValidAfter  time.Time
	ValidBefore time.Time
	Key         ssh.PublicKey
}

// ParseAllowedSigners parses an allowed_signers file. Blank lines and lines
// starting with # are skipped.
func ParseAllowedSigners(data []byte) ([]AllowedSigner, error) {
	var out []AllowedSigner
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseAllowedSigner(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		s.Line = n
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseAllowedSigner(line string) (AllowedSigner, error) {
	var s AllowedSigner
	principals, rest, err := firstToken(line)
	if err != nil {
		return s, err
	}
	if principals == "" {
		return s, errors.New("empty principals")
	}
	s.Principals = strings.Split(principals, ",")
	if strings.TrimSpace(rest) == "" {
		return s, errors.New("missing key")
	}
	key, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return s, fmt.Errorf("reading key: %w", err)
	}
	s.Key = key
	for _, o := range opts {
		name, val, hasVal := strings.Cut(o, "=")
		switch strings.ToLower(name) {
		case "cert-authority":
			return s, errors.New("cert-authority lines are not supported: chaosgen verifies signatures by plain keys, not by SSH certificates; list the signer's own key")
		case "namespaces", "valid-after", "valid-before":
			if !hasVal {
				return s, fmt.Errorf("option %s needs a value", name)
			}
			v, err := dequote(val)
			if err != nil {
				return s, fmt.Errorf("option %s: %w", name, err)
			}
			switch strings.ToLower(name) {
			case "namespaces":
				s.Namespaces = strings.Split(v, ",")
			case "valid-after":
				if s.ValidAfter, err = parseSSHTime(v); err != nil {
					return s, fmt.Errorf("option valid-after: %w", err)
				}
			case "valid-before":
				if s.ValidBefore, err = parseSSHTime(v); err != nil {
					return s, fmt.Errorf("option valid-before: %w", err)
				}
			}
		default:
			return s, fmt.Errorf("unknown option %q", name)
		}
	}
	return s, nil
}

// check reports why the entry does not allow a signature in namespace at
// time now, or nil.
func (s *AllowedSigner) check(namespace string, now time.Time) error {
	if s.Namespaces != nil && matchPatternList(namespace, s.Namespaces) != 1 {
		return fmt.Errorf("namespace %q is not in namespaces=%q", namespace, strings.Join(s.Namespaces, ","))
	}
	if !s.ValidAfter.IsZero() && now.Before(s.ValidAfter) {
		return fmt.Errorf("the key is valid only after %s", s.ValidAfter.UTC().Format(time.RFC3339))
	}
	if !s.ValidBefore.IsZero() && now.After(s.ValidBefore) {
		return fmt.Errorf("the key was valid only before %s", s.ValidBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// firstToken splits off the first whitespace-delimited token, which may be
// double-quoted.
func firstToken(line string) (tok, rest string, err error) {
	if strings.HasPrefix(line, `"`) {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return "", "", errors.New("missing closing quote in principals")
		}
		return line[1 : 1+end], line[2+end:], nil
	}
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return line, "", nil
	}
	return line[:i], line[i:], nil
}

func dequote(v string) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", errors.New("the value must be in double quotes")
	}
	return v[1 : len(v)-1], nil
}

// parseSSHTime parses the times of OpenSSH options: YYYYMMDD, YYYYMMDDHHMM or
// YYYYMMDDHHMMSS, in UTC with a trailing Z and in local time otherwise.
func parseSSHTime(v string) (time.Time, error) {
	loc := time.Local
	if s, ok := strings.CutSuffix(v, "Z"); ok {
		v, loc = s, time.UTC
	}
	var layout string
	switch len(v) {
	case 8:
		layout = "20060102"
	case 12:
		layout = "200601021504"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", v)
	}
	if _, err := strconv.ParseUint(v, 10, 64); err != nil {
		return time.Time{}, fmt.Errorf("%q is not YYYYMMDD[HHMM[SS]][Z]", v)
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: %w", v, err)
	}
	return t, nil
}

// matchPatternList is OpenSSH's match_pattern_list: 1 if s matches a pattern
// of the list, -1 if it matches a negated (!) one, 0 otherwise.
func matchPatternList(s string, patterns []string) int {
	got := 0
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		if matchPattern(s, p) {
			if neg {
				return -1
			}
			got = 1
		}
	}
	return got
}

// matchPattern matches s against a pattern where * matches any run of
// characters and ? any one character.
func matchPattern(s, p string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			if p == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if matchPattern(s[i:], p) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
			s, p = s[1:], p[1:]
		default:
			if s == "" || s[0] != p[0] {
				return false
			}
			s, p = s[1:], p[1:]
		}
	}
	return s == ""
}
