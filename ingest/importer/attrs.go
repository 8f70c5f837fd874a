package importer

import (
	"strconv"
	"strings"
)

// tags gathers the attributes (OTel), tags (Jaeger, Zipkin) the importer
// reads from a span, whatever the format calls them.
type tags struct {
	http, grpc       int64
	hasHTTP, hasGRPC bool
	httpNew, newMeth bool // the current semantic conventions' keys win
	err              bool
	route, method    string
	peer             string
	kind             kind
}

// str takes a string-valued attribute.
func (t *tags) str(key, v string) {
	switch key {
	case "http.status_code", "http.response.status_code":
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err == nil {
			t.num(key, n)
		}
	case "rpc.grpc.status_code":
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32); err == nil {
			t.grpc, t.hasGRPC = n, true
		}
	case "error":
		if !strings.EqualFold(v, "false") {
			t.err = true
		}
	case "otel.status_code":
		if strings.EqualFold(v, "ERROR") {
			t.err = true
		}
	case "span.kind":
		t.kind = parseKind(v)
	case "peer.service":
		t.peer = clip(v)
	case "http.route":
		t.route = clip(v)
	case "http.method":
		if !t.newMeth {
			t.method = clip(v)
		}
	case "http.request.method":
		t.method, t.newMeth = clip(v), true
	}
}

// num takes an integer-valued attribute.
func (t *tags) num(key string, v int64) {
	switch key {
	case "http.status_code":
		if !t.httpNew {
			t.http, t.hasHTTP = v, true
		}
	case "http.response.status_code":
		t.http, t.hasHTTP, t.httpNew = v, true, true
	case "rpc.grpc.status_code":
		t.grpc, t.hasGRPC = v, true
	}
}

// boolean takes a boolean attribute.
func (t *tags) boolean(key string, v bool) {
	if key == "error" && v {
		t.err = true
	}
}

// apply sets the span's operation, status and error from the tags.
func (t *tags) apply(s *rawSpan) {
	if t.route != "" {
		s.name = t.route
		if t.method != "" {
			s.name = t.method + " " + t.route
		}
	}
	if t.kind != kindUnset && s.kind == kindUnset {
		s.kind = t.kind
	}
	if t.peer != "" {
		s.remote = t.peer
	}
	switch {
	case t.hasHTTP:
		s.status = clamp32(t.http)
		s.err = s.err || t.http >= 500
	case t.hasGRPC:
		s.status = clamp32(t.grpc)
		s.err = s.err || t.grpc != 0
	}
	s.err = s.err || t.err
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
