package features

import (
	"context"
	"errors"
	"flag"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/synth"
)

var benchSpans = flag.String("spans", "", "span file for BenchmarkAggregate (default: about 2M synthetic spans)")

// benchRows bounds the rows BenchmarkAggregate keeps in memory.
const benchRows = 2_000_000

// BenchmarkAggregate times the per-row work of Accumulate alone, on one
// goroutine: the edge aggregation (worker.add) and the trace pass
// (tracer.add and the runs it resolves) over batches decoded beforehand,
// so that neither reading nor decoding is in the timed loop. The batches
// are the first row groups of -spans (or of synthetic spans), up to
// benchRows rows.
func BenchmarkAggregate(b *testing.B) {
	path := *benchSpans
	if path == "" {
		path = filepath.Join(b.TempDir(), "spans.parquet")
		if _, err := synth.Generate(context.Background(), path, synth.Options{Days: 0.2, RPS: 10.5, Services: 30, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	files, err := ingest.Open([]string{path})
	if err != nil {
		b.Fatal(err)
	}
	defer files.Close()
	var batches []*ingest.Batch
	rows := 0
	dicts := map[uint64][][]byte{} // shared dictionaries, copied once
	enough := errors.New("enough rows")
	lastGroup := -1
	_, err = files.Scan(context.Background(), ingest.ScanOptions{Columns: Columns, Hashed: HashedColumns, Workers: 1},
		func(_ int, batch *ingest.Batch) error {
			if rows >= benchRows && batch.RowGroup != lastGroup {
				return enough // whole row groups only
			}
			lastGroup = batch.RowGroup
			batches = append(batches, cloneBatch(batch, dicts))
			rows += batch.N
			return nil
		})
	if err != nil && !errors.Is(err, enough) {
		b.Fatal(err)
	}
	// as Accumulate for analyze (Options.Whole)
	noOutcomes := !files.MayBeTrue(ingest.ColInjected, files.RowGroups())
	b.ReportAllocs()
	// CPU time as well as wall time: on a machine shared with other work,
	// wall time says little
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		w := newWorker(int64(DefaultWindow))
		w.tr.noOutcomes = noOutcomes
		for _, batch := range batches {
			w.add(batch)
			w.addTraces(batch)
		}
		w.tr.endRun(w, true)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		b.Fatal(err)
	}
	cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}

// cloneBatch copies what Scan's callback may not keep; dictionaries with
// an id are shared through dicts.
func cloneBatch(b *ingest.Batch, dicts map[uint64][][]byte) *ingest.Batch {
	c := &ingest.Batch{File: b.File, FileIndex: b.FileIndex, RowGroup: b.RowGroup, FirstRow: b.FirstRow, N: b.N}
	for k := range b.Str {
		s := &b.Str[k]
		shared, ok := dicts[s.DictID]
		if !ok || s.DictID == 0 {
			shared = make([][]byte, s.DictLen)
			for i, v := range s.Dict[:s.DictLen] {
				shared[i] = append([]byte(nil), v...)
			}
			if s.DictID != 0 {
				dicts[s.DictID] = shared
			}
		}
		dict := shared[:s.DictLen:s.DictLen]
		for _, v := range s.Dict[s.DictLen:] {
			dict = append(dict, append([]byte(nil), v...))
		}
		c.Str[k] = ingest.StringColumn{Dict: dict, DictLen: s.DictLen, DictID: s.DictID, Idx: append([]int32(nil), s.Idx...)}
		c.I32[k] = append([]int32(nil), b.I32[k]...)
		c.I64[k] = append([]int64(nil), b.I64[k]...)
		c.Bool[k] = append([]bool(nil), b.Bool[k]...)
		c.Hash[k] = append([]uint64(nil), b.Hash[k]...)
	}
	c.Bad = append([]ingest.Reason(nil), b.Bad...)
	return c
}
