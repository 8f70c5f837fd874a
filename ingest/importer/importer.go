package importer

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/klauspost/compress/zstd"
)

// Format names an input format.
type Format string

// The input formats.
const (
	FormatAuto       Format = "auto"
	FormatOTLPJSON   Format = "otlp-json"
	FormatOTLPProto  Format = "otlp-proto"
	FormatJaegerJSON Format = "jaeger-json"
	FormatZipkinJSON Format = "zipkin-json"
	FormatCSV        Format = "csv"
)

// Formats lists every format but auto, in the order of the docs.
var Formats = []Format{FormatOTLPJSON, FormatOTLPProto, FormatJaegerJSON, FormatZipkinJSON, FormatCSV}

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	f := Format(s)
	if f == FormatAuto || slices.Contains(Formats, f) {
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want auto, otlp-json, otlp-proto, jaeger-json, zipkin-json or csv)", s)
}

// DefaultMaxOpenSpans bounds the spans held while their traces are open.
const DefaultMaxOpenSpans = 1 << 20

// Limits on sizes taken from input values, so hostile input cannot make the
// importer allocate without bound.
const (
	maxRecordBytes = 256 << 20 // one JSON value, protobuf message or CSV row
	maxFieldBytes  = 64 << 10  // one id, name or attribute value kept
)

// Options choose how files are read.
type Options struct {
	// Format of every file; "" or FormatAuto detects it per file.
	Format Format
	// CSV maps CSV columns to span fields; when zero, auto detection picks a
	// preset from the header.
	CSV *CSVMapping
	// MaxOpenSpans bounds the spans buffered in open traces (0: the default).
	// When exceeded, the least recently extended traces are resolved early.
	MaxOpenSpans int
	// Writer tunes the Parquet writer.
	Writer ingest.WriterOptions
	// Open opens an input for one sequential read (nil: os.Open), so that
	// inputs can come from elsewhere, such as object storage.
	Open func(name string) (io.ReadCloser, error)
}

// Import reads files and writes their calls to a span file at out
// atomically (nothing appears at out on error).
func Import(out string, files []string, opt Options) (*Report, error) {
	w, err := ingest.Create(out, opt.Writer)
	if err != nil {
		return nil, err
	}
	defer w.Abort()
	rep, err := Run(files, opt, w.Write)
	if err != nil {
		return rep, err
	}
	if err := w.Close(); err != nil {
		return rep, err
	}
	return rep, nil
}

// Run reads files and passes their calls to write in batches, sorted by
// trace start, trace id and call order. The same input gives the same
// batches.
func Run(files []string, opt Options, write func([]ingest.Span) error) (*Report, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: give one or more trace files", ingest.ErrNoInput)
	}
	max := opt.MaxOpenSpans
	if max <= 0 {
		max = DefaultMaxOpenSpans
	}
	rep := newReport()
	st := &state{rep: rep, open: map[string]*trace{}, max: max, write: write}
	for _, path := range files {
		if err := st.file(path, opt); err != nil {
			return rep, err
		}
	}
	if err := st.flushAll(); err != nil {
		return rep, err
	}
	rep.finish()
	return rep, nil
}

// trace is an open trace: its spans so far, in an LRU list of open traces.
type trace struct {
	id         string
	spans      []rawSpan
	prev, next *trace
}

type state struct {
	rep   *Report
	open  map[string]*trace
	head  trace // sentinel of the LRU list: head.next is the least recent
	spans int
	max   int
	out   []ingest.Span
	segs  []segment
	write func([]ingest.Span) error
	err   error
}

func (st *state) file(path string, opt Options) error {
	open := opt.Open
	if open == nil {
		open = func(name string) (io.ReadCloser, error) { return os.Open(name) }
	}
	f, err := open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r, closeR, err := decompress(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer closeR()
	return st.read(path, r, opt)
}

// decompress returns a reader of r's content: gunzipped or zstd-decoded
// when r starts with those formats' magic bytes (the Collector's file
// exporter writes either), else r itself. The file name does not matter.
func decompress(r *bufio.Reader) (io.Reader, func(), error) {
	magic, _ := r.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("reading gzip: %w", err)
		}
		return &decodeErr{r: z, format: "gzip"}, func() { z.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		// One decoding goroutine and a bounded window: the importer's
		// memory bound holds for compressed input too.
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			return nil, nil, fmt.Errorf("reading zstd: %w", err)
		}
		return &decodeErr{r: z, format: "zstd"}, z.Close, nil
	}
	return r, func() {}, nil
}

// decodeErr names the compression format in read errors.
type decodeErr struct {
	r      io.Reader
	format string
}

func (d *decodeErr) Read(b []byte) (int, error) {
	n, err := d.r.Read(b)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("decompressing %s: %w", d.format, err)
	}
	return n, err
}

// read reads one input named path from r.
func (st *state) read(path string, r io.Reader, opt Options) error {
	br := bufio.NewReaderSize(r, 1<<16)
	format := opt.Format
	var err error
	csvMap := opt.CSV
	if format == "" || format == FormatAuto || format == FormatCSV && csvMap == nil {
		var detected Format
		detected, csvMap, err = detect(path, br, opt.CSV)
		if err != nil {
			return err
		}
		if format == FormatCSV && detected != FormatCSV {
			return fmt.Errorf("%s: --from csv, but the file looks like %s", path, detected)
		}
		format = detected
	}
	fr := FileReport{Path: path, Format: string(format)}
	if format == FormatCSV {
		if csvMap == nil {
			return fmt.Errorf("%s: csv input needs a column mapping (--map or --preset)", path)
		}
		fr.Preset = csvMap.Preset
	}
	p := &parser{path: path, rep: st.rep, fr: &fr, emit: st.add}
	switch format {
	case FormatOTLPJSON:
		err = p.otlpJSON(br)
	case FormatOTLPProto:
		err = p.otlpProto(br)
	case FormatJaegerJSON:
		err = p.jaegerJSON(br)
	case FormatZipkinJSON:
		err = p.zipkinJSON(br)
	case FormatCSV:
		err = p.csv(br, csvMap)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err == nil {
		err = st.err
	}
	st.rep.Files = append(st.rep.Files, fr)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// parser is shared by the format readers: it passes spans on and counts
// records that could not be read.
type parser struct {
	path string
	rep  *Report
	fr   *FileReport
	emit func(rawSpan)
}

func (p *parser) span(s rawSpan) {
	p.fr.Spans++
	if s.traceID == "" || s.spanID == "" {
		p.rep.add(IssueMissingID, fmt.Sprintf("%s: span %q in trace %q", p.path, s.spanID, s.traceID))
		return
	}
	p.emit(s)
}

// bad counts an unreadable record at a position (a line, a byte offset).
func (p *parser) bad(pos string, err error) {
	p.fr.BadRecords++
	p.rep.add(IssueBadRecord, fmt.Sprintf("%s: %s: %v", p.path, pos, err))
}

func (st *state) add(s rawSpan) {
	if st.err != nil {
		return
	}
	t := st.open[s.traceID]
	if t == nil {
		t = &trace{id: s.traceID}
		st.open[s.traceID] = t
	} else {
		t.prev.next, t.next.prev = t.next, t.prev // unlink
	}
	if st.head.next == nil {
		st.head.next, st.head.prev = &st.head, &st.head
	}
	t.prev, t.next = st.head.prev, &st.head // append as most recent
	t.prev.next, st.head.prev = t, t
	t.spans = append(t.spans, s)
	st.spans++
	for st.spans > st.max && st.head.next != &st.head {
		old := st.head.next
		if old == t && len(st.open) == 1 {
			break // one trace larger than the bound: keep it whole
		}
		st.rep.Counts[IssueEvictedTrace]++
		st.close(old)
		if err := st.flush(false); err != nil {
			st.err = err
			return
		}
	}
}

func (st *state) close(t *trace) {
	t.prev.next, t.next.prev = t.next, t.prev
	delete(st.open, t.id)
	st.spans -= len(t.spans)
	calls := resolve(t.spans, st.rep)
	st.rep.Traces++
	if len(calls) == 0 {
		return
	}
	first := calls[0].StartUnixNano
	for _, c := range calls {
		first = min(first, c.StartUnixNano)
	}
	st.segs = append(st.segs, segment{start: first, id: t.id, lo: len(st.out), hi: len(st.out) + len(calls)})
	st.out = append(st.out, calls...)
}

// segment is one trace's calls in st.out.
type segment struct {
	start  int64
	id     string
	lo, hi int
}

// flush writes the resolved calls, traces ordered by their first call's
// start and id, once enough have gathered (or always).
func (st *state) flush(always bool) error {
	if len(st.out) == 0 || !always && len(st.out) < 1<<14 {
		return nil
	}
	slices.SortFunc(st.segs, func(a, b segment) int {
		if c := cmp.Compare(a.start, b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	sorted := make([]ingest.Span, 0, len(st.out))
	for _, sg := range st.segs {
		sorted = append(sorted, st.out[sg.lo:sg.hi]...)
	}
	for i := range sorted {
		st.rep.call(&sorted[i])
	}
	err := st.write(sorted)
	clear(st.out)
	st.out = st.out[:0]
	st.segs = st.segs[:0]
	return err
}

func (st *state) flushAll() error {
	if st.err != nil {
		return st.err
	}
	ts := make([]*trace, 0, len(st.open))
	for _, t := range st.open {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *trace) int { return cmp.Compare(a.id, b.id) })
	for _, t := range ts {
		st.close(t)
	}
	return st.flush(true)
}
