package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/internal/shared"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"
)

// testBundle has one profile of each kind an exporter treats differently,
// in a bundle named shop that expires on 4 March 2026.
func testBundle() *bundle.Bundle {
	b := bundletest.Bundle([]bundle.Profile{
		{ID: "frontend-cart-latency", Target: bundle.Target{Caller: "frontend", Callee: "cart", Operation: "GET /cart"},
			Fault: bundle.Fault{Type: bundle.FaultLatency, DelayMs: 250, JitterMs: 50}, Rate: 0.123457, MaxRate: 0.2,
			Severity: bundle.SeverityModerate, Rationale: bundle.Rationale{Summary: "s"}},
		{ID: "frontend-cart-abort", Target: bundle.Target{Caller: "frontend", Callee: "cart", Operation: "GET /cart"},
			Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}, Rate: 0.05, MaxRate: 0.1,
			Severity: bundle.SeverityCritical, Rationale: bundle.Rationale{Summary: "s"}},
		{ID: "frontend-cart-abort2", Target: bundle.Target{Caller: "frontend", Callee: "cart", Operation: "GET /cart"},
			Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 500}, Rate: 0.01, MaxRate: 0.1,
			Severity: bundle.SeverityCritical, Rationale: bundle.Rationale{Summary: "s"}},
		{ID: "checkout-payment-abort", Target: bundle.Target{Caller: "checkout", Callee: "payment", Operation: "/payment.Payment/Charge"},
			Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503, GRPCStatus: 14}, Rate: 0.01, MaxRate: 0.05, PerSecond: 2,
			Severity: bundle.SeverityCritical, Rationale: bundle.Rationale{Summary: "s"}},
		{ID: "cart-redis-drop", Target: bundle.Target{Caller: "cart", Callee: "redis"},
			Fault: bundle.Fault{Type: bundle.FaultDrop}, Rate: 0.001, MaxRate: 0.001,
			Severity: bundle.SeverityMinor, Rationale: bundle.Rationale{Summary: "s"}},
		{ID: "catalog-corrupt", Target: bundle.Target{Callee: "catalog", Operation: "/products"},
			Fault: bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptTruncate}, Rate: 0.02, MaxRate: 0.1,
			Severity: bundle.SeverityModerate, Rationale: bundle.Rationale{Summary: "s"}},
		{ID: "search-factor", Target: bundle.Target{Callee: "search"},
			Fault: bundle.Fault{Type: bundle.FaultLatency, Factor: 3}, Rate: 0.3, MaxRate: 0.5,
			Severity: bundle.SeverityMinor, Rationale: bundle.Rationale{Summary: "s", Features: map[string]float64{"p50Ms": 40}}},
		{ID: "search-rpc-name", Target: bundle.Target{Callee: "search", Operation: "Search"},
			Fault: bundle.Fault{Type: bundle.FaultLatency, DelayMs: 100, Factor: 2}, Rate: 0.3, MaxRate: 0.5,
			Severity: bundle.SeverityMinor, Rationale: bundle.Rationale{Summary: "s"}},
		{ID: "ingress-api-slow", Target: bundle.Target{Callee: "api"},
			Fault: bundle.Fault{Type: bundle.FaultLatency, DelayMs: 1500.5, Factor: 2}, Rate: 1, MaxRate: 1,
			Severity: bundle.SeverityMinor, Rationale: bundle.Rationale{Summary: "s"}},
	}...)
	b.Metadata.Name, b.Metadata.Generator, b.Metadata.Seed = "shop", "test", 1
	b.Metadata.NotAfter = time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	b.Guards = bundle.Guards{MaxGlobalRate: 0.05, MaxActiveFaults: 10, AbortIf: bundle.AbortIf{RootErrorRate: 0.1, RootP99Ms: 2000}}
	return b
}

// testOptions fix the export time and the port the callees listen on.
var testOptions = Options{Now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Port: 8080}

func exportAll(t *testing.T, target string) ([]byte, string) {
	t.Helper()
	data, res, err := To(target, testBundle(), testOptions)
	if err != nil {
		t.Fatalf("export %s: %v", target, err)
	}
	var warn strings.Builder
	for _, w := range res.Changes {
		fmt.Fprintln(&warn, w)
	}
	fmt.Fprintln(&warn, res.Summary())
	// Twice, and from a shuffled bundle: the same bytes.
	b := testBundle()
	for i, j := 0, len(b.Profiles)-1; i < j; i, j = i+1, j-1 {
		b.Profiles[i], b.Profiles[j] = b.Profiles[j], b.Profiles[i]
	}
	again, res2, err := To(target, b, testOptions)
	if err != nil || !bytes.Equal(again, data) || len(res2.Changes) != len(res.Changes) {
		t.Errorf("export %s is not deterministic (err %v)", target, err)
	}
	return data, warn.String()
}

// crdSchema compiles the openAPIV3Schema of version from a CRD file in
// ../shared/schemas.
func crdSchema(t *testing.T, file, version string) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(shared.Path(t, filepath.Join("schemas", file)))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Name   string
				Schema struct {
					OpenAPIV3Schema json.RawMessage
				}
			}
		}
	}
	if err := json.Unmarshal(js, &crd); err != nil {
		t.Fatal(err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != version {
			continue
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(v.Schema.OpenAPIV3Schema))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		if err := c.AddResource("crd.json", doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("crd.json")
		if err != nil {
			t.Fatalf("compiling %s %s: %v", file, version, err)
		}
		return s
	}
	t.Fatalf("%s has no version %s", file, version)
	return nil
}

// validateYAMLDocs validates each --- separated document against s and
// returns them as generic JSON.
func validateYAMLDocs(t *testing.T, s *jsonschema.Schema, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i, doc := range strings.Split(string(data), "---\n") {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("document %d does not validate against the CRD: %v\n%s", i, err, doc)
		}
		var m map[string]any
		if err := json.Unmarshal(js, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestIstio(t *testing.T) {
	data, warn := exportAll(t, "istio")
	golden.Check(t, filepath.Join("testdata", "istio.yaml"), data)
	golden.Check(t, filepath.Join("testdata", "istio.warnings"), []byte(warn))
	docs := validateYAMLDocs(t, crdSchema(t, "istio-virtualservice-crd.yaml", "v1"), data)
	if len(docs) != 4 { // api, cart, payment, search
		t.Errorf("%d VirtualServices, want 4 (api, cart, payment, search)", len(docs))
	}
	// The schema must be able to fail: a bad fault is rejected.
	bad := strings.Replace(string(data), "httpStatus: 503", "httpStatus: \"five hundred\"", 1)
	s := crdSchema(t, "istio-virtualservice-crd.yaml", "v1")
	js, _ := yaml.YAMLToJSON([]byte(strings.Split(bad, "---\n")[1]))
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if s.Validate(v) == nil {
		t.Error("the Istio CRD schema accepts a string httpStatus: the validation proves nothing")
	}
	for _, want := range []string{
		`profile "cart-redis-drop": left out: redis speaks redis, not HTTP, out of reach of Istio faults`,
		`profile "search-factor": approximated: Istio has no proportional delay: factor 3 becomes a fixed 80ms`,
		`each VirtualService is a patch, not a second VirtualService`,
		`profile "frontend-cart-abort2": left out: profile "frontend-cart-abort" already aborts the same requests`,
		`profile "checkout-payment-abort": only one abort status can be exported: grpcStatus 14 kept for the gRPC method`,
		`profile "search-rpc-name": left out: operation "Search" is not an HTTP path`,
	} {
		if !strings.Contains(warn, want) {
			t.Errorf("warnings lack %q:\n%s", want, warn)
		}
	}
}

func TestEnvoy(t *testing.T) {
	data, warn := exportAll(t, "envoy")
	golden.Check(t, filepath.Join("testdata", "envoy.json"), data)
	golden.Check(t, filepath.Join("testdata", "envoy.warnings"), []byte(warn))
	var filters []struct {
		Name        string          `json:"name"`
		TypedConfig json.RawMessage `json:"typed_config"`
	}
	if err := json.Unmarshal(data, &filters); err != nil {
		t.Fatal(err)
	}
	if len(filters) != 6 {
		t.Errorf("%d filters, want 6", len(filters))
	}
	for _, f := range filters {
		var cfg map[string]json.RawMessage
		if err := json.Unmarshal(f.TypedConfig, &cfg); err != nil {
			t.Fatal(err)
		}
		if string(cfg["@type"]) != `"`+EnvoyFaultType+`"` || f.Name != "envoy.filters.http.fault" {
			t.Errorf("filter %s has type %s", f.Name, cfg["@type"])
		}
		delete(cfg, "@type")
		raw, _ := json.Marshal(cfg)
		var hf faultv3.HTTPFault
		if err := protojson.Unmarshal(raw, &hf); err != nil {
			t.Errorf("protojson rejects %s: %v", raw, err)
			continue
		}
		if err := hf.ValidateAll(); err != nil {
			t.Errorf("HTTPFault.Validate: %v\n%s", err, raw)
		}
		if hf.GetMaxActiveFaults().GetValue() != 10 {
			t.Errorf("max_active_faults = %v, want 10 from the guards", hf.GetMaxActiveFaults())
		}
	}
	if !strings.Contains(warn, `profile "catalog-corrupt": left out: the Envoy fault filter cannot change a response body (truncate)`) {
		t.Errorf("no warning for the corrupt fault:\n%s", warn)
	}
}

func TestChaosMesh(t *testing.T) {
	data, warn := exportAll(t, "chaos-mesh")
	golden.Check(t, filepath.Join("testdata", "chaos-mesh.yaml"), data)
	golden.Check(t, filepath.Join("testdata", "chaos-mesh.warnings"), []byte(warn))
	docs := validateChaosMeshDocs(t, data)
	if len(docs) != 7 {
		t.Errorf("%d Chaos Mesh objects, want 7", len(docs))
	}
	kinds := map[string]string{}
	for _, d := range docs {
		kinds[d.Metadata.Annotations["chaosgen.io/profile"]] = d.Kind
		if d.Kind == "HTTPChaos" && d.Spec.(*httpChaosSpec).Duration != "60h0m0s" {
			t.Errorf("%s: duration %q, want 60h0m0s from 2026-03-01T12:00 to notAfter 2026-03-04", d.Metadata.Name, d.Spec.(*httpChaosSpec).Duration)
		}
	}
	if kinds["cart-redis-drop"] != "NetworkChaos" || kinds["frontend-cart-abort"] != "HTTPChaos" {
		t.Errorf("kinds %v: want NetworkChaos for the drop on redis, HTTPChaos for cart", kinds)
	}
	if !strings.Contains(warn, "approximated: HTTPChaos has no per-request rate; rate 0.123457 becomes all requests on 13% of cart's pods") {
		t.Errorf("no rate approximation warning:\n%s", warn)
	}
}

func TestToxiproxy(t *testing.T) {
	data, warn := exportAll(t, "toxiproxy")
	golden.Check(t, filepath.Join("testdata", "toxiproxy.json"), data)
	golden.Check(t, filepath.Join("testdata", "toxiproxy.warnings"), []byte(warn))
	doc, err := os.ReadFile(shared.Path(t, "schemas/toxiproxy-toxics.md"))
	if err != nil {
		t.Fatal(err)
	}
	var pairs []struct {
		Proxy string
		Toxic struct {
			Name       string
			Type       string
			Stream     string
			Toxicity   float64
			Attributes map[string]float64
		}
	}
	if err := json.Unmarshal(data, &pairs); err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 8 {
		t.Errorf("%d toxics, want 8 (all but corrupt)", len(pairs))
	}
	for _, p := range pairs {
		x := p.Toxic
		section := ""
		if _, rest, ok := strings.Cut(string(doc), "#### "+x.Type+"\n"); ok {
			section, _, _ = strings.Cut(rest, "####")
		}
		if section == "" {
			t.Errorf("%s: toxic type %q is not in the Toxiproxy README", x.Name, x.Type)
		}
		for a := range x.Attributes {
			if !strings.Contains(section, "`"+a+"`") {
				t.Errorf("%s: attribute %q is not documented for %s", x.Name, a, x.Type)
			}
		}
		if x.Toxicity < 0 || x.Toxicity > 1 || (x.Stream != "upstream" && x.Stream != "downstream") {
			t.Errorf("%s: toxicity %v stream %q", x.Name, x.Toxicity, x.Stream)
		}
	}
	if !strings.Contains(warn, "applies per connection, not per request") {
		t.Errorf("no per-connection warning:\n%s", warn)
	}
}

// TestEnvoyPathIgnoresQuery: Envoy's :path header carries the query
// string, so the exported matcher must accept /cart?x=1 for /cart (RE2 is
// Go's regexp syntax too).
func TestEnvoyPathIgnoresQuery(t *testing.T) {
	re := regexp.MustCompile(pathRegex("/cart.v1/get+item"))
	for path, want := range map[string]bool{
		"/cart.v1/get+item": true, "/cart.v1/get+item?x=1&y=2": true, "/cart.v1/get+item?": true,
		"/cart.v1/get+itemx": false, "/cartXv1/get+item": false, "/cart.v1/gettitem": false, "/x/cart.v1/get+item": false,
	} {
		if re.MatchString(path) != want {
			t.Errorf("%s matches %q: %v, want %v", re, path, !want, want)
		}
	}
	data, _ := exportAll(t, "envoy")
	if !strings.Contains(string(data), `"regex": "^/cart(\\?.*)?$"`) {
		t.Errorf("no query-tolerant :path regex for GET /cart:\n%s", data)
	}
}

func TestOperation(t *testing.T) {
	for _, tc := range []struct {
		op, method, path string
		ok               bool
	}{
		{"", "", "", true},
		{"/cart", "", "/cart", true},
		{"GET /cart", "GET", "/cart", true},
		{"/pkg.Svc/Method", "", "/pkg.Svc/Method", true},
		{"get /cart", "", "", false},
		{"Search", "", "", false},
		{"GET cart", "", "", false},
	} {
		m, p, ok := operation(tc.op)
		if m != tc.method || p != tc.path || ok != tc.ok {
			t.Errorf("operation(%q) = %q, %q, %v; want %q, %q, %v", tc.op, m, p, ok, tc.method, tc.path, tc.ok)
		}
	}
	if !isGRPC("/pkg.Svc/Method") || isGRPC("/cart") || isGRPC("/a/b/c") {
		t.Error("isGRPC misclassifies")
	}
}

func TestUnknownTarget(t *testing.T) {
	if _, _, err := To("linkerd", testBundle(), Options{}); err == nil || !strings.Contains(err.Error(), "chaos-mesh, envoy, istio, toxiproxy") {
		t.Errorf("To(linkerd) = %v", err)
	}
}
