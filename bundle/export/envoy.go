package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	commonfaultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// EnvoyFaultType is the type URL of the exported filter configs.
const EnvoyFaultType = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"

// envoy exports a JSON list of HTTP filters for an HttpConnectionManager's
// http_filters, one envoy.filters.http.fault filter per profile (sorted by
// id), each an envoy.extensions.filters.http.fault.v3.HTTPFault that passes
// the generated Validate():
//
//   - upstream_cluster is the callee (the cluster must be named after it);
//   - downstream_nodes is [caller] (Envoy reads the caller from the
//     x-envoy-downstream-service-node header);
//   - headers match :method exactly and :path by a regular expression
//     that ignores the query string (Envoy's :path header includes it, so
//     an exact match of /cart would miss /cart?x=1);
//   - percentage is the rate in parts per million;
//   - max_active_faults is guards.maxActiveFaults when set;
//   - a latency factor becomes a fixed delay from the edge's median
//     latency, a drop a delay of an hour (httpProfile).
//
// Not expressible, with a warning: corrupt faults, jitter, perSecond,
// maxGlobalRate and abortIf, operations that are not HTTP paths, non-HTTP
// callees.
func envoy(b *bundle.Bundle, opt Options, ws *warnings) ([]byte, error) {
	g := b.Guards
	if g.MaxGlobalRate > 0 || g.AbortIf.RootErrorRate > 0 || g.AbortIf.RootP99Ms > 0 {
		ws.add(nil, LeftOut, "guards maxGlobalRate and abortIf: the Envoy fault filter has only max_active_faults")
	}
	filters := []any{}
	for _, p := range sortedProfiles(b) {
		method, path, delayMs, ok := httpProfile(p, envoyTarget, opt, ws)
		if !ok {
			continue
		}
		pct := &typev3.FractionalPercent{
			Numerator:   uint32(math.Round(p.Rate * 1e6)),
			Denominator: typev3.FractionalPercent_MILLION,
		}
		f := &faultv3.HTTPFault{UpstreamCluster: p.Target.Callee}
		if p.Target.Caller != "" {
			f.DownstreamNodes = []string{p.Target.Caller}
		}
		if path != "" {
			f.Headers = append(f.Headers, &routev3.HeaderMatcher{
				Name: ":path",
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
					MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: pathRegex(path)}},
				}},
			})
		}
		if method != "" {
			f.Headers = append(f.Headers, &routev3.HeaderMatcher{
				Name: ":method",
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
					MatchPattern: &matcherv3.StringMatcher_Exact{Exact: method},
				}},
			})
		}
		if g.MaxActiveFaults > 0 {
			f.MaxActiveFaults = wrapperspb.UInt32(uint32(min(g.MaxActiveFaults, math.MaxUint32)))
		}
		switch p.Fault.Type {
		case bundle.FaultLatency, bundle.FaultDrop:
			d := time.Duration(math.Round(delayMs * float64(time.Millisecond)))
			f.Delay = &commonfaultv3.FaultDelay{
				FaultDelaySecifier: &commonfaultv3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(d)},
				Percentage:         pct,
			}
		case bundle.FaultAbort:
			http, grpc := abortStatus(p, path, ws)
			f.Abort = &faultv3.FaultAbort{Percentage: pct}
			if http != 0 {
				f.Abort.ErrorType = &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(http)}
			} else {
				f.Abort.ErrorType = &faultv3.FaultAbort_GrpcStatus{GrpcStatus: uint32(grpc)}
			}
		}
		if err := f.ValidateAll(); err != nil {
			return nil, fmt.Errorf("profile %q: envoy config does not validate: %w", p.ID, err)
		}
		raw, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(f)
		if err != nil {
			return nil, err
		}
		var cfg map[string]any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&cfg); err != nil {
			return nil, err
		}
		cfg["@type"] = EnvoyFaultType
		filters = append(filters, map[string]any{
			"name":         "envoy.filters.http.fault",
			"typed_config": cfg,
		})
	}
	// protojson output is deliberately unstable in its spacing: re-encode
	// through encoding/json for sorted keys and fixed indentation.
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(filters); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// pathRegex matches a request path exactly, with or without a query
// string: ^/cart(\?.*)?$ for /cart (RE2, as Envoy's safe_regex).
func pathRegex(path string) string {
	return "^" + regexp.QuoteMeta(path) + `(\?.*)?$`
}

var envoyTarget = httpFaultTarget{
	name: "Envoy", cannot: "the Envoy fault filter", jitter: "Envoy fixed delays have no jitter",
	perSecond: func(*bundle.Profile) string { return "the Envoy fault filter has no rate cap" },
}
