package features

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
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
	svcLists         [][]svcEntry // service windows decoded, not yet in svcs (foldLists)
	endLists         [][]endEntry // trace ends decoded, not yet in ends (foldLists)
	runs             TraceRuns
	outcomes         map[outName]*outAcc
	outPending       []outSection // trace outcomes read, not yet in outcomes (foldOutcomes)
	stash            []stashRun
	bad              *ingest.BadRows
	slabs            slabs // what the decoder left of its slabs (DecodePartial, MergeBinary)
	summarised       bool  // decoded with DecodeOptions.Summarise: for Table only
	noTraces         bool  // accumulated without the trace pass (Options.EdgesOnly): for Table only
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
	// nothing the trace pass finds would be used: neither read its
	// columns nor run it
	noTraces := noOutcomes && opt.EdgesOnly
	if noTraces {
		sopt.Columns, sopt.Hashed = EdgeColumns, nil
	}
	span := &timeSpan{window: int64(opt.Window), lo: spanEnd{at: math.MaxInt64}, hi: spanEnd{at: math.MinInt64}}
	bad, err := files.Scan(ctx, sopt, func(w int, b *ingest.Batch) error {
		if workers[w] == nil {
			workers[w] = newWorker(int64(opt.Window))
			workers[w].tr.noOutcomes = noOutcomes
		}
		if err := span.admit(b, files); err != nil {
			return err
		}
		workers[w].add(b)
		if !noTraces {
			workers[w].addTraces(b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	p := collect(workers, bad, opt.Window)
	p.noTraces = noTraces
	return p, nil
}

// Columns returns the columns read into p: TraceColumns are left out when
// the trace pass was skipped (Options.EdgesOnly).
func (p *Partial) Columns() []ingest.Column {
	if p.noTraces {
		return EdgeColumns
	}
	return Columns
}

// MaxWindows bounds the windows from the first call's start to the last
// one's: the series of every edge and service are dense in time, so a few
// start times far from the rest (times in microseconds or milliseconds
// among nanoseconds read as January 1970) would otherwise claim memory and
// time for every window between them, and an analysis of the day would
// fail for lack of memory instead of saying why. 2^20 windows is two years
// of minutes or twelve days of seconds.
const MaxWindows = 1 << 20

// timeSpan is the range of start times admitted so far, shared by the
// workers of one scan, with the rows that hold its ends.
type timeSpan struct {
	window int64
	mu     sync.Mutex
	lo, hi spanEnd
}

// spanEnd is a start time and the row that holds it.
type spanEnd struct {
	at   int64
	file int
	row  int64
}

// admit widens the span by batch b's good rows, or refuses the batch (an
// error naming a row) when the span would cover more than MaxWindows
// windows. It runs before the batch is added, so no accumulator ever holds
// more.
func (t *timeSpan) admit(b *ingest.Batch, files *ingest.OpenedFiles) error {
	starts := b.I64[ingest.ColStartUnixNano][:b.N]
	lo, hi, found := spanEnd{at: math.MaxInt64}, spanEnd{at: math.MinInt64}, false
	for i, s := range starts {
		if b.Bad[i] != ingest.ReasonOK {
			continue
		}
		if s < lo.at {
			lo.at, lo.row = s, int64(i)
		}
		if s > hi.at {
			hi.at, hi.row = s, int64(i)
		}
		found = true
	}
	if !found {
		return nil
	}
	lo.file, hi.file = b.FileIndex, b.FileIndex
	lo.row += b.FirstRow
	hi.row += b.FirstRow
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lo.at < lo.at {
		lo = t.lo
	}
	if t.hi.at > hi.at {
		hi = t.hi
	}
	wins := windowsFrom(lo.at, hi.at, t.window)
	if wins <= MaxWindows {
		t.lo, t.hi = lo, hi
		return nil
	}
	// name the end farther from this batch's median start: most rows are
	// where the data is
	good := make([]int64, 0, b.N)
	for i, s := range starts {
		if b.Bad[i] == ingest.ReasonOK {
			good = append(good, s)
		}
	}
	slices.Sort(good)
	mid := good[len(good)/2]
	odd, other := hi, lo
	if absDiff(lo.at, mid) > absDiff(hi.at, mid) {
		odd, other = lo, hi
	}
	hint := fmt.Sprintf("are some start times not in nanoseconds? If the range is real, --window %s covers it.", windowFor(lo.at, hi.at))
	return &ingest.RowError{File: files.Files[odd.file].Path, Row: odd.row, Msg: fmt.Sprintf(
		"start_unix_nano %d (%s) is %s from the start of %s row %d (%s): the spans would cover %d windows of %s, more than the %d an analysis holds; %s",
		odd.at, stamp(odd.at), apart(absDiff(odd.at, other.at)), files.Files[other.file].Path, other.row, stamp(other.at), wins, time.Duration(t.window), MaxWindows, hint)}
}

// windowFor returns the shortest window that divides a day and spreads
// starts from lo to hi over at most MaxWindows windows (a day's does for
// any two int64 times: they are at most 213,504 days apart).
func windowFor(lo, hi int64) time.Duration {
	for _, w := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 4 * time.Hour, 6 * time.Hour, 8 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if windowsFrom(lo, hi, int64(w)) <= MaxWindows {
			return w
		}
	}
	return 24 * time.Hour
}

// windowsFrom is the number of windows of length w from the one holding
// lo to the one holding hi.
func windowsFrom(lo, hi, w int64) int64 { return floorDiv(hi, w) - floorDiv(lo, w) + 1 }

// stamp formats a time in nanoseconds since the epoch as RFC 3339.
func stamp(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// apart formats a distance in nanoseconds in days once it is long.
func apart(ns int64) string {
	if d := time.Duration(ns); d < 48*time.Hour {
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%d days", ns/int64(24*time.Hour))
}

// absDiff returns |a-b|, saturating instead of overflowing.
func absDiff(a, b int64) int64 {
	if a < b {
		a, b = b, a
	}
	if d := a - b; d >= 0 {
		return d
	}
	return math.MaxInt64
}

// Merge adds o's accumulators to p; o is discarded. The partials must
// come from disjoint row groups (the caller checks) with the same window,
// and their file indexes must refer to the same file list (RemapFiles).
func (p *Partial) Merge(o *Partial) error {
	if p.window != o.window {
		return fmt.Errorf("window %s differs from %s", time.Duration(o.window), time.Duration(p.window))
	}
	if p.summarised || o.summarised {
		return errSummarised
	}
	if p.noTraces || o.noTraces {
		return errNoTraces
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
	p.svcLists = append(p.svcLists, o.svcLists...)
	p.endLists = append(p.endLists, o.endLists...)
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
