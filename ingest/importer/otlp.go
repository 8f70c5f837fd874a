package importer

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// otlpJSON reads OTLP JSON: one object with resourceSpans (an OTLP/HTTP
// body) or a stream of them, one per line (the Collector's file exporter),
// or Tempo's trace JSON, whose resourceSpans are called batches.
// Each element of resourceSpans is decoded on its own, so memory is bounded
// by the largest element, not by the file.
func (p *parser) otlpJSON(r io.Reader) error {
	lr := &recordLimit{r: r}
	dec := json.NewDecoder(lr)
	progress := false
	fail := func(err error) error {
		if !progress {
			return fmt.Errorf("byte %d: %w", dec.InputOffset(), err)
		}
		p.bad(fmt.Sprintf("byte %d", dec.InputOffset()), err)
		return nil // what was read before a syntax error is kept
	}
	var rs tracepb.ResourceSpans
	unm := protojson.UnmarshalOptions{DiscardUnknown: true}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fail(err)
		}
		if d, ok := tok.(json.Delim); !ok || d != '{' {
			return fail(fmt.Errorf("want an object with resourceSpans, got %v", tok))
		}
		for dec.More() {
			lr.start(dec.InputOffset())
			key, err := dec.Token()
			if err != nil {
				return fail(err)
			}
			if key != "resourceSpans" && key != "resource_spans" && key != "batches" {
				var skip json.RawMessage
				if err := dec.Decode(&skip); err != nil {
					return fail(err)
				}
				continue
			}
			if tok, err := dec.Token(); err != nil {
				return fail(err)
			} else if d, ok := tok.(json.Delim); !ok || d != '[' {
				return fail(fmt.Errorf("resourceSpans is not an array"))
			}
			for dec.More() {
				lr.start(dec.InputOffset())
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return fail(err)
				}
				progress = true
				rs.Reset()
				if err := unm.Unmarshal(rewriteOTLPJSON(raw), &rs); err != nil {
					p.bad(fmt.Sprintf("byte %d", dec.InputOffset()), err)
					continue
				}
				p.resourceSpans(&rs)
			}
			if _, err := dec.Token(); err != nil { // ]
				return fail(err)
			}
		}
		if _, err := dec.Token(); err != nil { // }
			return fail(err)
		}
		progress = true
	}
}

// recordLimit fails a read that would take one JSON record past
// maxRecordBytes, so a hostile file cannot make the decoder buffer it all.
type recordLimit struct {
	r          io.Reader
	read, from int64
}

func (l *recordLimit) start(off int64) { l.from = off }

func (l *recordLimit) Read(b []byte) (int, error) {
	if l.read-l.from > maxRecordBytes {
		return 0, fmt.Errorf("record larger than %d bytes", maxRecordBytes)
	}
	n, err := l.r.Read(b)
	l.read += int64(n)
	return n, err
}

// idKeys are the OTLP JSON keys whose values are hex, where protojson wants
// base64.
var idKeys = map[string]bool{"traceId": true, "spanId": true, "parentSpanId": true, "trace_id": true, "span_id": true, "parent_span_id": true}

// renamedKeys are the keys of OTLP before 0.19 (Tempo 1.x still writes
// them) under their current names; the messages are the same.
var renamedKeys = map[string]string{
	"instrumentationLibrarySpans":   "scopeSpans",
	"instrumentation_library_spans": "scope_spans",
	"instrumentationLibrary":        "scope",
	"instrumentation_library":       "scope",
}

// rewriteOTLPJSON rewrites the hex ids of OTLP JSON (which the OTLP spec
// prescribes, unlike protojson's base64 for bytes) to base64, and the
// renamed keys of old OTLP to their current names. Values that are not hex
// are left for protojson to judge: base64 ids, as Tempo writes them, pass
// through.
func rewriteOTLPJSON(in []byte) []byte {
	out := make([]byte, 0, len(in))
	last := 0
	for i := 0; i < len(in); i++ {
		if in[i] != '"' {
			continue
		}
		// a string starts at i; find its end
		j := i + 1
		esc := false
		for ; j < len(in); j++ {
			if esc {
				esc = false
			} else if in[j] == '\\' {
				esc = true
			} else if in[j] == '"' {
				break
			}
		}
		if j >= len(in) {
			break
		}
		key := in[i+1 : j]
		k := skipSpace(in, j+1)
		if k >= len(in) || in[k] != ':' {
			i = j
			continue
		}
		if to, ok := renamedKeys[string(key)]; ok {
			out = append(out, in[last:i+1]...)
			out = append(out, to...)
			last = j
			i = j
			continue
		}
		if !idKeys[string(key)] {
			i = j
			continue
		}
		v := skipSpace(in, k+1)
		if v >= len(in) || in[v] != '"' {
			i = j
			continue
		}
		e := v + 1
		for e < len(in) && in[e] != '"' && in[e] != '\\' {
			e++
		}
		if e >= len(in) || in[e] != '"' {
			i = j
			continue
		}
		if raw, err := hex.DecodeString(string(in[v+1 : e])); err == nil {
			out = append(out, in[last:v+1]...)
			out = base64.StdEncoding.AppendEncode(out, raw)
			last = e
		}
		i = e
	}
	return append(out, in[last:]...)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// otlpProto reads OTLP protobuf: one TracesData or ExportTraceServiceRequest
// message (an OTLP/HTTP body; both have resource_spans as field 1), or the
// Collector file exporter's stream of such messages, each after its length
// as a 4-byte big-endian integer. Each ResourceSpans is decoded on its own.
func (p *parser) otlpProto(r *bufio.Reader) error {
	b, err := r.Peek(1)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	if b[0] == 0x0a { // field 1, length-delimited: a bare message
		return p.protoMessage(&msgReader{r: r, left: -1}, 0)
	}
	var off int64
	for n := 0; ; n++ {
		var size [4]byte
		if _, err := io.ReadFull(r, size[:]); err == io.EOF {
			return nil
		} else if err != nil {
			p.bad(fmt.Sprintf("message %d", n), fmt.Errorf("truncated length prefix: %w", err))
			return nil
		}
		m := int64(binary.BigEndian.Uint32(size[:]))
		if m > maxRecordBytes {
			if n == 0 {
				return fmt.Errorf("not OTLP protobuf: first message would be %d bytes", m)
			}
			p.bad(fmt.Sprintf("message %d", n), fmt.Errorf("length %d over the %d byte limit", m, maxRecordBytes))
			return nil
		}
		mr := &msgReader{r: r, left: m}
		if err := p.protoMessage(mr, off+4); err != nil {
			if n == 0 && p.fr.Spans == 0 {
				return err
			}
			p.bad(fmt.Sprintf("message %d", n), err)
			return nil
		}
		off += 4 + m
	}
}

// msgReader reads one message's bytes: left of them, or all when left < 0.
type msgReader struct {
	r    *bufio.Reader
	left int64
	off  int64
}

func (m *msgReader) ReadByte() (byte, error) {
	if m.left == 0 {
		return 0, io.EOF
	}
	c, err := m.r.ReadByte()
	if err != nil {
		return 0, err
	}
	m.off++
	if m.left > 0 {
		m.left--
	}
	return c, nil
}

func (m *msgReader) next(n uint64) ([]byte, error) {
	if m.left >= 0 && n > uint64(m.left) || n > maxRecordBytes {
		return nil, fmt.Errorf("field of %d bytes runs past its message", n)
	}
	b, err := readN(m.r, int(n))
	m.off += int64(len(b))
	if m.left > 0 {
		m.left -= int64(len(b))
	}
	if err != nil {
		return nil, fmt.Errorf("truncated field: %w", io.ErrUnexpectedEOF)
	}
	return b, nil
}

// readN reads n bytes, growing its buffer as the data arrives rather than
// trusting n up front.
func readN(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, 1<<20))
	for len(b) < n {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		k, err := r.Read(b[len(b):min(cap(b), n)])
		b = b[:len(b)+k]
		if err != nil {
			if err == io.EOF && len(b) == n {
				break
			}
			return b, err
		}
	}
	return b, nil
}

// protoMessage walks the top level of a TracesData message and decodes each
// resource_spans field.
func (p *parser) protoMessage(m *msgReader, base int64) error {
	var rs tracepb.ResourceSpans
	for {
		tag, err := binary.ReadUvarint(m)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("byte %d: %w", base+m.off, err)
		}
		field, wire := tag>>3, tag&7
		var b []byte
		switch wire {
		case 0:
			_, err = binary.ReadUvarint(m)
		case 1:
			_, err = m.next(8)
		case 5:
			_, err = m.next(4)
		case 2:
			var n uint64
			if n, err = binary.ReadUvarint(m); err == nil {
				b, err = m.next(n)
			}
		default:
			err = fmt.Errorf("wire type %d", wire)
		}
		if err != nil {
			return fmt.Errorf("byte %d: %w", base+m.off, err)
		}
		if field != 1 || wire != 2 {
			continue
		}
		rs.Reset()
		if err := proto.Unmarshal(b, &rs); err != nil {
			p.bad(fmt.Sprintf("byte %d", base+m.off), err)
			continue
		}
		p.resourceSpans(&rs)
	}
}

// resourceSpans passes on the spans of one resource.
func (p *parser) resourceSpans(rs *tracepb.ResourceSpans) {
	var name, ns string
	for _, kv := range rs.GetResource().GetAttributes() {
		switch kv.GetKey() {
		case "service.name":
			name = kv.GetValue().GetStringValue()
		case "service.namespace":
			ns = kv.GetValue().GetStringValue()
		}
	}
	svc := serviceName(ns, name)
	for _, ss := range rs.GetScopeSpans() {
		for _, sp := range ss.GetSpans() {
			s := rawSpan{
				traceID:  hexID(sp.GetTraceId()),
				spanID:   hexID(sp.GetSpanId()),
				parentID: hexID(sp.GetParentSpanId()),
				service:  svc,
				name:     clip(sp.GetName()),
				kind:     otelKind(int32(sp.GetKind())),
				dur:      noDuration,
			}
			st, end := sp.GetStartTimeUnixNano(), sp.GetEndTimeUnixNano()
			if st <= math.MaxInt64 {
				s.start = int64(st)
			}
			if end != 0 && end <= math.MaxInt64 && s.start != 0 {
				s.dur = int64(end) - s.start
			}
			var t tags
			for _, kv := range sp.GetAttributes() {
				attr(&t, kv)
			}
			switch sp.GetStatus().GetCode() {
			case tracepb.Status_STATUS_CODE_ERROR:
				s.err = true
			case tracepb.Status_STATUS_CODE_OK:
				t.statusOK = true
			}
			t.apply(&s)
			p.span(s)
		}
	}
}

func attr(t *tags, kv *commonpb.KeyValue) {
	switch v := kv.GetValue().GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		t.str(kv.GetKey(), v.StringValue)
	case *commonpb.AnyValue_IntValue:
		t.num(kv.GetKey(), v.IntValue)
	case *commonpb.AnyValue_BoolValue:
		t.boolean(kv.GetKey(), v.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		t.double(kv.GetKey(), v.DoubleValue)
	case *commonpb.AnyValue_ArrayValue:
		// gRPC metadata attributes are string arrays: one value is read
		if vs := v.ArrayValue.GetValues(); len(vs) == 1 {
			if s, ok := vs[0].GetValue().(*commonpb.AnyValue_StringValue); ok {
				t.str(kv.GetKey(), s.StringValue)
			}
		}
	}
}

// serviceName joins service.namespace and service.name as OpenTelemetry
// does for Prometheus' job label: "namespace/name", or the name alone.
func serviceName(namespace, name string) string {
	if namespace == "" || name == "" {
		return clip(name)
	}
	return clip(namespace + "/" + name)
}

// hexID formats an OTLP id; an empty or all-zero id (invalid in OTLP) is "".
func hexID(b []byte) string {
	for _, c := range b {
		if c != 0 {
			return clip(hex.EncodeToString(b))
		}
	}
	return ""
}

func otelKind(k int32) kind {
	if k < 0 || k > int32(kindConsumer) {
		return kindUnset
	}
	return kind(k)
}
