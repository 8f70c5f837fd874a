package export

import (
	"bytes"
	"encoding/json"
	"math"

	"github.com/chaosgen/chaosgen/bundle"
)

// Toxiproxy exports a JSON list of {"proxy", "toxic"} pairs, sorted by
// profile id, where toxic is the body of POST /proxies/{proxy}/toxics and
// proxy is the callee (name the Toxiproxy proxies after the services):
//
//	latency  type latency, latency = delayMs, jitter = jitterMs (ms, rounded), stream downstream
//	drop     type timeout, timeout 0 (data is dropped, the connection hangs), stream upstream
//	abort    type reset_peer, timeout 0 (the TCP connection is reset instead of an HTTP or gRPC status), stream upstream
//
// toxicity is the rate, but Toxiproxy applies it per connection, not per
// request: with keep-alive, one toxic connection carries many requests.
// Toxiproxy works on TCP, so it cannot match a caller or an operation. Each
// of these gets a warning; corrupt faults and factor-only latency are left
// out, and perSecond is dropped, with a warning.
func Toxiproxy(b *bundle.Bundle) ([]byte, []Warning, error) {
	var ws warnings
	guardWarning(b, "Toxiproxy", &ws)
	out := []any{}
	for _, p := range sortedProfiles(b) {
		f := p.Fault
		var toxic map[string]any
		switch f.Type {
		case bundle.FaultCorrupt:
			ws.add(p, "left out: Toxiproxy has no body corruption")
			continue
		case bundle.FaultLatency:
			if !latencyParts(p, "Toxiproxy", &ws) {
				continue
			}
			toxic = map[string]any{"type": "latency", "stream": "downstream", "attributes": map[string]any{
				"latency": int64(math.Round(f.DelayMs)),
				"jitter":  int64(math.Round(f.JitterMs)),
			}}
		case bundle.FaultDrop:
			toxic = map[string]any{"type": "timeout", "stream": "upstream", "attributes": map[string]any{"timeout": 0}}
		case bundle.FaultAbort:
			ws.add(p, "approximated: Toxiproxy cannot return a status; the connection is reset (reset_peer) instead")
			toxic = map[string]any{"type": "reset_peer", "stream": "upstream", "attributes": map[string]any{"timeout": 0}}
		}
		ws.add(p, "approximated: toxicity %s applies per connection, not per request", num(p.Rate))
		if p.Target.Caller != "" || p.Target.Operation != "" {
			ws.add(p, "broadened: Toxiproxy works on TCP and cannot match caller %q or operation %q: every connection to the %s proxy is affected", p.Target.Caller, p.Target.Operation, p.Target.Callee)
		}
		if p.PerSecond > 0 {
			ws.add(p, "perSecond %s left out: Toxiproxy has no rate cap", num(p.PerSecond))
		}
		toxic["name"] = p.ID
		toxic["toxicity"] = p.Rate
		out = append(out, map[string]any{"proxy": p.Target.Callee, "toxic": toxic})
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), ws, nil
}
