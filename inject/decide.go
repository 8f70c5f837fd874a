// Package inject applies a verified bundle's error profiles to live traffic:
// the fault decision (Decide), fault application, an HTTP proxy and
// middleware, an admin API and the injection records.
package inject

import (
	"math"
	"path"
	"strings"

	"github.com/chaosgen/chaosgen/bundle"
)

// Request is what a fault decision needs to know about a call.
type Request struct {
	TraceID string // W3C or B3 trace id; one trace gets one decision per profile
	Caller  string // calling service; empty at the ingress
	Callee  string // service receiving the call
	Method  string // HTTP method (POST for gRPC)
	Path    string // URL path (/pkg.Service/Method for gRPC)
}

// Decide reports whether profile p injects its fault into req, for a bundle
// with the given seed. It is a pure function: p must target req (Matches),
// and a hash of (trace id, profile id, seed), read as a number in [0, 1),
// must fall below the profile's rate (Fires). One trace therefore gets the
// same decision at every hop, a replay reproduces production, and over many
// traces the fraction of matching requests that get the fault equals the
// rate. The per-second cap (Profile.PerSecond) is state, applied by the
// injector and the simulator after Decide.
func Decide(p *bundle.Profile, seed uint64, req Request) bool {
	return Matches(&p.Target, req) && Fires(p.ID, p.Rate, seed, req.TraceID)
}

// Fires reports whether the hash of (traceID, profileID, seed) falls below
// rate.
func Fires(profileID string, rate float64, seed uint64, traceID string) bool {
	if rate <= 0 {
		return false
	}
	if rate >= 1 {
		return true
	}
	return Uniform(profileID, seed, traceID) < rate
}

// Uniform maps (traceID, profileID, seed) to a number in [0, 1): FNV-1a over
// the trace id, a separator and the profile id, mixed with the seed by the
// splitmix64 finaliser, keeping the top 53 bits. Documented and stable: it
// is part of the bundle format's meaning, so it never changes within
// apiVersion chaosgen/v1.
func Uniform(profileID string, seed uint64, traceID string) float64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(traceID); i++ {
		c := traceID[i]
		if 'A' <= c && c <= 'F' { // trace ids are hex: case does not matter
			c += 'a' - 'A'
		}
		h ^= uint64(c)
		h *= prime
	}
	h ^= 0xff
	h *= prime
	for i := 0; i < len(profileID); i++ {
		h ^= uint64(profileID[i])
		h *= prime
	}
	h ^= seed
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) / (1 << 53)
}

// Matches reports whether target t covers req. An empty caller or operation
// matches everything; the callee must be equal. An operation is
// "[METHOD ]PATH-PATTERN": METHOD may be "*" and the path pattern uses
// path.Match syntax ("*" within one segment), plus a trailing "/**" that
// matches any rest of the path. A pattern without a leading "/" is compared
// with the path without its leading "/" too, so gRPC methods can be written
// as "pkg.Service/Method".
func Matches(t *bundle.Target, req Request) bool {
	if t.Callee != req.Callee {
		return false
	}
	if t.Caller != "" && t.Caller != req.Caller {
		return false
	}
	return MatchOperation(t.Operation, req.Method, req.Path)
}

// MatchOperation matches an operation pattern (see Matches) against a
// method and path.
func MatchOperation(pattern, method, p string) bool {
	if pattern == "" {
		return true
	}
	pat := pattern
	if i := strings.IndexByte(pattern, ' '); i >= 0 {
		m := pattern[:i]
		pat = strings.TrimSpace(pattern[i+1:])
		if m != "*" && !strings.EqualFold(m, method) {
			return false
		}
	}
	if !strings.HasPrefix(pat, "/") {
		p = strings.TrimPrefix(p, "/")
	}
	if rest, ok := strings.CutSuffix(pat, "/**"); ok {
		if p == rest {
			return true
		}
		segs := strings.Count(rest, "/") + 1
		parts := strings.SplitAfterN(p, "/", segs+1)
		if len(parts) <= segs {
			return false
		}
		prefix := strings.TrimSuffix(strings.Join(parts[:segs], ""), "/")
		ok, _ := path.Match(rest, prefix)
		return ok
	}
	ok, _ := path.Match(pat, p)
	return ok
}

// ExpectedRate returns the long-run fraction of matching requests that get
// the fault: the rate clamped to [0, 1] (NaN reads as 0).
func ExpectedRate(p *bundle.Profile) float64 {
	if math.IsNaN(p.Rate) {
		return 0
	}
	return min(1, max(0, p.Rate))
}
