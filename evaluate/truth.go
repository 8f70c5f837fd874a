package evaluate

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// Format names a truth file format.
type Format string

// The truth formats.
const (
	FormatAuto    Format = "auto"
	FormatSynth   Format = "synth"   // synth's truth.json
	FormatRecords Format = "records" // span files of chaosgen inject --records or chaosgen replay
	FormatLabels  Format = "labels"  // a labels CSV
	FormatNezha   Format = "nezha"   // a Nezha fault list
)

// Formats lists every format but auto, in the order of the docs.
var Formats = []Format{FormatSynth, FormatRecords, FormatLabels, FormatNezha}

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	f := Format(s)
	if f == FormatAuto || slices.Contains(Formats, f) {
		return f, nil
	}
	return "", fmt.Errorf("unknown truth format %q (want auto, synth, records, labels or nezha)", s)
}

// Incident is one labelled fault: when it started, which service was at
// fault (and, when the truth names one, the caller→callee edge), and its
// kind.
type Incident struct {
	StartUnixNano int64
	// EndUnixNano is 0 when the truth gives no end.
	EndUnixNano int64
	// Service is the service at fault: the callee when the truth names an
	// edge.
	Service string
	// Edge is set when the truth names a caller→callee edge (Caller is
	// empty for the edge from the ingress).
	Edge   bool
	Caller string
	Callee string
	Kind   string
	// Source says where in the truth the incident is, e.g.
	// "labels.csv: line 3".
	Source string
}

// Truth is a parsed truth file.
type Truth struct {
	Path      string
	Format    Format
	Incidents []Incident // sorted by start, service, caller, callee, kind, source
	// Warnings are doubts about the file that did not stop reading it.
	Warnings []string
}

// ReadTruth reads the incidents of a truth file in the given format
// (FormatAuto or "" detects it from the content). gap joins injection
// records of the same edge and profile into one incident while they are
// less than gap apart (FormatRecords only). Errors name the file, the row
// and the field.
func ReadTruth(path string, format Format, gap time.Duration) (*Truth, error) {
	if format == "" || format == FormatAuto {
		f, err := DetectFormat(path)
		if err != nil {
			return nil, err
		}
		format = f
	}
	t := &Truth{Path: path, Format: format}
	var err error
	switch format {
	case FormatSynth:
		err = readSynth(path, t)
	case FormatRecords:
		err = readRecords(path, gap, t)
	case FormatLabels:
		err = readLabels(path, t)
	case FormatNezha:
		err = readNezha(path, t)
	default:
		_, err = ParseFormat(string(format))
	}
	if err != nil {
		return nil, err
	}
	if len(t.Incidents) == 0 {
		return nil, fmt.Errorf("%s: no incidents in this %s truth", path, format)
	}
	slices.SortFunc(t.Incidents, compareIncidents)
	return t, nil
}

func compareIncidents(a, b Incident) int {
	return cmp.Or(cmp.Compare(a.StartUnixNano, b.StartUnixNano), cmp.Compare(a.Service, b.Service),
		cmp.Compare(a.Caller, b.Caller), cmp.Compare(a.Callee, b.Callee), cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Source, b.Source))
}

// DetectFormat tells a truth file's format from its content: a directory,
// a glob or a Parquet file holds injection records; a JSON object with
// "incidents" is synth's truth.json, one whose values are lists of faults
// with "inject_time" a Nezha fault list; anything else with a header row
// naming a start column a labels CSV.
func DetectFormat(path string) (Format, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if strings.ContainsAny(path, "*?[") {
			return FormatRecords, nil // a glob of span files
		}
		return "", err
	}
	if fi.IsDir() {
		return FormatRecords, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	head, _ := br.Peek(4)
	if string(head) == "PAR1" {
		return FormatRecords, nil
	}
	data, err := io.ReadAll(br)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &obj); err != nil {
			return "", fmt.Errorf("%s: not valid JSON: %w", path, jsonError(trimmed, err))
		}
		if _, ok := obj["incidents"]; ok {
			return FormatSynth, nil
		}
		if isNezha(obj) {
			return FormatNezha, nil
		}
		return "", fmt.Errorf("%s: JSON that is neither synth's truth.json (it has no \"incidents\") nor a Nezha fault list (lists of faults with \"inject_time\"); give --truth-format", path)
	}
	// the header: the first line that is not blank or a # comment
	var line string
	for l := range strings.Lines(string(trimmed)) {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			line = l
			break
		}
	}
	for _, c := range strings.Split(line, ",") {
		if strings.EqualFold(strings.TrimSpace(c), "start") {
			return FormatLabels, nil
		}
	}
	return "", fmt.Errorf("%s: cannot tell the truth format: not Parquet injection records, not JSON, and not a CSV whose header has a start column; give --truth-format", path)
}

// isNezha reports whether some value of obj is a list holding a fault
// with inject_time (the parser reports what else is wrong).
func isNezha(obj map[string]json.RawMessage) bool {
	for _, v := range obj {
		var faults []json.RawMessage
		if json.Unmarshal(v, &faults) != nil {
			continue
		}
		for _, f := range faults {
			var fields map[string]json.RawMessage
			if json.Unmarshal(f, &fields) == nil && fields["inject_time"] != nil {
				return true
			}
		}
	}
	return false
}

// jsonError adds the line of a JSON syntax error.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("line %d: %w", 1+bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n")), err)
	}
	return err
}

// rowErrors collects the errors of a truth file's rows; it reports up to
// maxRowErrors of them, each naming the file, the row and the field.
type rowErrors struct {
	path string
	errs []string
	more int
}

const maxRowErrors = 10

func (r *rowErrors) add(where, field, format string, args ...any) {
	if len(r.errs) == maxRowErrors {
		r.more++
		return
	}
	msg := fmt.Sprintf(format, args...)
	if field != "" {
		msg = field + ": " + msg
	}
	r.errs = append(r.errs, fmt.Sprintf("%s: %s: %s", r.path, where, msg))
}

func (r *rowErrors) err() error {
	switch {
	case len(r.errs) == 0:
		return nil
	case len(r.errs) == 1:
		return errors.New(r.errs[0])
	}
	msg := fmt.Sprintf("%d errors in %s:\n%s", len(r.errs)+r.more, r.path, strings.Join(r.errs, "\n"))
	if r.more > 0 {
		msg += fmt.Sprintf("\n(and %d more)", r.more)
	}
	return errors.New(msg)
}
