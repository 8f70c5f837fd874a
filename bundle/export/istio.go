package export

import (
	"bytes"
	"slices"

	"github.com/chaosgen/chaosgen/bundle"
	"sigs.k8s.io/yaml"
)

// istio exports one networking.istio.io/v1 VirtualService per callee host
// (YAML documents separated by ---, sorted by callee). Each profile becomes
// an http route with a fault (delay or abort, percentage = rate × 100),
// matched on the caller through match.sourceLabels (app: CALLER, assuming
// the app label names the service) and on the operation through uri and
// method; a final route sends everything else to the callee unchanged.
// Profiles with the same match share one route (Istio applies only the
// first matching route): one delay and one abort at most, the rest are left
// out with a warning. A latency factor becomes a fixed delay from the
// edge's median latency, a drop a delay of an hour (httpProfile).
//
// Each VirtualService is a patch: Istio does not merge two VirtualServices
// for the same host (outside gateways), so its routes belong at the top of
// the host's existing VirtualService's http list. Every export says so.
//
// Not expressible, with a warning: corrupt faults, jitter, perSecond,
// operations that are not HTTP paths, non-HTTP callees, the guards.
func istio(b *bundle.Bundle, opt Options, ws *warnings) ([]byte, error) {
	guardWarning(b, "Istio", ws)
	type route struct {
		names        []string
		match        map[string]any
		delay, abort map[string]any
		delayID      string
		abortID      string
	}
	routes := map[string][]*route{} // by callee, in profile id order
	var callees []string
	for _, p := range sortedProfiles(b) {
		method, path, delayMs, ok := httpProfile(p, istioTarget, opt, ws)
		if !ok {
			continue
		}
		match := map[string]any{}
		if p.Target.Caller != "" {
			match["sourceLabels"] = map[string]any{"app": p.Target.Caller}
		}
		if path != "" {
			match["uri"] = map[string]any{"exact": path}
		}
		if method != "" {
			match["method"] = map[string]any{"exact": method}
		}
		key := p.Target.Caller + "\x00" + method + "\x00" + path
		callee, _ := splitCallee(p.Target.Callee)
		if _, seen := routes[callee]; !seen {
			callees = append(callees, callee)
		}
		var r *route
		for _, x := range routes[callee] {
			if x.names[0] == key {
				r = x
			}
		}
		if r == nil {
			r = &route{names: []string{key}, match: match}
			routes[callee] = append(routes[callee], r)
		}
		pct := map[string]any{"value": percent(p.Rate)}
		switch p.Fault.Type {
		case bundle.FaultLatency, bundle.FaultDrop:
			if r.delay != nil {
				ws.add(p, LeftOut, "profile %q already delays the same requests and Istio applies one route per request", r.delayID)
				continue
			}
			r.delay = map[string]any{"fixedDelay": seconds(delayMs), "percentage": pct}
			r.delayID = p.ID
		case bundle.FaultAbort:
			if r.abort != nil {
				ws.add(p, LeftOut, "profile %q already aborts the same requests and Istio applies one route per request", r.abortID)
				continue
			}
			http, grpc := abortStatus(p, path, ws)
			r.abort = map[string]any{"percentage": pct}
			if http != 0 {
				r.abort["httpStatus"] = http
			} else {
				r.abort["grpcStatus"] = grpcCodeNames[grpc]
			}
			r.abortID = p.ID
		}
		r.names = append(r.names, p.ID)
	}
	slices.Sort(callees)
	var out bytes.Buffer
	for i, callee := range callees {
		var http []any
		dest := []any{map[string]any{"destination": map[string]any{"host": callee}}}
		for _, r := range routes[callee] {
			if len(r.names) == 1 { // every profile of the route was left out
				continue
			}
			fault := map[string]any{}
			if r.delay != nil {
				fault["delay"] = r.delay
			}
			if r.abort != nil {
				fault["abort"] = r.abort
			}
			h := map[string]any{"name": joinIDs(r.names[1:]), "fault": fault, "route": dest}
			if len(r.match) > 0 {
				h["match"] = []any{r.match}
			}
			http = append(http, h)
		}
		http = append(http, map[string]any{"name": "chaosgen-passthrough", "route": dest})
		vs := map[string]any{
			"apiVersion": "networking.istio.io/v1",
			"kind":       "VirtualService",
			"metadata": map[string]any{
				"name":   objectName("chaosgen", callee),
				"labels": map[string]any{"app.kubernetes.io/managed-by": "chaosgen"},
				"annotations": map[string]any{
					"chaosgen.io/bundle":     b.Metadata.Name,
					"chaosgen.io/merge-into": "the existing VirtualService of host " + callee + ": put these http routes first in its list",
				},
			},
			"spec": map[string]any{"hosts": []any{callee}, "http": http},
		}
		y, err := yaml.Marshal(vs)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out.WriteString("---\n")
		}
		out.Write(y)
	}
	if len(callees) > 0 {
		ws.add(nil, Approximated, "each VirtualService is a patch, not a second VirtualService: Istio does not merge two VirtualServices for the same host, so applying one next to the host's existing VirtualService conflicts with it; put its http routes (the chaosgen-passthrough route last) at the top of the existing one's http list, after its own match conditions if any")
	}
	return out.Bytes(), nil
}

func joinIDs(ids []string) string {
	s := ids[0]
	for _, id := range ids[1:] {
		s += "+" + id
	}
	return s
}

var istioTarget = httpFaultTarget{
	name: "Istio", cannot: "Istio faults", jitter: "Istio delays are fixed",
	perSecond: func(p *bundle.Profile) string {
		return "Istio has no rate cap; rate " + num(p.Rate) + " applies uncapped"
	},
}
