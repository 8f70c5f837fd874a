package importer

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

type zipkinSpan struct {
	TraceID        string            `json:"traceId"`
	ID             string            `json:"id"`
	ParentID       string            `json:"parentId"`
	Kind           string            `json:"kind"`
	Name           string            `json:"name"`
	Timestamp      *json.Number      `json:"timestamp"`
	Duration       *json.Number      `json:"duration"`
	LocalEndpoint  *zipkinEndpoint   `json:"localEndpoint"`
	RemoteEndpoint *zipkinEndpoint   `json:"remoteEndpoint"`
	Tags           map[string]string `json:"tags"`
}

type zipkinEndpoint struct {
	ServiceName string `json:"serviceName"`
}

// zipkinJSON reads Zipkin v2 span lists: one JSON array of spans (or
// several, one after another). Spans are decoded one at a time.
func (p *parser) zipkinJSON(r io.Reader) error {
	lr := &recordLimit{r: r}
	dec := json.NewDecoder(lr)
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return p.jsonFail(dec, err)
		}
		if tok != json.Delim('[') {
			return p.jsonFail(dec, fmt.Errorf("want an array of spans, got %v", tok))
		}
		for dec.More() {
			lr.start(dec.InputOffset())
			var z zipkinSpan
			if err := dec.Decode(&z); err != nil {
				if _, ok := err.(*json.UnmarshalTypeError); ok {
					p.bad(fmt.Sprintf("byte %d", dec.InputOffset()), err)
					continue
				}
				return p.jsonFail(dec, err)
			}
			p.zipkinSpan(&z)
		}
		if _, err := dec.Token(); err != nil {
			return p.jsonFail(dec, err)
		}
	}
}

func (p *parser) zipkinSpan(z *zipkinSpan) {
	s := rawSpan{
		traceID:  normID(z.TraceID),
		spanID:   normID(z.ID),
		parentID: normID(z.ParentID),
		name:     clip(z.Name),
		kind:     parseKind(z.Kind),
		dur:      noDuration,
	}
	if z.LocalEndpoint != nil {
		s.service = clip(z.LocalEndpoint.ServiceName)
	}
	if z.RemoteEndpoint != nil {
		s.remote = clip(z.RemoteEndpoint.ServiceName)
	}
	if z.Timestamp != nil {
		if v, err := z.Timestamp.Int64(); err == nil && v > 0 && v < 1<<62/1000 {
			s.start = v * 1000
		}
	}
	if z.Duration != nil {
		if v, err := z.Duration.Int64(); err == nil && v > -1<<62/1000 && v < 1<<62/1000 {
			s.dur = v * 1000
		}
	}
	var t tags
	for k, v := range z.Tags {
		if k == "error" {
			t.err = t.err || !strings.EqualFold(v, "false") // Zipkin: the tag's presence marks an error
			continue
		}
		t.str(k, v)
	}
	t.apply(&s)
	p.span(s)
}
