// Package export converts a bundle into the configuration of other fault
// injectors: Istio VirtualService faults, Envoy HTTP fault filters, Chaos
// Mesh HTTPChaos objects and Toxiproxy toxics. Each target expresses only
// part of a bundle; what it cannot express is left out or approximated, and
// every such case is returned as a Warning, never dropped silently.
package export

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/chaosgen/chaosgen/bundle"
)

// Targets are the names accepted by To, sorted.
var Targets = []string{"chaos-mesh", "envoy", "istio", "toxiproxy"}

// Warning says what an export left out or approximated. Profile is empty for
// bundle-wide warnings (the guards).
type Warning struct {
	Profile string
	Msg     string
}

func (w Warning) String() string {
	if w.Profile == "" {
		return w.Msg
	}
	return fmt.Sprintf("profile %q: %s", w.Profile, w.Msg)
}

// To exports b for target, one of Targets.
func To(target string, b *bundle.Bundle) ([]byte, []Warning, error) {
	switch target {
	case "istio":
		return Istio(b)
	case "envoy":
		return Envoy(b)
	case "chaos-mesh":
		return ChaosMesh(b)
	case "toxiproxy":
		return Toxiproxy(b)
	}
	return nil, nil, fmt.Errorf("unknown export target %q, want one of %s", target, strings.Join(Targets, ", "))
}

// File reads and strictly decodes the bundle at path and exports it. It does
// not check the signature: run verify first where that matters.
func File(target, path string) ([]byte, []Warning, error) {
	if !slices.Contains(Targets, target) {
		return nil, nil, fmt.Errorf("unknown export target %q, want one of %s", target, strings.Join(Targets, ", "))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	b, err := bundle.Decode(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return To(target, b)
}

// warnings collects warnings in a fixed order.
type warnings []Warning

func (ws *warnings) add(p *bundle.Profile, format string, args ...any) {
	id := ""
	if p != nil {
		id = p.ID
	}
	*ws = append(*ws, Warning{Profile: id, Msg: fmt.Sprintf(format, args...)})
}

// sortedProfiles returns b's profiles sorted by id.
func sortedProfiles(b *bundle.Bundle) []*bundle.Profile {
	ps := make([]*bundle.Profile, len(b.Profiles))
	for i := range b.Profiles {
		ps[i] = &b.Profiles[i]
	}
	slices.SortFunc(ps, func(x, y *bundle.Profile) int { return strings.Compare(x.ID, y.ID) })
	return ps
}

var methodPattern = regexp.MustCompile(`^[A-Z]+$`)

// operation splits a target operation into an HTTP method and path: "" (all),
// "/path", "/pkg.Service/Method" or "METHOD /path". ok is false for anything
// else, which no HTTP-level target can match.
func operation(op string) (method, path string, ok bool) {
	if op == "" || strings.HasPrefix(op, "/") {
		return "", op, true
	}
	m, p, found := strings.Cut(op, " ")
	if found && methodPattern.MatchString(m) && strings.HasPrefix(p, "/") && !strings.ContainsAny(p, " \t") {
		return m, p, true
	}
	return "", "", false
}

// isGRPC reports whether a path looks like a gRPC method, /pkg.Service/Method.
func isGRPC(path string) bool {
	svc, m, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return strings.HasPrefix(path, "/") && ok && strings.Contains(svc, ".") && m != "" && !strings.Contains(m, "/")
}

// abortStatus picks the one status code a target can express: gRPC status
// for gRPC paths when set, the HTTP status otherwise.
func abortStatus(p *bundle.Profile, path string, ws *warnings) (http, grpc int) {
	f := p.Fault
	switch {
	case f.HTTPStatus != 0 && f.GRPCStatus != 0 && isGRPC(path):
		ws.add(p, "only one abort status can be exported: grpcStatus %d kept for the gRPC method, httpStatus %d left out", f.GRPCStatus, f.HTTPStatus)
		return 0, f.GRPCStatus
	case f.HTTPStatus != 0 && f.GRPCStatus != 0:
		ws.add(p, "only one abort status can be exported: httpStatus %d kept, grpcStatus %d left out", f.HTTPStatus, f.GRPCStatus)
		return f.HTTPStatus, 0
	}
	return f.HTTPStatus, f.GRPCStatus
}

// latencyParts warns about the parts of a latency fault that only a fixed
// delay can express, and reports whether anything is left to export.
func latencyParts(p *bundle.Profile, target string, ws *warnings) bool {
	f := p.Fault
	if f.Factor > 1 && f.DelayMs == 0 {
		ws.add(p, "left out: %s cannot multiply a call's latency (factor %s) and the fault has no fixed delayMs", target, num(f.Factor))
		return false
	}
	if f.Factor > 1 {
		ws.add(p, "factor %s left out: %s adds only the fixed delayMs %s", num(f.Factor), target, num(f.DelayMs))
	}
	return true
}

func num(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// percent returns a rate as a percentage, rounded like bundle numbers.
func percent(rate float64) float64 { return bundle.Round(rate * 100) }

// seconds formats milliseconds as a protobuf JSON duration, e.g. "0.25s".
func seconds(ms float64) string {
	return strconv.FormatFloat(bundle.Round(ms/1000), 'f', -1, 64) + "s"
}

var dnsUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// objectName makes a Kubernetes object name (a DNS label) from parts.
func objectName(parts ...string) string {
	s := dnsUnsafe.ReplaceAllString(strings.ToLower(strings.Join(parts, "-")), "-")
	s = strings.Trim(s, "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	return s
}

// grpcCodeNames are the gRPC status names, by code, as Istio wants them.
var grpcCodeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

// guardWarning is the bundle-wide warning of targets that have no guards.
func guardWarning(b *bundle.Bundle, target string, ws *warnings) {
	g := b.Guards
	if g.MaxGlobalRate > 0 || g.AbortIf.RootErrorRate > 0 || g.AbortIf.RootP99Ms > 0 || g.MaxActiveFaults > 0 {
		ws.add(nil, "guards left out: %s has no global rate limit or abort conditions; watch rootErrorRate %s and rootP99Ms %s yourself",
			target, num(g.AbortIf.RootErrorRate), num(g.AbortIf.RootP99Ms))
	}
}

// httpFaultTarget says, in a target's own words, what its HTTP fault cannot
// express; httpProfile uses it for Istio and Envoy alike.
type httpFaultTarget struct {
	name      string                         // "Istio", "Envoy"
	cannot    string                         // "Istio faults", "the Envoy fault filter"
	jitter    string                         // why jitterMs is left out
	perSecond func(p *bundle.Profile) string // why perSecond is left out
}

// httpProfile checks that p can become an HTTP delay or abort fault of the
// target: drop and corrupt faults and operations that are not a path are
// left out (false), latency faults need a fixed delay; jitter and per-second
// caps are dropped with a warning. It returns the method and path to match.
func httpProfile(p *bundle.Profile, t httpFaultTarget, ws *warnings) (method, path string, ok bool) {
	method, path, ok = operation(p.Target.Operation)
	switch {
	case p.Fault.Type == bundle.FaultDrop || p.Fault.Type == bundle.FaultCorrupt:
		ws.add(p, "left out: %s cannot express a %s fault", t.cannot, p.Fault.Type)
		return "", "", false
	case !ok:
		ws.add(p, "left out: operation %q is not an HTTP path or METHOD /path", p.Target.Operation)
		return "", "", false
	}
	if p.Fault.Type == bundle.FaultLatency && !latencyParts(p, t.name, ws) {
		return "", "", false
	}
	if p.Fault.JitterMs > 0 {
		ws.add(p, "jitterMs %s left out: %s", num(p.Fault.JitterMs), t.jitter)
	}
	if p.PerSecond > 0 {
		ws.add(p, "perSecond %s left out: %s", num(p.PerSecond), t.perSecond(p))
	}
	return method, path, true
}
