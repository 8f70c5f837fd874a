package inject

import (
	"context"
	"encoding/json"
	"math"
	"mime"
	"strconv"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
)

// httpFromGRPC maps a gRPC status code to the HTTP status an abort sends to
// a client that is not speaking gRPC (Google API conventions).
var httpFromGRPC = [17]int{0, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401}

// grpcFromHTTP maps an HTTP status to a gRPC status code as gRPC clients do
// (grpc/doc/http-grpc-status-mapping.md).
func grpcFromHTTP(status int) int {
	switch status {
	case 400:
		return 13 // INTERNAL
	case 401:
		return 16 // UNAUTHENTICATED
	case 403:
		return 7 // PERMISSION_DENIED
	case 404:
		return 12 // UNIMPLEMENTED
	case 429, 502, 503, 504:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}

// abortStatus returns the HTTP status and gRPC code an abort fault sends.
func abortStatus(f *bundle.Fault) (httpStatus, grpcCode int) {
	httpStatus, grpcCode = f.HTTPStatus, f.GRPCStatus
	if httpStatus == 0 && grpcCode > 0 && grpcCode < len(httpFromGRPC) {
		httpStatus = httpFromGRPC[grpcCode]
	}
	if httpStatus == 0 {
		httpStatus = 503
	}
	if grpcCode == 0 {
		grpcCode = grpcFromHTTP(httpStatus)
	}
	return httpStatus, grpcCode
}

// isGRPC reports whether a content type is gRPC's (application/grpc,
// application/grpc+proto, ...).
func isGRPC(contentType string) bool {
	return strings.HasPrefix(contentType, "application/grpc")
}

// isJSON reports whether a content type is JSON (application/json,
// application/problem+json, ...).
func isJSON(contentType string) bool {
	if contentType == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// abortMessage is the body (or grpc-message) of an injected abort.
func abortMessage(id string) string { return "chaosgen: fault injected by profile " + id }

// latencyDelay is the fixed part of a latency fault: delayMs plus a jitter
// drawn uniformly from [0, jitterMs].
func latencyDelay(f *bundle.Fault, random func() uint64) time.Duration {
	d := time.Duration(f.DelayMs * float64(time.Millisecond))
	if f.JitterMs > 0 {
		u := float64(random()>>11) / (1 << 53)
		d += time.Duration(u * f.JitterMs * float64(time.Millisecond))
	}
	return d
}

// factorDelay is the proportional part of a latency fault: the response is
// held back (factor-1) times what the call took itself, so the caller sees
// factor times the call's own latency.
func factorDelay(f *bundle.Fault, own time.Duration) time.Duration {
	if f.Factor <= 1 || own <= 0 {
		return 0
	}
	d := (f.Factor - 1) * float64(own)
	if d >= math.MaxInt64 { // bundle validation bounds factor; scenarios too
		return math.MaxInt64
	}
	return time.Duration(d)
}

// sleep waits d or until ctx is done, reporting whether it waited the
// whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Corrupt returns a corrupted copy of a response body for a corrupt
// fault's mode:
//
//	truncate  the first half of the body (at least one byte shorter)
//	bitflip   one bit flipped in every 64 bytes, at least one, at
//	          positions drawn from random
//	empty     no body at all
//
// A JSON body (by contentType) always comes out as invalid JSON: when the
// mode alone leaves valid JSON (a truncated number, a flipped bit inside a
// string), the top bit of the first byte is flipped too. The caller sets
// Content-Length to the new length.
func Corrupt(body []byte, mode, contentType string, random func() uint64) []byte {
	var out []byte
	switch mode {
	case bundle.CorruptEmpty:
		return []byte{}
	case bundle.CorruptBitflip:
		out = append([]byte(nil), body...)
		if len(out) == 0 {
			break
		}
		n := max(1, len(out)/64)
		for i := 0; i < n; i++ {
			pos := int(random() % uint64(len(out)))
			out[pos] ^= 1 << (random() % 8)
		}
	default: // truncate
		out = append([]byte(nil), body[:len(body)/2]...)
	}
	if len(out) > 0 && isJSON(contentType) && json.Valid(out) {
		out[0] ^= 0x80 // no JSON text starts with a byte >= 0x80
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }

// DefaultCorruptMaxBytes is the default Options.CorruptMaxBytes: 1 MiB.
const DefaultCorruptMaxBytes = 1 << 20

func (inj *Injector) corruptLimit() int {
	if n := inj.opts.CorruptMaxBytes; n > 0 {
		return n
	}
	return DefaultCorruptMaxBytes
}
