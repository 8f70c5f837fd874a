package importer

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CSV span fields a mapping can name.
const (
	FieldTraceID    = "trace_id"
	FieldSpanID     = "span_id"
	FieldParentID   = "parent_span_id"
	FieldService    = "service"
	FieldOperation  = "operation"
	FieldStart      = "start"
	FieldEnd        = "end"
	FieldDuration   = "duration"
	FieldKind       = "kind"
	FieldPeer       = "peer"
	FieldStatusCode = "status_code"
	FieldError      = "error"
)

// CSVFields lists the fields in the order of the docs.
var CSVFields = []string{FieldTraceID, FieldSpanID, FieldParentID, FieldService, FieldOperation, FieldStart,
	FieldEnd, FieldDuration, FieldKind, FieldPeer, FieldStatusCode, FieldError}

// CSVMapping says how a CSV file's columns become span fields.
type CSVMapping struct {
	// Preset is the preset's name, when the mapping is one.
	Preset string `json:"preset,omitempty"`
	// Columns maps a span field (FieldTraceID…) to a header name.
	Columns map[string]string `json:"columns"`
	// TimeUnit is the unit of numeric start and end times (default ns);
	// DurationUnit that of the duration column (default TimeUnit).
	// Non-numeric times are read as RFC 3339.
	TimeUnit, DurationUnit time.Duration `json:"-"`
	// ServiceRegexp, when set, must match the service column; its first
	// capture group (or whole match) is the service.
	ServiceRegexp string `json:"service_regexp,omitempty"`
	// RootParents are parent values that mean "no parent" ("" always does).
	RootParents []string `json:"root_parents,omitempty"`
	// InferClients treats a kind-less span whose only child runs in another
	// service as the client half of that call (exports without span kinds
	// whose caller-side spans wrap each outgoing call, as Nezha's).
	InferClients bool `json:"infer_clients,omitempty"`
}

// Presets are the mappings of known CSV exports, by name.
var Presets = map[string]CSVMapping{
	// DeepTraLog's Train-Ticket spans from Apache SkyWalking.
	"deeptralog": {
		Preset: "deeptralog",
		Columns: map[string]string{FieldTraceID: "TraceId", FieldSpanID: "SpanId", FieldParentID: "ParentSpan",
			FieldService: "Service", FieldOperation: "URL", FieldStart: "StartTime", FieldEnd: "EndTime",
			FieldKind: "SpanType", FieldPeer: "Peer", FieldError: "IsError"},
		TimeUnit:    time.Millisecond,
		RootParents: []string{"-1"},
	},
	// Nezha's (and TraStrainer's) Online Boutique traces.
	"nezha": {
		Preset: "nezha",
		Columns: map[string]string{FieldTraceID: "TraceID", FieldSpanID: "SpanID", FieldParentID: "ParentID",
			FieldService: "PodName", FieldOperation: "OperationName", FieldStart: "StartTimeUnixNano",
			FieldEnd: "EndTimeUnixNano"},
		TimeUnit:      time.Nanosecond,
		ServiceRegexp: `^(.+)-[^-]+-[^-]+$`,
		RootParents:   []string{"root"},
		InferClients:  true,
	},
}

// PresetNames returns the preset names, sorted.
func PresetNames() []string {
	var names []string
	for n := range Presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ParseColumns reads "field=Header,field=Header" into m.Columns.
func (m *CSVMapping) ParseColumns(s string) error {
	if m.Columns == nil {
		m.Columns = map[string]string{}
	}
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || v == "" {
			return fmt.Errorf("--map entry %q: want field=column", kv)
		}
		if !slices.Contains(CSVFields, k) {
			return fmt.Errorf("--map entry %q: unknown field %q (want one of %s)", kv, k, strings.Join(CSVFields, ", "))
		}
		m.Columns[k] = v
	}
	return nil
}

// ParseUnit reads a time unit: s, ms, us, ns.
func ParseUnit(s string) (time.Duration, error) {
	switch s {
	case "s":
		return time.Second, nil
	case "ms":
		return time.Millisecond, nil
	case "us", "µs":
		return time.Microsecond, nil
	case "ns":
		return time.Nanosecond, nil
	}
	return 0, fmt.Errorf("unknown time unit %q (want s, ms, us or ns)", s)
}

// Check reports a mapping that cannot work.
func (m *CSVMapping) Check() error {
	for _, f := range []string{FieldTraceID, FieldSpanID, FieldService, FieldStart} {
		if m.Columns[f] == "" {
			return fmt.Errorf("csv mapping needs the %s field", f)
		}
	}
	if m.Columns[FieldEnd] == "" && m.Columns[FieldDuration] == "" {
		return errors.New("csv mapping needs the end or duration field")
	}
	if m.ServiceRegexp != "" {
		if _, err := regexp.Compile(m.ServiceRegexp); err != nil {
			return fmt.Errorf("service regexp: %w", err)
		}
	}
	return nil
}

// csv reads a CSV file with a header row through the mapping.
func (p *parser) csv(r io.Reader, m *CSVMapping) error {
	if err := m.Check(); err != nil {
		return err
	}
	var re *regexp.Regexp
	if m.ServiceRegexp != "" {
		re = regexp.MustCompile(m.ServiceRegexp)
	}
	unit, dunit := m.TimeUnit, m.DurationUnit
	if unit <= 0 {
		unit = time.Nanosecond
	}
	if dunit <= 0 {
		dunit = unit
	}
	lr := &recordLimit{r: r}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return fmt.Errorf("reading the header: %w", err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	col := map[string]int{}
	for _, f := range CSVFields {
		col[f] = -1
		name := m.Columns[f]
		if name == "" {
			continue
		}
		i := slices.Index(header, name)
		if i < 0 {
			return fmt.Errorf("header has no column %q (for %s); it has %s", name, f, strings.Join(header, ","))
		}
		col[f] = i
	}
	get := func(rec []string, f string) string {
		if i := col[f]; i >= 0 && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	for row := 1; ; row++ {
		lr.start(cr.InputOffset())
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			p.bad(fmt.Sprintf("row %d", row), err)
			if errors.As(err, new(*csv.ParseError)) {
				continue // the reader goes on at the next record
			}
			return nil // what was read before is kept
		}
		s := rawSpan{
			traceID:     normID(get(rec, FieldTraceID)),
			spanID:      normID(get(rec, FieldSpanID)),
			name:        clip(get(rec, FieldOperation)),
			kind:        parseKind(get(rec, FieldKind)),
			remote:      clip(get(rec, FieldPeer)),
			dur:         noDuration,
			inferClient: m.InferClients,
		}
		if parent := get(rec, FieldParentID); parent != "" && !slices.Contains(m.RootParents, parent) {
			s.parentID = normID(parent)
		}
		svc := get(rec, FieldService)
		if re != nil {
			if sm := re.FindStringSubmatch(svc); sm != nil {
				svc = sm[len(sm)-1]
				if len(sm) > 1 {
					svc = sm[1]
				}
			}
		}
		s.service = clip(svc)
		if s.kind.caller() && s.remote == s.service {
			s.remote = ""
		}
		if !s.kind.caller() {
			s.remote = "" // a server span's peer column names itself in SkyWalking exports
		}
		start, okStart := parseTime(get(rec, FieldStart), unit)
		if okStart {
			s.start = start
		}
		if v := get(rec, FieldEnd); v != "" && m.Columns[FieldEnd] != "" {
			if end, ok := parseTime(v, unit); ok && okStart {
				s.dur = end - start
			}
		} else if v := get(rec, FieldDuration); v != "" {
			if d, ok := parseTime(v, dunit); ok {
				s.dur = d
			}
		}
		var t tags
		if v := get(rec, FieldStatusCode); v != "" {
			t.str("http.status_code", v)
		}
		if v := strings.ToLower(get(rec, FieldError)); v == "true" || v == "1" || v == "yes" || v == "error" {
			t.err = true
		}
		t.apply(&s)
		p.span(s)
	}
}

// parseTime reads a number of units (integer or decimal) or an RFC 3339
// time, as nanoseconds; false when it does not fit.
func parseTime(v string, unit time.Duration) (int64, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n > math.MaxInt64/int64(unit) || n < math.MinInt64/int64(unit) {
			return 0, false
		}
		return n * int64(unit), true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		x := f * float64(unit)
		if math.IsNaN(x) || x >= math.MaxInt64 || x <= math.MinInt64 {
			return 0, false
		}
		return int64(math.Round(x)), true
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UnixNano(), true
	}
	return 0, false
}
