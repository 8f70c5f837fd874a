package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileSchemaFooter is a FileMetaData whose schema list declares 2^31-1
// elements and holds none: version 1, then field 2 as a list of structs.
var hostileSchemaFooter = []byte{0x15, 0x02, 0x19, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x07, 0x00}

// parquetWithFooter frames thrift footer bytes as a Parquet file.
func parquetWithFooter(footer []byte) []byte {
	b := []byte("PAR1")
	b = append(b, footer...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(footer)))
	return append(b, "PAR1"...)
}

// listField is a compact-protocol field header (long form, any id) for a
// list of n elements of type t.
func listField(id int16, t byte, n int) []byte {
	b := []byte{0x09}
	b = binary.AppendUvarint(b, uint64(int64(id)<<1^int64(id)>>15))
	b = append(b, 0xf0|t)
	return binary.AppendUvarint(b, uint64(n))
}

// TestHostileFooter checks that footers declaring more than they hold, or
// more than the limits, are refused with an error before parquet-go
// decodes them: each of these made the decoder allocate gigabytes (the
// first is the 22-byte file that ended analyze with "fatal error: runtime:
// out of memory").
func TestHostileFooter(t *testing.T) {
	emptyStructs := func(id int16, n int) []byte {
		b := append([]byte{0x15, 0x02}, listField(id, tStruct, n)...)
		b = append(b, make([]byte, n)...) // n empty structs: a stop byte each
		return append(b, 0x00)
	}
	deep := []byte{0x19}
	for range 40 {
		deep = append(deep, 0x19) // a list of one list of one list ...
	}
	deep = append(deep, 0x00)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"schema 2^31-1", parquetWithFooter(hostileSchemaFooter), "footer at byte 13: schema: list of 2147483647 elements in 1 remaining bytes"},
		{"footer longer than the file", append([]byte("PAR1xx"), 0xff, 0xff, 0xff, 0x7f, 'P', 'A', 'R', '1'), "footer length 2147483647 exceeds the file (14 bytes)"},
		{"row groups", parquetWithFooter(emptyStructs(4, MaxRowGroups+1)), "1048577 row groups (limit 1048576)"},
		{"schema", parquetWithFooter(emptyStructs(2, MaxSchemaElements+1)), "65537 schema elements (limit 65536)"},
		{"decoded size", parquetWithFooter(emptyStructs(100, 600_000)), "footer would take about 585 MiB to decode (limit 512 MiB)"},
		{"string", parquetWithFooter([]byte{0x18, 0xff, 0xff, 0xff, 0xff, 0x0f}), "string of 4294967295 bytes in 0 remaining"},
		{"nesting", parquetWithFooter(deep), "nested deeper than 32"},
		{"csv", []byte("TraceID,SpanID,ParentID\n1,2,\n"), `not a Parquet file (it starts with "Trac"); span files are Parquet (schema v1): convert trace files with 'chaosgen import' first`},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkFooter(bytes.NewReader(c.file), int64(len(c.file)))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("checkFooter: %v, want %q", err, c.want)
			}
			// Every entry point that opens span files goes through openOne.
			p := filepath.Join(dir, string(rune('a'+i))+".parquet")
			if err := os.WriteFile(p, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadFile(p); err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("ReadFile: %v", err)
			}
			if _, err := Open([]string{p}); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open: %v", err)
			}
		})
	}
	if n := len(parquetWithFooter(hostileSchemaFooter)); n != 22 {
		t.Errorf("the hostile file is %d bytes, want 22", n)
	}
}

// TestFooterCostOfRealFiles checks that the footer estimate leaves room for
// files the writer makes: many row groups of every column.
func TestFooterCostOfRealFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "many.parquet")
	spans := randomSpans(rand.New(rand.NewPCG(7, 7)), 20_000)
	writeSpans(t, p, spans, 10)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if err := checkFooter(f, fi.Size()); err != nil {
		t.Fatalf("2,000 row groups: %v", err)
	}
	var tail [8]byte
	f.ReadAt(tail[:], fi.Size()-8)
	n := int64(binary.LittleEndian.Uint32(tail[:4]))
	fw := footerWalker{b: make([]byte, n)}
	f.ReadAt(fw.b, fi.Size()-8-n)
	if err := fw.structure(nil, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("2,000 row groups: footer %d bytes, estimated %d MiB decoded (%d bytes per row group)", n, fw.cost>>20, fw.cost/2000)
	if got, err := ReadFile(p); err != nil || len(got) != len(spans) {
		t.Fatalf("read %d spans, %v", len(got), err)
	}
}
