package importer

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/chaosgen/chaosgen/internal/shared"
	"google.golang.org/protobuf/proto"
)

// fuzzParser checks that a parser never panics on hostile bytes, that what
// it writes keeps the call invariants, and that it allocates within bounds.
func fuzzParser(f *testing.F, format Format, m *CSVMapping, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if root, ok := shared.Root(); ok {
		dir := map[Format]string{FormatOTLPJSON: "otlp_json", FormatJaegerJSON: "jaeger_json", FormatZipkinJSON: "zipkin_json"}[format]
		if dir != "" {
			files, _ := filepath.Glob(filepath.Join(root, "data/traces", dir, "*.json"))
			for _, p := range files {
				if b, err := os.ReadFile(p); err == nil && len(b) < 16<<10 {
					f.Add(b)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, calls, err := runBytes(data, format, m)
		if err == nil {
			checkCalls(t, calls)
			if int64(len(calls)) != rep.Calls {
				t.Errorf("%d calls written, report says %d", len(calls), rep.Calls)
			}
		}
	})
}

func FuzzOTLPJSON(f *testing.F) {
	fuzzParser(f, FormatOTLPJSON, nil,
		`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a"}}]},"scopeSpans":[{"spans":[{"traceId":"0102","spanId":"03","parentSpanId":"04","kind":3,"startTimeUnixNano":"5","endTimeUnixNano":"9","attributes":[{"key":"peer.service","value":{"stringValue":"b"}}]}]}]}]}`+"\n{}",
		`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01","spanId":"01","parentSpanId":"01"}]}]}]}`)
}

func FuzzOTLPProto(f *testing.F) {
	b, _ := proto.Marshal(genTraces(3, 9))
	f.Add(b)
	f.Add(append([]byte{0, 0, 0, byte(len(b) >> 8), byte(len(b))}[1:], b...))
	fuzzParser(f, FormatOTLPProto, nil, "\x0a\x00", "\x00\x00\x00\x02\x0a\x00")
}

func FuzzJaegerJSON(f *testing.F) {
	fuzzParser(f, FormatJaegerJSON, nil,
		`{"data":[{"traceID":"1","spans":[{"spanID":"2","references":[{"refType":"CHILD_OF","spanID":"3"}],"startTime":5,"duration":1,"processID":"p1","tags":[{"key":"span.kind","value":"client"},{"key":"error","value":true}]}],"processes":{"p1":{"serviceName":"a"}}}]}`,
		`{"traceID":"1","spans":[],"processes":{}}`)
}

func FuzzZipkinJSON(f *testing.F) {
	fuzzParser(f, FormatZipkinJSON, nil, messy,
		`[{"traceId":"1","id":"2","kind":"CLIENT","timestamp":3,"duration":4,"remoteEndpoint":{"serviceName":"b"},"tags":{"error":""}}]`)
}

func FuzzCSV(f *testing.F) {
	d, n := Presets["deeptralog"], Presets["nezha"]
	f.Add([]byte("StartTime,EndTime,URL,SpanType,Service,SpanId,TraceId,Peer,ParentSpan,Component,IsError\n1,3,/a,Entry,s,a.0,t,s,-1,x,False\n1,2,/b,Exit,s,a.1,t,p,a.0,x,True\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []*CSVMapping{&d, &n} {
			rep, calls, err := runBytes(data, FormatCSV, m)
			if err == nil {
				checkCalls(t, calls)
				if int64(len(calls)) != rep.Calls {
					t.Errorf("%d calls written, report says %d", len(calls), rep.Calls)
				}
			}
		}
	})
}
