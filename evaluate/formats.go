package evaluate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/synth"
)

// readSynth reads synth's truth.json: each planted incident names the edge
// whose callee is the service at fault.
func readSynth(path string, t *Truth) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var st synth.Truth
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("%s: not synth's truth.json: %w", path, jsonError(data, err))
	}
	var keys map[string]json.RawMessage
	if json.Unmarshal(data, &keys) == nil && keys["incidents"] == nil {
		return fmt.Errorf("%s: not synth's truth.json: it has no \"incidents\"", path)
	}
	re := &rowErrors{path: path}
	for i, in := range st.Incidents {
		where := fmt.Sprintf("incidents[%d]", i)
		switch {
		case in.Callee == "":
			re.add(where, "callee", "empty")
			continue
		case in.StartUnixNano <= 0:
			re.add(where, "start_unix_nano", "missing or not positive (%d)", in.StartUnixNano)
			continue
		case in.EndUnixNano != 0 && in.EndUnixNano <= in.StartUnixNano:
			re.add(where, "end_unix_nano", "%d is not after start_unix_nano %d", in.EndUnixNano, in.StartUnixNano)
			continue
		}
		t.Incidents = append(t.Incidents, Incident{
			StartUnixNano: in.StartUnixNano, EndUnixNano: in.EndUnixNano,
			Service: in.Callee, Edge: true, Caller: in.Caller, Callee: in.Callee,
			Kind: in.Kind, Source: where,
		})
	}
	return re.err()
}

// Labels CSV columns.
var labelColumns = []string{"start", "end", "service", "caller", "callee", "kind"}

// readLabels reads a labels CSV: a header row naming the columns start,
// end (optional), service or caller and callee, and kind (optional), in
// any order, then one incident per row. Lines starting with # are comments.
func readLabels(path string, t *Truth) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return fmt.Errorf("%s: empty labels file (want a header row: start,end,service,kind)", path)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		name := strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(labelColumns, name) {
			return fmt.Errorf("%s: line 1: header: unknown column %q (want start, end, service or caller and callee, kind)", path, h)
		}
		if _, dup := col[name]; dup {
			return fmt.Errorf("%s: line 1: header: column %q appears twice", path, name)
		}
		col[name] = i
	}
	_, hasService := col["service"]
	_, hasCaller := col["caller"]
	_, hasCallee := col["callee"]
	switch {
	case !has(col, "start"):
		return fmt.Errorf("%s: line 1: header: no start column", path)
	case hasService && (hasCaller || hasCallee):
		return fmt.Errorf("%s: line 1: header: give service, or caller and callee, not both", path)
	case !hasService && !(hasCaller && hasCallee):
		return fmt.Errorf("%s: line 1: header: no service column (or caller and callee columns)", path)
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	re := &rowErrors{path: path}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				re.add(fmt.Sprintf("line %d", pe.Line), "", "%v", pe.Err)
				continue
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		line, _ := cr.FieldPos(0)
		where := fmt.Sprintf("line %d", line)
		if len(rec) != len(header) {
			re.add(where, "", "%d fields, the header has %d", len(rec), len(header))
			continue
		}
		in := Incident{Kind: get(rec, "kind"), Source: where}
		ok := true
		start, err := ParseTime(get(rec, "start"))
		if err != nil {
			re.add(where, "start", "%v", err)
			ok = false
		}
		in.StartUnixNano = start
		if v := get(rec, "end"); v != "" {
			end, err := ParseTime(v)
			switch {
			case err != nil:
				re.add(where, "end", "%v", err)
				ok = false
			case start != 0 && end <= start:
				re.add(where, "end", "%s is not after start %s", formatTime(end), formatTime(start))
				ok = false
			}
			in.EndUnixNano = end
		}
		if hasService {
			in.Service = get(rec, "service")
			if in.Service == "" {
				re.add(where, "service", "empty")
				ok = false
			}
		} else {
			in.Edge, in.Caller, in.Callee = true, get(rec, "caller"), get(rec, "callee")
			in.Service = in.Callee
			if in.Callee == "" {
				re.add(where, "callee", "empty")
				ok = false
			}
		}
		if ok {
			t.Incidents = append(t.Incidents, in)
		}
	}
	return re.err()
}

func has(m map[string]int, k string) bool { _, ok := m[k]; return ok }

// ParseTime reads a labels time: RFC 3339 with a time zone (a space may
// stand for the T), or a Unix time in seconds (up to 10 integer digits, a
// fraction allowed) or in nanoseconds (18 or 19 digits: since 1973). The
// lengths between, milliseconds and microseconds, are refused: read as
// either they would be 1000x off.
func ParseTime(v string) (int64, error) {
	if v == "" {
		return 0, errors.New("empty")
	}
	digits := strings.TrimLeft(v, "+-")
	if digits != "" && strings.Trim(digits, "0123456789.") == "" {
		intPart, frac, _ := strings.Cut(digits, ".")
		n := len(strings.TrimLeft(intPart, "0"))
		switch {
		case n <= 10:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				return 0, fmt.Errorf("%q is not a positive Unix time", v)
			}
			if f >= math.MaxInt64/1e9 {
				return 0, fmt.Errorf("%q is after 2262, the last time of Unix nanoseconds", v)
			}
			sec, fr := math.Modf(f)
			return int64(sec)*1e9 + int64(math.Round(fr*1e9)), nil
		case n >= 18 && frac == "":
			ns, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ns <= 0 {
				return 0, fmt.Errorf("%q is not a positive Unix time in nanoseconds", v)
			}
			return ns, nil
		}
		return 0, fmt.Errorf("%q: a Unix time of %d digits is neither seconds nor nanoseconds (milliseconds and microseconds are refused)", v, n)
	}
	s := v
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if _, err2 := time.Parse("2006-01-02T15:04:05.999999999", s); err2 == nil {
			return 0, fmt.Errorf("%q has no time zone (add Z for UTC, or an offset such as +02:00)", v)
		}
		return 0, fmt.Errorf("cannot read %q as a time (want RFC 3339 such as 2026-01-05T10:00:00Z, or Unix seconds or nanoseconds)", v)
	}
	return unixNano(v, tm)
}

// unixNano returns tm in Unix nanoseconds when it is within their range
// (after 1970, before 2262).
func unixNano(v string, tm time.Time) (int64, error) {
	if tm.Year() < 1970 || tm.Year() > 2261 || tm.Unix() <= 0 {
		return 0, fmt.Errorf("%q is out of range (want a time after 1970 and before 2262)", v)
	}
	return tm.UnixNano(), nil
}

// nezhaFault is one entry of a Nezha fault list.
type nezhaFault struct {
	InjectTime      *string         `json:"inject_time"`
	InjectTimestamp json.RawMessage `json:"inject_timestamp"`
	InjectPod       *string         `json:"inject_pod"`
	InjectType      string          `json:"inject_type"`
}

// nezhaTimeLayout is the layout of inject_time.
const nezhaTimeLayout = "2006-01-02 15:04:05"

// readNezha reads a Nezha fault list: {"HH": [{"inject_time",
// "inject_timestamp", "inject_pod", "inject_type"}, ...]}. The time is
// inject_time read as UTC; inject_timestamp is only compared with it (in
// the published lists it is sometimes hours off: a time zone slip) and a
// disagreement is a warning. The service is inject_pod without its last
// two "-" parts (the Kubernetes deployment's pod suffixes), as the nezha
// import preset names services.
func readNezha(path string, t *Truth) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var hours map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimPrefix(data, []byte("\ufeff")), &hours); err != nil {
		return fmt.Errorf("%s: not a Nezha fault list: %w", path, jsonError(data, err))
	}
	re := &rowErrors{path: path}
	var slips []string
	var slipMin, slipMax time.Duration
	total := 0
	for _, hour := range slices.Sorted(maps.Keys(hours)) {
		var faults []json.RawMessage
		if err := json.Unmarshal(hours[hour], &faults); err != nil {
			re.add(fmt.Sprintf("%q", hour), "", "not a list of faults")
			continue
		}
		for i, raw := range faults {
			total++
			where := fmt.Sprintf("%q[%d]", hour, i)
			var f nezhaFault
			if err := json.Unmarshal(raw, &f); err != nil {
				re.add(where, "", "not a fault object: %v", err)
				continue
			}
			if f.InjectTime == nil {
				re.add(where, "inject_time", "missing")
				continue
			}
			tm, err := time.Parse(nezhaTimeLayout, strings.TrimSpace(*f.InjectTime))
			if err != nil {
				re.add(where, "inject_time", "cannot read %q (want YYYY-MM-DD HH:MM:SS)", *f.InjectTime)
				continue
			}
			start, err := unixNano(*f.InjectTime, tm)
			if err != nil {
				re.add(where, "inject_time", "%v", err)
				continue
			}
			if f.InjectPod == nil || strings.TrimSpace(*f.InjectPod) == "" {
				re.add(where, "inject_pod", "missing or empty")
				continue
			}
			if ts, ok := nezhaTimestamp(f.InjectTimestamp); ok && ts != tm.Unix() {
				d := time.Duration(tm.Unix()-ts) * time.Second
				if len(slips) == 0 || d < slipMin {
					slipMin = d
				}
				if len(slips) == 0 || d > slipMax {
					slipMax = d
				}
				slips = append(slips, fmt.Sprintf("%s: inject_timestamp %d (%s) vs inject_time %s", where, ts, formatTime(ts*1e9), *f.InjectTime))
			} else if !ok && len(f.InjectTimestamp) > 0 && string(f.InjectTimestamp) != "null" {
				t.Warnings = append(t.Warnings, fmt.Sprintf("%s: %s: inject_timestamp %s is not a Unix time in seconds; ignored", path, where, f.InjectTimestamp))
			}
			t.Incidents = append(t.Incidents, Incident{
				StartUnixNano: start, Service: PodService(strings.TrimSpace(*f.InjectPod)),
				Kind: f.InjectType, Source: where,
			})
		}
	}
	if len(slips) > 0 {
		spread := fmt.Sprintf("by %s", slipMin)
		if slipMax != slipMin {
			spread = fmt.Sprintf("by %s to %s", slipMin, slipMax)
		}
		t.Warnings = append(t.Warnings, fmt.Sprintf("%s: inject_timestamp disagrees with inject_time in %d of %d faults (inject_time later %s; first: %s); using inject_time read as UTC",
			path, len(slips), total, spread, slips[0]))
	}
	return re.err()
}

// nezhaTimestamp reads inject_timestamp, a string or a number of seconds.
func nezhaTimestamp(raw json.RawMessage) (int64, bool) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return 0, false
		}
		s = n.String()
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return ts, err == nil && ts > 0
}

// PodService returns the service of a Kubernetes deployment's pod name:
// the name without its last two "-" parts (replica set hash and pod
// suffix), or the name itself when it has fewer parts.
func PodService(pod string) string {
	i := strings.LastIndexByte(pod, '-')
	if i <= 0 || i == len(pod)-1 {
		return pod
	}
	j := strings.LastIndexByte(pod[:i], '-')
	if j <= 0 || j == i-1 {
		return pod
	}
	return pod[:j]
}
