package importer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/google/go-cmp/cmp"
)

// messy is a Zipkin trace with one of each problem (ids are hex).
const messy = `[
{"traceId":"a1","id":"0a","kind":"SERVER","name":"root","timestamp":1000000,"duration":500,"localEndpoint":{"serviceName":"A"}},
{"traceId":"a1","id":"0a","kind":"SERVER","name":"root again","timestamp":1000001,"duration":400,"localEndpoint":{"serviceName":"A"}},
{"traceId":"a1","id":"0c","parentId":"0a","kind":"SERVER","name":"early","timestamp":999000,"duration":100,"localEndpoint":{"serviceName":"B"}},
{"traceId":"a1","id":"0e","parentId":"ffff","kind":"SERVER","name":"lost","timestamp":1000100,"duration":10,"localEndpoint":{"serviceName":"C"}},
{"traceId":"a1","id":"0d","parentId":"0a","kind":"SERVER","name":"no duration","timestamp":1000100,"localEndpoint":{"serviceName":"D"}},
{"traceId":"a1","id":"1d","parentId":"0d","kind":"SERVER","name":"under it","timestamp":1000110,"duration":20,"localEndpoint":{"serviceName":"E"}},
{"traceId":"a1","id":"0f","parentId":"0a","kind":"SERVER","name":"no time","duration":20,"localEndpoint":{"serviceName":"F"}},
{"traceId":"a1","id":"b1","parentId":"b2","kind":"SERVER","name":"loop","timestamp":1000200,"duration":5,"localEndpoint":{"serviceName":"G"}},
{"traceId":"a1","id":"b2","parentId":"b1","kind":"SERVER","name":"loop","timestamp":1000200,"duration":5,"localEndpoint":{"serviceName":"G"}},
{"traceId":"a1","id":"b3","parentId":"b3","kind":"SERVER","name":"self","timestamp":1000200,"duration":5,"localEndpoint":{"serviceName":"G"}},
{"traceId":"a1","id":"c1","parentId":"0a","kind":"SERVER","name":"nameless","timestamp":1000300,"duration":5},
{"traceId":"a1","kind":"SERVER","name":"no id","timestamp":1000300,"duration":5}
]`

func TestMessyInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "messy.json")
	if err := os.WriteFile(path, []byte(messy), 0o644); err != nil {
		t.Fatal(err)
	}
	var calls []ingest.Span
	rep, err := Run([]string{path}, Options{}, func(s []ingest.Span) error { calls = append(calls, s...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	wantIssues := map[Issue]int64{IssueDuplicateSpanID: 1, IssueClockSkew: 1, IssueOrphan: 1, IssueMissingDuration: 1,
		IssueMissingTimestamp: 1, IssueCycle: 3, IssueMissingID: 1}
	if diff := cmp.Diff(wantIssues, rep.Counts); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
	type call struct{ ID, Parent, Caller, Callee, Op string }
	var got []call
	for _, c := range calls {
		got = append(got, call{c.SpanID, c.ParentSpanID, c.Caller, c.Callee, c.Operation})
	}
	// The kept root is the first duplicate by start; the span without a
	// service inherits its parent's and is an intra-service span of A.
	want := []call{
		{"000000000000000c", "000000000000000a", "A", "B", "early"},
		{"000000000000000a", "", "", "A", "root"},
		{"000000000000000e", "000000000000ffff", "", "C", "lost"},
		{"000000000000001d", "000000000000000d", "D", "E", "under it"}, // its parent call was dropped
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	checkCalls(t, calls)
	var buf bytes.Buffer
	if err := rep.Print(&buf); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("testdata", "messy.golden"), bytes.ReplaceAll(buf.Bytes(), []byte(path), []byte("messy.json")))
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		format     Format
		wantErr    string // "" when the import goes on
		bad        int64
	}{
		{"empty file", "", FormatAuto, "empty file", 0},
		{"not a format", "hello world\n", FormatAuto, "cannot tell the format", 0},
		{"unknown csv", "a,b,c\n1,2,3\n", FormatAuto, "fits no preset", 0},
		{"truncated otlp line", `{"resourceSpans":[]}` + "\n" + `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"01","spanId":"02"}]}]}]}` + "\n{\"resou", FormatAuto, "", 1},
		{"otlp with bad id", `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz!","spanId":"02"}]}]}]}`, FormatOTLPJSON, "", 1},
		{"zipkin bad span", `[{"traceId": 5}, {"traceId":"01","id":"02","timestamp":1,"duration":1}]`, FormatZipkinJSON, "", 1},
		{"zipkin truncated", `[{"traceId": 5}`, FormatZipkinJSON, "EOF", 0},
		{"jaeger not an object", `[1,2]`, FormatJaegerJSON, "want {", 0},
		{"proto truncated", "\x0a\x05\x0a\x03", FormatOTLPProto, "truncated", 0},
		{"proto huge prefix", "\xff\xff\xff\xff\x0a", FormatOTLPProto, "not OTLP protobuf", 0},
		{"csv missing column", "TraceID,SpanID\n1,2\n", FormatCSV, "fits no preset", 0},
		{"csv bad quote", "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration\na,b,root,p-1-2,op,1,2,3\n\"x\"y,1,2\n", FormatAuto, "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, _, err := runBytes([]byte(tc.data), tc.format, nil)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if tc.wantErr == "" && rep.Counts[IssueBadRecord] != tc.bad {
				t.Errorf("bad records %d, want %d (%v)", rep.Counts[IssueBadRecord], tc.bad, rep.Examples)
			}
		})
	}
}

// runBytes imports data as one file in memory.
func runBytes(data []byte, f Format, m *CSVMapping) (*Report, []ingest.Span, error) {
	var calls []ingest.Span
	rep := newReport()
	st := &state{rep: rep, open: map[string]*trace{}, max: 1 << 12, write: func(s []ingest.Span) error {
		calls = append(calls, s...)
		return nil
	}}
	err := st.read("input", bytes.NewReader(data), Options{Format: f, CSV: m})
	if err == nil {
		err = st.flushAll()
	}
	rep.finish()
	return rep, calls, err
}
