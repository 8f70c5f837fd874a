package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/internal/golden"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/parquet-go/parquet-go"
)

// randomSpans makes n spans with every column set, including optional ones.
func randomSpans(r *rand.Rand, n int) []Span {
	svcs := []string{"frontend", "cart", "checkout", "payment", "db"}
	faults := []string{"", "", "", FaultLatency, FaultAbort}
	out := make([]Span, n)
	for i := range out {
		caller := svcs[r.IntN(len(svcs))]
		if r.IntN(5) == 0 {
			caller = ""
		}
		ft := faults[r.IntN(len(faults))]
		out[i] = Span{
			TraceID:       fmt.Sprintf("%032x", r.IntN(n/3+1)),
			SpanID:        fmt.Sprintf("%016x", r.Uint64()),
			ParentSpanID:  fmt.Sprintf("%016x", r.Uint64()),
			Caller:        caller,
			Callee:        svcs[r.IntN(len(svcs))],
			Operation:     fmt.Sprintf("GET /%d", r.IntN(4)),
			Depth:         int32(r.IntN(6)),
			Stack:         []string{"frontend", svcs[r.IntN(len(svcs))]},
			StartUnixNano: 1_767_571_200_000_000_000 + r.Int64N(3_600_000_000_000),
			DurationNano:  r.Int64N(1e9),
			StatusCode:    []int32{200, 500, 0, 14}[r.IntN(4)],
			Error:         r.IntN(10) == 0,
			RetryCount:    int32(r.IntN(3)),
			TimedOut:      r.IntN(20) == 0,
			CircuitOpen:   r.IntN(30) == 0,
			Fallback:      r.IntN(25) == 0,
			Injected:      ft != "",
			FaultType:     ft,
		}
		if ft != "" {
			out[i].FaultProfileID = "p-" + ft
			out[i].InjectedAtUnixNano = out[i].StartUnixNano
			out[i].FallbackLatencyNano = r.Int64N(1000)
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	spans := randomSpans(r, 3000)
	path := filepath.Join(t.TempDir(), "spans.parquet")
	w, err := Create(path, WriterOptions{RowGroupRows: 700})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(spans[:1000]); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(spans[1000:]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(spans, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	// The scanner sees the same values as the row reader.
	checkScanMatches(t, path, spans)
}

func TestWriterIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spans.parquet")
	w, err := Create(path, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(randomSpans(rand.New(rand.NewPCG(1, 1)), 10)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("file visible before Close: %v", err)
	}
	w.Abort()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 0 {
		t.Fatalf("Abort left files behind: %v", ents)
	}
}

// checkScanMatches scans every scannable column in small batches across
// several workers and compares with spans.
func checkScanMatches(t *testing.T, path string, spans []Span) {
	t.Helper()
	of, err := Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	cols := scannable()
	got := make([]Span, len(spans))
	seen := make([]bool, len(spans))
	_, err = of.Scan(context.Background(), ScanOptions{Columns: cols, BatchRows: 97, Workers: 3}, func(_ int, b *Batch) error {
		for i := 0; i < b.N; i++ {
			row := b.FirstRow + int64(i)
			if seen[row] {
				return fmt.Errorf("row %d seen twice", row)
			}
			seen[row] = true
			got[row] = scannedSpan(b, i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(withoutStacks(spans), got); diff != "" {
		t.Fatalf("scan (-want +got):\n%s", diff)
	}
	checkHashedMatches(t, of, cols, spans)
}

// scannedSpan is row i of a batch of every scannable column.
func scannedSpan(b *Batch, i int) Span {
	return Span{
		TraceID: string(b.Str[ColTraceID].Value(i)), SpanID: string(b.Str[ColSpanID].Value(i)),
		ParentSpanID: string(b.Str[ColParentSpanID].Value(i)),
		Caller:       string(b.Str[ColCaller].Value(i)), Callee: string(b.Str[ColCallee].Value(i)),
		Operation: string(b.Str[ColOperation].Value(i)), Depth: b.I32[ColDepth][i],
		StartUnixNano: b.I64[ColStartUnixNano][i], DurationNano: b.I64[ColDurationNano][i],
		StatusCode: b.I32[ColStatusCode][i], Error: b.Bool[ColError][i], RetryCount: b.I32[ColRetryCount][i],
		TimedOut: b.Bool[ColTimedOut][i], CircuitOpen: b.Bool[ColCircuitOpen][i], Fallback: b.Bool[ColFallback][i],
		Injected: b.Bool[ColInjected][i], FaultType: string(b.Str[ColFaultType].Value(i)),
		FaultProfileID:      string(b.Str[ColFaultProfileID].Value(i)),
		InjectedAtUnixNano:  b.I64[ColInjectedAtUnixNano][i],
		FallbackLatencyNano: b.I64[ColFallbackLatencyNano][i],
	}
}

// withoutStacks is spans as Scan reads them: without their stacks.
func withoutStacks(spans []Span) []Span {
	out := make([]Span, len(spans))
	for i, s := range spans {
		s.Stack = nil
		out[i] = s
	}
	return out
}

// scannable is every column Scan reads (all but the stack).
func scannable() []Column {
	var cols []Column
	for _, c := range Columns() {
		if c != ColStack {
			cols = append(cols, c)
		}
	}
	return cols
}

// checkHashedMatches scans the string columns as hashes
// (ScanOptions.Hashed) and compares with HashID of the spans' values.
func checkHashedMatches(t *testing.T, of *OpenedFiles, cols []Column, spans []Span) {
	t.Helper()
	hashed := []Column{ColTraceID, ColSpanID, ColParentSpanID, ColCaller, ColOperation, ColFaultType}
	value := func(s *Span, c Column) string {
		return [...]string{ColTraceID: s.TraceID, ColSpanID: s.SpanID, ColParentSpanID: s.ParentSpanID,
			ColCaller: s.Caller, ColOperation: s.Operation, ColFaultType: s.FaultType}[c]
	}
	var rows atomic.Int64 // the workers' callbacks run concurrently
	_, err := of.Scan(context.Background(), ScanOptions{Columns: cols, Hashed: hashed, BatchRows: 89, Workers: 2}, func(_ int, b *Batch) error {
		for i := 0; i < b.N; i++ {
			s := &spans[b.FirstRow+int64(i)]
			for _, c := range hashed {
				v := value(s, c)
				if got, want := b.Hash[c][i], HashID([]byte(v)); got != want {
					return fmt.Errorf("row %d column %s (%q): hash %x, want %x", b.FirstRow+int64(i), c.Name(), v, got, want)
				}
				if (v == "") != (b.Hash[c][i] == 0) {
					return fmt.Errorf("row %d column %s (%q): hash %x: 0 is for empty values only", b.FirstRow+int64(i), c.Name(), v, b.Hash[c][i])
				}
			}
		}
		rows.Add(int64(b.N))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows.Load() != int64(len(spans)) {
		t.Fatalf("hashed scan read %d rows, want %d", rows.Load(), len(spans))
	}
}

func TestHashedColumnsMustBeScannedStrings(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.parquet")
	if err := WriteFile(p, randomSpans(rand.New(rand.NewPCG(1, 2)), 10)); err != nil {
		t.Fatal(err)
	}
	of, err := Open([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	for _, opt := range []ScanOptions{
		{Columns: []Column{ColTraceID}, Hashed: []Column{ColSpanID}},        // not read
		{Columns: []Column{ColStatusCode}, Hashed: []Column{ColStatusCode}}, // not a string
	} {
		_, err := of.Scan(context.Background(), opt, func(int, *Batch) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "cannot be hashed") {
			t.Errorf("Scan(%v): error %v, want one saying the column cannot be hashed", opt.Hashed, err)
		}
	}
}

// foreignSpan is how another tool might write span files: columns in a
// different order, nullable (optional) columns, no dictionary encoding, a
// list column, and columns chaosgen does not know.
type foreignSpan struct {
	Note          string   `parquet:"note"`
	DurationNano  int64    `parquet:"duration_nano"`
	StartUnixNano int64    `parquet:"start_unix_nano"`
	Callee        string   `parquet:"callee"`
	Caller        *string  `parquet:"caller,optional"`
	TraceID       string   `parquet:"trace_id"`
	SpanID        string   `parquet:"span_id"`
	ParentSpanID  string   `parquet:"parent_span_id"`
	Operation     string   `parquet:"operation"`
	Depth         int32    `parquet:"depth"`
	StatusCode    int32    `parquet:"status_code"`
	Error         bool     `parquet:"error"`
	Weight        float64  `parquet:"weight"`
	RetryCount    *int32   `parquet:"retry_count,optional"`
	TimedOut      *bool    `parquet:"timed_out,optional"`
	Stack         []string `parquet:"stack,list"`
}

func TestForeignFile(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	spans := randomSpans(r, 500)
	rows := make([]foreignSpan, len(spans))
	for i, s := range spans {
		f := foreignSpan{
			Note: "x", DurationNano: s.DurationNano, StartUnixNano: s.StartUnixNano,
			Callee: s.Callee, TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID,
			Operation: s.Operation, Depth: s.Depth, StatusCode: s.StatusCode, Error: s.Error,
			Weight: 1.5, Stack: s.Stack,
		}
		if i%3 != 0 { // every third row has null caller and markers
			c, rc, to := s.Caller, s.RetryCount, s.TimedOut
			f.Caller, f.RetryCount, f.TimedOut = &c, &rc, &to
		}
		rows[i] = f
	}
	path := filepath.Join(t.TempDir(), "foreign.parquet")
	if err := parquet.WriteFile(path, rows, parquet.MaxRowsPerRowGroup(128), parquet.PageBufferSize(512)); err != nil {
		t.Fatal(err)
	}
	want := make([]Span, len(spans))
	for i, s := range spans {
		w := Span{
			TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID, Callee: s.Callee,
			Operation: s.Operation, Depth: s.Depth, StartUnixNano: s.StartUnixNano,
			DurationNano: s.DurationNano, StatusCode: s.StatusCode, Error: s.Error, Stack: s.Stack,
		}
		if i%3 != 0 {
			w.Caller, w.RetryCount, w.TimedOut = s.Caller, s.RetryCount, s.TimedOut
		}
		want[i] = w
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ReadFile on a foreign file (-want +got):\n%s", diff)
	}
	checkScanMatches(t, path, want)
}

// arrowSpan is how Arrow (pyarrow) and Spark write span files by default:
// every column dictionary-encoded, numeric and boolean ones too, and
// nullable columns; some writers (Parquet v2) delta-encode timestamps and
// unique strings.
type arrowSpan struct {
	TraceID       string  `parquet:"trace_id,dict"`
	SpanID        string  `parquet:"span_id,delta"`
	ParentSpanID  string  `parquet:"parent_span_id,delta"`
	Caller        string  `parquet:"caller,dict"`
	Callee        string  `parquet:"callee,dict"`
	Operation     string  `parquet:"operation,dict"`
	Depth         int32   `parquet:"depth,dict"`
	StartUnixNano int64   `parquet:"start_unix_nano,delta"`
	DurationNano  int64   `parquet:"duration_nano,dict"`
	StatusCode    int32   `parquet:"status_code,dict"`
	Error         bool    `parquet:"error,dict"`
	RetryCount    *int32  `parquet:"retry_count,optional,dict"`
	TimedOut      *bool   `parquet:"timed_out,optional,dict"`
	Fallback      bool    `parquet:"fallback"`
	FaultType     *string `parquet:"fault_type,optional,dict"`
}

func TestDictionaryEncodedNumbers(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	spans := randomSpans(r, 700)
	rows := make([]arrowSpan, len(spans))
	want := make([]Span, len(spans))
	for i, s := range spans {
		rows[i] = arrowSpan{TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID, Caller: s.Caller,
			Callee: s.Callee, Operation: s.Operation, Depth: s.Depth, StartUnixNano: s.StartUnixNano,
			DurationNano: s.DurationNano, StatusCode: s.StatusCode, Error: s.Error, Fallback: s.Fallback}
		want[i] = Span{TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID, Caller: s.Caller,
			Callee: s.Callee, Operation: s.Operation, Depth: s.Depth, StartUnixNano: s.StartUnixNano,
			DurationNano: s.DurationNano, StatusCode: s.StatusCode, Error: s.Error, Fallback: s.Fallback}
		if i%4 != 0 { // every fourth row has null markers
			rc, to, ft := s.RetryCount, s.TimedOut, fmt.Sprintf("fault-%d", i%3)
			rows[i].RetryCount, rows[i].TimedOut, rows[i].FaultType = &rc, &to, &ft
			want[i].RetryCount, want[i].TimedOut, want[i].FaultType = rc, to, ft
		}
	}
	path := filepath.Join(t.TempDir(), "arrow.parquet")
	// small pages and row groups: many dictionaries, and durations (unique)
	// outgrow theirs mid-chunk
	if err := parquet.WriteFile(path, rows, parquet.MaxRowsPerRowGroup(300), parquet.PageBufferSize(256)); err != nil {
		t.Fatal(err)
	}
	checkDictionaryEncoded(t, path, "depth", "duration_nano", "status_code", "retry_count", "error", "timed_out", "fault_type")
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" { // no stack column: an empty list
		t.Fatalf("ReadFile (-want +got):\n%s", diff)
	}
	checkScanMatches(t, path, want)
}

// checkDictionaryEncoded fails unless the file's first row group stores
// each named column with a dictionary.
func checkDictionaryEncoded(t *testing.T, path string, cols ...string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cols {
		found := false
		for _, c := range pf.Metadata().RowGroups[0].Columns {
			if c.MetaData.PathInSchema[0] == name {
				found = true
				if c.MetaData.DictionaryPageOffset == 0 {
					t.Errorf("column %s has no dictionary: the test does not test what it should", name)
				}
			}
		}
		if !found {
			t.Errorf("column %s not in the file", name)
		}
	}
}

type noDepth struct {
	TraceID       string `parquet:"trace_id"`
	SpanID        string `parquet:"span_id"`
	ParentSpanID  string `parquet:"parent_span_id"`
	Caller        string `parquet:"caller"`
	Callee        string `parquet:"callee"`
	Operation     string `parquet:"operation"`
	StartUnixNano int64  `parquet:"start_unix_nano"`
	DurationNano  int64  `parquet:"duration_nano"`
	StatusCode    int32  `parquet:"status_code"`
	Error         bool   `parquet:"error"`
}

type depthInt64 struct {
	noDepth
	Depth int64 `parquet:"depth"`
}

// minimalCols are the required columns but the start time, for files that
// vary only that.
type minimalCols struct {
	TraceID      string `parquet:"trace_id"`
	SpanID       string `parquet:"span_id"`
	ParentSpanID string `parquet:"parent_span_id"`
	Caller       string `parquet:"caller"`
	Callee       string `parquet:"callee"`
	Operation    string `parquet:"operation"`
	Depth        int32  `parquet:"depth"`
	DurationNano int64  `parquet:"duration_nano"`
	StatusCode   int32  `parquet:"status_code"`
	Error        bool   `parquet:"error"`
}

type startString struct {
	minimalCols
	StartUnixNano string `parquet:"start_unix_nano"`
}

// startMicros is a file whose start times are an Arrow/Spark timestamp in
// microseconds: read as nanoseconds they would be 1000x off.
type startMicros struct {
	minimalCols
	StartUnixNano time.Time `parquet:"start_unix_nano,timestamp(microsecond)"`
}

// startNanos is the same with a timestamp in nanoseconds: accepted.
type startNanos struct {
	minimalCols
	StartUnixNano time.Time `parquet:"start_unix_nano,timestamp(nanosecond)"`
}

func TestTimestampNanosAccepted(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nanos.parquet")
	start := time.Unix(1767225600, 123456789)
	if err := parquet.WriteFile(p, []startNanos{{minimalCols: minimalCols{TraceID: "t", SpanID: "s", Callee: "a", DurationNano: 5}, StartUnixNano: start}}); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].StartUnixNano != start.UnixNano() {
		t.Fatalf("read %+v, want start %d", got, start.UnixNano())
	}
	checkScanMatches(t, p, got)
}

// TestBadInput checks the exact message for each kind of bad file.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.parquet")
	if err := WriteFile(good, randomSpans(rand.New(rand.NewPCG(5, 5)), 2000)); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		path string
	}{
		{"missing-column", func() string {
			p := filepath.Join(dir, "missing-column.parquet")
			if err := parquet.WriteFile(p, []noDepth{{Callee: "a"}}); err != nil {
				t.Fatal(err)
			}
			return p
		}()},
		{"wrong-type", func() string {
			p := filepath.Join(dir, "wrong-type.parquet")
			if err := parquet.WriteFile(p, []depthInt64{{noDepth: noDepth{Callee: "a"}}}); err != nil {
				t.Fatal(err)
			}
			return p
		}()},
		{"wrong-type-string", func() string {
			p := filepath.Join(dir, "wrong-type-string.parquet")
			if err := parquet.WriteFile(p, []startString{{minimalCols: minimalCols{Callee: "a"}}}); err != nil {
				t.Fatal(err)
			}
			return p
		}()},
		{"timestamp-micros", func() string {
			p := filepath.Join(dir, "timestamp-micros.parquet")
			if err := parquet.WriteFile(p, []startMicros{{minimalCols: minimalCols{Callee: "a"}, StartUnixNano: time.Unix(1767225600, 0)}}); err != nil {
				t.Fatal(err)
			}
			return p
		}()},
		{"not-parquet", write("not-parquet.parquet", []byte("trace_id,span_id\n1,2\n"))},
		{"truncated", write("truncated.parquet", data[:len(data)/2])},
		{"empty", write("empty.parquet", nil)},
		{"hostile-footer", write("hostile-footer.parquet", parquetWithFooter(hostileSchemaFooter))},
		{"corrupt-data", func() string {
			b := append([]byte(nil), data...)
			// overwrite the middle of the column data, keep the footer
			for i := 100; i < len(b)/2; i += 7 {
				b[i] ^= 0x5a
			}
			return write("corrupt-data.parquet", b)
		}()},
	}
	var out strings.Builder
	for _, c := range cases {
		err := func() error {
			of, err := Open([]string{c.path})
			if err != nil {
				return err
			}
			defer of.Close()
			_, err = of.Scan(context.Background(), ScanOptions{Columns: []Column{ColTraceID, ColCaller, ColError}}, func(int, *Batch) error { return nil })
			return err
		}()
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
		if !strings.HasPrefix(msg, c.name+".parquet: ") {
			t.Errorf("%s: error does not start with the file name: %s", c.name, msg)
		}
		fmt.Fprintf(&out, "%s: %s\n", c.name, firstLine(msg))
	}
	golden.Check(t, filepath.Join("testdata", "bad_input.golden"), []byte(out.String()))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func TestBadRows(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	spans := randomSpans(r, 1000)
	want := [NumReasons]int64{}
	for i := range spans {
		s := &spans[i]
		s.DurationNano = max(s.DurationNano, 0)
		s.Depth = max(s.Depth, 0)
		switch i % 10 {
		case 1:
			s.DurationNano = -5
			want[ReasonNegativeDuration]++
		case 2:
			s.Depth = -1
			want[ReasonNegativeDepth]++
		case 3:
			s.Callee = ""
			want[ReasonEmptyCallee]++
		case 4:
			s.StartUnixNano = 0
			want[ReasonZeroStart]++
		default:
			want[ReasonOK]++
		}
	}
	path := filepath.Join(t.TempDir(), "bad.parquet")
	if err := WriteFile(path, spans); err != nil {
		t.Fatal(err)
	}
	of, err := Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	var good int64
	var mu = make(chan struct{}, 1)
	bad, err := of.Scan(context.Background(), ScanOptions{BatchRows: 64}, func(_ int, b *Batch) error {
		n := 0
		for i := 0; i < b.N; i++ {
			if b.Bad[i] == ReasonOK {
				n++
			}
		}
		mu <- struct{}{}
		good += int64(n)
		<-mu
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if good != want[ReasonOK] {
		t.Errorf("good rows = %d, want %d", good, want[ReasonOK])
	}
	for r := ReasonOK + 1; r < NumReasons; r++ {
		if bad.Count[r] != want[r] {
			t.Errorf("%s: %d rows, want %d", r, bad.Count[r], want[r])
		}
	}
	if got := bad.First[ReasonNegativeDuration]; got == nil || got.Row != 1 || got.File != path {
		t.Errorf("first negative duration = %v, want %s row 1", got, path)
	}
	if got := bad.First[ReasonZeroStart].Error(); got != path+": row 4: zero_start_time" {
		t.Errorf("first zero start: %q", got)
	}
}

func TestInputs(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"a/1.parquet", "a/2.parquet", "a/skip.txt", "a/.hidden/3.parquet", "b.parquet"} {
		p = filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
	}
	got, err := Inputs([]string{filepath.Join(dir, "b.parquet"), filepath.Join(dir, "a"), filepath.Join(dir, "a", "*.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, g := range got {
		r, _ := filepath.Rel(dir, g)
		rel = append(rel, r)
	}
	if diff := cmp.Diff([]string{"a/1.parquet", "a/2.parquet", "b.parquet"}, rel); diff != "" {
		t.Errorf("Inputs (-want +got):\n%s", diff)
	}
	for _, bad := range [][]string{nil, {filepath.Join(dir, "nope.parquet")}, {filepath.Join(dir, "*.csv")}, {filepath.Join(dir, "a", ".hidden", "..", "..", "a", "skip.txt", "x")}} {
		if _, err := Inputs(bad); err == nil {
			t.Errorf("Inputs(%q): no error", bad)
		}
	}
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	if _, err := Inputs([]string{empty}); err == nil || !strings.Contains(err.Error(), "holds no .parquet files") {
		t.Errorf("empty dir: %v", err)
	}
}

// TestDictionaryFallback reads a file whose dictionary-encoded string columns
// outgrow their dictionary mid-chunk and continue with plain pages, so that
// one batch mixes dictionary indexes and plain values.
func TestDictionaryFallback(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	spans := randomSpans(r, 4000)
	for i := range spans {
		// unique, long trace ids and callee names overflow a small dictionary
		spans[i].TraceID = fmt.Sprintf("%064x", r.Uint64())
		if i > 1500 {
			spans[i].Callee = fmt.Sprintf("svc-%d", i)
		}
	}
	path := filepath.Join(t.TempDir(), "fallback.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[Span](f, parquet.DictionaryMaxBytes(4096), parquet.PageBufferSize(2048))
	if _, err := w.Write(spans); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	checkScanMatches(t, path, spans)
}

// TestCallbackPanicIsNotCorruption: a panic in the caller's function is
// reported as an internal error, not blamed on the file.
func TestCallbackPanicIsNotCorruption(t *testing.T) {
	p := filepath.Join(t.TempDir(), "good.parquet")
	if err := WriteFile(p, randomSpans(rand.New(rand.NewPCG(8, 8)), 100)); err != nil {
		t.Fatal(err)
	}
	of, err := Open([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	_, err = of.Scan(context.Background(), ScanOptions{Columns: []Column{ColCaller}}, func(int, *Batch) error {
		panic("boom: a bug in the callback")
	})
	if !errors.Is(err, ErrInternal) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "boom: a bug in the callback") || !strings.Contains(err.Error(), p) {
		t.Errorf("error %v: want ErrInternal naming the file and the panic, not ErrCorrupt", err)
	}
}

// TestDictionaryIndexOutOfRange: a data page whose dictionary indexes fall
// outside its dictionary (a corrupt or hostile file) is an error naming the
// index, for every column kind and with or without nulls, never a panic or
// a wrong value.
func TestDictionaryIndexOutOfRange(t *testing.T) {
	for _, bad := range []int32{2, -1} {
		for _, col := range []Column{ColCallee, ColSpanID, ColDepth, ColStartUnixNano, ColError} {
			for _, nulls := range []bool{false, true} {
				c := &cursor{col: col, hash: col == ColSpanID, idx: []int32{0, 1, bad, 0}, rows: 4, maxDef: 1,
					dictV: [][]byte{[]byte("a"), []byte("b")}, dictH: []uint64{1, 2},
					dictI32: []int32{7, 8}, dictI64: []int64{7, 8}, dictBool: []bool{true, false}}
				var def []byte
				if nulls {
					def = []byte{1, 1, 1, 1} // the slow path, one value at a time
				}
				b := &Batch{}
				b.Str[col].Idx = make([]int32, 4)
				b.I32[col], b.I64[col], b.Bool[col], b.Hash[col] = make([]int32, 4), make([]int64, 4), make([]bool, 4), make([]uint64, 4)
				var err error
				switch {
				case c.hash:
					err = c.copyHashes(b.Hash[col], def)
				case col.Kind() == KindString:
					nullIdx := int32(-1)
					err = c.copyIdx(&b.Str[col], 0, 4, 0, def, &nullIdx)
				default:
					nullIdx := int32(-1)
					err = c.copyDict(b, 0, 4, def, &nullIdx)
				}
				want := fmt.Sprintf("dictionary index %d out of range [0, 2)", bad)
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
					t.Errorf("%s (nulls %v) index %d: error %v, want ErrCorrupt saying %q", col.Name(), nulls, bad, err, want)
				}
			}
		}
	}
}
