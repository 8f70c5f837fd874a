package features

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
)

// Partial holds the accumulators of a scan of some row groups before they
// become a Table: per edge and window the counts, the latency sketch, the
// distinct-trace registers and the injection counts; per service and
// window the self-time sketch and own errors; the trace ends; the trace
// outcomes per edge, profile and window; the bad rows;
// and the trace pass's runs at the edges of the row groups read, not yet
// joined with their neighbours. Partials of disjoint row groups merge
// exactly: the Table of the merge is the Table of one scan of all of them,
// in any order and any split.
type Partial struct {
	window           int64
	rows             int64
	minStart, maxEnd int64
	all              distinct
	edges            map[edgeKey]*edgeAcc
	svcs             map[sk]*svcAcc
	ends             map[ek]int64
	runs             TraceRuns
	outcomes         map[outName]*outAcc
	outPending       [][]outRow // trace outcomes decoded, not yet in outcomes (foldOutcomes)
	stash            []stashRun
	bad              *ingest.BadRows
}

type edgeKey struct{ caller, callee string }

func newPartial(window time.Duration) *Partial {
	return &Partial{
		window: int64(window), minStart: math.MaxInt64, maxEnd: math.MinInt64,
		edges: map[edgeKey]*edgeAcc{}, svcs: map[sk]*svcAcc{}, ends: map[ek]int64{}, outcomes: map[outName]*outAcc{},
		bad: &ingest.BadRows{},
	}
}

// Window returns the window length the partial was accumulated with.
func (p *Partial) Window() time.Duration { return time.Duration(p.window) }

// Rows returns the rows aggregated (bad rows excluded).
func (p *Partial) Rows() int64 { return p.rows }

// Bad returns the bad rows seen.
func (p *Partial) Bad() *ingest.BadRows { return p.bad }

// checkWindow checks a window length as Build does.
func checkWindow(w time.Duration) error {
	if w < time.Second {
		return fmt.Errorf("window %s is shorter than one second", w)
	}
	if (24*time.Hour)%w != 0 && w%(24*time.Hour) != 0 {
		return fmt.Errorf("window %s does not divide a day evenly", w)
	}
	return nil
}

// Accumulate scans the opened files (the row groups opt.RowGroups, or
// all) into a Partial.
func Accumulate(ctx context.Context, files *ingest.OpenedFiles, opt Options) (*Partial, error) {
	if opt.Window == 0 {
		opt.Window = DefaultWindow
	}
	if err := checkWindow(opt.Window); err != nil {
		return nil, err
	}
	n := opt.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	// One accumulator per worker; Scan calls worker w's callback from one
	// goroutine only, so each slot is created and used without locks.
	workers := make([]*worker, n)
	sopt := ingest.ScanOptions{Columns: Columns, Hashed: HashedColumns, Workers: n, Progress: opt.Progress, RowGroups: opt.RowGroups}
	if opt.RowGroups != nil && len(opt.RowGroups) == 0 {
		// an empty shard: nothing to scan (nil would scan everything)
		return collect(nil, &ingest.BadRows{}, opt.Window), nil
	}
	noOutcomes := false
	if opt.Whole {
		groups := opt.RowGroups
		if groups == nil {
			groups = files.RowGroups()
		}
		noOutcomes = !files.MayBeTrue(ingest.ColInjected, groups)
	}
	bad, err := files.Scan(ctx, sopt, func(w int, b *ingest.Batch) error {
		if workers[w] == nil {
			workers[w] = newWorker(int64(opt.Window))
			workers[w].tr.noOutcomes = noOutcomes
		}
		workers[w].add(b)
		workers[w].addTraces(b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return collect(workers, bad, opt.Window), nil
}

// Merge adds o's accumulators to p; o is discarded. The partials must
// come from disjoint row groups (the caller checks) with the same window,
// and their file indexes must refer to the same file list (RemapFiles).
func (p *Partial) Merge(o *Partial) error {
	if p.window != o.window {
		return fmt.Errorf("window %s differs from %s", time.Duration(o.window), time.Duration(p.window))
	}
	p.rows += o.rows
	p.minStart = min(p.minStart, o.minStart)
	p.maxEnd = max(p.maxEnd, o.maxEnd)
	p.all.merge(&o.all)
	for k, e := range o.edges {
		if pe := p.edges[k]; pe != nil {
			pe.merge(e)
		} else {
			p.edges[k] = e
		}
	}
	for k, a := range o.svcs {
		mergeSvc(p.svcs, k, a)
	}
	for k, n := range o.ends {
		p.ends[k] += n
	}
	p.runs.Runs += o.runs.Runs
	p.runs.Orphans += o.runs.Orphans
	for n, a := range o.outcomes {
		p.addOutcome(n, a)
	}
	p.outPending = append(p.outPending, o.outPending...)
	p.stash = append(p.stash, o.stash...)
	p.bad.Merge(o.bad)
	return nil
}

// RemapFiles renumbers the files the partial refers to (in its trace runs
// at row-group edges and its bad-row examples): file i becomes to[i].
// Partials of different file lists merge after each is renumbered to
// their union.
func (p *Partial) RemapFiles(to []int) error {
	for i := range p.stash {
		f := p.stash[i].file
		if f < 0 || f >= len(to) {
			return fmt.Errorf("trace run in file %d of %d", f, len(to))
		}
		p.stash[i].file = to[f]
	}
	nb := &ingest.BadRows{}
	for r := ingest.ReasonOK + 1; r < ingest.NumReasons; r++ {
		f, row, ok := p.bad.Example(r)
		if !ok {
			continue
		}
		if f < 0 || f >= len(to) {
			return fmt.Errorf("bad row in file %d of %d", f, len(to))
		}
		nb.AddCount(r, p.bad.Count[r], to[f], p.bad.First[r].File, row)
	}
	p.bad = nb
	return nil
}
