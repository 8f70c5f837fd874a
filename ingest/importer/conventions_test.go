package importer

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/shared"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// conv is the part of a call the semantic-convention tests check.
type conv struct {
	ID, Caller, Callee, Op string
	Depth                  int32
	Status                 int32
	Err, TimedOut          bool
	Retry                  int32
	StartMs, DurMs         int64
}

// convBase is the time the conventions file counts from.
const convBase = 1700000000000000000

func convCalls(calls []ingest.Span, base int64) []conv {
	out := make([]conv, 0, len(calls))
	for _, c := range calls {
		out = append(out, conv{c.SpanID, c.Caller, c.Callee, c.Operation, c.Depth, c.StatusCode, c.Error, c.TimedOut,
			c.RetryCount, (c.StartUnixNano - base) / 1e6, c.DurationNano / 1e6})
	}
	return out
}

// wantConventions are the calls of testdata/conventions.otlp.json, worked
// out span by span from the OpenTelemetry semantic conventions (times in
// ms from the file's base time):
//
// Trace 0af7...319c: shop/frontend (service.name frontend, service.namespace
// shop) serves GET /checkout and makes nine client calls:
//   - ...02 GET, 404, has its SERVER half in cart (GET /cart, 404): one
//     call, operation from the server, an error because a CLIENT fails on
//     4xx (the SERVER alone would not).
//   - ...03 db.system.name postgresql, db.namespace orders, no address:
//     callee postgresql/orders.
//   - ...04 db.system redis with the old net.peer.name cache-1 and
//     net.peer.port 6379 (the address wins over the system): cache-1:6379;
//     error.type timeout: an error and a timeout.
//   - ...05 PRODUCER, messaging.system kafka, destination orders.
//   - ...06 server.address api.stripe.com, server.port 443, 504 (error,
//     timeout), http.request.resend_count 2 (a retry).
//   - ...07 service.peer.name inventory-v2 wins over peer.service
//     inventory, http.response.status_code 200 over the old
//     http.status_code 500: no error.
//   - ...08 gRPC rpc.grpc.status_code 4 at server.address ledger: a CLIENT
//     error and a timeout (DEADLINE_EXCEEDED).
//   - ...09 no attribute names a callee: client_without_callee, no call.
//
// cart, under ...02, calls store (rpc.status_code "NOT_FOUND" as a string:
// a CLIENT error) and search (http.status_code 500.0 as a double, old
// http.resend_count 1, but status OK set by the application: not an error).
//
// Trace 0af7...31a0, all in cart: root ...3001 rpc.response.status_code
// NOT_FOUND (a SERVER span: not an error), a second root ...3002 with
// rpc.status_code UNAVAILABLE (a SERVER error), and a CLIENT whose only
// callee is url.full's host, 503.0 (double) and error.type
// java.net.SocketTimeoutException (error, timeout); and a gRPC CLIENT to
// pricing, status 0, whose grpc-previous-rpc-attempts metadata (a string
// array) is ["1"]: a retry.
var wantConventions = []conv{
	{"1000000000000001", "", "shop/frontend", "GET /checkout", 0, 200, false, false, 0, 0, 100},
	{"1000000000000002", "shop/frontend", "cart", "GET /cart", 1, 404, true, false, 0, 1, 10},
	{"2000000000000002", "cart", "store", "cart.Store/Get", 2, 5, true, false, 0, 3, 2},
	{"2000000000000003", "cart", "search", "search", 2, 500, false, false, 1, 6, 2},
	{"1000000000000003", "shop/frontend", "postgresql/orders", "SELECT orders", 1, 0, false, false, 0, 12, 3},
	{"1000000000000004", "shop/frontend", "cache-1:6379", "GET", 1, 0, true, true, 0, 16, 50},
	{"1000000000000005", "shop/frontend", "kafka/orders", "orders publish", 1, 0, false, false, 0, 67, 1},
	{"1000000000000006", "shop/frontend", "api.stripe.com:443", "POST", 1, 504, true, true, 2, 69, 20},
	{"1000000000000007", "shop/frontend", "inventory-v2", "GET", 1, 200, false, false, 0, 90, 2},
	{"1000000000000008", "shop/frontend", "ledger", "ledger.Ledger/Post", 1, 4, true, true, 0, 93, 3},
	{"3000000000000001", "", "cart", "cart.Cart/Get", 0, 5, false, false, 0, 200, 10},
	{"3000000000000002", "", "cart", "cart.Cart/Put", 0, 14, true, false, 0, 201, 5},
	{"3000000000000003", "cart", "images.example.com:8443", "GET", 1, 503, true, true, 0, 207, 2},
	{"3000000000000004", "cart", "pricing", "pricing.Pricing/Quote", 1, 0, false, false, 1, 209, 1},
}

func TestOTLPConventions(t *testing.T) {
	var calls []ingest.Span
	rep, err := Run([]string{"testdata/conventions.otlp.json"}, Options{}, func(s []ingest.Span) error { calls = append(calls, s...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantConventions, convCalls(calls, convBase)); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[Issue]int64{IssueClientNoCallee: 1}, rep.Counts); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
	checkCalls(t, calls)
	var timeouts, retries int64
	for _, e := range rep.Edges {
		timeouts += e.Timeouts
		retries += e.Retries
	}
	if timeouts != 4 || retries != 3 {
		t.Errorf("report: %d timeouts, %d retries, want 4 and 3", timeouts, retries)
	}
}

// TestTempoBatches reads the same trace as Tempo's API writes it: batches
// instead of resourceSpans, base64 ids, instrumentationLibrarySpans, enum
// numbers.
func TestTempoBatches(t *testing.T) {
	otlp := runFile(t, "testdata/conventions.otlp.json", Options{})
	tempo := runFile(t, "testdata/conventions.tempo.json", Options{})
	if len(otlp) != len(wantConventions) {
		t.Fatalf("otlp: %d calls, want %d", len(otlp), len(wantConventions))
	}
	if diff := cmp.Diff(otlp, tempo); diff != "" {
		t.Errorf("otlp vs tempo (-otlp +tempo):\n%s", diff)
	}
	rep, err := Run([]string{"testdata/conventions.tempo.json"}, Options{}, func([]ingest.Span) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files[0].Format != string(FormatOTLPJSON) {
		t.Errorf("tempo file detected as %s", rep.Files[0].Format)
	}
}

// TestJaegerZipkinTags checks the same conventions on Jaeger and Zipkin
// tags: kinds from span.kind, error tags, status codes as numbers or
// strings, peer.service and the address fallbacks, the service.namespace
// process tag.
func TestJaegerZipkinTags(t *testing.T) {
	jaeger := `{"data":[{"traceID":"a1","processes":{"p1":{"serviceName":"web","tags":[{"key":"service.namespace","type":"string","value":"shop"}]},"p2":{"serviceName":"api"}},
 "spans":[
  {"traceID":"a1","spanID":"01","operationName":"GET /","startTime":1000000,"duration":900000,"processID":"p1","tags":[{"key":"span.kind","value":"server"},{"key":"http.status_code","type":"int64","value":200}]},
  {"traceID":"a1","spanID":"02","references":[{"refType":"CHILD_OF","spanID":"01"}],"operationName":"GET","startTime":1010000,"duration":100000,"processID":"p1","tags":[{"key":"span.kind","value":"client"},{"key":"http.status_code","type":"int64","value":429}]},
  {"traceID":"a1","spanID":"03","references":[{"refType":"CHILD_OF","spanID":"02"}],"operationName":"GET /x","startTime":1020000,"duration":50000,"processID":"p2","tags":[{"key":"span.kind","value":"server"},{"key":"http.status_code","type":"int64","value":429}]},
  {"traceID":"a1","spanID":"04","references":[{"refType":"CHILD_OF","spanID":"01"}],"operationName":"query","startTime":1200000,"duration":30000,"processID":"p1","tags":[{"key":"span.kind","value":"client"},{"key":"db.type","value":"sql"},{"key":"db.instance","value":"users"},{"key":"error","type":"bool","value":true}]},
  {"traceID":"a1","spanID":"05","references":[{"refType":"CHILD_OF","spanID":"01"}],"operationName":"get","startTime":1300000,"duration":20000,"processID":"p1","tags":[{"key":"span.kind","value":"client"},{"key":"peer.service","value":"memcached"},{"key":"error","type":"bool","value":false}]},
  {"traceID":"a1","spanID":"06","references":[{"refType":"CHILD_OF","spanID":"01"}],"operationName":"GET","startTime":1400000,"duration":40000,"processID":"p1","tags":[{"key":"span.kind","value":"client"},{"key":"peer.hostname","value":"geo"},{"key":"peer.port","type":"int64","value":8080},{"key":"http.status_code","type":"float64","value":504}]}
 ]}]}`
	zipkin := `[
 {"traceId":"b1","id":"01","kind":"SERVER","name":"get /","timestamp":1000000,"duration":900000,"localEndpoint":{"serviceName":"web"},"tags":{"http.status_code":"503"}},
 {"traceId":"b1","id":"02","parentId":"01","kind":"CLIENT","name":"get","timestamp":1010000,"duration":100000,"localEndpoint":{"serviceName":"web"},"remoteEndpoint":{"serviceName":"api"},"tags":{"http.status_code":"404"}},
 {"traceId":"b1","id":"03","parentId":"01","kind":"CLIENT","name":"get","timestamp":1200000,"duration":30000,"localEndpoint":{"serviceName":"web"},"tags":{"peer.service":"search","error":""}},
 {"traceId":"b1","id":"04","parentId":"01","kind":"PRODUCER","name":"send","timestamp":1300000,"duration":5000,"localEndpoint":{"serviceName":"web"},"tags":{"messaging.system":"rabbitmq","messaging.destination":"jobs"}},
 {"traceId":"b1","id":"05","parentId":"01","kind":"CLIENT","name":"post","timestamp":1400000,"duration":10000,"localEndpoint":{"serviceName":"web"},"tags":{"http.url":"http://billing/pay","error":"false"}}
]`
	dir := t.TempDir()
	for _, tc := range []struct {
		name, data string
		want       []conv
	}{
		// web's client 02 pairs with api's server 03: a CLIENT 429 is an
		// error. 04: OpenTracing db.type sql + db.instance users. 05:
		// peer.service, error=false. 06: peer.hostname:peer.port, a 504
		// sent as a float: error and timeout.
		{"jaeger.json", jaeger, []conv{
			{"0000000000000001", "", "shop/web", "GET /", 0, 200, false, false, 0, 1000, 900},
			{"0000000000000002", "shop/web", "api", "GET /x", 1, 429, true, false, 0, 1010, 100},
			{"0000000000000004", "shop/web", "sql/users", "query", 1, 0, true, false, 0, 1200, 30},
			{"0000000000000005", "shop/web", "memcached", "get", 1, 0, false, false, 0, 1300, 20},
			{"0000000000000006", "shop/web", "geo:8080", "GET", 1, 504, true, true, 0, 1400, 40},
		}},
		// Zipkin: a SERVER 503 fails, a CLIENT 404 fails, an empty error
		// tag is an error, error "false" is not; the producer's callee is
		// rabbitmq/jobs, the last client's the host of http.url.
		{"zipkin.json", zipkin, []conv{
			{"0000000000000001", "", "web", "get /", 0, 503, true, false, 0, 1000, 900},
			{"0000000000000002", "web", "api", "get", 1, 404, true, false, 0, 1010, 100},
			{"0000000000000003", "web", "search", "get", 1, 0, true, false, 0, 1200, 30},
			{"0000000000000004", "web", "rabbitmq/jobs", "send", 1, 0, false, false, 0, 1300, 5},
			{"0000000000000005", "web", "billing", "post", 1, 0, false, false, 0, 1400, 10},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			calls := runFile(t, path, Options{})
			if diff := cmp.Diff(tc.want, convCalls(calls, 0)); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompressedInputs imports every format plain, gzipped and zstd
// compressed (as the Collector's file exporter writes them), under names
// with and without the usual extension: the calls must not change.
func TestCompressedInputs(t *testing.T) {
	dir := t.TempDir()
	protoPath := filepath.Join(dir, "traces.pb")
	writeProto(t, protoPath, genTraces(50, 3), true)
	files := []string{"testdata/conventions.otlp.json", "testdata/conventions.tempo.json", protoPath}
	for _, f := range []string{"jaeger_json/jaeger-ui_tracegraph_testTrace.json", "zipkin/yelp.json", "nezha_onlineboutique/2022-08-22_06_28_trace.csv"} {
		files = append(files, shared.Path(t, "data/traces/"+f))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			plain, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want := runFile(t, f, Options{})
			if len(want) == 0 {
				t.Fatal("no calls in the plain file")
			}
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write(plain)
			zw.Close()
			enc, err := zstd.NewWriter(nil)
			if err != nil {
				t.Fatal(err)
			}
			zs := enc.EncodeAll(plain, nil)
			for name, data := range map[string][]byte{"in.gz": gz.Bytes(), "in.zst": zs, "no-extension": gz.Bytes()} {
				path := filepath.Join(t.TempDir(), name)
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, runFile(t, path, Options{})); diff != "" {
					t.Errorf("%s: calls differ from the plain file (-plain +compressed):\n%s", name, diff)
				}
			}
		})
	}
	// A corrupt stream is an error naming the compression.
	path := filepath.Join(dir, "bad.gz")
	if err := os.WriteFile(path, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run([]string{path}, Options{}, func([]ingest.Span) error { return nil }); err == nil || !bytes.Contains([]byte(err.Error()), []byte("gzip")) {
		t.Errorf("corrupt gzip: err %v, want one naming gzip", err)
	}
}

// TestOTLPProtoConventions reads the conventions file converted to OTLP
// protobuf: the same calls as its JSON.
func TestOTLPProtoConventions(t *testing.T) {
	data, err := os.ReadFile("testdata/conventions.otlp.json")
	if err != nil {
		t.Fatal(err)
	}
	var td tracepb.TracesData
	if err := protojson.Unmarshal(rewriteOTLPJSON(data), &td); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&td)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "conventions.pb")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantConventions, convCalls(runFile(t, path, Options{}), convBase)); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
