package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/internal/testseed"
	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// testBundle returns a valid bundle with one profile of each fault type, in
// no particular order, with numbers that need rounding.
func testBundle() *Bundle {
	return &Bundle{
		APIVersion: APIVersion,
		Kind:       Kind,
		Metadata: Metadata{
			Name:      "checkout-nightly",
			Generator: "chaosgen test",
			NotAfter:  time.Date(2030, 1, 2, 5, 4, 5, 0, time.FixedZone("X", 3600)),
			Params:    map[string]string{"minScore": "0.7", "window": "1m0s"},
			Seed:      42,
			Source: Source{
				Files: []SourceFile{
					{Path: "traces/b.parquet", Rows: 2000, SHA256: strings.Repeat("b", 64)},
					{Path: "traces/a.parquet", Rows: 1000, SHA256: strings.Repeat("a", 64)},
				},
				TimeRange: TimeRange{
					Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
					End:   time.Date(2026, 3, 2, 0, 0, 0, 500_000_000, time.UTC),
				},
			},
		},
		Guards: Guards{
			MaxGlobalRate:   0.05,
			MaxActiveFaults: 20,
			AbortIf:         AbortIf{RootErrorRate: 0.2, RootP99Ms: 2500},
		},
		Profiles: []Profile{
			{
				ID:       "frontend-cart-latency",
				Target:   Target{Caller: "frontend", Callee: "cart", Operation: "GET /cart"},
				Fault:    Fault{Type: FaultLatency, DelayMs: 250, JitterMs: 50.0000004, Factor: 1.5},
				Rate:     0.1234567, // rounds to 0.123457
				MaxRate:  0.25,
				Severity: SeverityModerate,
				Rationale: Rationale{
					Scores:   map[string]float64{"anomaly": 0.81234567, "criticality": 0.9},
					Features: map[string]float64{"p99Ms": 412.5, "fanOut": 3, "errorRate": 1e-7},
					Summary:  "cart's p99 latency <grew> & frontend retries it",
				},
			},
			{
				ID:        "checkout-payment-abort",
				Target:    Target{Caller: "checkout", Callee: "payment", Operation: "/payment.Payment/Charge"},
				Fault:     Fault{Type: FaultAbort, HTTPStatus: 503, GRPCStatus: 14},
				Rate:      0.01,
				MaxRate:   0.05,
				PerSecond: 2,
				Severity:  SeverityCritical,
				Rationale: Rationale{Summary: "payment errors are rare but checkout has no fallback"},
			},
			{
				ID:        "cart-redis-drop",
				Target:    Target{Caller: "cart", Callee: "redis"},
				Fault:     Fault{Type: FaultDrop},
				Rate:      0.001,
				MaxRate:   0.001,
				Severity:  SeverityMinor,
				Rationale: Rationale{Summary: "redis calls never time out in the data"},
			},
			{
				ID:        "search-catalog-corrupt",
				Target:    Target{Callee: "catalog", Operation: "/products"},
				Fault:     Fault{Type: FaultCorrupt, Mode: CorruptTruncate},
				Rate:      0.02,
				MaxRate:   0.1,
				Severity:  SeverityModerate,
				Rationale: Rationale{Summary: "every caller of catalog parses its body"},
			},
		},
	}
}

func mustEncode(t testing.TB, b *Bundle) []byte {
	t.Helper()
	data, err := Encode(b)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return data
}

func TestEncodeGolden(t *testing.T) {
	b := testBundle()
	orig := *testBundle()
	data := mustEncode(t, b)
	golden.Check(t, filepath.Join("testdata", "bundle.golden.json"), data)
	if diff := cmp.Diff(orig.Profiles, b.Profiles); diff != "" {
		t.Errorf("Encode modified its argument (-before +after):\n%s", diff)
	}
}

func TestEncodeIsCanonical(t *testing.T) {
	data := mustEncode(t, testBundle())
	if !bytes.HasSuffix(data, []byte("}\n")) || bytes.HasSuffix(data, []byte("\n\n")) {
		t.Errorf("want exactly one trailing newline, got %q", data[len(data)-3:])
	}
	// Keys are sorted: re-encoding through maps (which encoding/json sorts)
	// gives the same bytes, numbers kept as written.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(buf.String(), string(data)); diff != "" {
		t.Errorf("keys are not in sorted order (-sorted +encoded):\n%s", diff)
	}
	for _, want := range []string{`"rate": 0.123457`, `"jitterMs": 50,`, `"errorRate": 0,`, `"notAfter": "2030-01-02T04:04:05Z"`, `<grew> &`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("encoding lacks %s", want)
		}
	}
	if bytes.Contains(data, []byte("e-")) || bytes.Contains(data, []byte("e+")) {
		t.Errorf("encoding has a number with an exponent:\n%s", data)
	}
}

func TestRoundTrip(t *testing.T) {
	data := mustEncode(t, testBundle())
	b, err := Decode(data)
	if err != nil {
		t.Fatalf("Decode(canonical): %v", err)
	}
	again := mustEncode(t, b)
	if diff := cmp.Diff(string(data), string(again)); diff != "" {
		t.Errorf("decode then encode changed the bytes (-first +second):\n%s", diff)
	}
	if b.Profiles[0].ID != "cart-redis-drop" || b.Metadata.Source.Files[0].Path != "traces/a.parquet" {
		t.Errorf("profiles or files not sorted: %s, %s", b.Profiles[0].ID, b.Metadata.Source.Files[0].Path)
	}
	c, err := Canonical(data)
	if err != nil || !bytes.Equal(c, data) {
		t.Errorf("Canonical(canonical) = %q, %v; want the same bytes", c, err)
	}
}

// TestEncodeDeterministic encodes the same bundle with its lists shuffled
// and twice in a row: the bytes never change.
func TestEncodeDeterministic(t *testing.T) {
	want := mustEncode(t, testBundle())
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range 20 {
		b := testBundle()
		r.Shuffle(len(b.Profiles), func(i, j int) { b.Profiles[i], b.Profiles[j] = b.Profiles[j], b.Profiles[i] })
		files := b.Metadata.Source.Files
		r.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
		if got := mustEncode(t, b); !bytes.Equal(got, want) {
			t.Fatalf("run %d (seed %d): shuffled input changed the encoding:\n%s", i, seed, cmp.Diff(string(want), string(got)))
		}
	}
}

func TestRound(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{
		{0.1234566, 0.123457},
		{0.1234564, 0.123456},
		{0.0000005000001, 0.000001},
		{1e-7, 0},
		{-1e-7, 0},
		{math.Copysign(0, -1), 0},
		{2500, 2500},
		{123456789.123456789, 123456789.123457},
		{-3.0000005, -3.000001},
	} {
		got := Round(tc.in)
		if got != tc.want || math.Signbit(got) != math.Signbit(tc.want) {
			t.Errorf("Round(%v) = %v, want %v", tc.in, got, tc.want)
		}
		if Round(got) != got {
			t.Errorf("Round(Round(%v)) = %v, want %v", tc.in, Round(got), got)
		}
	}
	if !math.IsNaN(Round(math.NaN())) || !math.IsInf(Round(math.Inf(1)), 1) {
		t.Error("Round must leave NaN and Inf for Validate to reject")
	}
}

func TestEncodeRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Bundle)
		want   string
	}{
		{"NaN rate", func(b *Bundle) { b.Profiles[0].Rate = math.NaN() }, `profile "frontend-cart-latency": rate: NaN is not a finite number`},
		{"Inf score", func(b *Bundle) { b.Profiles[0].Rationale.Scores["anomaly"] = math.Inf(-1) }, `rationale.scores.anomaly: -Inf is not a finite number`},
		{"huge delay", func(b *Bundle) { b.Profiles[0].Fault.DelayMs = 1e16 }, `fault.delayMs: 1e+16 is too large`},
		{"delay that rounds to nothing", func(b *Bundle) {
			b.Profiles[0].Fault = Fault{Type: FaultLatency, DelayMs: 4e-7}
		}, `fault.delayMs: a latency fault needs delayMs > 0 or factor > 1`},
		{"empty callee", func(b *Bundle) { b.Profiles[2].Target.Callee = "" }, `profile "cart-redis-drop": target.callee: must not be empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := testBundle()
			tc.modify(b)
			_, err := Encode(b)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Errorf("Encode error = %v, want one containing %q and wrapping ErrInvalid", err, tc.want)
			}
		})
	}
}

func TestDigest(t *testing.T) {
	// sha256("abc") from FIPS 180-2.
	if got, want := Digest([]byte("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; got != want {
		t.Errorf("Digest(abc) = %s, want %s", got, want)
	}
}

func TestCheckExpiry(t *testing.T) {
	b := testBundle() // notAfter 2030-01-02T04:04:05Z
	na := time.Date(2030, 1, 2, 4, 4, 5, 0, time.UTC)
	if err := b.CheckExpiry(na); err != nil {
		t.Errorf("at notAfter itself: %v, want nil", err)
	}
	err := b.CheckExpiry(na.Add(time.Second))
	if !errors.Is(err, ErrExpired) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("one second after notAfter: %v, want ErrExpired wrapping ErrInvalid", err)
	}
	if want := "expired: metadata.notAfter 2030-01-02T04:04:05Z is before now (2030-01-02T04:04:06Z)"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	b.Metadata.NotAfter = time.Time{}
	if err := b.CheckExpiry(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Errorf("no notAfter: %v, want nil", err)
	}
}

// compileSchema loads docs/bundle.schema.json.
func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	f, err := os.Open(filepath.Join("..", "docs", "bundle.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddResource("bundle.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("bundle.schema.json")
	if err != nil {
		t.Fatalf("compiling docs/bundle.schema.json: %v", err)
	}
	return s
}

func schemaValidate(s *jsonschema.Schema, data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

func TestSchemaAcceptsEncoderOutput(t *testing.T) {
	s := compileSchema(t)
	cases := map[string]*Bundle{"full": testBundle()}
	withInjectors := testBundle()
	withInjectors.Guards.Injectors = []InjectorGuard{{Service: "payments", ErrorRate: 0.05, P99Ms: 800}, {Service: "cart", P99Ms: 300}}
	cases["injector guards"] = withInjectors
	minimal := testBundle()
	minimal.Profiles = nil
	minimal.Metadata.Params = nil
	minimal.Metadata.NotAfter = time.Time{}
	minimal.Metadata.Source.Files = nil
	cases["minimal"] = minimal
	for name, b := range cases {
		if err := schemaValidate(s, mustEncode(t, b)); err != nil {
			t.Errorf("%s: schema rejects Encode's output: %v", name, err)
		}
	}
}

// mutate decodes the canonical test bundle into generic JSON, applies f and
// encodes it again (not canonically).
func mutate(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustEncode(t, testBundle()), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// profile returns profile i of a generic bundle; canonical order is
// cart-redis-drop, checkout-payment-abort, frontend-cart-latency,
// search-catalog-corrupt.
func profile(m map[string]any, i int) map[string]any {
	return m["profiles"].([]any)[i].(map[string]any)
}

func TestDecodeRejects(t *testing.T) {
	s := compileSchema(t)
	canon := string(mustEncode(t, testBundle()))
	for _, tc := range []struct {
		name string
		data []byte
		want string // the whole error message
		// schema: the JSON Schema rejects it too; false for rules it cannot
		// express or syntax it never sees.
		schema bool
	}{
		{"unknown top-level field", mutate(t, func(m map[string]any) { m["extra"] = 1 }), `unknown field "extra"`, true},
		{"unknown profile field", mutate(t, func(m map[string]any) { profile(m, 2)["weight"] = 1 }),
			`profile "frontend-cart-latency": unknown field "weight"`, true},
		{"key in another case", mutate(t, func(m map[string]any) { p := profile(m, 1); p["Rate"] = p["rate"]; delete(p, "rate") }),
			`profile "checkout-payment-abort": unknown field "Rate"`, true},
		{"rate above 1", mutate(t, func(m map[string]any) { profile(m, 1)["rate"] = 1.5 }),
			"profile \"checkout-payment-abort\": rate: 1.5 is outside [0, 1]\nprofile \"checkout-payment-abort\": maxRate: 0.05 is below rate 1.5", true},
		{"negative rate", mutate(t, func(m map[string]any) { profile(m, 0)["rate"] = -0.1 }),
			`profile "cart-redis-drop": rate: -0.1 is outside [0, 1]`, true},
		{"maxRate below rate", mutate(t, func(m map[string]any) { profile(m, 3)["maxRate"] = 0.01 }),
			`profile "search-catalog-corrupt": maxRate: 0.01 is below rate 0.02`, false},
		{"empty callee", mutate(t, func(m map[string]any) { profile(m, 0)["target"].(map[string]any)["callee"] = "" }),
			`profile "cart-redis-drop": target.callee: must not be empty`, true},
		{"duplicate ids", mutate(t, func(m map[string]any) { profile(m, 1)["id"] = "cart-redis-drop" }),
			`profile "cart-redis-drop": id: duplicate id (also profiles[0])`, false},
		{"unknown fault type", mutate(t, func(m map[string]any) { profile(m, 0)["fault"] = map[string]any{"type": "explode"} }),
			`profile "cart-redis-drop": fault.type: unknown fault type "explode", want latency, abort, drop or corrupt`, true},
		{"field of another fault type", mutate(t, func(m map[string]any) { profile(m, 0)["fault"].(map[string]any)["delayMs"] = 5 }),
			`profile "cart-redis-drop": fault.delayMs: not allowed for a drop fault`, true},
		{"abort without status", mutate(t, func(m map[string]any) { profile(m, 1)["fault"] = map[string]any{"type": "abort"} }),
			`profile "checkout-payment-abort": fault.httpStatus: an abort fault needs httpStatus or grpcStatus`, true},
		{"http status out of range", mutate(t, func(m map[string]any) { profile(m, 1)["fault"].(map[string]any)["httpStatus"] = 200 }),
			`profile "checkout-payment-abort": fault.httpStatus: 200 is outside 400..599`, true},
		{"bad corrupt mode", mutate(t, func(m map[string]any) { profile(m, 3)["fault"].(map[string]any)["mode"] = "shred" }),
			`profile "search-catalog-corrupt": fault.mode: "shred" is not truncate, bitflip or empty`, true},
		{"bad severity", mutate(t, func(m map[string]any) { profile(m, 3)["severity"] = "high" }),
			`profile "search-catalog-corrupt": severity: "high" is not minor, moderate or critical`, true},
		{"bad id", mutate(t, func(m map[string]any) { profile(m, 3)["id"] = "Bad_ID" }),
			`profile "Bad_ID": id: must be 1 to 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit`, true},
		{"missing id", mutate(t, func(m map[string]any) { delete(profile(m, 3), "id") }),
			`profiles[3]: id: must not be empty`, true},
		{"string rate", mutate(t, func(m map[string]any) { profile(m, 2)["rate"] = "0.1" }),
			`profile "frontend-cart-latency": rate: got a JSON string, want a number`, true},
		{"fractional status", mutate(t, func(m map[string]any) { profile(m, 1)["fault"].(map[string]any)["httpStatus"] = 503.5 }),
			`profile "checkout-payment-abort": fault.httpStatus: 503.5 is not an integer in range`, true},
		{"null", mutate(t, func(m map[string]any) { m["guards"] = nil }), `guards: null is not allowed, want an object`, true},
		{"wrong apiVersion", mutate(t, func(m map[string]any) { m["apiVersion"] = "chaosgen/v2" }),
			`apiVersion: "chaosgen/v2" is not supported, want "chaosgen/v1"`, true},
		{"negative seed", mutate(t, func(m map[string]any) { m["metadata"].(map[string]any)["seed"] = -1 }),
			`metadata.seed: -1 is not a non-negative integer in range`, true},
		{"bad time", mutate(t, func(m map[string]any) { m["metadata"].(map[string]any)["notAfter"] = "tomorrow" }),
			`metadata.notAfter: "tomorrow" is not an RFC 3339 time`, true},
		{"bad sha256", mutate(t, func(m map[string]any) {
			m["metadata"].(map[string]any)["source"].(map[string]any)["files"].([]any)[0].(map[string]any)["sha256"] = "ABC"
		}), `metadata.source.files[0].sha256: "ABC" is not 64 lowercase hex digits`, true},
		{"guard rate above 1", mutate(t, func(m map[string]any) { m["guards"].(map[string]any)["maxGlobalRate"] = 2 }),
			`guards.maxGlobalRate: 2 is outside [0, 1]`, true},
		{"injector error rate above 1", mutate(t, func(m map[string]any) {
			m["guards"].(map[string]any)["injectors"] = []any{map[string]any{"service": "cart", "errorRate": 1.5, "p99Ms": 800}}
		}), `guards.injectors[0].errorRate: 1.5 is outside [0, 1]`, true},
		{"injector without service", mutate(t, func(m map[string]any) {
			m["guards"].(map[string]any)["injectors"] = []any{map[string]any{"service": "", "errorRate": 0.05, "p99Ms": 800}}
		}), `guards.injectors[0].service: must not be empty`, true},
		{"duplicate key", []byte(strings.Replace(canon, `"rate": 0.001,`, `"rate": 0.001, "rate": 0.9,`, 1)),
			`profile "cart-redis-drop": duplicate key "rate"`, false},
		{"trailing data", []byte(canon + "{}"), `unexpected data after the bundle object`, false},
		{"truncated", []byte(canon[:len(canon)/2]), `malformed JSON: unexpected EOF`, false},
		{"overflowing number", []byte(strings.Replace(canon, `"rate": 0.001,`, `"rate": 1e999,`, 1)),
			`profile "cart-redis-drop": rate: 1e999 is out of range`, false},
		{"not an object", []byte(`[]`), `got a JSON array, want an object`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data)
			if err == nil {
				t.Fatalf("Decode accepted it:\n%s", tc.data)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.HasSuffix(err.Error(), tc.want) {
				t.Errorf("error =\n%s\nwant it to end with\n%s", err, tc.want)
			}
			if tc.schema {
				if err := schemaValidate(s, tc.data); err == nil {
					t.Errorf("the JSON Schema accepts what Decode rejects")
				}
			}
		})
	}
}

func TestDecodeErrorLocation(t *testing.T) {
	data := mutate(t, func(m map[string]any) { profile(m, 2)["rate"] = 7 })
	_, err := Decode(data)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if e.Profile != "frontend-cart-latency" || e.Index != 2 || e.Field != "rate" {
		t.Errorf("error located at profile %q index %d field %q, want frontend-cart-latency, 2, rate", e.Profile, e.Index, e.Field)
	}
}
