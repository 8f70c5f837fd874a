package importer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// jaegerTrace is a trace of the Jaeger query API and UI download. The UI's
// processed form also gives each span its process inline.
type jaegerTrace struct {
	TraceID   string                   `json:"traceID"`
	Spans     []jaegerSpan             `json:"spans"`
	Processes map[string]jaegerProcess `json:"processes"`
}

type jaegerSpan struct {
	TraceID       string         `json:"traceID"`
	SpanID        string         `json:"spanID"`
	ParentSpanID  string         `json:"parentSpanID"` // older exports
	OperationName string         `json:"operationName"`
	References    []jaegerRef    `json:"references"`
	StartTime     *json.Number   `json:"startTime"`
	Duration      *json.Number   `json:"duration"`
	Tags          []jaegerTag    `json:"tags"`
	ProcessID     string         `json:"processID"`
	Process       *jaegerProcess `json:"process"`
}

type jaegerRef struct {
	RefType string `json:"refType"`
	TraceID string `json:"traceID"`
	SpanID  string `json:"spanID"`
}

type jaegerTag struct {
	Key   string          `json:"key"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

type jaegerProcess struct {
	ServiceName string      `json:"serviceName"`
	Tags        []jaegerTag `json:"tags"`
}

// service is the process's service name, joined with the service.namespace
// tag that OpenTelemetry's Jaeger translation puts among the process tags.
func (pr *jaegerProcess) service() string {
	ns := ""
	for _, t := range pr.Tags {
		if t.Key == "service.namespace" {
			_ = json.Unmarshal(t.Value, &ns)
		}
	}
	return serviceName(ns, pr.ServiceName)
}

// jaegerJSON reads {"data":[trace...]} (the query API, the UI download),
// {"data":{trace}} (the UI's processed form) or a bare trace object. Each
// trace is decoded on its own.
func (p *parser) jaegerJSON(r io.Reader) error {
	lr := &recordLimit{r: r}
	dec := json.NewDecoder(lr)
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	var bare jaegerTrace
	isBare := false
	for dec.More() {
		lr.start(dec.InputOffset())
		key, err := dec.Token()
		if err != nil {
			return err
		}
		switch key {
		case "data":
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			switch tok {
			case json.Delim('['):
				for dec.More() {
					lr.start(dec.InputOffset())
					var t jaegerTrace
					if err := dec.Decode(&t); err != nil {
						return p.jsonFail(dec, err)
					}
					p.jaegerTrace(&t)
				}
				if _, err := dec.Token(); err != nil {
					return p.jsonFail(dec, err)
				}
			case json.Delim('{'):
				// the object's members, decoded as one trace
				var t jaegerTrace
				if err := decodeMembers(dec, &t); err != nil {
					return p.jsonFail(dec, err)
				}
				p.jaegerTrace(&t)
			case nil:
			default:
				return fmt.Errorf("data is %v, want an array or object of traces", tok)
			}
		case "traceID", "spans", "processes":
			isBare = true
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return p.jsonFail(dec, err)
			}
			var err error
			switch key {
			case "traceID":
				err = json.Unmarshal(raw, &bare.TraceID)
			case "spans":
				err = json.Unmarshal(raw, &bare.Spans)
			case "processes":
				err = json.Unmarshal(raw, &bare.Processes)
			}
			if err != nil {
				return p.jsonFail(dec, err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return p.jsonFail(dec, err)
			}
		}
	}
	if isBare {
		p.jaegerTrace(&bare)
	}
	return nil
}

// jsonFail keeps what was read before a syntax error when something was.
func (p *parser) jsonFail(dec *json.Decoder, err error) error {
	if p.fr.Spans == 0 {
		return fmt.Errorf("byte %d: %w", dec.InputOffset(), err)
	}
	p.bad(fmt.Sprintf("byte %d", dec.InputOffset()), err)
	return nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("byte %d: %w", dec.InputOffset(), err)
	}
	if tok != d {
		return fmt.Errorf("byte %d: want %v, got %v", dec.InputOffset(), d, tok)
	}
	return nil
}

// decodeMembers decodes the rest of an object whose '{' was read into v.
func decodeMembers(dec *json.Decoder, v *jaegerTrace) error {
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		k, _ := key.(string)
		if k != "traceID" && k != "spans" && k != "processes" {
			continue
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(raw)
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	buf.WriteByte('}')
	d := json.NewDecoder(&buf)
	d.UseNumber()
	return d.Decode(v)
}

func (p *parser) jaegerTrace(t *jaegerTrace) {
	for i := range t.Spans {
		sp := &t.Spans[i]
		s := rawSpan{
			traceID:  normID(cmpOr(sp.TraceID, t.TraceID)),
			spanID:   normID(sp.SpanID),
			parentID: normID(sp.ParentSpanID),
			name:     clip(sp.OperationName),
			dur:      noDuration,
		}
		// CHILD_OF wins over FOLLOWS_FROM; either makes a parent.
		for _, ref := range sp.References {
			if ref.RefType == "CHILD_OF" || s.parentID == "" {
				s.parentID = normID(ref.SpanID)
			}
			if ref.RefType == "CHILD_OF" {
				break
			}
		}
		if pr, ok := t.Processes[sp.ProcessID]; ok {
			s.service = pr.service()
		} else if sp.Process != nil {
			s.service = sp.Process.service()
		}
		if sp.StartTime != nil {
			if v, err := sp.StartTime.Int64(); err == nil && v > 0 && v < 1<<62/1000 {
				s.start = v * 1000
			}
		}
		if sp.Duration != nil {
			if v, err := sp.Duration.Int64(); err == nil && v > -1<<62/1000 && v < 1<<62/1000 {
				s.dur = v * 1000
			}
		}
		var tg tags
		for _, tag := range sp.Tags {
			jsonTag(&tg, tag.Key, tag.Value)
		}
		tg.apply(&s)
		p.span(s)
	}
}

// jsonTag reads a tag value of any JSON type.
func jsonTag(t *tags, key string, v json.RawMessage) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			t.str(key, s)
		}
	case 't', 'f':
		t.boolean(key, v[0] == 't')
	default:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			t.num(key, n)
		} else if f, err := strconv.ParseFloat(string(v), 64); err == nil && f == float64(int64(f)) {
			t.num(key, int64(f))
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
