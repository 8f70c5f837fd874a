package profilegen

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/internal/testseed"
	"github.com/chaosgen/chaosgen/internal/usage"
)

// TestGenerateGolden: each finding kind becomes the expected profile, and
// the whole bundle matches testdata/shop.json.
func TestGenerateGolden(t *testing.T) {
	res := mustGenerate(t, testAnalysis(), testOptions())
	b := res.Bundle
	data := mustEncode(t, b)
	golden.Check(t, filepath.Join("testdata", "shop.json"), data)

	for _, tc := range []struct {
		id                string
		fault             bundle.Fault
		rate, maxRate, ps float64
		severity          string
		target            bundle.Target
	}{
		// latency: delay = p99 − p50 = 40 − 8, jitter = p90 − p50 = 15 − 8; minor; 0.05 × (1 − 0.6/2)
		{"latency-frontend-checkout", bundle.Fault{Type: "latency", DelayMs: 32, JitterMs: 7}, 0.035, 0.1, 0, "minor", bundle.Target{Caller: "frontend", Callee: "checkout"}},
		// errors on a critical gRPC edge: its most frequent gRPC status; 0.01 × 0.7; 5× → 0.035; 0.035 × 400/s > 2/s
		{"errors-checkout-payment", bundle.Fault{Type: "abort", GRPCStatus: 14}, 0.007, 0.035, 2, "critical", bundle.Target{Caller: "checkout", Callee: "payment"}},
		// errors that are mostly timeouts: drop; moderate; 0.02 × 0.85
		{"errors-frontend-search", bundle.Fault{Type: "drop"}, 0.017, 0.085, 0, "moderate", bundle.Target{Caller: "frontend", Callee: "search"}},
		// capacity: factor from latency_ratio (3.14159 → 3.1); 0.05 × 0.85 = 0.0425 → 0.043
		{"capacity-search-db", bundle.Fault{Type: "latency", Factor: 3.1}, 0.043, 0.1, 0, "minor", bundle.Target{Caller: "search", Callee: "db"}},
		// anomaly led by errors_z: abort with the edge's HTTP status
		{"anomaly-frontend-recs", bundle.Fault{Type: "abort", HTTPStatus: 502}, 0.018, 0.09, 0, "moderate", bundle.Target{Caller: "frontend", Callee: "recs"}},
		// corrupt on critical edges: 0.1 × the critical rate
		{"corrupt-checkout-payment", bundle.Fault{Type: "corrupt", Mode: "truncate"}, 0.0007, 0.0035, 0, "critical", bundle.Target{Caller: "checkout", Callee: "payment"}},
		{"corrupt-frontend-checkout", bundle.Fault{Type: "corrupt", Mode: "truncate"}, 0.0007, 0.0035, 0, "critical", bundle.Target{Caller: "frontend", Callee: "checkout"}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			p := profileByID(t, b, tc.id)
			if p.Fault != tc.fault {
				t.Errorf("fault = %+v, want %+v", p.Fault, tc.fault)
			}
			if p.Rate != tc.rate || p.MaxRate != tc.maxRate || p.PerSecond != tc.ps {
				t.Errorf("rate, maxRate, perSecond = %v, %v, %v; want %v, %v, %v", p.Rate, p.MaxRate, p.PerSecond, tc.rate, tc.maxRate, tc.ps)
			}
			if p.Severity != tc.severity || p.Target != tc.target {
				t.Errorf("severity %q target %+v; want %q %+v", p.Severity, p.Target, tc.severity, tc.target)
			}
			if p.Rationale.Summary == "" || len(p.Rationale.Scores) == 0 || len(p.Rationale.Features) == 0 {
				t.Errorf("rationale incomplete: %+v", p.Rationale)
			}
		})
	}
	if len(b.Profiles) != 7 {
		t.Errorf("%d profiles, want 7", len(b.Profiles))
	}
	if res.Findings != 8 || res.BelowScore != 1 || res.NoEdge != 1 || res.Merged != 1 || res.Filtered != 0 {
		t.Errorf("counts: %+v", res)
	}
	// Guards, from the edges as one window of the whole day (the fixture
	// has no windows): the root edge's 100000 calls a day are 11.6 per 10 s
	// guard window, judged at 20: at 1% errors, 6 of 20 failures have odds
	// below 1e-6 (5 of 20: 1.6e-6), so rootErrorRate 0.3. payment (35
	// errors in 60000 calls) with its abort profile at 0.7%: 5 of 20, 0.25;
	// the fixture has no max_ms, so no p99 limits; maxActiveFaults
	// maxGlobalRate: db's capacity profile faults 0.043 of its calls, one
	// per trace: 0.043 + 2.33 × √(0.043/20) = 0.151, up to 0.16;
	// maxActiveFaults ⌈2 × 50/s × 0.16 × (80 + 39) ms⌉ = 2.
	want := bundle.Guards{MaxGlobalRate: 0.16, MaxActiveFaults: 2, AbortIf: bundle.AbortIf{RootErrorRate: 0.3},
		Injectors: []bundle.InjectorGuard{{Service: "checkout", ErrorRate: 0.4}, {Service: "db", ErrorRate: 0.4},
			{Service: "payment", ErrorRate: 0.25}, {Service: "recs", ErrorRate: 0.35}, {Service: "search", ErrorRate: 0.35}}}
	if !reflect.DeepEqual(b.Guards, want) {
		t.Errorf("guards = %+v, want %+v", b.Guards, want)
	}
	p := profileByID(t, b, "latency-frontend-checkout")
	if p.Rationale.Features["episodes"] != 2 || p.Rationale.Scores["finding"] != 0.8 || p.Rationale.Features["evidence.p99_ms"] != 120 {
		t.Errorf("latency rationale does not keep the best finding and count the episodes: %+v", p.Rationale)
	}
	if !strings.Contains(p.Rationale.Summary, "delaying 3.5% of its calls by 32 ms (+ up to 7 ms)") {
		t.Errorf("summary = %q", p.Rationale.Summary)
	}
	m := b.Metadata
	if m.Source.Files[0].Path != "traces/day.parquet" || !m.Source.TimeRange.Start.Equal(t0) || !m.NotAfter.IsZero() || m.Seed != 7 {
		t.Errorf("metadata = %+v", m)
	}
}

// TestGenerateDecodes: the output passes strict decoding and validation.
func TestGenerateDecodes(t *testing.T) {
	data := mustEncode(t, mustGenerate(t, testAnalysis(), testOptions()).Bundle)
	b, err := bundle.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	again := mustEncode(t, b)
	if !bytes.Equal(again, data) {
		t.Error("decode + encode changed the bytes")
	}
}

// TestGenerateDeterministic: twice gives the same bytes, and so do
// shuffled findings and edges, and the same analysis read from a directory.
func TestGenerateDeterministic(t *testing.T) {
	want := mustEncode(t, mustGenerate(t, testAnalysis(), testOptions()).Bundle)
	if got := mustEncode(t, mustGenerate(t, testAnalysis(), testOptions()).Bundle); !bytes.Equal(got, want) {
		t.Fatal("two runs differ")
	}
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 0))
	for i := range 20 {
		a := testAnalysis()
		r.Shuffle(len(a.Findings), func(i, j int) { a.Findings[i], a.Findings[j] = a.Findings[j], a.Findings[i] })
		r.Shuffle(len(a.Edges), func(i, j int) { a.Edges[i], a.Edges[j] = a.Edges[j], a.Edges[i] })
		if got := mustEncode(t, mustGenerate(t, a, testOptions()).Bundle); !bytes.Equal(got, want) {
			t.Fatalf("shuffle %d (seed %d) changed the bundle", i, seed)
		}
	}
	dir := writeAnalysisDir(t, testAnalysis())
	a, err := Load(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := mustEncode(t, mustGenerate(t, a, testOptions()).Bundle); !bytes.Equal(got, want) {
		t.Error("the analysis read back from a directory gives another bundle")
	}
}

func ids(b *bundle.Bundle) []string {
	var out []string
	for _, p := range b.Profiles {
		out = append(out, p.ID)
	}
	return out
}

// TestGenerateFlags: --max-rate caps, --min-score filters, --include and
// --exclude select edges, --not-after and the params are recorded.
func TestGenerateFlags(t *testing.T) {
	t.Run("max-rate", func(t *testing.T) {
		opt := testOptions()
		opt.MaxRate = 0.01
		b := mustGenerate(t, testAnalysis(), opt).Bundle
		for _, p := range b.Profiles {
			if p.Rate > 0.01 || p.MaxRate > 0.01 {
				t.Errorf("%s: rate %v maxRate %v above --max-rate 0.01", p.ID, p.Rate, p.MaxRate)
			}
		}
		if p := profileByID(t, b, "latency-frontend-checkout"); p.Rate != 0.01 || p.MaxRate != 0.01 {
			t.Errorf("latency profile not capped to 0.01: %v %v", p.Rate, p.MaxRate)
		}
		// maxGlobalRate is at least --max-rate, with room for a 20-request
		// window's fluctuation: checkout's latency profile at 0.01 of all
		// its calls, one call per trace, gives 0.01 + 2.33 × √(0.01/20)
		if b.Guards.MaxGlobalRate != 0.065 || b.Metadata.Params["maxRate"] != "0.01" {
			t.Errorf("maxGlobalRate %v, params %v", b.Guards.MaxGlobalRate, b.Metadata.Params)
		}
	})
	t.Run("min-score", func(t *testing.T) {
		opt := testOptions()
		opt.MinScore = 0.85
		res := mustGenerate(t, testAnalysis(), opt)
		if got, want := ids(res.Bundle), []string{"corrupt-checkout-payment", "errors-checkout-payment"}; !slices.Equal(got, want) {
			t.Errorf("profiles %v, want %v", got, want)
		}
		if res.BelowScore != 6 {
			t.Errorf("%d below score, want 6", res.BelowScore)
		}
	})
	for _, tc := range []struct {
		name             string
		include, exclude []string
		want             []string
	}{
		{"include callee", []string{"*->payment"}, nil, []string{"corrupt-checkout-payment", "errors-checkout-payment"}},
		{"include two", []string{"search->db", "frontend->re*"}, nil, []string{"anomaly-frontend-recs", "capacity-search-db"}},
		{"exclude caller", nil, []string{"frontend->*"}, []string{"capacity-search-db", "corrupt-checkout-payment", "errors-checkout-payment"}},
		{"include and exclude", []string{"frontend->*"}, []string{"*->checkout", "*->search"}, []string{"anomaly-frontend-recs"}},
		{"root only", []string{"->frontend"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := testOptions()
			opt.Include, opt.Exclude = tc.include, tc.exclude
			res := mustGenerate(t, testAnalysis(), opt)
			if got := ids(res.Bundle); !slices.Equal(got, tc.want) {
				t.Errorf("profiles %v, want %v", got, tc.want)
			}
			if res.Filtered == 0 {
				t.Error("no finding counted as filtered")
			}
		})
	}
	t.Run("not-after", func(t *testing.T) {
		opt := testOptions()
		opt.NotAfter = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		data := mustEncode(t, mustGenerate(t, testAnalysis(), opt).Bundle)
		if !bytes.Contains(data, []byte(`"notAfter": "2030-01-01T00:00:00Z"`)) {
			t.Error("notAfter missing")
		}
	})
	for _, tc := range []struct {
		name string
		opt  func(*Options)
		want string
	}{
		{"max rate", func(o *Options) { o.MaxRate = 1.5 }, "--max-rate must be in (0, 1], got 1.5"},
		{"min score", func(o *Options) { o.MinScore = -0.1 }, "--min-score must be in [0, 1], got -0.1"},
		{"pattern", func(o *Options) { o.Include = []string{"payment"} }, `edge pattern "payment": want CALLER->CALLEE`},
		{"glob", func(o *Options) { o.Exclude = []string{"a->[b"} }, `edge pattern "a->[b": syntax error in pattern`},
		{"name", func(o *Options) { o.Name = "" }, "bundle name is empty"},
	} {
		t.Run("error "+tc.name, func(t *testing.T) {
			opt := testOptions()
			tc.opt(&opt)
			_, err := Generate(testAnalysis(), opt)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, usage.Err) {
				t.Errorf("error %v, want a usage error %q", err, tc.want)
			}
		})
	}
}

func TestEdgePattern(t *testing.T) {
	for _, tc := range []struct {
		pattern, caller, callee string
		want                    bool
	}{
		{"checkout->payment", "checkout", "payment", true},
		{"checkout->payment", "cart", "payment", false},
		{"*->payment", "cart", "payment", true},
		{"*->payment", "", "payment", true},
		{"->frontend", "", "frontend", true},
		{"->frontend", "lb", "frontend", false},
		{"check*->pay?ent", "checkout", "payment", true},
		{" cart -> redis ", "cart", "redis", true},
	} {
		p, err := ParseEdgePattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := p.Match(tc.caller, tc.callee); got != tc.want {
			t.Errorf("%q matches %q->%q = %v, want %v", tc.pattern, tc.caller, tc.callee, got, tc.want)
		}
	}
	for _, bad := range []string{"payment", "a->", "a->[", "[->b"} {
		if _, err := ParseEdgePattern(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestIDs(t *testing.T) {
	for in, want := range map[string]string{
		"latency-frontend-checkout":          "latency-frontend-checkout",
		"errors-Frontend_API-cart.v2":        "errors-frontend-api-cart.v2",
		"anomaly-ingress-/api/users/{id}":    "anomaly-ingress-api-users-id",
		"--x--":                              "x",
		"!!!":                                "profile",
		"latency-" + strings.Repeat("a", 80): "latency-" + strings.Repeat("a", 55),
	} {
		if got := sanitizeID(in); got != want {
			t.Errorf("sanitizeID(%q) = %q, want %q", in, got, want)
		}
	}
	// Edges whose names sanitize alike get numeric suffixes, in edge order.
	a := testAnalysis()
	a.Edges = append(a.Edges,
		analysis.EdgeRow{Caller: "search", Callee: "DB", CallStats: analysis.CallStats{Calls: 10, P50Ms: 1, P90Ms: 2, P99Ms: 3}},
		analysis.EdgeRow{Caller: "search", Callee: "d_b", CallStats: analysis.CallStats{Calls: 10, P50Ms: 1, P90Ms: 2, P99Ms: 3}})
	a.Findings = append(a.Findings,
		finding(analysis.KindLatency, "search", "DB", 0.5, nil),
		finding(analysis.KindLatency, "search", "d_b", 0.5, nil),
		finding(analysis.KindLatency, "search", "db", 0.5, nil))
	b := mustGenerate(t, a, testOptions()).Bundle
	for id, callee := range map[string]string{"latency-search-db": "DB", "latency-search-d-b": "d_b", "latency-search-db-2": "db"} {
		if p := profileByID(t, b, id); p.Target.Callee != callee {
			t.Errorf("%s targets %q, want %q", id, p.Target.Callee, callee)
		}
	}
}

func TestFaultRules(t *testing.T) {
	e := testEdges()
	// An HTTP edge without HTTP error codes: 503. A gRPC edge without codes: 14.
	if f := errorsFault(&analysis.EdgeRow{Protocol: "http", ErrorCodes: "0:3", CallStats: analysis.CallStats{Errors: 3}}); f.HTTPStatus != 503 || f.GRPCStatus != 0 {
		t.Errorf("http default: %+v", f)
	}
	if f := errorsFault(&analysis.EdgeRow{Protocol: "grpc"}); f.GRPCStatus != 14 {
		t.Errorf("grpc default: %+v", f)
	}
	// No protocol, gRPC-looking codes: gRPC.
	if f := errorsFault(&analysis.EdgeRow{ErrorCodes: "4:9,500:1"}); f.GRPCStatus != 4 {
		t.Errorf("unknown protocol with gRPC codes: %+v", f)
	}
	// A latency fault is at least 1 ms.
	if f := latencyFault(&analysis.EdgeRow{CallStats: analysis.CallStats{P50Ms: 5, P90Ms: 5, P99Ms: 5}}); f.DelayMs != 1 || f.JitterMs != 0 {
		t.Errorf("flat edge: %+v", f)
	}
	// Capacity: evidence first, then p99 over baseline, then the edge; clamped.
	for _, tc := range []struct {
		ev   map[string]float64
		want float64
	}{
		{map[string]float64{"latency_ratio_above_knee": 4.28, "latency_ratio": 2}, 4.3},
		{map[string]float64{"p99_ms": 50, "baseline_p99_ms": 10}, 5},
		{nil, 4}, // search->db: 12/3
		{map[string]float64{"latency_ratio": 1.01}, MinFactor},
		{map[string]float64{"latency_ratio": 40}, MaxFactor},
	} {
		if got, _ := capacityFactor(tc.ev, &e[4]); got != tc.want {
			t.Errorf("capacityFactor(%v) = %v, want %v", tc.ev, got, tc.want)
		}
	}
	// Anomalies by dominant feature.
	for _, tc := range []struct {
		ev   map[string]float64
		want string
	}{
		{map[string]float64{"p99_z": 5, "errors_z": 1}, "latency"},
		{map[string]float64{"p99_z": 5, "timeouts_z": 6}, "drop"},
		{map[string]float64{"calls_residual_z": 9, "p50_z": 1}, "latency"}, // load: a factor
		{map[string]float64{"p99_z": 9, "retries_z": 1, "dominant_retries_z": 1}, "abort"},
		{map[string]float64{"error_rate": 0.05}, "abort"}, // 0.05 / 0.0005: 100× the edge's rate
		{map[string]float64{"anomaly_score": 0.9}, "latency"},
	} {
		f, _ := anomalyFault(tc.ev, &e[5])
		if f.Type != tc.want {
			t.Errorf("anomaly %v: %s, want %s", tc.ev, f.Type, tc.want)
		}
	}
	if f, _ := anomalyFault(map[string]float64{"calls_residual_z": 9}, &e[5]); f.Factor <= 1 {
		t.Errorf("load anomaly: %+v, want a factor", f)
	}
	// The milder ladder.
	for _, tc := range []struct{ from, want bundle.Fault }{
		{bundle.Fault{Type: "drop"}, bundle.Fault{Type: "abort", HTTPStatus: 504}},
		{bundle.Fault{Type: "corrupt", Mode: "truncate"}, bundle.Fault{Type: "abort", HTTPStatus: 504}},
		{bundle.Fault{Type: "abort", HTTPStatus: 504}, bundle.Fault{Type: "latency", DelayMs: 78, JitterMs: 18}},
		{bundle.Fault{Type: "latency", DelayMs: 78, JitterMs: 18}, bundle.Fault{Type: "latency", DelayMs: 39, JitterMs: 9}},
		{bundle.Fault{Type: "latency", Factor: 3}, bundle.Fault{Type: "latency", Factor: 2}},
	} {
		if got, ok := milder(tc.from, &e[3]); !ok || got != tc.want {
			t.Errorf("milder(%+v) = %+v, %v; want %+v", tc.from, got, ok, tc.want)
		}
	}
	if _, ok := milder(bundle.Fault{Type: "latency", DelayMs: 1.5}, &e[3]); ok {
		t.Error("a 1.5 ms delay has a milder form")
	}
}

func TestNoRootEdges(t *testing.T) {
	a := testAnalysis()
	a.Edges = a.Edges[1:]
	res := mustGenerate(t, a, testOptions())
	g := res.Bundle.Guards
	if g.AbortIf != (bundle.AbortIf{}) || g.MaxActiveFaults != len(res.Bundle.Profiles) {
		t.Errorf("guards without root edges: %+v", g)
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), "no root edges") {
		t.Errorf("warnings %q", res.Warnings)
	}
}
