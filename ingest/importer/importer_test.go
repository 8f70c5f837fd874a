package importer

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/chaosgen/chaosgen/internal/shared"
	"github.com/google/go-cmp/cmp"
)

// wantEdge is an edge worked out by reading the file (see the comments and
// ../shared/data/traces/README.md), not by running the importer.
type wantEdge struct {
	caller, callee string
	calls, errors  int64
	sumNs          int64 // sum of call latencies; -1: not checked
}

type realCase struct {
	file          string
	format        string
	spans, traces int64
	calls         int64
	edges         []wantEdge
	issues        map[Issue]int64 // checked when not nil (absent issues must be 0)
}

var realCases = []realCase{
	// Each ERROR trace: an Entry at ts-admin-basic-info-service and an Exit
	// to ts-config-service (no Entry there in 259 traces); 11 traces also
	// have the config-service Entry and its Exit to ts-config-mongo.
	{file: "deeptralog/F05-04_ERROR_SpanData2021-08-07_21-02-22.csv", format: "csv", spans: 562, traces: 270, calls: 551,
		edges: []wantEdge{
			{"", "ts-admin-basic-info-service", 270, 270, 812259e6},
			{"ts-admin-basic-info-service", "ts-config-service", 270, 270, 811144e6},
			{"ts-config-service", "ts-config-mongo", 11, 0, 9e6},
		}, issues: map[Issue]int64{}},
	{file: "deeptralog/F08-01_ERROR_SpanData2021-07-29_19-15-36.csv", format: "csv", spans: 604, traces: 151, calls: 453,
		edges: []wantEdge{
			{"", "ts-order-service", 151, 151, 5877e6},
			{"ts-order-service", "ts-order-mongo", 151, 0, 324e6},
			{"ts-order-service", "ts-station-service", 151, 151, 2642e6},
		}, issues: map[Issue]int64{}},
	{file: "deeptralog/normal_put_consign_SUCCESS_SpanData_first300traces.csv", format: "csv", spans: 1800, traces: 300, calls: 1500,
		edges: []wantEdge{
			{"", "ts-consign-service", 300, 0, 3478e6},
			{"ts-consign-price-service", "ts-consign-price-mongo", 300, 0, 186e6},
			{"ts-consign-service", "ts-consign-mongo", 600, 0, 668e6},
			{"ts-consign-service", "ts-consign-price-service", 300, 0, 1714e6},
		}, issues: map[Issue]int64{}},
	// Every cross-service child's parent is the caller's client span (its
	// only child), so a call's latency is the parent's End-Start.
	{file: "nezha_onlineboutique/2022-08-22_06_28_trace.csv", format: "csv", spans: 7060, traces: 510, calls: 2072,
		edges: []wantEdge{
			{"", "frontend", 510, 0, 26341174913},
			{"checkoutservice", "cartservice", 30, 0, 260727447},
			{"checkoutservice", "emailservice", 7, 0, 93087930},
			{"checkoutservice", "paymentservice", 7, 0, 151781639},
			{"checkoutservice", "productcatalogservice", 16, 0, 231941392},
			{"checkoutservice", "shippingservice", 14, 0, 139963180},
			{"frontend", "adservice", 60, 0, 1219972643},
			{"frontend", "cartservice", 127, 0, 799351337},
			{"frontend", "checkoutservice", 23, 0, 1168988856},
			{"frontend", "currencyservice", 674, 0, 17249246503},
			{"frontend", "productcatalogservice", 456, 0, 4613942083},
			{"frontend", "recommendationservice", 74, 0, 1009723346},
			{"recommendationservice", "productcatalogservice", 74, 0, 678625104},
		}, issues: map[Issue]int64{}},
	// OrderVehicle (load-generator, root) -> CLIENT HTTP GET 968334µs ->
	// SERVER BikeHandler in ride-sharing-app.
	{file: "jaeger_json/jaeger-ui_flamegraph_testTrace.json", format: "jaeger-json", spans: 4, traces: 1, calls: 2,
		edges:  []wantEdge{{"", "load-generator", 1, 0, 1181596e3}, {"load-generator", "ride-sharing-app", 1, 0, 968334e3}},
		issues: map[Issue]int64{}},
	// SERVER GET /api/customer/owners 3720µs -> CLIENT GET /owners 2977µs ->
	// SERVER in customers-service with 14 same-service query spans.
	{file: "jaeger_json/jaeger-ui_spanAmongEachOtherGroupedAndSpans.json", format: "jaeger-json", spans: 17, traces: 1, calls: 2,
		edges:  []wantEdge{{"", "api-gateway", 1, 0, 3720e3}, {"api-gateway", "customers-service", 1, 0, 2977e3}},
		issues: map[Issue]int64{}},
	// span-3 (client, 66ms) -> span-4 (server, service2); span-6 (producer,
	// 20ms) -> span-7 (consumer, FOLLOWS_FROM); span-2 and span-2_1 are
	// clients with no server span and no peer.service.
	{file: "jaeger_json/jaeger-ui_tracegraph_testTrace.json", format: "jaeger-json", spans: 11, traces: 1, calls: 3,
		edges:  []wantEdge{{"", "service1", 1, 0, 390e6}, {"service1", "service2", 2, 0, 86e6}},
		issues: map[Issue]int64{IssueClientNoCallee: 2}},
	// Two identical SERVER spans whose parent is not in the file; the
	// caller comes from peer.service.
	{file: "jaeger_json/jaeger_otlp2jaeger-out.json", format: "jaeger-json", spans: 2, traces: 1, calls: 1,
		edges:  []wantEdge{{"telemetrygen-client", "telemetrygen", 1, 0, 123e3}},
		issues: map[Issue]int64{IssueDuplicateSpanID: 1, IssueOrphan: 1}},
	{file: "otlp_json/jaeger_otlp2jaeger-in.json", format: "otlp-json", spans: 2, traces: 1, calls: 1,
		edges:  []wantEdge{{"telemetrygen-client", "telemetrygen", 1, 0, 123e3}},
		issues: map[Issue]int64{IssueDuplicateSpanID: 1, IssueOrphan: 1}},
	// Four orphans of service-x, all status ERROR, 5µs each: SERVER and
	// CONSUMER called by peer.service service-y, CLIENT and PRODUCER calling it.
	{file: "otlp_json/jaeger_otel_traces_01.json", format: "otlp-json", spans: 4, traces: 2, calls: 4,
		edges:  []wantEdge{{"service-x", "service-y", 2, 2, 10e3}, {"service-y", "service-x", 2, 2, 10e3}},
		issues: map[Issue]int64{IssueOrphan: 4}},
	{file: "otlp_json/opentelemetry-proto_trace.json", format: "otlp-json", spans: 1, traces: 1, calls: 1,
		edges:  []wantEdge{{"", "my.service", 1, 0, 1e9}},
		issues: map[Issue]int64{IssueOrphan: 1}},
	// Shared ids pair CLIENT and SERVER halves; 9d2d35b746db84f3 has five
	// SERVER halves (4 duplicates); 3 calls lack a duration. Edges as worked
	// out by hand from the span list. pusher's CLIENT 5f35e80a5a50fdca
	// (2513µs) has no server half and no remote service, but http.url
	// http://archiver.st.internal/events names the host it called.
	{file: "zipkin/smartthings-oauth-authorization.json", format: "zipkin-json", spans: 175, traces: 1, calls: 34,
		edges: []wantEdge{
			{"", "datamgmt", 1, 0, 1429e3},
			{"datamgmt", "account", 5, 0, 16920e3},
			{"datamgmt", "auth", 20, 0, 1040577e3},
			{"datamgmt", "bouncer", 1, 0, 1668e3},
			{"pusher", "archiver.st.internal", 1, 0, 2513e3},
			{"pusher", "dove", 1, 0, 1704e3},
			{"pusher", "paperboy", 1, 0, 1475e3},
			{"stlogin", "auth", 2, 1, 421351e3},
			{"stlogin", "datamgmt", 2, 0, 122345e3},
		}},
	// routing (root) -> unknown's CLIENT -> yelp_main/api_proxy; yelp-main's
	// CLIENT -> mobile_api; clients to memcache, mysql, blt by remoteEndpoint.
	{file: "zipkin/yelp.json", format: "zipkin-json", spans: 16, traces: 1, calls: 13,
		edges: []wantEdge{
			{"", "routing", 1, 0, 131848e3},
			{"mobile_api", "blt", 1, 0, 14000e3},
			{"mobile_api", "memcache", 2, 0, 2092e3},
			{"mobile_api", "spectre", 1, 0, 3000e3},
			{"unknown", "yelp_main/api_proxy", 1, 0, 125000e3},
			{"yelp-main", "memcache", 3, 0, 2294e3},
			{"yelp-main", "mobile_api", 1, 0, 56000e3},
			{"yelp-main", "mysql", 2, 0, 819e3},
			{"yelp_main/api_proxy", "yelp-main", 1, 0, 3884e3},
		}, issues: map[Issue]int64{IssueClientOtherService: 3}},
	// One CLIENT span, no local service, remote backend, otel.status_code ERROR.
	{file: "zipkin_json/otelcol-contrib_zipkinreceiver_sample3.json", format: "zipkin-json", spans: 1, traces: 1, calls: 1,
		edges:  []wantEdge{{"", "backend", 1, 1, 207e6}},
		issues: map[Issue]int64{IssueOrphan: 1}},
}

func TestRealFiles(t *testing.T) {
	for _, tc := range realCases {
		t.Run(tc.file, func(t *testing.T) {
			path := shared.Path(t, "data/traces/"+tc.file)
			out := filepath.Join(t.TempDir(), "spans.parquet")
			rep, err := Import(out, []string{path}, Options{Writer: ingest.WriterOptions{RowGroupRows: 500}})
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Files[0].Format; got != tc.format {
				t.Errorf("format %s, want %s", got, tc.format)
			}
			if rep.Spans != tc.spans || rep.Traces != tc.traces || rep.Calls != tc.calls {
				t.Errorf("spans %d traces %d calls %d, want %d %d %d", rep.Spans, rep.Traces, rep.Calls, tc.spans, tc.traces, tc.calls)
			}
			var got []wantEdge
			for _, e := range rep.Edges {
				got = append(got, wantEdge{e.Caller, e.Callee, e.Calls, e.Errors, e.DurationNano})
			}
			if diff := cmp.Diff(tc.edges, got, cmp.AllowUnexported(wantEdge{})); diff != "" {
				t.Errorf("edges (-want +got):\n%s", diff)
			}
			if tc.issues != nil {
				if diff := cmp.Diff(tc.issues, rep.Counts); diff != "" {
					t.Errorf("issues (-want +got):\n%s", diff)
				}
			}
			spans, err := ingest.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			checkCalls(t, spans)
			if int64(len(spans)) != rep.Calls {
				t.Errorf("read back %d rows, report says %d", len(spans), rep.Calls)
			}
			var buf bytes.Buffer
			rep.Files[0].Path = filepath.Base(path)
			if err := rep.Print(&buf); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", strings.ReplaceAll(tc.file, "/", "_")+".golden"), buf.Bytes())
		})
	}
}

// checkCalls asserts the invariants of every imported call.
func checkCalls(t *testing.T, spans []ingest.Span) {
	t.Helper()
	for i, s := range spans {
		switch {
		case s.Callee == "":
			t.Errorf("row %d: empty callee: %+v", i, s)
		case s.Stack == nil && s.Depth >= MaxStack:
			// a deep call keeps no stack (deep_stack)
		case int(s.Depth)+1 != len(s.Stack):
			t.Errorf("row %d: depth %d with stack %q", i, s.Depth, s.Stack)
		case s.Stack[len(s.Stack)-1] != s.Callee:
			t.Errorf("row %d: stack %q does not end at callee %s", i, s.Stack, s.Callee)
		case s.Depth > 0 && s.Stack[len(s.Stack)-2] != s.Caller:
			t.Errorf("row %d: stack %q does not pass through caller %s", i, s.Stack, s.Caller)
		case s.Depth == 0 && s.Caller != "":
			t.Errorf("row %d: depth 0 with caller %s", i, s.Caller)
		case s.DurationNano < 0 || s.StartUnixNano == 0:
			t.Errorf("row %d: bad timing %d+%d", i, s.StartUnixNano, s.DurationNano)
		}
	}
}

// TestOTLPAndJaegerAgree reads the two sides of Jaeger's OTLP→Jaeger
// conversion fixture: both must give the same calls.
func TestOTLPAndJaegerAgree(t *testing.T) {
	a := runFile(t, shared.Path(t, "data/traces/otlp_json/jaeger_otlp2jaeger-in.json"), Options{})
	b := runFile(t, shared.Path(t, "data/traces/jaeger_json/jaeger_otlp2jaeger-out.json"), Options{})
	if len(a) != 1 {
		t.Fatalf("got %d calls, want 1", len(a))
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("otlp vs jaeger (-otlp +jaeger):\n%s", diff)
	}
}

func runFile(t testing.TB, path string, opt Options) []ingest.Span {
	t.Helper()
	var calls []ingest.Span
	if _, err := Run([]string{path}, opt, func(s []ingest.Span) error { calls = append(calls, s...); return nil }); err != nil {
		t.Fatal(err)
	}
	return calls
}

// TestCSVFlagsMatchPreset maps the Nezha file by hand, as a user would
// with --map, and expects the preset's result.
func TestCSVFlagsMatchPreset(t *testing.T) {
	path := shared.Path(t, "data/traces/nezha_onlineboutique/2022-08-22_06_28_trace.csv")
	m := &CSVMapping{TimeUnit: 1, ServiceRegexp: `^(.+)-[^-]+-[^-]+$`, RootParents: []string{"root"}, InferClients: true}
	if err := m.ParseColumns("trace_id=TraceID,span_id=SpanID,parent_span_id=ParentID,service=PodName,operation=OperationName,start=StartTimeUnixNano,duration=Duration"); err != nil {
		t.Fatal(err)
	}
	m.DurationUnit = 1000 // the Duration column is in µs
	byHand := runFile(t, path, Options{Format: FormatCSV, CSV: m})
	preset := runFile(t, path, Options{})
	if len(byHand) != 2072 || len(preset) != 2072 {
		t.Fatalf("got %d and %d calls, want 2072", len(byHand), len(preset))
	}
	// The Duration column is whole µs: latencies agree to the µs.
	for i := range preset {
		a, b := preset[i], byHand[i]
		if a.SpanID != b.SpanID || a.Caller != b.Caller || a.Callee != b.Callee || a.DurationNano/1000 != b.DurationNano/1000 {
			t.Fatalf("call %d: preset %+v, by hand %+v", i, a, b)
		}
	}
}
