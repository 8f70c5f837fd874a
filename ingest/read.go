package ingest

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// ReadFile reads every span of a file row by row, columns matched by name
// (order and extra columns do not matter; absent optional columns read as
// unset). It is the convenient path for small inputs and tests; stages that
// aggregate large inputs use Scan.
func ReadFile(path string) ([]Span, error) {
	o, err := openOne(path, OpenLocal)
	if err != nil {
		return nil, err
	}
	defer o.in.Close()
	var out []Span
	err = func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%s: %w: %v", path, ErrCorrupt, p)
			}
		}()
		r := parquet.NewGenericReader[Span](o.pf)
		defer r.Close()
		buf := make([]Span, 4096)
		for {
			n, err := r.Read(buf)
			out = append(out, buf[:n]...)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w: %v", path, ErrCorrupt, err)
			}
		}
	}()
	return out, err
}

// ReadAll reads the spans of every file in order.
func ReadAll(paths []string) ([]Span, error) {
	var out []Span
	for _, p := range paths {
		s, err := ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}
