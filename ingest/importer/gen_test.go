package importer

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/google/go-cmp/cmp"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// genTraces makes n traces of a 3-service chain, each as a frontend SERVER
// span, a CLIENT span, the backend's SERVER span and a CLIENT span to a
// database (peer.service): 4 spans and 3 calls a trace. Every 10th backend
// call fails with HTTP 503. Spans are grouped by service, as SDKs batch them.
func genTraces(n int, seed uint64) *tracepb.TracesData {
	r := rand.New(rand.NewPCG(seed, 1))
	kv := func(k, v string) *commonpb.KeyValue {
		return &commonpb.KeyValue{Key: k, Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: v}}}
	}
	res := func(svc string) *tracepb.ResourceSpans {
		return &tracepb.ResourceSpans{
			Resource:   &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv("service.name", svc)}},
			ScopeSpans: []*tracepb.ScopeSpans{{}},
		}
	}
	front, back := res("frontend"), res("backend")
	id := func(k int) []byte {
		b := make([]byte, k)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	t0 := uint64(1_700_000_000_000_000_000)
	for i := range n {
		tid := id(16)
		root, cl, srv, db := id(8), id(8), id(8), id(8)
		st := t0 + uint64(i)*1_000_000
		lat := uint64(1_000_000 + r.IntN(9_000_000))
		status := int64(200)
		if i%10 == 0 {
			status = 503
		}
		code := &commonpb.KeyValue{Key: "http.response.status_code", Value: &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: status}}}
		front.ScopeSpans[0].Spans = append(front.ScopeSpans[0].Spans,
			&tracepb.Span{TraceId: tid, SpanId: root, Name: "GET /", Kind: tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: st, EndTimeUnixNano: st + lat + 2_000_000},
			&tracepb.Span{TraceId: tid, SpanId: cl, ParentSpanId: root, Name: "GET", Kind: tracepb.Span_SPAN_KIND_CLIENT,
				StartTimeUnixNano: st + 500_000, EndTimeUnixNano: st + 500_000 + lat, Attributes: []*commonpb.KeyValue{code}})
		back.ScopeSpans[0].Spans = append(back.ScopeSpans[0].Spans,
			&tracepb.Span{TraceId: tid, SpanId: srv, ParentSpanId: cl, Name: "GET /items", Kind: tracepb.Span_SPAN_KIND_SERVER,
				StartTimeUnixNano: st + 700_000, EndTimeUnixNano: st + 300_000 + lat, Attributes: []*commonpb.KeyValue{kv("http.route", "/items"), kv("http.request.method", "GET"), code}},
			&tracepb.Span{TraceId: tid, SpanId: db, ParentSpanId: srv, Name: "SELECT", Kind: tracepb.Span_SPAN_KIND_CLIENT,
				StartTimeUnixNano: st + 800_000, EndTimeUnixNano: st + 900_000, Attributes: []*commonpb.KeyValue{kv("peer.service", "postgres")}})
	}
	return &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{front, back}}
}

// writeProto writes td as one message, or as the Collector file exporter
// does (after its length as 4 bytes, big-endian).
func writeProto(t testing.TB, path string, td *tracepb.TracesData, prefixed bool) {
	b, err := proto.Marshal(td)
	if err != nil {
		t.Fatal(err)
	}
	if prefixed {
		b = append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// otlpJSONLine marshals td as OTLP JSON on one line, with hex ids as the
// OTLP spec (and the Collector) writes them.
func otlpJSONLine(t testing.TB, td *tracepb.TracesData) []byte {
	b, err := protojson.MarshalOptions{UseEnumNumbers: true}.Marshal(td)
	if err != nil {
		t.Fatal(err)
	}
	// protojson writes ids as base64: turn them into hex.
	var out bytes.Buffer
	for _, part := range bytes.SplitAfter(b, []byte(`Id":"`)) {
		if end := bytes.IndexByte(part, '"'); out.Len() > 0 && end >= 0 {
			raw, err := base64.StdEncoding.DecodeString(string(part[:end]))
			if err != nil {
				t.Fatal(err)
			}
			out.WriteString(strings.ToUpper(hex.EncodeToString(raw)))
			out.Write(part[end:])
			continue
		}
		out.Write(part)
	}
	return bytes.ReplaceAll(out.Bytes(), []byte("\n"), nil)
}

func TestOTLPForms(t *testing.T) {
	td := genTraces(50, 1)
	dir := t.TempDir()
	files := map[string]string{}
	add := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = p
	}
	bare, _ := proto.Marshal(td)
	add("bare.pb", bare)
	// the file exporter: one length-prefixed message per batch
	var stream []byte
	var lines []byte
	for _, rs := range td.ResourceSpans {
		m, _ := proto.Marshal(&tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{rs}})
		stream = append(binary.BigEndian.AppendUint32(stream, uint32(len(m))), m...)
		lines = append(append(lines, otlpJSONLine(t, &tracepb.TracesData{ResourceSpans: []*tracepb.ResourceSpans{rs}})...), '\n')
	}
	add("stream.pb", stream)
	add("lines.json", lines)
	add("body.json", otlpJSONLine(t, td))
	want := runFile(t, files["bare.pb"], Options{Format: FormatOTLPProto})
	if len(want) != 150 {
		t.Fatalf("bare proto: %d calls, want 150", len(want))
	}
	checkCalls(t, want)
	c := want[1]
	if c.Caller != "frontend" || c.Callee != "backend" || c.Operation != "GET /items" || c.StatusCode != 503 || !c.Error || c.Depth != 1 {
		t.Errorf("frontend->backend call: %+v", c)
	}
	for _, name := range []string{"stream.pb", "lines.json", "body.json"} {
		got := runFile(t, files[name], Options{})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s differs from bare.pb (-bare +%s):\n%s", name, name, diff)
		}
	}
}

// TestDeterministic imports the same spans in two orders and expects the
// same Parquet bytes.
func TestDeterministic(t *testing.T) {
	td := genTraces(300, 2)
	shuffled := proto.Clone(td).(*tracepb.TracesData)
	r := rand.New(rand.NewPCG(7, 7))
	for _, rs := range shuffled.ResourceSpans {
		sp := rs.ScopeSpans[0].Spans
		r.Shuffle(len(sp), func(i, j int) { sp[i], sp[j] = sp[j], sp[i] })
	}
	shuffled.ResourceSpans[0], shuffled.ResourceSpans[1] = shuffled.ResourceSpans[1], shuffled.ResourceSpans[0]
	dir := t.TempDir()
	var outs [][]byte
	for i, d := range []*tracepb.TracesData{td, shuffled} {
		in := filepath.Join(dir, "in.pb")
		writeProto(t, in, d, i == 1)
		out := filepath.Join(dir, "out.parquet")
		if _, err := Import(out, []string{in}, Options{}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("shuffled input gave different Parquet bytes")
	}
}

// TestBoundedMemory imports with a small span bound: traces are resolved
// early and counted, and the calls stay the same (each trace arrives whole
// before the bound is hit when spans come a trace at a time).
func TestBoundedMemory(t *testing.T) {
	td := genTraces(200, 3)
	// one resource per trace: the spans of a trace arrive together
	var byTrace tracepb.TracesData
	for i := range 200 {
		rs := &tracepb.ResourceSpans{Resource: td.ResourceSpans[0].Resource, ScopeSpans: []*tracepb.ScopeSpans{{}}}
		rs.ScopeSpans[0].Spans = append(rs.ScopeSpans[0].Spans, td.ResourceSpans[0].ScopeSpans[0].Spans[2*i:2*i+2]...)
		rs2 := &tracepb.ResourceSpans{Resource: td.ResourceSpans[1].Resource, ScopeSpans: []*tracepb.ScopeSpans{{}}}
		rs2.ScopeSpans[0].Spans = append(rs2.ScopeSpans[0].Spans, td.ResourceSpans[1].ScopeSpans[0].Spans[2*i:2*i+2]...)
		byTrace.ResourceSpans = append(byTrace.ResourceSpans, rs, rs2)
	}
	in := filepath.Join(t.TempDir(), "in.pb")
	writeProto(t, in, &byTrace, false)
	var all, bounded []ingest.Span
	if _, err := Run([]string{in}, Options{}, func(s []ingest.Span) error { all = append(all, s...); return nil }); err != nil {
		t.Fatal(err)
	}
	rep, err := Run([]string{in}, Options{MaxOpenSpans: 10}, func(s []ingest.Span) error {
		bounded = append(bounded, s...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Counts[IssueEvictedTrace] < 190 {
		t.Errorf("evicted %d traces, want most of 200", rep.Counts[IssueEvictedTrace])
	}
	if rep.Counts[IssueOrphan] != 0 || len(bounded) != len(all) || len(all) != 600 {
		t.Errorf("bounded import: %d calls (%d unbounded), %d orphans", len(bounded), len(all), rep.Counts[IssueOrphan])
	}
	key := func(s []ingest.Span) map[string]ingest.Span {
		m := map[string]ingest.Span{}
		for _, c := range s {
			m[c.TraceID+c.SpanID] = c
		}
		return m
	}
	if diff := cmp.Diff(key(all), key(bounded)); diff != "" {
		t.Errorf("bounded calls differ:\n%s", diff)
	}
}
