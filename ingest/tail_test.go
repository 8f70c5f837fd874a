package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
)

// TestScanTail: a file of one row group read by two workers. The second
// has nothing to read and attaches to the first (held in its first call
// until then), so every later batch is handed over: the caller still sees
// them in row order, one call at a time for the worker that reads it, with the values of
// the file (the pages they point into released only after each call), and
// a failure or a panic in a handed-over call stops the scan with its
// error.
func TestScanTail(t *testing.T) {
	spans := randomSpans(rand.New(rand.NewPCG(3, 4)), 3000)
	path := filepath.Join(t.TempDir(), "one-group.parquet")
	// small pages: a batch spans several, so the pages a handed-over batch
	// points into must outlive the decoder's moving on
	if err := parquet.WriteFile(path, spans, parquet.PageBufferSize(512)); err != nil {
		t.Fatal(err)
	}
	of, err := Open([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	if n := len(of.RowGroups()); n != 1 {
		t.Fatalf("%d row groups, want 1", n)
	}
	const batchRows = 97
	batches := (len(spans) + batchRows - 1) / batchRows
	cols := scannable()

	// scan runs a scan whose first call waits for the helper; fail, when
	// not nil, runs in every call from the third on.
	scan := func(fail func(call int) error) ([]Span, int64, error) {
		attached := make(chan struct{})
		testAttached = func(int) { close(attached) } // one helper, one worker to help

		defer func() { testAttached = nil }()
		got := make([]Span, len(spans))
		var calls, inFlight atomic.Int64
		next, worker := int64(0), -1
		before := handedOff.Load()
		_, err := of.Scan(context.Background(), ScanOptions{Columns: cols, BatchRows: batchRows, Workers: 2}, func(w int, b *Batch) error {
			if inFlight.Add(1) != 1 {
				return errors.New("two calls at once")
			}
			defer inFlight.Add(-1)
			call := calls.Add(1)
			if call == 1 {
				select {
				case <-attached:
				case <-time.After(10 * time.Second):
					return errors.New("no helper attached in 10 s")
				}
			}
			if call == 1 {
				worker = w
			}
			if w != worker || b.FirstRow != next {
				return fmt.Errorf("call %d: worker %d, rows from %d, want worker %d and rows from %d", call, w, b.FirstRow, worker, next)
			}
			next += int64(b.N)
			if fail != nil && call >= 3 {
				if err := fail(int(call)); err != nil {
					return err
				}
			}
			for i := 0; i < b.N; i++ {
				got[b.FirstRow+int64(i)] = scannedSpan(b, i)
			}
			return nil
		})
		if err == nil && next != int64(len(spans)) {
			err = fmt.Errorf("rows up to %d read, want %d", next, len(spans))
		}
		return got, handedOff.Load() - before, err
	}

	got, handed, err := scan(nil)
	if err != nil {
		t.Fatal(err)
	}
	if handed < int64(batches-1) {
		t.Errorf("%d batches handed to the helper, want at least every one after the first: %d", handed, batches-1)
	}
	if diff := cmp.Diff(withoutStacks(spans), got); diff != "" {
		t.Fatalf("scan with a helper (-want +got):\n%s", diff)
	}

	failure := errors.New("the caller failed")
	if _, _, err := scan(func(call int) error {
		if call == 5 {
			return failure
		}
		return nil
	}); !errors.Is(err, failure) {
		t.Errorf("a failing handed-over call: error %v, want %v", err, failure)
	}
	if _, _, err := scan(func(call int) error {
		if call == 5 {
			panic("boom in a handed-over call")
		}
		return nil
	}); !errors.Is(err, ErrInternal) || !strings.Contains(err.Error(), "boom in a handed-over call") || !strings.Contains(err.Error(), path) {
		t.Errorf("a panicking handed-over call: error %v, want ErrInternal naming the file and the panic", err)
	}
}
