package ingest

import (
	"errors"
	"fmt"
)

// ErrSchema marks a file whose schema does not satisfy span schema v1.
var ErrSchema = errors.New("span schema v1 mismatch")

// ErrCorrupt marks a file that is not readable Parquet.
var ErrCorrupt = errors.New("not a readable Parquet file")

// ErrInternal marks a panic in a Scan callback: a bug in chaosgen, not a
// problem of the file being read.
var ErrInternal = errors.New("internal error (a bug in chaosgen: please report it with this message)")

// ErrNoInput is returned when the arguments name no span files.
var ErrNoInput = errors.New("no span files")

// SchemaError says which column of which file breaks the schema.
type SchemaError struct {
	File   string
	Column string
	Msg    string
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("%s: column %s: %s", e.File, e.Column, e.Msg)
}

func (e *SchemaError) Unwrap() error { return ErrSchema }

// RowError locates a bad row: the file and its 0-based row index.
type RowError struct {
	File string
	Row  int64
	Msg  string
}

func (e *RowError) Error() string {
	return fmt.Sprintf("%s: row %d: %s", e.File, e.Row, e.Msg)
}
