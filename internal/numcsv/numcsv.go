// Package numcsv reads numeric CSV files (a header row, then numbers) with
// errors that name the file, row and column of the first bad cell.
package numcsv

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// Table is a CSV file read column-wise. Columns that hold a non-numeric cell
// are kept as text in Text (and absent from Num) when reading with
// AllowText; otherwise such a cell is an error.
type Table struct {
	Header []string
	Num    map[string][]float64
	Text   map[string][]string
	Rows   int
}

// Options control Read.
type Options struct {
	// AllowText keeps non-numeric columns as text instead of failing.
	AllowText bool
}

// CellError locates a bad cell. Row is 1-based and counts the header as row 1,
// as a spreadsheet would.
type CellError struct {
	File   string
	Row    int
	Column string
	Msg    string
}

func (e *CellError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("%s: row %d: %s", e.File, e.Row, e.Msg)
	}
	return fmt.Sprintf("%s: row %d: column %q: %s", e.File, e.Row, e.Column, e.Msg)
}

// ReadFile reads path.
func ReadFile(path string, opt Options) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, path, opt)
}

// Read reads CSV from r; name is used in errors.
func Read(r io.Reader, name string, opt Options) (*Table, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &CellError{File: name, Row: 1, Msg: "empty file: want a header row"}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	header = append([]string(nil), header...)
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if h == "" {
			return nil, &CellError{File: name, Row: 1, Msg: fmt.Sprintf("column %d has an empty name", i+1)}
		}
		if seen[h] {
			return nil, &CellError{File: name, Row: 1, Column: h, Msg: "duplicate column name"}
		}
		seen[h] = true
		header[i] = h
	}
	t := &Table{Header: header, Num: map[string][]float64{}, Text: map[string][]string{}}
	cols := make([][]float64, len(header))
	text := make([][]string, len(header))
	isText := make([]bool, len(header))
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &CellError{File: name, Row: pe.Line, Msg: pe.Err.Error()}
			}
			return nil, fmt.Errorf("%s: row %d: %w", name, row, err)
		}
		if len(rec) != len(header) {
			return nil, &CellError{File: name, Row: row, Msg: fmt.Sprintf("has %d fields, the header has %d", len(rec), len(header))}
		}
		for j, cell := range rec {
			cell = strings.TrimSpace(cell)
			if isText[j] {
				text[j] = append(text[j], cell)
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
				return nil, &CellError{File: name, Row: row, Column: header[j], Msg: fmt.Sprintf("%q is not a finite number", cell)}
			}
			if err != nil {
				if !opt.AllowText {
					return nil, &CellError{File: name, Row: row, Column: header[j], Msg: fmt.Sprintf("%q is not a number", cell)}
				}
				isText[j] = true
				for _, v := range cols[j] {
					text[j] = append(text[j], strconv.FormatFloat(v, 'g', -1, 64))
				}
				cols[j] = nil
				text[j] = append(text[j], cell)
				continue
			}
			cols[j] = append(cols[j], v)
		}
		t.Rows++
	}
	for j, h := range header {
		if isText[j] {
			t.Text[h] = text[j]
		} else {
			t.Num[h] = cols[j]
		}
	}
	return t, nil
}
