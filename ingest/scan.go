package ingest

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/parquet-go/parquet-go"
)

// DefaultBatchRows is the number of rows in one Batch.
const DefaultBatchRows = 1 << 16

// ScanOptions choose what Scan reads and how.
type ScanOptions struct {
	// Columns are the columns the caller needs. The validation columns
	// (callee, depth, start_unix_nano, duration_nano) are always read.
	// The stack column cannot be scanned column-wise; use ReadFile.
	Columns []Column
	// Workers is the number of goroutines; 0 means GOMAXPROCS.
	Workers int
	// BatchRows is the batch size; 0 means DefaultBatchRows.
	BatchRows int
	// Progress, when set, is advanced by the rows read.
	Progress *atomic.Int64
	// RowGroups, when not nil, are the row groups to read (see Shard);
	// nil reads them all.
	RowGroups []RowGroup
	// Hashed are string columns of Columns that the caller only compares
	// (span and parent ids): they arrive in Batch.Hash as HashID of each
	// value instead of in Batch.Str, hashed straight from the decoded page
	// (a dictionary's entries once per dictionary), never copied.
	Hashed []Column
}

// Scan reads the files' row groups in parallel and calls fn with each batch.
// fn runs concurrently for different workers; worker is in [0, Workers)
// and lets callers keep one accumulator per worker: the calls for one
// worker never overlap and bring a row group's batches in row order, but
// may come from different goroutines (a worker with no row group left
// runs fn for another one while that one decodes: "the tail", below). The
// first error stops the scan. Bad rows are counted into the returned
// BadRows and marked in Batch.Bad; callers skip rows whose reason is not
// ReasonOK.
func (of *OpenedFiles) Scan(ctx context.Context, opt ScanOptions, fn func(worker int, b *Batch) error) (*BadRows, error) {
	for _, c := range opt.Columns {
		if c.Kind() == KindStringList {
			return nil, fmt.Errorf("column %s cannot be scanned column-wise", c.Name())
		}
	}
	want := scanColumns(opt.Columns)
	var hashed [numColumns]bool
	for _, c := range opt.Hashed {
		if c.Kind() != KindString || !want[c] {
			return nil, fmt.Errorf("column %s cannot be hashed: hashed columns are string columns of Columns", c.Name())
		}
		hashed[c] = true
	}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	batchRows := opt.BatchRows
	if batchRows <= 0 {
		batchRows = DefaultBatchRows
	}
	units := opt.RowGroups
	if units == nil {
		units = of.RowGroups()
	}
	for _, u := range units {
		if u.File < 0 || u.File >= len(of.opened) || u.Index < 0 || u.Index >= len(of.opened[u.File].pf.RowGroups()) {
			return nil, fmt.Errorf("no row group %d in file %d", u.Index, u.File)
		}
	}
	// up to two workers a row group: the second can only help (the tail)
	workers = max(1, min(workers, 2*len(units)))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	claim := func() int {
		if u := int(next.Add(1) - 1); u < len(units) {
			return u
		}
		return -1
	}
	// From an object in a bucket a worker fetches the chunks of the next
	// row group it will read while it decodes this one (chunkFetch), into
	// the other of its two buffers; not the last row groups, which would
	// leave another worker idle.
	ahead := slices.ContainsFunc(of.opened, func(o *openFile) bool { return !isLocal(o.in) })
	bad := make([]BadRows, workers)
	tl := newTail(workers)
	call := func(w int, b *Batch) error {
		if err := fn(w, b); err != nil {
			return err
		}
		if opt.Progress != nil {
			opt.Progress.Add(int64(b.N))
		}
		return nil
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			b := &Batch{}
			em := &emitter{w: w, tl: tl, call: call, bad: &bad[w]}
			var bufs [2][]byte
			start := func(u, k int) *chunkFetch {
				if u < 0 {
					return nil
				}
				return of.opened[units[u].File].fetchChunks(units[u].Index, &want, &bufs[k])
			}
			u, k := claim(), 0
			f := start(u, k)
			for u >= 0 && ctx.Err() == nil {
				nu := -1
				var nf *chunkFetch
				// claimed ahead only while the others have row groups
				// left: the last ones go to whichever worker is free
				if ahead && int(next.Load())+workers <= len(units) {
					nu = claim()
					nf = start(nu, 1-k)
				}
				o := of.opened[units[u].File]
				err := o.scanRowGroup(ctx, units[u].File, units[u].Index, f, &want, &hashed, batchRows, b, em)
				f.wait() // its buffer is the next fetch's
				if err != nil {
					cancel(err)
					if nf != nil {
						nf.wait()
					}
					return
				}
				if nf == nil {
					nu = claim()
					nf = start(nu, 1-k)
				}
				u, f, k = nu, nf, 1-k
			}
			if f != nil {
				f.wait()
			}
			tl.finished()
			tl.helpOthers(ctx, cancel, w, call)
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	total := &BadRows{}
	for w := range bad {
		total.Merge(&bad[w])
	}
	return total, nil
}

var dictCounter atomic.Uint64

// scanRowGroup decodes row group rg into batches and hands them to em.
// b's cursors decode; the batches filled are b and, with a helper
// attached to em, its spare.
func (o *openFile) scanRowGroup(ctx context.Context, fileIndex, rg int, fetch *chunkFetch, want, hashed *[numColumns]bool, batchRows int, b *Batch, em *emitter) (err error) {
	// A panic while decoding is a corrupt file (parquet-go panics on some);
	// one in the caller's function is a bug, not the file's fault.
	inEmit := false
	defer func() {
		if p := recover(); p != nil {
			if inEmit {
				err = fmt.Errorf("%s: row group %d: %w: %v\n%s", o.path, rg, ErrInternal, p, debug.Stack())
				return
			}
			err = fmt.Errorf("%s: %w: row group %d: %v", o.path, ErrCorrupt, rg, p)
		}
	}()
	if err := fetch.wait(); err != nil {
		return err
	}
	hashers := fetch.hs
	group := o.pf.RowGroups()[rg]
	chunks := group.ColumnChunks()
	var cursors []*cursor
	defer func() {
		em.end() // the helper's batches point into the cursors' pages
		for _, c := range cursors {
			c.close()
		}
	}()
	em.begin()
	for c := Column(0); c < numColumns; c++ {
		if !want[c] {
			continue
		}
		cur := &b.cursors[c]
		cur.reset(c, o.path, hashed[c])
		if o.leaf[c] >= 0 {
			fc, ok := chunks[o.leaf[c]].(*parquet.FileColumnChunk)
			if !ok {
				return fmt.Errorf("%s: row group %d: column %s: %w: not a file column chunk", o.path, rg, c.Name(), ErrInternal)
			}
			cur.pages = fc.PagesFrom(hashers[c])
			if o.opt[c] {
				cur.maxDef = 1
			}
		}
		cursors = append(cursors, cur)
	}
	rows := group.NumRows()
	var firstRow int64
	for _, g := range o.pf.RowGroups()[:rg] {
		firstRow += g.NumRows()
	}
	fill := b
	for done := int64(0); done < rows; {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := int(min(int64(batchRows), rows-done))
		fill.File, fill.FileIndex, fill.RowGroup = o.path, fileIndex, rg
		fill.N = n
		fill.FirstRow = firstRow + done
		for _, cur := range cursors {
			if err := cur.fill(fill, n); err != nil {
				return fmt.Errorf("%s: row group %d: column %s: %w", o.path, rg, cur.col.Name(), err)
			}
		}
		inEmit = true
		next, err := em.emit(fill, cursors)
		inEmit = false
		if err != nil {
			return err
		}
		fill = next
		done += int64(n)
	}
	digest, buf, err := o.rowGroupDigest(rg, &hashers, b.hashBuf)
	b.hashBuf = buf
	if err != nil {
		return err
	}
	o.setDigest(rg, want, digest)
	return nil
}
