package export

import (
	"bytes"
	"encoding/json"
	"math"

	"github.com/chaosgen/chaosgen/bundle"
)

// toxiproxy exports a JSON list of {"proxy", "toxic"} pairs, sorted by
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
// of these gets a warning; a latency factor becomes a fixed latency from the
// edge's median latency; corrupt faults are left out and perSecond is
// dropped, with a warning.
func toxiproxy(b *bundle.Bundle, ws *warnings) ([]byte, error) {
	guardWarning(b, "Toxiproxy", ws)
	out := []any{}
	for _, p := range sortedProfiles(b) {
		f := p.Fault
		var toxic map[string]any
		switch f.Type {
		case bundle.FaultCorrupt:
			ws.add(p, LeftOut, "Toxiproxy works on TCP bytes, not responses: its limit_data and slicer toxics cut or split a connection's stream at fixed byte counts, not a response's body (%s)", f.Mode)
			continue
		case bundle.FaultLatency:
			ms, ok := fixedDelay(p, "Toxiproxy", ws)
			if !ok {
				continue
			}
			toxic = map[string]any{"type": "latency", "stream": "downstream", "attributes": map[string]any{
				"latency": int64(math.Round(ms)),
				"jitter":  int64(math.Round(f.JitterMs)),
			}}
		case bundle.FaultDrop:
			toxic = map[string]any{"type": "timeout", "stream": "upstream", "attributes": map[string]any{"timeout": 0}}
		case bundle.FaultAbort:
			ws.add(p, Approximated, "Toxiproxy cannot return a status; the connection is reset (reset_peer) instead")
			toxic = map[string]any{"type": "reset_peer", "stream": "upstream", "attributes": map[string]any{"timeout": 0}}
		}
		ws.add(p, Approximated, "toxicity %s applies per connection, not per request", num(p.Rate))
		if p.Target.Caller != "" || p.Target.Operation != "" {
			ws.add(p, Broadened, "Toxiproxy works on TCP and cannot match caller %q or operation %q: every connection to the %s proxy is affected", p.Target.Caller, p.Target.Operation, p.Target.Callee)
		}
		if p.PerSecond > 0 {
			ws.add(p, Dropped, "perSecond %s left out: Toxiproxy has no rate cap", num(p.PerSecond))
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
		return nil, err
	}
	return buf.Bytes(), nil
}
