package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/chaosgen/chaosgen/bundle"
)

// warnUntargeted warns when no profile of the bundle at path has service as
// its callee: the proxy would then pass every request through. The bundle
// is only decoded here; inject verifies it before using it.
func warnUntargeted(w io.Writer, path, service string) {
	b, err := bundle.Open(path, bundle.VerifyOptions{})
	if err != nil {
		return // inject reports it
	}
	var callees []string
	for _, p := range b.Profiles {
		if p.Target.Callee == service {
			return
		}
		callees = append(callees, p.Target.Callee)
	}
	slices.Sort(callees)
	targets := "none: the bundle has no profiles"
	if callees = slices.Compact(callees); len(callees) > 0 {
		targets = strings.Join(callees, ", ")
	}
	fmt.Fprintf(w, "chaosgen: inject: warning: no profile of %s targets --service %s, so no request will be faulted; the services it targets: %s\n", path, service, targets)
}
