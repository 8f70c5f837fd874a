package inject

import (
	"net/http"
	"strings"
)

// Header names the injector reads and writes, in canonical form.
const (
	// HeaderCaller names the calling service; it overrides Options.Caller.
	HeaderCaller = "X-Chaosgen-Caller"
	// HeaderFault marks a response the injector changed: its value is the
	// id of the profile that fired.
	HeaderFault = "X-Chaosgen-Fault"

	headerTraceparent = "Traceparent"
	headerB3TraceID   = "X-B3-Traceid"
	headerB3SpanID    = "X-B3-Spanid"
	headerB3          = "B3"
)

// TraceContext extracts the trace id and the caller's span id from the W3C
// traceparent header, else the B3 multi headers (X-B3-TraceId,
// X-B3-SpanId), else the B3 single header (b3). ok is false when the
// request carries no valid trace id.
func TraceContext(h http.Header) (traceID, parentSpanID string, ok bool) {
	if v := h[headerTraceparent]; len(v) > 0 && validTraceparent(v[0]) {
		return v[0][3:35], v[0][36:52], true
	}
	if v := h[headerB3TraceID]; len(v) > 0 {
		s := v[0]
		if (len(s) == 16 || len(s) == 32) && isHex(s) && !allZero(s) {
			var span string
			if sv := h[headerB3SpanID]; len(sv) > 0 && len(sv[0]) == 16 && isHex(sv[0]) {
				span = sv[0]
			}
			return s, span, true
		}
	}
	if v := h[headerB3]; len(v) > 0 {
		// traceid-spanid[-sampled[-parentspanid]]; "0", "1" or "d" alone carry no id
		s := v[0]
		i := strings.IndexByte(s, '-')
		if i == 16 || i == 32 {
			id, rest := s[:i], s[i+1:]
			span := rest
			if j := strings.IndexByte(rest, '-'); j >= 0 {
				span = rest[:j]
			}
			if isHex(id) && !allZero(id) && len(span) == 16 && isHex(span) {
				return id, span, true
			}
		}
	}
	return "", "", false
}

// validTraceparent reports whether s is a W3C traceparent whose trace id
// can be used: version "-" trace-id(32) "-" parent-id(16) "-" flags(2).
func validTraceparent(s string) bool {
	return len(s) >= 55 && s[2] == '-' && s[35] == '-' && s[52] == '-' && isHex(s[3:35]) && isHex(s[36:52]) &&
		!allZero(s[3:35]) && s[:2] != "ff"
}

// propagate makes the request a child of this hop's span, as a tracing
// proxy does, and returns the span's id (a fresh random one): a valid
// traceparent keeps its trace id and flags and gets the span id as its
// parent id (version 00); a request without any trace context gets a
// traceparent with req's trace id (a fresh one when the decision did not
// make one) and the sampled flag. A request traced by B3 headers alone
// goes on unchanged.
func (inj *Injector) propagate(h http.Header, req *Request, traced bool) string {
	span := hexID(inj.random, 1)
	if v := h[headerTraceparent]; len(v) > 0 && validTraceparent(v[0]) {
		h[headerTraceparent] = []string{"00-" + v[0][3:35] + "-" + span + "-" + v[0][53:55]}
	} else if !traced {
		if req.TraceID == "" {
			req.TraceID = hexID(inj.random, 2)
		}
		h[headerTraceparent] = []string{"00-" + req.TraceID + "-" + span + "-01"}
	}
	return span
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return len(s) > 0
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// hexID formats n random 64-bit words as 16n lowercase hex digits.
func hexID(random func() uint64, words int) string {
	var buf [32]byte
	for w := 0; w < words; w++ {
		x := random()
		for i := 15; i >= 0; i-- {
			buf[w*16+i] = hexDigits[x&15]
			x >>= 4
		}
	}
	return string(buf[:16*words])
}
