package profilegen

import (
	"fmt"
	"path"
	"strings"
)

// EdgePattern selects caller→callee edges: "CALLER->CALLEE", each side a
// path.Match glob ("*->payment", "checkout->pay*"). An empty caller side
// ("->frontend") matches only root edges, whose caller is the ingress.
type EdgePattern struct {
	Caller, Callee string
	text           string
}

// ParseEdgePattern parses "CALLER->CALLEE".
func ParseEdgePattern(s string) (EdgePattern, error) {
	caller, callee, ok := strings.Cut(strings.TrimSpace(s), "->")
	if !ok {
		return EdgePattern{}, fmt.Errorf("edge pattern %q: want CALLER->CALLEE, e.g. checkout->payment or '*->payment'", s)
	}
	caller, callee = strings.TrimSpace(caller), strings.TrimSpace(callee)
	if callee == "" {
		return EdgePattern{}, fmt.Errorf("edge pattern %q: empty callee", s)
	}
	for _, p := range []string{caller, callee} {
		if _, err := path.Match(p, ""); err != nil {
			return EdgePattern{}, fmt.Errorf("edge pattern %q: %v", s, err)
		}
	}
	return EdgePattern{Caller: caller, Callee: callee, text: caller + "->" + callee}, nil
}

// String returns the pattern as parsed.
func (p EdgePattern) String() string { return p.text }

// Match reports whether the edge caller→callee matches p.
func (p EdgePattern) Match(caller, callee string) bool {
	if p.Caller == "" {
		if caller != "" {
			return false
		}
	} else if ok, _ := path.Match(p.Caller, caller); !ok {
		return false
	}
	ok, _ := path.Match(p.Callee, callee)
	return ok
}

// parsePatterns parses each pattern of list.
func parsePatterns(list []string) ([]EdgePattern, error) {
	var out []EdgePattern
	for _, s := range list {
		p, err := ParseEdgePattern(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// edgeFilter is the --include/--exclude selection.
type edgeFilter struct{ include, exclude []EdgePattern }

// keep reports whether an edge is selected: it matches an include pattern
// (or there are none) and no exclude pattern.
func (f edgeFilter) keep(caller, callee string) bool {
	in := len(f.include) == 0
	for _, p := range f.include {
		if p.Match(caller, callee) {
			in = true
			break
		}
	}
	if !in {
		return false
	}
	for _, p := range f.exclude {
		if p.Match(caller, callee) {
			return false
		}
	}
	return true
}
