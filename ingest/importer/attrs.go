package importer

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

// tags gathers the attributes (OTel), tags (Jaeger, Zipkin) the importer
// reads from a span, whatever the format calls them. Where the semantic
// conventions renamed an attribute, the current name wins over the old
// ones whatever their order in the span: each value is kept with the rank
// of the name it came from (higher wins).
type tags struct {
	http, grpc       ranked[int64]
	method, route    ranked[string]
	peer             ranked[string] // service.peer.name, peer.service
	address, port    ranked[string] // server.address, net.peer.name, peer.hostname; server.port, ...
	urlHost          string         // host[:port] of url.full / http.url
	dbSystem, dbName ranked[string]
	msgSystem, dest  ranked[string]
	errorType        string
	resend           ranked[int64]
	err              bool // error=true, otel.status_code=ERROR
	statusOK         bool // otel.status_code=OK: the application said the call succeeded
	kind             kind
}

// ranked is a value and the rank of the attribute name it came from.
type ranked[T any] struct {
	v    T
	rank int8 // 0: not set
}

func (r *ranked[T]) set(v T, rank int8) {
	if rank >= r.rank {
		r.v, r.rank = v, rank
	}
}

func (r ranked[T]) ok() bool { return r.rank > 0 }

// Attribute names by what they carry, newest first: the rank of a name is
// its distance from the end of its list (the newest ranks highest).
var (
	httpStatusKeys = []string{"http.response.status_code", "http.status_code"}
	grpcStatusKeys = []string{"rpc.status_code", "rpc.response.status_code", "rpc.grpc.status_code"}
	methodKeys     = []string{"http.request.method", "http.method"}
	peerKeys       = []string{"service.peer.name", "peer.service"}
	addressKeys    = []string{"server.address", "net.peer.name", "peer.hostname"}
	portKeys       = []string{"server.port", "net.peer.port", "peer.port"}
	dbSystemKeys   = []string{"db.system.name", "db.system", "db.type"}
	dbNameKeys     = []string{"db.namespace", "db.name", "db.instance"}
	msgSystemKeys  = []string{"messaging.system"}
	destKeys       = []string{"messaging.destination.name", "messaging.destination", "message_bus.destination"}
	resendKeys     = []string{"http.request.resend_count", "http.resend_count", "rpc.grpc.request.metadata.grpc-previous-rpc-attempts"}
	urlKeys        = []string{"url.full", "http.url"}
)

// rankOf returns key's rank in keys, 0 when it is not there.
func rankOf(keys []string, key string) int8 {
	for i, k := range keys {
		if k == key {
			return int8(len(keys) - i)
		}
	}
	return 0
}

// stringSlots are the string-valued attributes kept as they are.
var stringSlots = []struct {
	keys []string
	slot func(t *tags) *ranked[string]
}{
	{methodKeys, func(t *tags) *ranked[string] { return &t.method }},
	{peerKeys, func(t *tags) *ranked[string] { return &t.peer }},
	{addressKeys, func(t *tags) *ranked[string] { return &t.address }},
	{portKeys, func(t *tags) *ranked[string] { return &t.port }},
	{dbSystemKeys, func(t *tags) *ranked[string] { return &t.dbSystem }},
	{dbNameKeys, func(t *tags) *ranked[string] { return &t.dbName }},
	{msgSystemKeys, func(t *tags) *ranked[string] { return &t.msgSystem }},
	{destKeys, func(t *tags) *ranked[string] { return &t.dest }},
	{[]string{"http.route"}, func(t *tags) *ranked[string] { return &t.route }},
}

// str takes a string-valued attribute.
func (t *tags) str(key, v string) {
	v = strings.TrimSpace(v)
	if r := rankOf(httpStatusKeys, key); r > 0 {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			t.http.set(n, r)
		}
		return
	}
	if r := rankOf(grpcStatusKeys, key); r > 0 {
		if n, ok := grpcCode(v); ok {
			t.grpc.set(n, r)
		}
		return
	}
	if r := rankOf(resendKeys, key); r > 0 {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			t.resend.set(n, r)
		}
		return
	}
	if rankOf(urlKeys, key) > 0 {
		if u, err := url.Parse(v); err == nil && u.Host != "" && t.urlHost == "" {
			t.urlHost = clip(u.Host)
		}
		return
	}
	for _, s := range stringSlots {
		if r := rankOf(s.keys, key); r > 0 {
			if v != "" {
				s.slot(t).set(clip(v), r)
			}
			return
		}
	}
	switch key {
	case "error":
		if !strings.EqualFold(v, "false") {
			t.err = true
		}
	case "error.type":
		t.errorType = clip(v)
	case "otel.status_code":
		switch {
		case strings.EqualFold(v, "ERROR"):
			t.err = true
		case strings.EqualFold(v, "OK"):
			t.statusOK = true
		}
	case "span.kind":
		t.kind = parseKind(v)
	}
}

// num takes an integer-valued attribute (or a double with an integer
// value).
func (t *tags) num(key string, v int64) {
	switch {
	case rankOf(httpStatusKeys, key) > 0:
		t.http.set(v, rankOf(httpStatusKeys, key))
	case rankOf(grpcStatusKeys, key) > 0:
		t.grpc.set(v, rankOf(grpcStatusKeys, key))
	case rankOf(resendKeys, key) > 0:
		t.resend.set(v, rankOf(resendKeys, key))
	case rankOf(portKeys, key) > 0:
		t.port.set(strconv.FormatInt(v, 10), rankOf(portKeys, key))
	case rankOf(dbNameKeys, key) > 0: // a Redis database index
		t.dbName.set(strconv.FormatInt(v, 10), rankOf(dbNameKeys, key))
	}
}

// double takes a double-valued attribute: integer values count as integers
// (some SDKs and converters write every number as a double).
func (t *tags) double(key string, v float64) {
	if v == float64(int64(v)) {
		t.num(key, int64(v))
	}
}

// boolean takes a boolean attribute.
func (t *tags) boolean(key string, v bool) {
	if key == "error" && v {
		t.err = true
	}
}

// grpcCodes are the gRPC status codes by name.
var grpcCodes = map[string]int64{
	"OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
	"ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9,
	"ABORTED": 10, "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14,
	"DATA_LOSS": 15, "UNAUTHENTICATED": 16,
}

// grpcCode reads a gRPC status as a number ("14") or a name ("UNAVAILABLE",
// Connect's "unavailable", "CANCELED").
func grpcCode(v string) (int64, bool) {
	if n, err := strconv.ParseInt(v, 10, 32); err == nil {
		return n, true
	}
	name := strings.ToUpper(v)
	if name == "CANCELED" {
		name = "CANCELLED"
	}
	n, ok := grpcCodes[name]
	return n, ok
}

// grpcCodeTimeout is DEADLINE_EXCEEDED.
const grpcCodeTimeout = 4

// grpcServerError reports the gRPC codes that make a SERVER span an error
// by the semantic conventions: the ones a server's fault produces.
// CLIENT spans count every code but OK.
func grpcServerError(code int64) bool {
	switch code {
	case 2, 4, 12, 13, 14, 15: // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS
		return true
	}
	return false
}

// timeoutType reports an error.type that names a timeout: "timeout" (the
// conventions' example) or an exception or error class such as
// java.net.SocketTimeoutException, TimeoutError or context.DeadlineExceeded.
func timeoutType(v string) bool {
	v = strings.ToLower(v)
	return strings.Contains(v, "timeout") || strings.Contains(v, "timedout") || strings.Contains(v, "deadlineexceeded") ||
		strings.Contains(v, "deadline_exceeded")
}

// callee names the other side of a CLIENT or PRODUCER span from its
// attributes, for a call whose server side is not in the trace: the peer
// service; else the server's address (with its port); else the database
// system (with its namespace) or the messaging system (with its
// destination); else the host of the URL.
func (t *tags) callee() string {
	switch {
	case t.peer.ok():
		return t.peer.v
	case t.address.ok():
		if t.port.ok() {
			return clip(net.JoinHostPort(t.address.v, t.port.v))
		}
		return t.address.v
	case t.dbSystem.ok():
		if t.dbName.ok() {
			return clip(t.dbSystem.v + "/" + t.dbName.v)
		}
		return t.dbSystem.v
	case t.msgSystem.ok():
		if t.dest.ok() {
			return clip(t.msgSystem.v + "/" + t.dest.v)
		}
		return t.msgSystem.v
	}
	return t.urlHost
}

// apply sets the span's operation, callee, status, error, timeout and retry
// from the tags; s.err may already hold the span's own status (OTLP
// status.code ERROR).
func (t *tags) apply(s *rawSpan) {
	if t.route.ok() {
		s.name = t.route.v
		if t.method.ok() {
			s.name = t.method.v + " " + t.route.v
		}
	}
	if t.kind != kindUnset && s.kind == kindUnset {
		s.kind = t.kind
	}
	switch {
	case t.peer.ok():
		s.remote = t.peer.v // a server span's peer.service names its caller
	case s.kind.caller() && s.remote == "":
		s.remote = t.callee()
	}
	failed := t.err || t.errorType != ""
	switch {
	case t.http.ok():
		s.status = clamp32(t.http.v)
		// Conventions: a CLIENT fails on 4xx and 5xx, a SERVER on 5xx only
		// (a 4xx is the client's fault). Spans of other kinds follow the
		// server rule.
		failed = failed || t.http.v >= 500 || s.kind.caller() && t.http.v >= 400
		s.timedOut = t.http.v == 504 || t.http.v == 408
	case t.grpc.ok():
		s.status = clamp32(t.grpc.v)
		failed = failed || s.kind.caller() && t.grpc.v != 0 || grpcServerError(t.grpc.v)
		s.timedOut = t.grpc.v == grpcCodeTimeout
	}
	s.timedOut = s.timedOut || timeoutType(t.errorType)
	if t.resend.ok() && t.resend.v > 0 {
		s.retry = clamp32(t.resend.v)
	}
	switch {
	case t.statusOK:
		s.err = false // status OK is final: set by the application, it overrides the instrumentation
	default:
		s.err = s.err || failed
	}
}

func clamp32(v int64) int32 {
	return int32(max(min(v, 1<<31-1), -1<<31))
}

// parseKind reads a span kind as OTel, Jaeger, Zipkin and SkyWalking
// exports name it.
func parseKind(v string) kind {
	switch strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(v, "SPAN_KIND_"), "span_kind_")) {
	case "server", "entry", "2":
		return kindServer
	case "client", "exit", "3":
		return kindClient
	case "producer", "4":
		return kindProducer
	case "consumer", "5":
		return kindConsumer
	case "internal", "local", "1":
		return kindInternal
	}
	return kindUnset
}

// clip bounds a string kept from input.
func clip(s string) string {
	if len(s) > maxFieldBytes {
		return s[:maxFieldBytes]
	}
	return s
}

// normID returns a hex id in lowercase, left-padded with zeros to 16 or 32
// digits (Jaeger drops leading zeros); other ids are kept as they are.
func normID(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 32 {
		return clip(s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return s
		}
	}
	w := 16
	if len(s) > 16 {
		w = 32
	}
	return strings.Repeat("0", w-len(s)) + strings.ToLower(s)
}
