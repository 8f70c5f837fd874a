package ingest

import (
	"fmt"

	"github.com/chaosgen/chaosgen/internal/atomicfile"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// RowGroupRows is the number of rows the writer puts in one row group.
const RowGroupRows = 1 << 20

// Writer writes span records to a Parquet file atomically: the file appears
// at its path, complete, only when Close succeeds.
type Writer struct {
	f    *atomicfile.File
	w    *parquet.GenericWriter[Span]
	path string
	rows int64
}

// WriterOptions tune a Writer; the zero value is the default.
type WriterOptions struct {
	// RowGroupRows overrides RowGroupRows (tests use small groups).
	RowGroupRows int64
}

// Create starts a span file at path.
func Create(path string, opt WriterOptions) (*Writer, error) {
	f, err := atomicfile.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	rg := opt.RowGroupRows
	if rg <= 0 {
		rg = RowGroupRows
	}
	w := parquet.NewGenericWriter[Span](f,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		parquet.MaxRowsPerRowGroup(rg),
		parquet.CreatedBy("chaosgen", "", ""),
		parquet.KeyValueMetadata("chaosgen.schema", "v1"),
	)
	return &Writer{f: f, w: w, path: path}, nil
}

// Write appends spans.
func (w *Writer) Write(spans []Span) error {
	n, err := w.w.Write(spans)
	w.rows += int64(n)
	if err != nil {
		return fmt.Errorf("writing %s: %w", w.path, err)
	}
	return nil
}

// Rows returns the number of rows written so far.
func (w *Writer) Rows() int64 { return w.rows }

// Close finishes the file and renames it into place.
func (w *Writer) Close() error {
	if err := w.w.Close(); err != nil {
		w.f.Abort()
		return fmt.Errorf("writing %s: %w", w.path, err)
	}
	if err := w.f.Commit(); err != nil {
		return fmt.Errorf("writing %s: %w", w.path, err)
	}
	return nil
}

// Abort discards the file; a no-op after Close.
func (w *Writer) Abort() { w.f.Abort() }

// WriteFile writes spans to path atomically.
func WriteFile(path string, spans []Span) error {
	w, err := Create(path, WriterOptions{})
	if err != nil {
		return err
	}
	defer w.Abort()
	if err := w.Write(spans); err != nil {
		return err
	}
	return w.Close()
}
