package export

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"sigs.k8s.io/yaml"
)

// ChaosMesh exports one chaos-mesh.org/v1alpha1 HTTPChaos per profile (YAML
// documents separated by ---, sorted by id), selecting the callee's pods by
// the label app: CALLEE:
//
//	latency  target Request, delay: "<delayMs>ms"
//	abort    target Response, replace.code: httpStatus
//	drop     target Request, abort: true (the connection is cut)
//
// HTTPChaos has no per-request rate: it faults every matching request on the
// pods it selects. The rate is approximated by selecting that percentage of
// the callee's pods (mode fixed-percent, rounded up to a whole percent, at
// least 1), which matches the rate only when traffic is spread evenly over
// the pods; every profile gets a warning saying so. It cannot tell callers
// apart either: a profile with a caller faults every caller, with a warning.
// Left out, with a warning: corrupt faults, gRPC-only aborts, factor-only
// latency; jitter, factor and perSecond are dropped with a warning.
func ChaosMesh(b *bundle.Bundle) ([]byte, []Warning, error) {
	var ws warnings
	guardWarning(b, "Chaos Mesh", &ws)
	var out bytes.Buffer
	n := 0
	for _, p := range sortedProfiles(b) {
		method, path, ok := operation(p.Target.Operation)
		spec := map[string]any{}
		switch {
		case p.Fault.Type == bundle.FaultCorrupt:
			ws.add(p, "left out: HTTPChaos has no %s corruption of the body", p.Fault.Mode)
			continue
		case !ok:
			ws.add(p, "left out: operation %q is not an HTTP path or METHOD /path", p.Target.Operation)
			continue
		case p.Fault.Type == bundle.FaultAbort && p.Fault.HTTPStatus == 0:
			ws.add(p, "left out: HTTPChaos cannot set a gRPC status (%d)", p.Fault.GRPCStatus)
			continue
		case p.Fault.Type == bundle.FaultLatency && !latencyParts(p, "Chaos Mesh", &ws):
			continue
		}
		switch p.Fault.Type {
		case bundle.FaultLatency:
			spec["target"] = "Request"
			spec["delay"] = time.Duration(math.Round(p.Fault.DelayMs * float64(time.Millisecond))).String()
			if p.Fault.JitterMs > 0 {
				ws.add(p, "jitterMs %s left out: HTTPChaos delays are fixed", num(p.Fault.JitterMs))
			}
		case bundle.FaultAbort:
			spec["target"] = "Response"
			spec["replace"] = map[string]any{"code": p.Fault.HTTPStatus}
			if p.Fault.GRPCStatus != 0 {
				ws.add(p, "grpcStatus %d left out: HTTPChaos replaces the HTTP status only", p.Fault.GRPCStatus)
			}
		case bundle.FaultDrop:
			spec["target"] = "Request"
			spec["abort"] = true
		}
		pods := max(1, int(math.Ceil(bundle.Round(p.Rate*100))))
		ws.add(p, "approximated: HTTPChaos has no per-request rate; rate %s becomes all requests on %d%% of %s's pods", num(p.Rate), pods, p.Target.Callee)
		spec["mode"] = "fixed-percent"
		spec["value"] = strconv.Itoa(pods)
		spec["selector"] = map[string]any{"labelSelectors": map[string]any{"app": p.Target.Callee}}
		if p.Target.Caller != "" {
			ws.add(p, "broadened: HTTPChaos cannot match the caller %q, so every caller of %s is faulted", p.Target.Caller, p.Target.Callee)
		}
		if path != "" {
			spec["path"] = path
		}
		if method != "" {
			spec["method"] = method
		}
		if p.PerSecond > 0 {
			ws.add(p, "perSecond %s left out: HTTPChaos has no rate cap", num(p.PerSecond))
		}
		obj := map[string]any{
			"apiVersion": "chaos-mesh.org/v1alpha1",
			"kind":       "HTTPChaos",
			"metadata": map[string]any{
				"name":        objectName("chaosgen", p.ID),
				"labels":      map[string]any{"app.kubernetes.io/managed-by": "chaosgen"},
				"annotations": map[string]any{"chaosgen.io/bundle": b.Metadata.Name, "chaosgen.io/profile": p.ID},
			},
			"spec": spec,
		}
		y, err := yaml.Marshal(obj)
		if err != nil {
			return nil, nil, err
		}
		if n > 0 {
			out.WriteString("---\n")
		}
		out.Write(y)
		n++
	}
	return out.Bytes(), ws, nil
}
