package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/golden"
	"sigs.k8s.io/yaml"
)

// validateChaosMeshDocs checks every document of a Chaos Mesh export twice:
// against its kind's CRD schema, and, decoded strictly into the exported
// types, against the admission webhook's rules (checkChaosMesh).
func validateChaosMeshDocs(t *testing.T, data []byte) []cmObject {
	t.Helper()
	schemas := map[string]string{"HTTPChaos": "chaos-mesh-httpchaos-crd.yaml", "NetworkChaos": "chaos-mesh-networkchaos-crd.yaml"}
	var out []cmObject
	for i, doc := range strings.Split(string(data), "---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatal(err)
		}
		file, ok := schemas[head.Kind]
		if !ok {
			t.Fatalf("document %d: kind %q", i, head.Kind)
		}
		validateYAMLDocs(t, crdSchema(t, file, "v1alpha1"), []byte(doc))
		o, err := decodeChaosMesh([]byte(doc))
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if err := checkChaosMesh(o); err != nil {
			t.Errorf("document %d would be refused by the webhook: %v\n%s", i, err, doc)
		}
		out = append(out, *o)
	}
	return out
}

// decodeChaosMesh decodes a document strictly into the exported types.
func decodeChaosMesh(doc []byte) (*cmObject, error) {
	js, err := yaml.YAMLToJSON(doc)
	if err != nil {
		return nil, err
	}
	var raw struct {
		cmObject
		Spec json.RawMessage `json:"spec"`
	}
	if err := strictJSON(js, &raw); err != nil {
		return nil, err
	}
	o := raw.cmObject
	switch o.Kind {
	case "HTTPChaos":
		o.Spec = &httpChaosSpec{}
	case "NetworkChaos":
		o.Spec = &networkChaosSpec{}
	default:
		return nil, fmt.Errorf("kind %q", o.Kind)
	}
	return &o, strictJSON(raw.Spec, o.Spec)
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// TestChaosMeshWebhookRules shows that the webhook check refuses what
// Chaos Mesh's webhook refuses and its CRD schema accepts.
func TestChaosMeshWebhookRules(t *testing.T) {
	good := func() *httpChaosSpec {
		return &httpChaosSpec{Port: 8080, Target: "Request", Delay: "250ms", Mode: "fixed-percent", Value: "5",
			Selector: cmSelector{LabelSelectors: map[string]string{"app": "cart"}}, Duration: "1h"}
	}
	obj := func(s any) *cmObject {
		return &cmObject{APIVersion: "chaos-mesh.org/v1alpha1", Kind: "HTTPChaos", Metadata: cmMetadata{Name: "chaosgen-x"}, Spec: s}
	}
	if err := checkChaosMesh(obj(good())); err != nil {
		t.Fatalf("a good HTTPChaos is refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		break_ func(s *httpChaosSpec)
		want   string
	}{
		{"port 0", func(s *httpChaosSpec) { s.Port = 0 }, "spec.port: port 0 is not supported"},
		{"no selector", func(s *httpChaosSpec) { s.Selector = cmSelector{} }, "spec.selector: no labelSelectors"},
		{"bad label", func(s *httpChaosSpec) { s.Selector.LabelSelectors["app"] = "shop/cart" }, "is not a Kubernetes label"},
		{"duration", func(s *httpChaosSpec) { s.Duration = "3 days" }, "spec.duration: time: unknown unit"},
		{"delay", func(s *httpChaosSpec) { s.Delay = "250" }, "spec.delay: time: missing unit"},
		{"percent", func(s *httpChaosSpec) { s.Value = "0" }, "spec.value"},
		{"percent 101", func(s *httpChaosSpec) { s.Value = "101" }, "spec.value"},
		{"method", func(s *httpChaosSpec) { s.Method = "FETCH" }, "spec.method: method FETCH is not supported"},
		{"no action", func(s *httpChaosSpec) { s.Delay = "" }, "no action"},
	} {
		s := good()
		tc.break_(s)
		if err := checkChaosMesh(obj(s)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
	nc := &networkChaosSpec{Action: "partition", Direction: "both", Mode: "all", Selector: cmSelector{LabelSelectors: map[string]string{"app": "cart"}}}
	if err := checkChaosMesh(obj(nc)); err == nil || !strings.Contains(err.Error(), "from and both need a target") {
		t.Errorf("partition both without a target: %v", err)
	}
	// The CRD schema alone accepts port 0: the reason for the check.
	y, _ := yaml.Marshal(obj(func() *httpChaosSpec { s := good(); s.Port = 0; return s }()))
	validateYAMLDocs(t, crdSchema(t, "chaos-mesh-httpchaos-crd.yaml", "v1alpha1"), y)
}

// TestChaosMeshPort: the port comes from a host:port callee, else from
// Options.Port; with neither the profile is left out, saying --port.
func TestChaosMeshPort(t *testing.T) {
	b := testBundle()
	b.Profiles = b.Profiles[:1]
	b.Profiles[0].Target.Callee = "api.stripe.com:443"
	data, _, err := To("chaos-mesh", b, Options{Now: testOptions.Now})
	if err != nil || !strings.Contains(string(data), "port: 443") || !strings.Contains(string(data), "app: api.stripe.com") {
		t.Errorf("host:port callee: %v\n%s", err, data)
	}
	b = testBundle()
	b.Profiles = b.Profiles[:1]
	data, res, err := To("chaos-mesh", b, Options{Now: testOptions.Now})
	if err != nil || len(data) != 0 || len(res.LeftOut) != 1 || !strings.Contains(fmt.Sprint(res.Changes), "pass --port") {
		t.Errorf("no port: %v %q %+v", err, data, res)
	}
	// An expired bundle is an error, not an object with a negative duration.
	if _, _, err := To("chaos-mesh", testBundle(), Options{Now: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), Port: 80}); err == nil {
		t.Error("an expired bundle exported")
	}
}

// TestGoldenBundleAllTargets exports testdata/golden10.json (ten profiles
// as the generator writes them: five from a 3-day synthetic mesh, five
// from profilegen's shop fixture) to every target. Istio and Envoy must
// keep at least 8 of the 10; every target lists its changes (golden).
func TestGoldenBundleAllTargets(t *testing.T) {
	data, err := os.ReadFile("testdata/golden10.json")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Profiles) != 10 {
		t.Fatalf("%d profiles, want 10", len(b.Profiles))
	}
	opt := Options{Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Port: 8080}
	for _, target := range Targets {
		t.Run(target, func(t *testing.T) {
			out, res, err := To(target, b, opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Exported)+len(res.LeftOut) != 10 {
				t.Errorf("exported %v + left out %v != 10 profiles", res.Exported, res.LeftOut)
			}
			if (target == "istio" || target == "envoy") && len(res.Exported) < 8 {
				t.Errorf("%s keeps %d of 10 profiles, want at least 8; left out %v", target, len(res.Exported), res.LeftOut)
			}
			for _, id := range res.LeftOut {
				if !strings.Contains(fmt.Sprint(res.Changes), fmt.Sprintf("profile %q: left out", id)) {
					t.Errorf("%s left out without a change saying so", id)
				}
			}
			switch target {
			case "chaos-mesh":
				validateChaosMeshDocs(t, out)
			case "istio":
				validateYAMLDocs(t, crdSchema(t, "istio-virtualservice-crd.yaml", "v1"), out)
			}
			js, err := json.MarshalIndent(res, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "golden10."+target+".json"), append(js, '\n'))
			t.Log(res.Summary())
		})
	}
}

// TestNetworkChaos: callees that do not speak HTTP get a NetworkChaos (a
// netem delay with its jitter, a partition for a drop), checked against
// the NetworkChaos CRD and the webhook rules; an abort cannot be one.
func TestNetworkChaos(t *testing.T) {
	p := func(id, caller, callee string, f bundle.Fault) bundle.Profile {
		return bundle.Profile{ID: id, Target: bundle.Target{Caller: caller, Callee: callee}, Fault: f, Rate: 0.05, MaxRate: 0.1,
			Severity: bundle.SeverityMinor, Rationale: bundle.Rationale{Summary: "s"}}
	}
	b := testBundle()
	b.Profiles = []bundle.Profile{
		p("pg-slow", "orders", "postgresql/orders", bundle.Fault{Type: bundle.FaultLatency, DelayMs: 40, JitterMs: 10}),
		p("redis-drop", "", "redis", bundle.Fault{Type: bundle.FaultDrop}),
		p("redis-abort", "cart", "redis", bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}),
		p("legacy-drop", "cart", "legacy", bundle.Fault{Type: bundle.FaultDrop}),
		p("cache-slow", "cart", "cache-1:6379", bundle.Fault{Type: bundle.FaultLatency, DelayMs: 5}),
	}
	opt := testOptions
	opt.NonHTTP = []string{"legacy"}
	data, res, err := To("chaos-mesh", b, opt)
	if err != nil {
		t.Fatal(err)
	}
	docs := validateChaosMeshDocs(t, data)
	if len(docs) != 4 || fmt.Sprint(res.LeftOut) != "[redis-abort]" {
		t.Fatalf("%d objects, left out %v:\n%s", len(docs), res.LeftOut, data)
	}
	got := map[string]*networkChaosSpec{}
	for _, d := range docs {
		if d.Kind != "NetworkChaos" {
			t.Errorf("%s is a %s", d.Metadata.Name, d.Kind)
			continue
		}
		got[d.Metadata.Annotations["chaosgen.io/profile"]] = d.Spec.(*networkChaosSpec)
	}
	pg := got["pg-slow"]
	if pg == nil || pg.Action != "delay" || pg.Delay.Latency != "40ms" || pg.Delay.Jitter != "10ms" ||
		pg.Selector.LabelSelectors["app"] != "orders" || pg.Target == nil || pg.Target.Selector.LabelSelectors["app"] != "postgresql" {
		t.Errorf("pg-slow: %+v", pg)
	}
	if r := got["redis-drop"]; r == nil || r.Action != "partition" || r.Target != nil || r.Selector.LabelSelectors["app"] != "redis" || r.Value != "5" {
		t.Errorf("redis-drop: %+v", r)
	}
	if l := got["legacy-drop"]; l == nil || l.Target.Selector.LabelSelectors["app"] != "legacy" {
		t.Errorf("legacy-drop: %+v", l)
	}
	// host:port on Redis's registered port: NetworkChaos on the host's pods.
	if c := got["cache-slow"]; c == nil || c.Action != "delay" || c.Target.Selector.LabelSelectors["app"] != "cache-1" {
		t.Errorf("cache-slow: %+v", c)
	}
	if !strings.Contains(fmt.Sprint(res.Changes), `profile "redis-abort": left out: redis speaks redis: an abort is an HTTP or gRPC status`) {
		t.Errorf("changes: %v", res.Changes)
	}
	// The same callees are out of reach of Istio, with a line saying where to go.
	_, res, err = To("istio", b, opt)
	if err != nil || len(res.Exported) != 0 || !strings.Contains(fmt.Sprint(res.Changes), "use --to chaos-mesh") {
		t.Errorf("istio: %v %+v", err, res)
	}
}
