package importer

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
)

// detect tells a file's format from its first bytes; for CSV it picks the
// given mapping or the preset whose columns the header has.
func detect(path string, br *bufio.Reader, m *CSVMapping) (Format, *CSVMapping, error) {
	head, err := br.Peek(64 << 10)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(head) > 0 && (head[0] == 0x0a || head[0] == 0x00) && isBinary(head) {
		return FormatOTLPProto, nil, nil // a bare message (field 1) or a length prefix
	}
	head = bytes.TrimPrefix(head, []byte("\ufeff"))
	b := bytes.TrimLeft(head, " \t\r\n")
	if len(b) == 0 {
		return "", nil, fmt.Errorf("%s: empty file: cannot tell its format", path)
	}
	switch {
	case b[0] == '[':
		return FormatZipkinJSON, nil, nil
	case b[0] == '{':
		switch {
		case bytes.Contains(b, []byte(`"resourceSpans"`)) || bytes.Contains(b, []byte(`"resource_spans"`)) || bytes.Contains(b, []byte(`"batches"`)):
			return FormatOTLPJSON, nil, nil
		case bytes.Contains(b, []byte(`"traceID"`)) || bytes.Contains(b, []byte(`"processes"`)) || bytes.Contains(b, []byte(`"data"`)):
			return FormatJaegerJSON, nil, nil
		}
		return "", nil, fmt.Errorf("%s: a JSON object that is neither OTLP (resourceSpans), Tempo (batches) nor Jaeger (data, traceID): give --from", path)
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if !bytes.ContainsRune(line, ',') {
		return "", nil, fmt.Errorf("%s: cannot tell the format (not JSON, OTLP protobuf or CSV): give --from", path)
	}
	if m != nil {
		return FormatCSV, m, nil
	}
	header, err := csv.NewReader(bytes.NewReader(line)).Read()
	if err != nil {
		return "", nil, fmt.Errorf("%s: reading the csv header: %w", path, err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	for _, name := range PresetNames() {
		p := Presets[name]
		if hasColumns(header, p.Columns) {
			return FormatCSV, &p, nil
		}
	}
	return "", nil, fmt.Errorf("%s: csv whose header fits no preset (%s): give --map or --preset", path, strings.Join(PresetNames(), ", "))
}

func hasColumns(header []string, cols map[string]string) bool {
	for _, c := range cols {
		if !slices.Contains(header, c) {
			return false
		}
	}
	return true
}

// isBinary reports control bytes that text formats do not have.
func isBinary(b []byte) bool {
	for _, c := range b[:min(len(b), 512)] {
		if c < 0x09 || 0x0d < c && c < 0x20 {
			return true
		}
	}
	return false
}
