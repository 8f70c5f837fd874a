// Package export converts a bundle into the configuration of other fault
// injectors: Istio VirtualService faults, Envoy HTTP fault filters, Chaos
// Mesh HTTPChaos objects and Toxiproxy toxics. Each target expresses only
// part of a bundle; what it cannot express is left out or approximated, and
// every such case is returned as a Warning, never dropped silently.
package export

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
)

// Targets are the names accepted by To, sorted.
var Targets = []string{"chaos-mesh", "envoy", "istio", "toxiproxy"}

// Options says what a bundle does not: where the callees listen and when
// the export happens.
type Options struct {
	// Now is the time of the export: Chaos Mesh's duration runs from it to
	// the bundle's notAfter. Zero leaves duration out.
	Now time.Time
	// Port is the port HTTPChaos intercepts on a callee whose name carries
	// none (callees imported from server.address + server.port are
	// "host:port"). 0: such profiles are left out of Chaos Mesh exports.
	Port int
	// NonHTTP names callees that do not speak HTTP, besides the database
	// and messaging systems the importer names (see nonHTTP).
	NonHTTP []string
}

// Change kinds: what an export did to a profile (or to the guards) that
// the bundle did not say.
const (
	LeftOut      = "left-out"     // the profile (or the guards) is not in the output
	Approximated = "approximated" // exported as something close that the target can express
	Broadened    = "broadened"    // matches more requests than the profile does
	Dropped      = "dropped"      // one field of the profile is not in the output
)

// Change says what an export left out, approximated or broadened. Profile
// is empty for bundle-wide changes (the guards, the output's form).
type Change struct {
	Kind    string `json:"kind"`
	Msg     string `json:"message"`
	Profile string `json:"profile,omitempty"`
}

func (c Change) String() string {
	if c.Profile == "" {
		return c.Msg
	}
	return fmt.Sprintf("profile %q: %s", c.Profile, c.Msg)
}

// Result describes an export: which profiles it kept and every change.
type Result struct {
	Changes  []Change `json:"changes"`
	Exported []string `json:"exported"` // profile ids, sorted
	LeftOut  []string `json:"leftOut"`  // profile ids, sorted
	Profiles int      `json:"profiles"` // in the bundle
	Target   string   `json:"target"`
}

// Summary is one line for people: how much of the bundle the export keeps.
func (r *Result) Summary() string {
	changed := map[string]bool{}
	for _, c := range r.Changes {
		if c.Profile != "" && c.Kind != LeftOut {
			changed[c.Profile] = true
		}
	}
	return fmt.Sprintf("%s: %d of %d profiles exported (%d changed), %d left out", r.Target, len(r.Exported), r.Profiles, len(changed), len(r.LeftOut))
}

// To exports b for target, one of Targets.
func To(target string, b *bundle.Bundle, opt Options) ([]byte, *Result, error) {
	var (
		data []byte
		ws   warnings
		err  error
	)
	switch target {
	case "istio":
		data, err = istio(b, opt, &ws)
	case "envoy":
		data, err = envoy(b, opt, &ws)
	case "chaos-mesh":
		data, err = chaosMesh(b, opt, &ws)
	case "toxiproxy":
		data, err = toxiproxy(b, &ws)
	default:
		return nil, nil, fmt.Errorf("unknown export target %q, want one of %s", target, strings.Join(Targets, ", "))
	}
	if err != nil {
		return nil, nil, err
	}
	r := &Result{Target: target, Profiles: len(b.Profiles), Changes: ws.list, Exported: []string{}, LeftOut: []string{}}
	for _, p := range sortedProfiles(b) {
		if ws.out[p.ID] {
			r.LeftOut = append(r.LeftOut, p.ID)
		} else {
			r.Exported = append(r.Exported, p.ID)
		}
	}
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	return data, r, nil
}

// File reads and strictly decodes the bundle at path and exports it. It does
// not check the signature: run verify first where that matters.
func File(target, path string, opt Options) ([]byte, *Result, error) {
	if !slices.Contains(Targets, target) {
		return nil, nil, fmt.Errorf("unknown export target %q, want one of %s", target, strings.Join(Targets, ", "))
	}
	op, err := bundle.Open(path, bundle.VerifyOptions{})
	if err != nil {
		return nil, nil, err
	}
	return To(target, op.Bundle, opt)
}

// WriteFile exports the bundle at path (File) to out, replaced
// atomically: a failure leaves what was there.
func WriteFile(target, path, out string, opt Options) (*Result, error) {
	data, res, err := File(target, path, opt)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(out, data); err != nil {
		return nil, err
	}
	return res, nil
}

// warnings collects changes in a fixed order and the profiles left out.
type warnings struct {
	list []Change
	out  map[string]bool
}

// add records a change of kind to p (nil: bundle-wide).
func (ws *warnings) add(p *bundle.Profile, kind, format string, args ...any) {
	id := ""
	if p != nil {
		id = p.ID
		if kind == LeftOut {
			if ws.out == nil {
				ws.out = map[string]bool{}
			}
			ws.out[id] = true
		}
	}
	ws.list = append(ws.list, Change{Kind: kind, Profile: id, Msg: kindWords[kind] + fmt.Sprintf(format, args...)})
}

// kindWords start the message of a change of each kind.
var kindWords = map[string]string{LeftOut: "left out: ", Approximated: "approximated: ", Broadened: "broadened: ", Dropped: ""}

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
		ws.add(p, Dropped, "only one abort status can be exported: grpcStatus %d kept for the gRPC method, httpStatus %d left out", f.GRPCStatus, f.HTTPStatus)
		return 0, f.GRPCStatus
	case f.HTTPStatus != 0 && f.GRPCStatus != 0:
		ws.add(p, Dropped, "only one abort status can be exported: httpStatus %d kept, grpcStatus %d left out", f.HTTPStatus, f.GRPCStatus)
		return f.HTTPStatus, 0
	}
	return f.HTTPStatus, f.GRPCStatus
}

// fixedDelay returns the fixed delay, in ms, that a target without
// proportional delays exports for a latency fault: delayMs, plus for a
// factor the extra time it adds to a call of the edge's median latency,
// (factor - 1) × rationale.features.p50Ms, with a warning that says so.
// Without a median latency a factor cannot be converted: the profile is
// left out when it has no delayMs either (ok false).
func fixedDelay(p *bundle.Profile, target string, ws *warnings) (ms float64, ok bool) {
	f := p.Fault
	if f.Factor <= 1 {
		return f.DelayMs, true
	}
	p50, has := p.Rationale.Features["p50Ms"]
	switch {
	case has && p50 > 0:
		add := bundle.Round((f.Factor - 1) * p50)
		ms = bundle.Round(f.DelayMs + add)
		ws.add(p, Approximated, "%s has no proportional delay: factor %s becomes a fixed %sms, (factor - 1) × the edge's median latency p50Ms %s%s; calls slower than the median get less than factor × their latency, faster ones more",
			target, num(f.Factor), num(add), num(p50), plusDelay(f.DelayMs, ms))
		return ms, true
	case f.DelayMs == 0:
		ws.add(p, LeftOut, "%s cannot multiply a call's latency (factor %s), the profile has no rationale.features.p50Ms to convert it to a fixed delay, and no delayMs", target, num(f.Factor))
		return 0, false
	}
	ws.add(p, Dropped, "factor %s left out: no rationale.features.p50Ms to convert it to a fixed delay; %s adds only the fixed delayMs %s", num(f.Factor), target, num(f.DelayMs))
	return f.DelayMs, true
}

func plusDelay(delay, total float64) string {
	if delay == 0 {
		return ""
	}
	return fmt.Sprintf(", plus delayMs %s: %sms in all", num(delay), num(total))
}

// dropDelay is the delay that stands for a drop where a target can only
// delay or abort: an hour, longer than any client waits, so the request is
// never answered in time (Envoy's stream idle timeout, 5 minutes by
// default, may reset it first: the client still gets no answer).
const dropDelay = 3600 * 1000.0

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
		ws.add(nil, LeftOut, "guards: %s has no global rate limit or abort conditions; watch rootErrorRate %s and rootP99Ms %s yourself",
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
// target and returns the method and path to match and, for latency and
// drop faults, the fixed delay in ms. Corrupt faults, callees that do not
// speak HTTP and operations that are not a path are left out (ok false);
// a drop becomes a delay of an hour, a factor a fixed delay (fixedDelay);
// jitter and per-second caps are dropped with a warning.
func httpProfile(p *bundle.Profile, t httpFaultTarget, opt Options, ws *warnings) (method, path string, delayMs float64, ok bool) {
	method, path, ok = operation(p.Target.Operation)
	switch {
	case p.Fault.Type == bundle.FaultCorrupt:
		ws.add(p, LeftOut, "%s cannot change a response body (%s)", t.cannot, p.Fault.Mode)
		return "", "", 0, false
	case nonHTTP(p.Target.Callee, opt) != "":
		ws.add(p, LeftOut, "%s speaks %s, not HTTP, out of reach of %s: use --to chaos-mesh (NetworkChaos)", p.Target.Callee, nonHTTP(p.Target.Callee, opt), t.cannot)
		return "", "", 0, false
	case !ok:
		ws.add(p, LeftOut, "operation %q is not an HTTP path or METHOD /path", p.Target.Operation)
		return "", "", 0, false
	}
	switch p.Fault.Type {
	case bundle.FaultLatency:
		if delayMs, ok = fixedDelay(p, t.name, ws); !ok {
			return "", "", 0, false
		}
	case bundle.FaultDrop:
		delayMs = dropDelay
		ws.add(p, Approximated, "%s cannot leave a request unanswered: the drop becomes a delay of %s, longer than clients wait", t.name, seconds(dropDelay))
	}
	if p.Fault.JitterMs > 0 {
		ws.add(p, Dropped, "jitterMs %s left out: %s", num(p.Fault.JitterMs), t.jitter)
	}
	if p.PerSecond > 0 {
		ws.add(p, Dropped, "perSecond %s left out: %s", num(p.PerSecond), t.perSecond(p))
	}
	return method, path, delayMs, true
}

// splitCallee splits a "host:port" callee (as the importer names a callee
// from server.address and server.port) into its host and port; other
// callees are a host without a port (0).
func splitCallee(callee string) (host string, port int) {
	h, p, err := net.SplitHostPort(callee)
	if err != nil {
		return callee, 0
	}
	n, err := strconv.Atoi(p)
	if err != nil || n <= 0 || n > 65535 {
		return callee, 0
	}
	return h, n
}

// nonHTTPSystems are the database and messaging systems (OpenTelemetry's
// db.system.name and messaging.system values) whose own protocols run on
// TCP, not HTTP. The importer names a callee it knows only from those
// attributes "system" or "system/namespace".
var nonHTTPSystems = []string{
	"activemq", "cassandra", "cockroachdb", "db2", "ibm.db2", "kafka", "mariadb", "memcached", "microsoft.sql_server",
	"mongodb", "mssql", "mysql", "oracle", "oracle.db", "postgresql", "pulsar", "rabbitmq", "redis", "rocketmq",
}

// systemPorts are the IANA-registered (or the projects' default) ports of
// those systems: a callee "host:port" on one of them, as the importer names
// a database or broker from server.address and server.port, speaks that
// system's protocol.
var systemPorts = map[int]string{
	1433: "mssql", 1521: "oracle", 3306: "mysql", 5432: "postgresql", 5672: "rabbitmq", 6379: "redis",
	6650: "pulsar", 9042: "cassandra", 9092: "kafka", 11211: "memcached", 26257: "cockroachdb", 27017: "mongodb",
	61616: "activemq",
}

// nonHTTP returns the protocol of a callee that does not speak HTTP: one of
// nonHTTPSystems (as the whole name or before a "/"), the system of a
// "host:port" callee on one of systemPorts, or "TCP" for a callee in
// Options.NonHTTP; "" for the others.
func nonHTTP(callee string, opt Options) string {
	if slices.Contains(opt.NonHTTP, callee) {
		return "TCP"
	}
	system, _, _ := strings.Cut(callee, "/")
	if slices.Contains(nonHTTPSystems, system) {
		return system
	}
	if _, port := splitCallee(callee); systemPorts[port] != "" {
		return systemPorts[port]
	}
	return ""
}
